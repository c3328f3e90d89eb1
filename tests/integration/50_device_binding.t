#!/usr/bin/env bash
# Device binding: the admin API's bearer token, one-time challenges minted
# for a UDID (used, reused, expired, unknown), static mode reading the UDID
# from the CSR, and the MDM's cross-check in SQL, over the API and the CLI.
source "$(dirname "$0")/lib.sh"
t_setup device_binding
t_config "challenge_mode = dynamic" "allow_single_des = true"
t_start
UDID=00008030-001A2D8A3C02802E
udid_lc=$(tr 'A-F' 'a-f' <<<"$UDID")

# The bearer token.
is "$(curl -sS -o /dev/null -w '%{http_code}' -X POST -d '{}' "$ADMIN_URL/v1/challenges")" 401 "no token: 401"
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer wrong-$ADMIN_TOKEN" -d '{}' \
	"$ADMIN_URL/v1/challenges")
is "$code" 401 "a wrong token: 401"
like "$(curl -sS -D - -o /dev/null -H 'Authorization: Bearer x' "$ADMIN_URL/v1/challenges")" "WWW-Authenticate: Bearer" \
	"401 names the Bearer scheme"
ok "$(grep -qF "$ADMIN_TOKEN" "$T/server.log"; [[ $? -ne 0 ]]; echo $?)" "the token never appears in the log"

# Minting.
admin POST /v1/challenges -d '{"udid": "not-a-udid"}'
out=$BODY
is "$HTTP_STATUS" 400 "a malformed UDID: 400"
like "$out" '"error":"udid_invalid"' "... naming udid_invalid"
admin POST /v1/challenges -d 'not json'
is "$HTTP_STATUS" 400 "a body that is not JSON: 400"
admin POST /v1/challenges -d "{\"udid\": \"$UDID\", \"ttl_seconds\": 5}"
is "$HTTP_STATUS" 400 "a ttl under 60 s: 400"
admin POST /v1/challenges -d "{\"udid\": \"$udid_lc\", \"ttl_seconds\": 600}"
out=$BODY
is "$HTTP_STATUS" 201 "minting a challenge: 201"
secret=$(sed -n 's/.*"challenge":"\([^"]*\)".*/\1/p' <<<"$out")
like "$secret" '^[A-Za-z0-9_-]{32}$' "the challenge is 32 base64url characters (192 bits)"
like "$out" '"expires_at":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z"' "expires_at is ISO 8601 UTC"
like "$out" "\"udid\":\"$UDID\"" "the UDID is stored upper case"
h=$(printf '%s' "$secret" | sha256sum | cut -d' ' -f1)
is "$(q "select count(*) from challenge where secret_sha256 = '\\x$h' and udid = '$UDID'")" 1 "only the secret's SHA-256 is stored"
is "$(q "select count(*) from challenge c where position('$secret' in row(c.*)::text) > 0")" 0 "the secret itself is nowhere in the row"

# Enrollment with the minted challenge.
C=$T/dyn
ok_cmd "scepclient enrolls with the minted challenge" t_scepclient "$C" -challenge "$secret" -cn "any name"
fp=$(openssl x509 -in "$C/cert.pem" -outform DER | sha256sum | cut -d' ' -f1)
is "$(q "select udid from certificate where sha256 = '\\x$fp'")" "$UDID" "the certificate row carries the UDID"
is "$(q "select c.challenge_id = ch.id and ch.consumed_at is not null from certificate c join challenge ch on ch.secret_sha256 = '\\x$h' where c.sha256 = '\\x$fp'")" t \
	"... and the challenge id, which is now consumed"
t_scepclient "$T/again" -challenge "$secret" -cn "again" && rc=0 || rc=$?
ok "$([[ $rc -ne 0 && ! -s $T/again/cert.pem ]]; echo $?)" "the same challenge again gets no certificate"
like "$(cat "$T/again/out.log")" badRequest "... but badRequest"
is "$(q "select error || ' ' || udid from event order by id desc limit 1")" "challenge_consumed $UDID" "... and an event naming challenge_consumed and the UDID"

