#!/usr/bin/env bash
# Debian's scepclient enrolls against an RA-mode mdmid: GetCACaps, GetCACert,
# PKCSReq; the certificate chains to the CA, carries the CSR's key, and its
# committed row has the matching fingerprint.
source "$(dirname "$0")/lib.sh"
t_setup scepclient_ra
# scepclient only encrypts with single DES (see DESIGN.md).
t_config "allow_single_des = true"
t_start

caps=$(curl -fsS "$URL?operation=GetCACaps")
for cap in POSTPKIOperation SHA-1 SHA-256 SHA-512 AES DES3 SCEPStandard; do
	ok "$(grep -qx "$cap" <<<"$caps"; echo $?)" "GetCACaps advertises $cap"
done
ctype=$(curl -fsS -o "$T/cacert.der" -w '%{content_type}' "$URL?operation=GetCACert&message=Apple%20Payload%20Name")
is "$ctype" "application/x-x509-ca-ra-cert" "GetCACert with an RA answers application/x-x509-ca-ra-cert"
ncerts=$(openssl pkcs7 -inform DER -in "$T/cacert.der" -print_certs | grep -c '^subject=')
is "$ncerts" 2 "GetCACert's degenerate PKCS#7 holds the RA and the CA"

C=$T/client
ok_cmd "scepclient enrolls with the challenge" t_scepclient "$C" -challenge "$CHALLENGE" -cn "$(udid_for device-ra-1)"
ok_cmd "the certificate chains to the CA" openssl verify -CAfile "$T/ca/ca.pem" "$C/cert.pem"
certkey=$(openssl x509 -in "$C/cert.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)
keykey=$(openssl pkey -in "$C/key.pem" -pubout -outform DER | sha256sum)
is "$certkey" "$keykey" "the certificate carries the CSR's public key"
fp=$(openssl x509 -in "$C/cert.pem" -outform DER | sha256sum | cut -d' ' -f1)
serial=$(openssl x509 -in "$C/cert.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
is "$(q "select count(*) from certificate where sha256 = '\\x$fp' and serial = '$serial' and method = 'scep'")" 1 \
	"its certificate row exists with the matching SHA-256 fingerprint and serial"
is "$(q "select count(*) from event where kind = 'scep.pkcsreq' and outcome = 'success' and serial = '$serial'")" 1 \
	"a success event names the serial"
is "$(q "select requester_addr from certificate where serial = '$serial'")" "127.0.0.1" "the row records the requester address"
text=$(openssl x509 -in "$C/cert.pem" -noout -text)
like "$text" "Digital Signature, Key Encipherment" "keyUsage digitalSignature + keyEncipherment"
like "$text" "TLS Web Client Authentication" "extendedKeyUsage clientAuth"
like "$text" "CA:FALSE" "basicConstraints CA:FALSE"
like "$(openssl x509 -in "$C/cert.pem" -noout -serial)" "^serial=[0-7][0-9A-F]{31}$" "a positive 16-byte serial"
nb=$(date -d "$(openssl x509 -in "$C/cert.pem" -noout -startdate | cut -d= -f2)" +%s)
now=$(date +%s)
ok "$(((now - nb) >= 240 && (now - nb) <= 400 ? 0 : 1))" "notBefore is backdated about five minutes ($((now - nb)) s)"
na=$(date -d "$(openssl x509 -in "$C/cert.pem" -noout -enddate | cut -d= -f2)" +%s)
ok "$((((na - nb) / 86400) == 365 ? 0 : 1))" "validity defaults to 365 days"
is "$(q "select count(*) from issuer")" 2 "the CA and the RA are recorded as issuers"
t_stop
done_testing
