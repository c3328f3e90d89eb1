#!/usr/bin/env bash
# CertRep structure, read with OpenSSL's own CMS printer rather than mdmid's
# codec: nonces, transactionID, pkiStatus, failInfo(Text), the digest and
# content-encryption algorithms, no eContent in the inner degenerate PKCS#7
# nor in a FAILURE. Also BER input, GET in both base64 alphabets, and the
# decryption-failure cases that must all get one and the same answer.
source "$(dirname "$0")/lib.sh"
t_setup certrep
t_start
curl -fsS -o "$T/cacert.der" "$URL?operation=GetCACert"

# cms_attr OID FILE: the value of a signed attribute of a DER CMS file, as
# openssl prints it (strings as text, octet strings as hex).
cms_attr() {
	openssl cms -cmsout -print -inform DER -in "$2" | awk -v oid="($1)" '
		index($0, "object:") && index($0, oid) { grab = 1; next }
		!grab { next }
		/^ *set:/ { next }
		/^ *(PRINTABLESTRING|UTF8STRING):/ { sub(/^ *[A-Z0-9]+:/, ""); print; exit }
		/OCTET STRING:/ { oct = 1; next }
		oct && /^ *[0-9a-f][0-9a-f][0-9a-f][0-9a-f] - / {
			line = $0; sub(/^ *[0-9a-f]+ - /, "", line); sub(/   .*$/, "", line); gsub(/[- ]/, "", line)
			hex = hex line; next }
		oct { print hex; exit }
		{ exit }'
}
OID_MT=2.16.840.1.113733.1.9.2 OID_STATUS=2.16.840.1.113733.1.9.3 OID_FAIL=2.16.840.1.113733.1.9.4
OID_SNONCE=2.16.840.1.113733.1.9.5 OID_RNONCE=2.16.840.1.113733.1.9.6 OID_TID=2.16.840.1.113733.1.9.7
OID_FAILTEXT=1.3.6.1.5.5.7.24.1

# enroll NAME [scep-req build options]: builds a request into $T/NAME/, POSTs it
# and leaves req.der, rep.der, key.pem, self.pem; sets TID and NONCE.
enroll() {
	local name=$1 out
	shift
	mkdir -p "$T/$name"
	out=$("$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/$name/key.pem" --out "$T/$name/req.der" \
		--out-signer "$T/$name/self.pem" --cn "$(udid_for "$name")" "$@")
	TID=$(sed -n 's/^transaction_id=//p' <<<"$out")
	NONCE=$(sed -n 's/^sender_nonce=//p' <<<"$out")
	curl -fsS --data-binary @"$T/$name/req.der" -H 'Content-Type: application/x-pki-message' \
		-o "$T/$name/rep.der" "$URL?operation=PKIOperation"
}

# check_header NAME STATUS: the CertRep's SCEP attributes as RFC 8894 asks.
check_header() {
	local d=$T/$1 status=$2
	is "$(cms_attr $OID_MT "$d/rep.der")" 3 "$1: messageType CertRep (3)"
	is "$(cms_attr $OID_STATUS "$d/rep.der")" "$status" "$1: pkiStatus $status"
	is "$(cms_attr $OID_TID "$d/rep.der")" "$TID" "$1: transactionID echoed"
	is "$(cms_attr $OID_RNONCE "$d/rep.der")" "$NONCE" "$1: recipientNonce is the request's senderNonce"
	local sn
	sn=$(cms_attr $OID_SNONCE "$d/rep.der")
	ok "$([[ ${#sn} -eq 32 && $sn != "$NONCE" ]]; echo $?)" "$1: a fresh 16-byte senderNonce ($sn)"
	# A FAILURE's content is absent: verify it over empty detached content.
	local detached=()
	[[ $status == 0 ]] || detached=(-content /dev/null)
	ok_cmd "$1: the signature verifies (openssl cms -verify)" \
		openssl cms -verify -noverify -binary -inform DER -in "$d/rep.der" -out "$d/env.der" "${detached[@]}"
}

# check_success NAME DIGEST CIPHER: a SUCCESS CertRep, opened with openssl.
check_success() {
	local name=$1 digest=$2 cipher=$3 d=$T/$1
	check_header "$name" 0
	like "$(openssl cms -cmsout -print -inform DER -in "$d/rep.der" | grep -A1 'digestAlgorithm:' | tail -n 1)" \
		"algorithm: $digest " "$name: signed with $digest, the request's digest"
	like "$(openssl cms -cmsout -print -inform DER -in "$d/env.der" | grep -A1 'contentEncryptionAlgorithm:' | tail -n 1)" \
		"algorithm: $cipher " "$name: the envelope is encrypted with $cipher"
	ok_cmd "$name: the envelope decrypts with the requester's key" openssl cms -decrypt -binary -inform DER \
		-in "$d/env.der" -recip "$d/self.pem" -inkey "$d/key.pem" -out "$d/inner.der"
	like "$(openssl cms -cmsout -print -inform DER -in "$d/inner.der")" "eContent: <ABSENT>" \
		"$name: the inner degenerate SignedData has no eContent"
	is "$(openssl pkcs7 -inform DER -in "$d/inner.der" -print_certs | grep -c '^subject=')" 1 \
		"$name: it holds only the issued certificate"
	openssl pkcs7 -inform DER -in "$d/inner.der" -print_certs >"$d/cert.pem"
	is "$(openssl x509 -in "$d/cert.pem" -noout -pubkey)" "$(openssl pkey -in "$d/key.pem" -pubout)" \
		"$name: the certificate is for the request's key"
	ok_cmd "$name: the certificate chains to the CA" openssl verify -CAfile "$T/ca/ca.pem" "$d/cert.pem"
}