secret2=$("$MDMID_BIN" challenge new --config "$T/mdmid.conf" --udid "$UDID" --ttl 1h 2>/dev/null)
like "$secret2" '^[A-Za-z0-9_-]{32}$' "mdmid challenge new prints the challenge alone"
q "update challenge set created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour' where secret_sha256 = sha256('$secret2'::bytea)"
t_scepclient "$T/expired" -challenge "$secret2" -cn "expired" && rc=0 || rc=$?
ok "$([[ $rc -ne 0 && ! -s $T/expired/cert.pem ]]; echo $?)" "an expired challenge gets no certificate"
is "$(q "select error || '/' || fail_info from event order by id desc limit 1")" "challenge_expired/badRequest" "... badRequest, event challenge_expired"
t_scepclient "$T/unknown" -challenge "never-minted-challenge" -cn "unknown" && rc=0 || rc=$?
ok "$([[ $rc -ne 0 ]]; echo $?)" "an unknown challenge gets no certificate"
is "$(q "select error || '/' || fail_info from event order by id desc limit 1")" "challenge_unknown/badRequest" "... badRequest, event challenge_unknown"
rc=0
"$MDMID_BIN" challenge new --config "$T/mdmid.conf" --udid nope >/dev/null 2>"$T/err" || rc=$?
is "$rc" 2 "challenge new with a malformed UDID exits 2"
like "$(cat "$T/err")" "not a UDID" "... and says why"

# A lost CertRep: the device sends the very same request again and gets the
# certificate it was issued, not a refusal for a used challenge.
curl -fsS -o "$T/cacert.der" "$URL?operation=GetCACert"
admin POST /v1/challenges -d "{\"udid\": \"$UDID\"}"
s4=$(sed -n 's/.*"challenge":"\([^"]*\)".*/\1/p' <<<"$BODY")
"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/re.key" --challenge "$s4" --out "$T/re.req" --out-signer "$T/re.self" >/dev/null
for i in 1 2; do
	curl -fsS --data-binary @"$T/re.req" -o "$T/re$i.rep" "$URL?operation=PKIOperation"
	"$SCEP_REQ" parse --reply "$T/re$i.rep" --cacert "$T/cacert.der" --key "$T/re.key" --signer-cert "$T/re.self" \
		--out-cert "$T/re$i.pem" >"$T/re$i.txt"
done
like "$(cat "$T/re2.txt")" "pki_status=0" "a retransmitted PKCSReq gets SUCCESS again"
is "$(openssl x509 -in "$T/re2.pem" -noout -serial)" "$(openssl x509 -in "$T/re1.pem" -noout -serial)" "... with the same certificate"
tid=$(sed -n 's/^transaction_id=//p' "$T/re1.txt")
is "$(q "select count(*) from certificate where transaction_id = '$tid'")" 1 "... and still one certificate row"
is "$(q "select count(*) from event where transaction_id = '$tid' and outcome = 'success'")" 2 "... and an event row for each request"

# A CSR naming another device than the challenge's.
admin POST /v1/challenges -d "{\"udid\": \"$UDID\"}"
s5=$(sed -n 's/.*"challenge":"\([^"]*\)".*/\1/p' <<<"$BODY")
t_scepclient "$T/mismatch" -challenge "$s5" -cn "$(udid_for another-device)" && rc=0 || rc=$?
ok "$([[ $rc -ne 0 ]]; echo $?)" "a CSR whose CN names another UDID than the challenge's gets no certificate"
is "$(q "select error from event order by id desc limit 1")" udid_mismatch "... event udid_mismatch"

# A challenge bound to a subject.
admin POST /v1/challenges -d "{\"udid\": \"$UDID\", \"subject\": \"CN=bound,O=scep-client\"}"
secret3=$(sed -n 's/.*"challenge":"\([^"]*\)".*/\1/p' <<<"$BODY")
t_scepclient "$T/othersubj" -challenge "$secret3" -cn "not-bound" && rc=0 || rc=$?
ok "$([[ $rc -ne 0 ]]; echo $?)" "a challenge bound to a subject refuses another subject"
is "$(q "select error from event order by id desc limit 1")" challenge_subject "... event challenge_subject"

