#!/usr/bin/env bash
# CA rollover: mdmid ca rollover makes the next CA, cross-certified by the
# current one; GetNextCACert is advertised and answers it in a SignedData by
# the current CA; mdmid ca activate switches issuing to it; a device of the
# old CA still renews, its Mdm-Signature still verifies; scepclient enrolls.
source "$(dirname "$0")/lib.sh"
t_setup rollover
t_config "allow_single_des = true"
t_start
curl -fsS -o "$T/cacert-old.der" "$URL?operation=GetCACert"
ok "$(curl -fsS "$URL?operation=GetCACaps" | grep -qx GetNextCACert; [[ $? -ne 0 ]]; echo $?)" "no GetNextCACert before a rollover"
is "$(curl -sS -o /dev/null -w '%{http_code}' "$URL?operation=GetNextCACert")" 404 "GetNextCACert without a next CA: 404"
UDID=$(udid_for old-device)
"$SCEP_REQ" build --cacert "$T/cacert-old.der" --key "$T/old.key" --challenge "$CHALLENGE" --cn "$UDID" \
	--out "$T/old.req" --out-signer "$T/old.self" >/dev/null
curl -fsS --data-binary @"$T/old.req" -o "$T/old.rep" "$URL?operation=PKIOperation"
"$SCEP_REQ" parse --reply "$T/old.rep" --cacert "$T/cacert-old.der" --key "$T/old.key" --signer-cert "$T/old.self" \
	--out-cert "$T/old.pem" >/dev/null
ok_cmd "a device enrolls under the current CA" openssl verify -CAfile "$T/ca/ca.pem" "$T/old.pem"
cp "$T/ca/ca.pem" "$T/ca-old.pem"
t_stop

out=$("$MDMID_BIN" ca rollover --config "$T/mdmid.conf" --bits 2048 --days 3650)
like "$out" "next CA is in" "mdmid ca rollover"
ok "$([[ -s $T/ca/next/ca.pem && -s $T/ca/next/ra.pem && -s $T/ca/next/cross.pem ]]; echo $?)" \
	"... writes the next CA, its RA and the cross-certificate"
is "$(stat -c %a "$T/ca/next/ca.key")" 600 "... the next CA's key 0600"
like "$(openssl x509 -in "$T/ca/next/ca.pem" -noout -subject)" "CN = mdmid test CA [0-9]{4}-[0-9]{2}" "... named after the current one with the month"
ok_cmd "the cross-certificate chains the next CA's key to the current CA" openssl verify -CAfile "$T/ca-old.pem" "$T/ca/next/cross.pem"
is "$(openssl x509 -in "$T/ca/next/cross.pem" -noout -pubkey)" "$(openssl x509 -in "$T/ca/next/ca.pem" -noout -pubkey)" \
	"... for the next CA's key"
rc=0; "$MDMID_BIN" ca rollover --config "$T/mdmid.conf" 2>/dev/null || rc=$?
is "$rc" 1 "a second rollover while one is in progress exits 1"

t_start
ok "$(curl -fsS "$URL?operation=GetCACaps" | grep -qx GetNextCACert; echo $?)" "GetCACaps advertises GetNextCACert"
ctype=$(curl -fsS -o "$T/next.der" -w '%{content_type}' "$URL?operation=GetNextCACert")
is "$ctype" "application/x-x509-next-ca-cert" "GetNextCACert: application/x-x509-next-ca-cert"
ok_cmd "... a SignedData the current CA signed" openssl cms -verify -inform DER -in "$T/next.der" -CAfile "$T/ca-old.pem" \
	-purpose any -binary -out "$T/next.p7"
openssl pkcs7 -inform DER -in "$T/next.p7" -print_certs >"$T/next.txt"
like "$(cat "$T/next.txt")" "subject=CN = mdmid test CA [0-9]{4}-[0-9]{2}" "... holding the next CA"
is "$(grep -c '^subject=' "$T/next.txt")" 2 "... and its RA"
ok_cmd "issuing still uses the current CA" t_scepclient "$T/before" -challenge "$CHALLENGE" -cn "$(udid_for before)"
ok_cmd "... (its certificate chains to the current CA)" openssl verify -CAfile "$T/ca-old.pem" "$T/before/cert.pem"
t_stop

# A request held (require_approval) while the old CA issues, decided after the switch.
t_config "require_approval = true"
t_start
curl -fsS -o "$T/cacert-mid.der" "$URL?operation=GetCACert"
"$SCEP_REQ" build --cacert "$T/cacert-mid.der" --key "$T/held.key" --challenge "$CHALLENGE" --cn "$(udid_for held)" \
	--transaction-id held-across --out "$T/held.req" --out-signer "$T/held.self" >/dev/null
curl -fsS --data-binary @"$T/held.req" -o "$T/held.rep" "$URL?operation=PKIOperation"
like "$("$SCEP_REQ" parse --reply "$T/held.rep" --cacert "$T/cacert-mid.der")" "pki_status=3" "a request held before activation: PENDING"
t_stop
t_config "require_approval = false"

