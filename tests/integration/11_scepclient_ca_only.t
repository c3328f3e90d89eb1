#!/usr/bin/env bash
# CA-only mode (mdmid ca init --no-ra): GetCACert answers the DER CA
# certificate, whose key decrypts requests and signs CertReps; scepclient
# enrolls against it.
source "$(dirname "$0")/lib.sh"
t_setup scepclient_ca_only
"$MDMID_BIN" ca init --config /dev/null --dir "$T/ca" --bits 2048 --no-ra --force --subject "/CN=mdmid CA-only test" >/dev/null
ok "$([[ ! -e $T/ca/ra.pem && ! -e $T/ca/ra.key ]]; echo $?)" "--no-ra --force removes the earlier RA"
ku=$(openssl x509 -in "$T/ca/ca.pem" -noout -ext keyUsage)
like "$ku" "Digital Signature, Key Encipherment, Certificate Sign, CRL Sign" "the CA-only certificate carries all four key usages"
t_config "allow_single_des = true"
t_start

ctype=$(curl -fsS -o "$T/cacert.der" -w '%{content_type}' "$URL?operation=GetCACert")
is "$ctype" "application/x-x509-ca-cert" "GetCACert in CA-only mode answers application/x-x509-ca-cert"
is "$(openssl x509 -inform DER -in "$T/cacert.der" -outform PEM)" "$(openssl x509 -in "$T/ca/ca.pem")" \
	"the body is the DER CA certificate"

C=$T/client
ok_cmd "scepclient enrolls in CA-only mode" t_scepclient "$C" -challenge "$CHALLENGE" -cn "$(udid_for device-ca-only)"
ok_cmd "the certificate chains to the CA" openssl verify -CAfile "$T/ca/ca.pem" "$C/cert.pem"
fp=$(openssl x509 -in "$C/cert.pem" -outform DER | sha256sum | cut -d' ' -f1)
is "$(q "select count(*) from certificate where sha256 = '\\x$fp'")" 1 "its row exists with the matching fingerprint"
is "$(q "select count(*) from issuer")" 1 "only the CA is recorded as an issuer"
t_stop
done_testing