check_failure() {
	local name=$1 fail_info=$2 d=$T/$1
	check_header "$name" 2
	is "$(cms_attr $OID_FAIL "$d/rep.der")" "$fail_info" "$name: failInfo $fail_info"
	FAILTEXT=$(cms_attr $OID_FAILTEXT "$d/rep.der")
	ok "$([[ -n $FAILTEXT ]]; echo $?)" "$name: failInfoText says why ($FAILTEXT)"
	like "$(openssl cms -cmsout -print -inform DER -in "$d/rep.der")" "eContent: <ABSENT>" \
		"$name: a FAILURE has no eContent"
}

enroll aes128 --challenge "$CHALLENGE"
check_success aes128 sha256 aes-128-cbc
enroll aes256 --challenge "$CHALLENGE" --cipher aes256 --digest sha512
check_success aes256 sha512 aes-256-cbc
enroll des3 --challenge "$CHALLENGE" --cipher des3 --digest sha1
check_success des3 sha1 des-ede3-cbc
enroll ber --challenge "$CHALLENGE" --ber
is "$(head -c 2 "$T/ber/req.der" | od -An -tx1 | tr -d ' ')" 3080 "the BER request really has an indefinite length"
check_success ber sha256 aes-128-cbc
enroll both --challenge "$CHALLENGE" --recipient all
check_success both sha256 aes-128-cbc

enroll wrong --challenge "wrong-$CHALLENGE"
check_failure wrong 2
enroll md5 --challenge "$CHALLENGE" --digest md5
check_failure md5 0
enroll badsig --challenge "$CHALLENGE" --corrupt signature
check_failure badsig 1
enroll othercontent --challenge "$CHALLENGE" --corrupt content
check_failure othercontent 1
enroll des --challenge "$CHALLENGE" --cipher des
check_failure des 0
is "$FAILTEXT" "single DES is refused (RFC 8894 section 2.9)" "single DES: failInfoText names it"

# Every way the envelope can fail to decrypt gets the same failInfo and text.
enroll envelope --challenge "$CHALLENGE" --corrupt envelope
check_failure envelope 1
t1=$FAILTEXT
enroll ciphertext --challenge "$CHALLENGE" --corrupt ciphertext
check_failure ciphertext 1
t2=$FAILTEXT
enroll tothe_ca --challenge "$CHALLENGE" --recipient ca
check_failure tothe_ca 1
t3=$FAILTEXT
ok "$([[ $t1 == "$t2" && $t2 == "$t3" ]]; echo $?)" "envelope, ciphertext and wrong-recipient failures get one and the same answer"
is "$(q "select string_agg(distinct error, ',') from event where transaction_id in \
	(select transaction_id from event where error = 'decrypt')")" decrypt "they are all recorded as decrypt"

# GET: standard base64 with a raw '+' (which arrives as a space), and base64url.
mkdir -p "$T/get"
for i in 1 2 3 4 5 6 7 8; do
	"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/get/key$i.pem" --challenge "$CHALLENGE" --cn "$(udid_for get$i)" \
		--out "$T/get/req.der" --out-signer "$T/get/self.pem" >/dev/null
	b64=$(base64 -w0 "$T/get/req.der")
	[[ $b64 == *+* ]] && break
done
like "$b64" '\+' "the standard-base64 GET message contains a '+'"
enc=${b64//=/%3D}
status=$(curl -sS -o "$T/get/rep.der" -w '%{http_code}' "$URL?operation=PKIOperation&message=$enc")
is "$status" 200 "GET with standard base64 and a raw '+' is answered"
like "$("$SCEP_REQ" parse --reply "$T/get/rep.der" --cacert "$T/cacert.der" --key "$T/get/key$i.pem" \
	--signer-cert "$T/get/self.pem")" "pki_status=0" "... with SUCCESS"
"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/get/keyurl.pem" --challenge "$CHALLENGE" --cn "$(udid_for geturl)" \
	--out "$T/get/requrl.der" --out-signer "$T/get/selfurl.pem" >/dev/null
b64url=$(base64 -w0 "$T/get/requrl.der" | tr '+/' '-_' | tr -d '=')
curl -fsS -o "$T/get/repurl.der" "$URL?operation=PKIOperation&message=$b64url"
like "$("$SCEP_REQ" parse --reply "$T/get/repurl.der" --cacert "$T/cacert.der" --key "$T/get/keyurl.pem" \
	--signer-cert "$T/get/selfurl.pem")" "pki_status=0" "GET with unpadded base64url gets SUCCESS"

is "$(q "select count(*) from certificate")" 7 "exactly the seven successes have certificate rows"
is "$(q "select count(*) from event")" 15 "every PKIOperation left one event row"
t_stop

# With allow_single_des, a single-DES request is answered in 3DES, never DES.
t_config "allow_single_des = true"
t_start
enroll legacy --challenge "$CHALLENGE" --cipher des
check_success legacy sha256 des-ede3-cbc
t_stop
done_testing
