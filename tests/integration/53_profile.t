#!/usr/bin/env bash
# Enrollment profiles: the .mobileconfig parses (with Python's plistlib, not
# plistutil, which exits 0 even when it fails), holds the CA and SCEP
# payloads with Apple's keys and Subject nesting, has stable PayloadUUIDs
# per UDID, and its challenge works for exactly one enrollment.
source "$(dirname "$0")/lib.sh"
t_setup profile
PUBLIC=https://mdm.example.com/scep
t_config "challenge_mode = dynamic" "allow_single_des = true" "profile_organization = Example School" \
	"profile_ca_fingerprint = sha256" "public_url = $PUBLIC"
t_start
UDID=$(udid_for profiled-device)

# inspect FILE: checks a profile with plistlib; prints key=value facts.
inspect() {
	python3 - "$1" "$T/ca/ca.pem" <<'PY'
import plistlib, sys, hashlib, ssl
with open(sys.argv[1], "rb") as f:
    p = plistlib.load(f)
ca_der = ssl.PEM_cert_to_DER_cert(open(sys.argv[2]).read())
print("top_type=%s" % p["PayloadType"])
print("top_uuid=%s" % p["PayloadUUID"])
types = [x["PayloadType"] for x in p["PayloadContent"]]
print("types=%s" % ",".join(types))
root = [x for x in p["PayloadContent"] if x["PayloadType"] == "com.apple.security.root"][0]
print("root_is_ca=%d" % (root["PayloadContent"] == ca_der))
scep = [x for x in p["PayloadContent"] if x["PayloadType"] == "com.apple.security.scep"][0]
c = scep["PayloadContent"]
print("scep_uuid=%s" % scep["PayloadUUID"])
print("url=%s" % c["URL"])
print("name=%s" % c["Name"])
print("subject=%r" % (c["Subject"],))
print("challenge=%s" % c["Challenge"])
print("keysize=%d keytype=%s keyusage=%d" % (c["Keysize"], c["Key Type"], c["Key Usage"]))
print("retries=%d retrydelay=%d" % (c["Retries"], c["RetryDelay"]))
print("fingerprint_ok=%d" % (c.get("CAFingerprint") == hashlib.sha256(ca_der).digest()))
uuids = [x["PayloadUUID"] for x in p["PayloadContent"]] + [p["PayloadUUID"]]
print("uuids_unique=%d" % (len(set(uuids)) == len(uuids)))
PY
}
facts() { sed -n "s/^$1=//p" <<<"$INFO"; }

admin GET "/v1/profiles/scep?udid=$(tr 'A-F' 'a-f' <<<"$UDID")"
is "$HTTP_STATUS" 200 "GET /v1/profiles/scep: 200"
printf '%s' "$BODY" >"$T/api.mobileconfig"
INFO=$(inspect "$T/api.mobileconfig")
ok "$([[ -n $INFO ]]; echo $?)" "the profile parses with plistlib"
is "$(facts top_type)" Configuration "a Configuration profile"
is "$(facts types)" "com.apple.security.root,com.apple.security.scep" "the CA payload, then the SCEP payload"
is "$(facts root_is_ca)" 1 "the root payload holds the DER CA certificate"
is "$(facts url)" "$PUBLIC" "URL is the configured public SCEP URL"
is "$(facts subject)" "[[['O', 'Example School']], [['CN', '$UDID']]]" "Subject: an array of RDNs of [type, value] pairs, with the UDID"
is "$(sed -n 's/^\(keysize=.*\)/\1/p' <<<"$INFO")" "keysize=2048 keytype=RSA keyusage=5" "Keysize 2048, Key Type RSA, Key Usage 5"
is "$(facts retries)" "3 retrydelay=10" "Retries and RetryDelay"
is "$(facts fingerprint_ok)" 1 "CAFingerprint is the CA certificate's SHA-256"
is "$(facts uuids_unique)" 1 "every payload has its own UUID"
challenge1=$(facts challenge)
uuid1=$(facts scep_uuid)
top1=$(facts top_uuid)
is "$(q "select count(*) from challenge where udid = '$UDID' and consumed_at is null")" 1 "the profile's challenge is minted for the UDID"

"$MDMID_BIN" profile scep --config "$T/mdmid.conf" --udid "$UDID" --out "$T/cli.mobileconfig"
is "$(stat -c %a "$T/cli.mobileconfig")" 600 "mdmid profile scep --out writes the file 0600 (it holds a secret)"
INFO=$(inspect "$T/cli.mobileconfig")
is "$(facts scep_uuid)/$(facts top_uuid)" "$uuid1/$top1" "the PayloadUUIDs are stable for a UDID"
ok "$([[ $(facts challenge) != "$challenge1" ]]; echo $?)" "... while each profile gets a fresh challenge"
"$MDMID_BIN" profile scep --config "$T/mdmid.conf" --udid "$(udid_for another-device)" >"$T/other.mobileconfig"
INFO=$(inspect "$T/other.mobileconfig")
ok "$([[ $(facts scep_uuid) != "$uuid1" ]]; echo $?)" "another UDID gets other PayloadUUIDs"
admin GET "/v1/profiles/scep?udid=bogus"
is "$HTTP_STATUS" 400 "a malformed UDID: 400"

# The profile's challenge enrolls exactly once.
ok_cmd "scepclient enrolls with the profile's challenge" t_scepclient "$T/p1" -challenge "$challenge1" -cn "$UDID"
is "$(q "select count(*) from certificate where udid = '$UDID'")" 1 "... and the row carries the UDID"
t_scepclient "$T/p2" -challenge "$challenge1" -cn "$UDID" && rc=0 || rc=$?
ok "$([[ $rc -ne 0 ]]; echo $?)" "the same profile's challenge does not enroll twice"
t_stop
done_testing