# The cross-check, through the CLI.
rc=0
out=$("$MDMID_BIN" check --config "$T/mdmid.conf" --udid "$udid_lc" --cert "$C/cert.pem" 2>&1) || rc=$?
is "$rc/$out" "0/match" "mdmid check: the right UDID matches (exit 0)"
rc=0
out=$("$MDMID_BIN" check --config "$T/mdmid.conf" --udid "$(udid_for other)" --cert "$C/cert.pem" 2>&1) || rc=$?
is "$rc/$out" "1/other_udid" "another UDID: exit 1, other_udid"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/stranger.key" -subj /CN=stranger -days 1 -out "$T/stranger.pem" 2>/dev/null
rc=0
out=$("$MDMID_BIN" check --config "$T/mdmid.conf" --udid "$UDID" --cert "$T/stranger.pem" 2>&1) || rc=$?
is "$rc/$out" "1/unknown_certificate" "a certificate mdmid never issued: unknown_certificate"

# ... through the API, by PEM and by fingerprint.
pem=$(awk '{printf "%s\\n", $0}' "$C/cert.pem")
admin POST /v1/identity/check -d "{\"udid\": \"$UDID\", \"certificate\": \"$pem\"}"
out=$BODY
is "$HTTP_STATUS/$out" '200/{"match":true,"reason":"match"}' "API: the right UDID and PEM match"
admin POST /v1/identity/check -d "{\"udid\": \"$(udid_for other)\", \"sha256\": \"$fp\"}"
out=$BODY
is "$out" '{"match":false,"reason":"other_udid"}' "API: another UDID by fingerprint: other_udid"
admin POST /v1/identity/check -d "{\"udid\": \"$UDID\", \"sha256\": \"xyz\"}"
is "$HTTP_STATUS" 400 "API: a malformed fingerprint: 400"

# ... in SQL, as the mdm_reader role, through revocation and expiry.
reader() { psql -X -Atq -v ON_ERROR_STOP=1 -d "$DB" -c "set role mdm_reader; $1"; }
is "$(reader "select identity_matches('$udid_lc', '\\x$fp')")" t "mdm_reader: identity_matches is true for the device"
is "$(reader "select identity_matches('$(udid_for other)', '\\x$fp')")" f "mdm_reader: false for another UDID"
is "$(reader "select identity_matches('$UDID', sha256('x'::bytea))")" f "mdm_reader: false for an unknown fingerprint"
is "$(reader "select identity_matches(null, '\\x$fp')")" f "mdm_reader: false for a NULL UDID"
is "$(reader "select (identity_check(null, '\\x$fp')).reason")" other_udid "... identity_check says other_udid"
is "$(reader "select count(*) from device_identity where udid = '$UDID'")" 2 "mdm_reader: device_identity lists the device's certificates"
ok "$(reader "create function pg_temp.leak(text) returns boolean language sql as 'select true'" >/dev/null 2>&1; [[ $? -ne 0 ]]; echo $?)" \
	"mdm_reader cannot create temporary functions (no leaks through the views' WHERE)"
ok "$(reader "select count(*) from certificate" >/dev/null 2>&1; [[ $? -ne 0 ]]; echo $?)" "mdm_reader cannot read the certificate table"
ok "$(psql -X -Atq -d "$DB" -c "set role auditor; select secret_sha256 from challenge" >/dev/null 2>&1; [[ $? -ne 0 ]]; echo $?)" \
	"auditor cannot read challenge hashes"
is "$(psql -X -Atq -d "$DB" -c "set role auditor; select count(*) from challenge where udid = '$UDID'")" 5 "auditor reads the rest of the challenges"
ok "$(psql -X -Atq -d "$DB" -c "set role auditor; delete from event" >/dev/null 2>&1; [[ $? -ne 0 ]]; echo $?)" "auditor cannot change anything"
is "$(q "select count(*) from pg_proc p where proname in ('identity_matches','identity_check','expiring') and has_function_privilege('public', p.oid, 'execute')")" 0 \
	"EXECUTE is revoked from PUBLIC"
