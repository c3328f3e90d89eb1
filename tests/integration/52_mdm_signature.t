#!/usr/bin/env bash
# Mdm-Signature: a body signed with openssl cms by an enrolled identity
# verifies (with and without signed attributes), and each way it can fail
# has its own reason; the check-in plist's UDID is compared (XML and binary).
source "$(dirname "$0")/lib.sh"
t_setup mdm_signature
t_config "challenge_mode = dynamic" "allow_single_des = true"
t_start
UDID=$(udid_for signing-device)
admin POST /v1/challenges -d "{\"udid\": \"$UDID\"}"
secret=$(sed -n 's/.*"challenge":"\([^"]*\)".*/\1/p' <<<"$BODY")
C=$T/dev
ok_cmd "the device enrolls" t_scepclient "$C" -challenge "$secret" -cn device
serial=$(openssl x509 -in "$C/cert.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
fp=$(openssl x509 -in "$C/cert.pem" -outform DER | sha256sum | cut -d' ' -f1)

checkin() { # checkin UDID FILE: an Authenticate check-in body, as a device sends it
	cat >"$2" <<PLIST
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>MessageType</key>
	<string>Authenticate</string>
	<key>Topic</key>
	<string>com.apple.mgmt.External.test</string>
	<key>UDID</key>
	<string>$1</string>
</dict>
</plist>
PLIST
}
sign() { # sign BODY CERT KEY [openssl cms options]: prints the Mdm-Signature value
	local body=$1 cert=$2 key=$3
	shift 3
	openssl cms -sign -binary -outform DER -in "$body" -signer "$cert" -inkey "$key" "$@" | base64 -w0
}
verify() { # verify BODY HEADER: the API's answer in BODY, status in HTTP_STATUS
	admin POST /v1/mdm-signature/verify --data-binary @"$1" -H "Mdm-Signature: $2" -H 'Content-Type: application/x-apple-aspen-mdm-checkin'
}

checkin "$UDID" "$T/body.plist"
verify "$T/body.plist" "$(sign "$T/body.plist" "$C/cert.pem" "$C/key.pem")"
is "$HTTP_STATUS" 200 "a signed check-in: 200"
is "$BODY" "{\"valid\":true,\"reason\":\"ok\",\"serial\":\"$serial\",\"sha256\":\"$fp\",\"udid\":\"$UDID\",\"body_udid_matches\":true}" \
	"... valid, with the serial, fingerprint and UDID of its row, and the body's UDID matches"
verify "$T/body.plist" "$(sign "$T/body.plist" "$C/cert.pem" "$C/key.pem" -noattr)"
like "$BODY" '"valid":true' "without signed attributes it verifies too"

checkin "$(udid_for somebody-else)" "$T/other.plist"
verify "$T/other.plist" "$(sign "$T/other.plist" "$C/cert.pem" "$C/key.pem")"
like "$BODY" '"valid":true.*"body_udid_matches":false' "a check-in naming another UDID: body_udid_matches false"
if plistutil -i "$T/body.plist" -o "$T/body.bplist" 2>/dev/null && [[ $(head -c 6 "$T/body.bplist") == bplist ]]; then
	verify "$T/body.bplist" "$(sign "$T/body.bplist" "$C/cert.pem" "$C/key.pem")"
	like "$BODY" '"valid":true.*"body_udid_matches":true' "a binary property list body is read too"
else
	ok 1 "plistutil made a binary property list"
fi
printf 'not a plist' >"$T/plain"
verify "$T/plain" "$(sign "$T/plain" "$C/cert.pem" "$C/key.pem")"
like "$BODY" '"valid":true.*"body_udid_matches":null' "a body that is no check-in: body_udid_matches null"

# Bodies a device could sign to exhaust the parser: deeply nested XML and a
# binary plist too large to be a check-in. No crash; no UDID read from them.
python3 -c 'import sys; n = 60000; sys.stdout.write("<?xml version=\"1.0\"?><plist>" + "<array>" * n + "</array>" * n + "</plist>")' >"$T/deep.plist"
python3 -c 'import plistlib, sys; sys.stdout.buffer.write(plistlib.dumps({"UDID": sys.argv[1], "Pad": "x" * 20000}, fmt=plistlib.FMT_BINARY))' "$UDID" >"$T/big.bplist"
verify "$T/deep.plist" "$(sign "$T/deep.plist" "$C/cert.pem" "$C/key.pem")"
like "$BODY" '"valid":true.*"body_udid_matches":null' "60,000 nested arrays: verified, not parsed"
verify "$T/big.bplist" "$(sign "$T/big.bplist" "$C/cert.pem" "$C/key.pem")"
like "$BODY" '"valid":true.*"body_udid_matches":null' "a 20 KB binary plist: verified, not parsed"
is "$(curl -sS "http://127.0.0.1:$PORT/healthz")" ok "the server is still up"

# The failures, each with its own reason.
header=$(sign "$T/body.plist" "$C/cert.pem" "$C/key.pem")
sed 's/Authenticate/Authenticatf/' "$T/body.plist" >"$T/changed.plist"
verify "$T/changed.plist" "$header"
is "$HTTP_STATUS/$(sed -n 's/.*"reason":"\([^"]*\)".*/\1/p' <<<"$BODY")" "200/signature_mismatch" "one changed byte in the body: signature_mismatch"
like "$BODY" '"valid":false' "... valid false"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/foreign.key" -subj "/CN=$UDID" -days 30 \
	-addext extendedKeyUsage=clientAuth -out "$T/foreign.pem" 2>/dev/null
verify "$T/body.plist" "$(sign "$T/body.plist" "$T/foreign.pem" "$T/foreign.key")"
like "$BODY" '"valid":false,"reason":"untrusted_signer"' "a signer from another CA: untrusted_signer"

# An identity from mdmid's own CA that has expired.
mkdir -p "$T/oca"
: >"$T/oca/index.txt"
echo 01 >"$T/oca/serial"
cat >"$T/oca/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
database = $T/oca/index.txt
new_certs_dir = $T/oca
serial = $T/oca/serial
default_md = sha256
policy = p
x509_extensions = ext
[p]
commonName = supplied
[ext]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
CNF
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/old.key" -subj "/CN=$UDID" -out "$T/old.csr" 2>/dev/null
openssl ca -config "$T/oca/ca.cnf" -batch -notext -cert "$T/ca/ca.pem" -keyfile "$T/ca/ca.key" -in "$T/old.csr" \
	-out "$T/old.pem" -startdate 20200101000000Z -enddate 20200201000000Z >/dev/null 2>&1
verify "$T/body.plist" "$(sign "$T/body.plist" "$T/old.pem" "$T/old.key")"
like "$BODY" '"valid":false,"reason":"signer_expired"' "an expired signer: signer_expired"
verify "$T/body.plist" "bm90IGEgc2lnbmF0dXJl"
is "$HTTP_STATUS/$BODY" '200/{"valid":false,"reason":"bad_header","serial":null,"sha256":null,"udid":null,"body_udid_matches":null}' \
	"a garbage header: 200, bad_header"
admin POST /v1/mdm-signature/verify --data-binary @"$T/body.plist"
is "$HTTP_STATUS" 400 "no Mdm-Signature header: 400"

# A valid signature by a certificate whose row is revoked.
q "update certificate set status = 'revoked', revoked_at = now() where serial = '$serial'"
verify "$T/body.plist" "$header"
like "$BODY" '"valid":false,"reason":"revoked"' "a revoked identity: revoked"
q "update certificate set status = 'issued', revoked_at = null where serial = '$serial'"

# The CLI.
printf '%s' "$header" >"$T/header"
rc=0
out=$("$MDMID_BIN" mdmsig verify --config "$T/mdmid.conf" --body "$T/body.plist" --header-file "$T/header") || rc=$?
is "$rc" 0 "mdmid mdmsig verify: exit 0 when valid"
like "$out" "\"valid\":true.*\"udid\":\"$UDID\"" "... and prints the verdict with the UDID"
rc=0
out=$("$MDMID_BIN" mdmsig verify --config "$T/mdmid.conf" --body "$T/changed.plist" --header "$header") || rc=$?
is "$rc/$(sed -n 's/.*"reason":"\([^"]*\)".*/\1/p' <<<"$out")" "1/signature_mismatch" "exit 1 with the reason when not"
t_stop
done_testing
