#!/usr/bin/env bash
# GetCert (messageType 21) returns a certificate mdmid issued; GetCRL (22)
# the current CRL; an unknown serial gets badCertId. Each reply is opened
# with openssl, not with mdmid's code.
source "$(dirname "$0")/lib.sh"
t_setup getcert_getcrl
t_start
curl -fsS -o "$T/cacert.der" "$URL?operation=GetCACert"
"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/dev.key" --challenge "$CHALLENGE" --cn "$(udid_for dev)" \
	--out "$T/dev.req" --out-signer "$T/dev.self" >/dev/null
curl -fsS --data-binary @"$T/dev.req" -o "$T/dev.rep" "$URL?operation=PKIOperation"
"$SCEP_REQ" parse --reply "$T/dev.rep" --cacert "$T/cacert.der" --key "$T/dev.key" --signer-cert "$T/dev.self" \
	--out-cert "$T/dev.pem" >/dev/null
serial=$(openssl x509 -in "$T/dev.pem" -noout -serial | cut -d= -f2)
ok "$([[ -n $serial ]]; echo $?)" "a device enrolls (serial $serial)"

# ask NAME TYPE SERIAL: a GetCert/GetCRL from a fresh requester; the reply's
# inner PKCS#7 (decrypted with openssl) in $T/NAME.p7; STATUS and FAILINFO.
ask() {
	"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/$1.key" --type "$2" --serial "$3" --out "$T/$1.req" \
		--out-signer "$T/$1.self" >/dev/null
	curl -fsS --data-binary @"$T/$1.req" -o "$T/$1.rep" "$URL?operation=PKIOperation"
	"$SCEP_REQ" parse --reply "$T/$1.rep" --cacert "$T/cacert.der" --key "$T/$1.key" --signer-cert "$T/$1.self" \
		>"$T/$1.out"
	STATUS=$(sed -n 's/^pki_status=//p' "$T/$1.out")
	FAILINFO=$(sed -n 's/^fail_info=//p' "$T/$1.out")
	openssl cms -verify -noverify -binary -inform DER -in "$T/$1.rep" -out "$T/$1.env" 2>/dev/null &&
		openssl cms -decrypt -binary -inform DER -in "$T/$1.env" -recip "$T/$1.self" -inkey "$T/$1.key" \
			-out "$T/$1.p7" 2>/dev/null || true
}

ask getcert 21 "$serial"
is "$STATUS" 0 "GetCert: SUCCESS"
openssl pkcs7 -inform DER -in "$T/getcert.p7" -print_certs -out "$T/got.pem"
is "$(openssl x509 -in "$T/got.pem" -outform DER | sha256sum)" "$(openssl x509 -in "$T/dev.pem" -outform DER | sha256sum)" \
	"... the certificate with that serial"
is "$(q "select kind || ' ' || outcome from event order by id desc limit 1")" "scep.getcert success" "... with an event row"

ask getcrl 22 "$serial"
is "$STATUS" 0 "GetCRL: SUCCESS"
openssl pkcs7 -inform DER -in "$T/getcrl.p7" -print_certs >"$T/getcrl.txt"
like "$(cat "$T/getcrl.txt")" "BEGIN X509 CRL" "... a degenerate PKCS#7 holding the CRL"
sed -n '/BEGIN X509 CRL/,/END X509 CRL/p' "$T/getcrl.txt" >"$T/crl.pem"
like "$(openssl crl -in "$T/crl.pem" -CAfile "$T/ca/ca.pem" -noout 2>&1)" "verify OK" "... signed by the CA"
curl -fsS -o "$T/crl.der" "http://127.0.0.1:$PORT/crl"
is "$(openssl crl -in "$T/crl.pem" -noout -crlnumber)" "$(openssl crl -in "$T/crl.der" -inform DER -noout -crlnumber)" \
	"... the same CRL /crl serves"

ask unknown 21 0123456789ABCDEF
is "$STATUS/$FAILINFO" "2/4" "GetCert for an unknown serial: FAILURE badCertId"
is "$(q "select error || '/' || fail_info from event order by id desc limit 1")" "bad_cert_id/badCertId" "... event bad_cert_id"
ask unknowncrl 22 0123456789ABCDEF
is "$STATUS/$FAILINFO" "2/4" "GetCRL for an unknown serial: FAILURE badCertId"
t_stop
done_testing