is "$(q "select count(*) from pg_proc where proname in ('identity_matches','identity_check','expiring') and prosecdef and array_to_string(proconfig, ',') like 'search_path=%'")" 3 \
	"the check functions are SECURITY DEFINER with a fixed search_path"
is "$(reader "select count(*) from expiring('400 days') where udid = '$UDID'")" 2 "expiring('400 days') lists both of the device's certificates"
is "$(reader "select count(*) from expiring('30 days') where udid = '$UDID'")" 0 "expiring('30 days') does not"
like "$(reader "select error || ':' || count from refusals order by error")" "challenge_consumed:1" "refusals counts by reason"
q "update certificate set status = 'revoked', revoked_at = now() where sha256 = '\\x$fp'"
is "$(reader "select identity_matches('$UDID', '\\x$fp')")" f "revoked: false"
rc=0
out=$("$MDMID_BIN" check --config "$T/mdmid.conf" --udid "$UDID" --cert "$C/cert.pem" 2>&1) || rc=$?
is "$rc/$out" "1/revoked" "mdmid check: revoked"
q "update certificate set status = 'issued', revoked_at = null, not_before = now() - interval '2 days', not_after = now() - interval '1 day' where sha256 = '\\x$fp'"
is "$(reader "select identity_matches('$UDID', '\\x$fp')")" f "expired: false"
admin POST /v1/identity/check -d "{\"udid\": \"$UDID\", \"sha256\": \"$fp\"}"
is "$BODY" '{"match":false,"reason":"expired"}' "API: expired"
q "update certificate set status = 'abandoned', revoked_at = now(), revocation_reason = 'superseded' where sha256 = '\\x$fp'"
is "$(reader "select (identity_check('$UDID', '\\x$fp')).reason")" abandoned "abandoned: identity_check says so"
t_stop

# Static mode: one shared secret, the UDID from the CSR's CN (or a SAN).
t_config "challenge_mode = static"
t_start
C=$T/static
ok_cmd "static mode: scepclient enrolls with the shared secret" t_scepclient "$C" -challenge "$CHALLENGE" -cn "$udid_lc"
fp=$(openssl x509 -in "$C/cert.pem" -outform DER | sha256sum | cut -d' ' -f1)
is "$(q "select udid || ' ' || (challenge_id is null) from certificate where sha256 = '\\x$fp'")" "$UDID true" \
	"the row carries the UDID read from the CN, in canonical case"
t_scepclient "$T/static-nocn" -challenge "$CHALLENGE" -cn "not a udid" && rc=0 || rc=$?
ok "$([[ $rc -ne 0 ]]; echo $?)" "static mode: a CSR without a UDID gets no certificate"
is "$(q "select error from event order by id desc limit 1")" udid_missing "... event udid_missing"
t_stop
MAC=$(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)
t_config "static_udid_field = SAN:DNS"
t_start
curl -fsS -o "$T/cacert.der" "$URL?operation=GetCACert"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/san.key" 2>/dev/null
openssl req -new -key "$T/san.key" -addext "subjectAltName=DNS:$MAC" -out "$T/san.csr" -config <(printf \
	'[req]\nprompt=no\ndistinguished_name=dn\nattributes=attrs\n[dn]\nCN=a mac\n[attrs]\nchallengePassword=%s\n' "$CHALLENGE")
"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/san.key" --csr "$T/san.csr" --out "$T/san.req" --out-signer "$T/san.self" >/dev/null
curl -fsS --data-binary @"$T/san.req" -o "$T/san.rep" "$URL?operation=PKIOperation"
like "$("$SCEP_REQ" parse --reply "$T/san.rep" --cacert "$T/cacert.der" --key "$T/san.key" --signer-cert "$T/san.self")" \
	"pki_status=0" "static mode with static_udid_field = SAN:DNS: a Mac's UUID in the SAN enrolls"
is "$(q "select udid from certificate order by id desc limit 1")" "$(tr 'a-f' 'A-F' <<<"$MAC")" "... and the row carries it"
t_stop
done_testing