out=$("$MDMID_BIN" ca activate --config "$T/mdmid.conf")
like "$out" "now the issuing CA" "mdmid ca activate"
ok "$([[ ! -e $T/ca/next && -n $(ls "$T"/ca/previous/*/ca.pem) ]]; echo $?)" "... the old CA is kept under previous/"
t_start
ok "$(curl -fsS "$URL?operation=GetCACaps" | grep -qx GetNextCACert; [[ $? -ne 0 ]]; echo $?)" "GetNextCACert is no longer advertised"
curl -fsS -o "$T/cacert-new.der" "$URL?operation=GetCACert"
ok_cmd "scepclient enrolls under the new CA" t_scepclient "$T/after" -challenge "$CHALLENGE" -cn "$(udid_for after)"
ok_cmd "... its certificate chains to the new CA" openssl verify -CAfile "$T/ca/ca.pem" "$T/after/cert.pem"

# The held request, approved after activation, is issued by the new CA.
"$MDMID_BIN" request approve held-across --config "$T/mdmid.conf" >/dev/null
"$SCEP_REQ" build --cacert "$T/cacert-new.der" --type 20 --key "$T/held.key" --transaction-id held-across \
	--signer-cert "$T/held.self" --out "$T/poll.req" >/dev/null
curl -fsS --data-binary @"$T/poll.req" -o "$T/poll.rep" "$URL?operation=PKIOperation"
out=$("$SCEP_REQ" parse --reply "$T/poll.rep" --cacert "$T/cacert-new.der" --key "$T/held.key" \
	--signer-cert "$T/held.self" --out-cert "$T/held.pem")
like "$out" "pki_status=0" "the request held across activation is issued when polled"
ok_cmd "... by the new CA" openssl verify -CAfile "$T/ca/ca.pem" "$T/held.pem"

# The old CA's device renews with the old certificate.
"$SCEP_REQ" build --cacert "$T/cacert-new.der" --type 17 --key "$T/old.key" --cn "$UDID" --signer-cert "$T/old.pem" \
	--out "$T/renew.req" --out-signer "$T/renew.self" >/dev/null
curl -fsS --data-binary @"$T/renew.req" -o "$T/renew.rep" "$URL?operation=PKIOperation"
out=$("$SCEP_REQ" parse --reply "$T/renew.rep" --cacert "$T/cacert-new.der" --key "$T/old.key" \
	--signer-cert "$T/old.pem" --out-cert "$T/renewed.pem")
like "$out" "pki_status=0" "a certificate of the old CA renews after activation"
ok_cmd "... into one of the new CA" openssl verify -CAfile "$T/ca/ca.pem" "$T/renewed.pem"
is "$(q "select udid from certificate where serial = '$(openssl x509 -in "$T/renewed.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')'")" \
	"$UDID" "... keeping its UDID"
printf 'check-in' >"$T/body"
sig=$(openssl cms -sign -binary -outform DER -in "$T/body" -signer "$T/old.pem" -inkey "$T/old.key" | base64 -w0)
admin POST /v1/mdm-signature/verify --data-binary @"$T/body" -H "Mdm-Signature: $sig"
like "$BODY" '"valid":true' "an Mdm-Signature by the old CA's device still verifies"
# The old CA keeps signing the CRL of its certificates.
old_serial=$(openssl x509 -in "$T/old.pem" -noout -serial | cut -d= -f2)
"$MDMID_BIN" revoke --config "$T/mdmid.conf" "$old_serial" --reason superseded >/dev/null 2>&1
old_fp=$(openssl x509 -in "$T/ca-old.pem" -outform DER | sha256sum | cut -d' ' -f1)
curl -fsS -o "$T/old.crl" "http://127.0.0.1:$PORT/crl/$old_fp"
like "$(openssl crl -in "$T/old.crl" -inform DER -CAfile "$T/ca-old.pem" -noout 2>&1)" "verify OK" \
	"after activation, /crl/<old CA's sha256> serves a CRL the old CA signed"
openssl crl -in "$T/old.crl" -inform DER -out "$T/old.crl.pem"
like "$(openssl verify -crl_check -CAfile "$T/ca-old.pem" -CRLfile "$T/old.crl.pem" "$T/old.pem" 2>&1)" "certificate revoked" \
	"... listing the old certificate revoked after activation"
is "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/crl/00ff")" 404 "/crl/<another CA>: 404"
"$SCEP_REQ" build --cacert "$T/cacert-new.der" --key "$T/gc.key" --type 22 --serial "$old_serial" --issuer "$T/ca-old.pem" \
	--out "$T/gc.req" --out-signer "$T/gc.self" >/dev/null
curl -fsS --data-binary @"$T/gc.req" -o "$T/gc.rep" "$URL?operation=PKIOperation"
like "$("$SCEP_REQ" parse --reply "$T/gc.rep" --cacert "$T/cacert-new.der" --key "$T/gc.key" --signer-cert "$T/gc.self")" \
	"pki_status=0" "GetCRL for a serial of the old CA: SUCCESS"
openssl cms -verify -noverify -binary -inform DER -in "$T/gc.rep" -out "$T/gc.env" 2>/dev/null
openssl cms -decrypt -binary -inform DER -in "$T/gc.env" -recip "$T/gc.self" -inkey "$T/gc.key" -out "$T/gc.p7" 2>/dev/null
like "$(openssl pkcs7 -inform DER -in "$T/gc.p7" -print_certs -text 2>/dev/null | grep -m1 'Issuer:')" \
	"Issuer: CN = mdmid test CA, O = mdmid tests" "... the old CA's CRL"

t_stop
done_testing
