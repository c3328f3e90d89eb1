#!/usr/bin/env bash
# Every content-encryption and digest pair a client may use (AES-128-CBC,
# AES-256-CBC, 3DES-CBC x SHA-1, SHA-256, SHA-512), by POST and by GET: each
# succeeds, and the CertRep uses the request's algorithms (read with openssl).
source "$(dirname "$0")/lib.sh"
t_setup algorithms
t_start
curl -fsS -o "$T/cacert.der" "$URL?operation=GetCACert"
declare -A ossl=([aes128]=aes-128-cbc [aes256]=aes-256-cbc [des3]=des-ede3-cbc)
n=0
for cipher in aes128 aes256 des3; do
	for digest in sha1 sha256 sha512; do
		for method in POST GET; do
			n=$((n + 1))
			name=$cipher-$digest-$method
			"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/$name.key" --challenge "$CHALLENGE" \
				--cn "$(udid_for "$name")" --cipher "$cipher" --digest "$digest" --out "$T/$name.req" \
				--out-signer "$T/$name.self" >/dev/null
			if [[ $method == POST ]]; then
				curl -fsS --data-binary @"$T/$name.req" -o "$T/$name.rep" "$URL?operation=PKIOperation"
			else
				curl -fsS -o "$T/$name.rep" \
					"$URL?operation=PKIOperation&message=$(base64 -w0 "$T/$name.req" | tr '+/' '-_' | tr -d '=')"
			fi
			out=$("$SCEP_REQ" parse --reply "$T/$name.rep" --cacert "$T/cacert.der" --key "$T/$name.key" \
				--signer-cert "$T/$name.self")
			openssl cms -verify -noverify -binary -inform DER -in "$T/$name.rep" -out "$T/$name.env" 2>/dev/null
			got_digest=$(openssl cms -cmsout -print -inform DER -in "$T/$name.rep" |
				grep -A1 'digestAlgorithm:' | tail -n 1 | sed 's/.*algorithm: \([a-z0-9]*\) .*/\1/')
			got_cipher=$(openssl cms -cmsout -print -inform DER -in "$T/$name.env" |
				grep -A1 'contentEncryptionAlgorithm:' | tail -n 1 | sed 's/.*algorithm: \([a-z0-9-]*\) .*/\1/')
			is "$(sed -n 's/^pki_status=//p' <<<"$out")/$(sed -n 's/^issued_key_match=//p' <<<"$out")/$got_digest/$got_cipher" \
				"0/1/$digest/${ossl[$cipher]}" "$cipher + $digest by $method: SUCCESS, answered in $digest and ${ossl[$cipher]}"
		done
	done
done
is "$(q "select count(*) from certificate")" "$n" "every one has its row"
t_stop
done_testing
