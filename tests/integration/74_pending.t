#!/usr/bin/env bash
# Pending and polling: a request held for approval gets PENDING (no
# content), so do its CertPolls and its retransmissions; once approved the
# poll gets the certificate (issued once), once denied a FAILURE. Per
# challenge (require_approval) and globally; decided by CLI and admin API.
source "$(dirname "$0")/lib.sh"
t_setup pending
t_config "challenge_mode = dynamic"
t_start
curl -fsS -o "$T/cacert.der" "$URL?operation=GetCACert"
UDID=$(udid_for held-device)

mint() { # mint [true|false]: a challenge for $UDID in SECRET
	admin POST /v1/challenges -d "{\"udid\": \"$UDID\", \"require_approval\": ${1:-false}}"
	SECRET=$(sed -n 's/.*"challenge":"\([^"]*\)".*/\1/p' <<<"$BODY")
}
# send NAME TYPE TID [options]: one message from the requester NAME (its key
# and self-signed certificate are kept across messages); STATUS, FAILINFO, ECONTENT
send() {
	local name=$1 type=$2 tid=$3 signer=()
	shift 3
	[[ -s $T/$name.self ]] && signer=(--signer-cert "$T/$name.self")
	"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/$name.key" --type "$type" --transaction-id "$tid" \
		--cn "$UDID" --out "$T/$name.$type.req" --out-signer "$T/$name.self" "${signer[@]}" "$@" >/dev/null
	curl -fsS --data-binary @"$T/$name.$type.req" -o "$T/$name.rep" "$URL?operation=PKIOperation"
	"$SCEP_REQ" parse --reply "$T/$name.rep" --cacert "$T/cacert.der" --key "$T/$name.key" \
		--signer-cert "$T/$name.self" --out-cert "$T/$name.pem" >"$T/$name.out"
	STATUS=$(sed -n 's/^pki_status=//p' "$T/$name.out")
	FAILINFO=$(sed -n 's/^fail_info=//p' "$T/$name.out")
	ECONTENT=$(sed -n 's/^outer_econtent=//p' "$T/$name.out")
}

mint true
send a 19 tid-a --challenge "$SECRET"
is "$STATUS/$ECONTENT" "3/0" "a challenge minted with require_approval: PENDING, without content"
is "$(q "select count(*) from certificate")" 0 "... no certificate yet"
is "$(q "select decision || ' ' || udid from request where transaction_id = 'tid-a'")" "pending $UDID" "... the request is kept"
is "$(q "select consumed_at is not null from challenge where id = (select challenge_id from request where transaction_id = 'tid-a')")" t \
	"... and its challenge consumed"
like "$("$MDMID_BIN" request list --config "$T/mdmid.conf")" "tid-a	PKCSReq	$UDID" "mdmid request list shows it"
admin GET /v1/requests
like "$BODY" "\"transaction_id\":\"tid-a\"" "GET /v1/requests shows it"
send a 20 tid-a
is "$STATUS" 3 "CertPoll before the decision: PENDING"
send a 19 tid-a --challenge "$SECRET"
is "$STATUS" 3 "the PKCSReq sent again: PENDING (the same request, not a used challenge)"

is "$("$MDMID_BIN" request approve tid-a --config "$T/mdmid.conf")" "approved tid-a" "mdmid request approve"
send a 20 tid-a
is "$STATUS" 0 "CertPoll after approval: SUCCESS"
like "$(cat "$T/a.out")" "issued_key_match=1" "... with a certificate for the request's key"
serial=$(openssl x509 -in "$T/a.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
is "$(q "select udid || ' ' || (challenge_id is not null) from certificate where serial = '$serial'")" "$UDID true" \
	"its row carries the UDID and the challenge"
send a 20 tid-a
is "$(openssl x509 -in "$T/a.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')" "$serial" "polling again gives the same certificate"
send a 19 tid-a --challenge "$SECRET"
is "$STATUS/$(openssl x509 -in "$T/a.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')" "0/$serial" "... so does the PKCSReq sent again"
is "$(q "select count(*) from certificate")" 1 "one certificate in all"

# Denied, through the admin API.
mint true
send b 19 tid-b --challenge "$SECRET"
is "$STATUS" 3 "a second held request: PENDING"
admin POST /v1/requests/deny -d '{"transaction_id": "tid-b"}'
is "$HTTP_STATUS" 200 "POST /v1/requests/deny: 200"
admin POST /v1/requests/approve -d '{"transaction_id": "tid-b"}'
is "$HTTP_STATUS" 404 "approving a request already decided: 404"
send b 20 tid-b
is "$STATUS/$FAILINFO" "2/2" "CertPoll after denial: FAILURE badRequest"
is "$(q "select error from event where transaction_id = 'tid-b' order by id desc limit 1")" request_denied "... event request_denied"
send c 20 tid-unknown
is "$STATUS/$FAILINFO" "2/4" "CertPoll for no request: FAILURE badCertId"

# A CSR the policy refuses is refused before it is held (its challenge stays usable).
mint true
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/f.key" 2>/dev/null
openssl req -new -key "$T/f.key" -addext "subjectAltName=IP:10.0.0.1" -out "$T/f.csr" -config <(printf \
	'[req]\nprompt=no\ndistinguished_name=dn\nattributes=attrs\n[dn]\nCN=x\n[attrs]\nchallengePassword=%s\n' "$SECRET")
send f 19 tid-f --csr "$T/f.csr"
is "$STATUS/$FAILINFO" "2/2" "a held challenge with a CSR the policy refuses: FAILURE at once, not PENDING"
is "$(q "select count(*) from request where transaction_id = 'tid-f'")" 0 "... nothing held"
is "$(q "select consumed_at is null from challenge order by id desc limit 1")" t "... and the challenge still usable"

# Without require_approval the challenge issues at once.
mint false
send d 19 tid-d --challenge "$SECRET"
is "$STATUS" 0 "a challenge without require_approval: SUCCESS at once"
rc=0; "$MDMID_BIN" request approve tid-nothing --config "$T/mdmid.conf" 2>/dev/null || rc=$?
is "$rc" 1 "approving no pending request exits 1"
t_stop

# Globally, in static mode.
t_config "challenge_mode = static" "require_approval = true"
t_start
send e 19 tid-e --challenge "$CHALLENGE"
is "$STATUS" 3 "require_approval = true: a static-challenge request is PENDING"
admin POST /v1/requests/approve -d '{"transaction_id": "tid-e"}'
is "$HTTP_STATUS" 200 "POST /v1/requests/approve: 200"
send e 20 tid-e
is "$STATUS" 0 "CertPoll after approval: SUCCESS"
# A held renewal whose signer is revoked before the approval gets no certificate.
"$SCEP_REQ" build --cacert "$T/cacert.der" --type 17 --key "$T/e.key" --cn "$UDID" --signer-cert "$T/e.pem" \
	--transaction-id tid-renew --out "$T/renew.req" >/dev/null
curl -fsS --data-binary @"$T/renew.req" -o "$T/renew.rep" "$URL?operation=PKIOperation"
like "$("$SCEP_REQ" parse --reply "$T/renew.rep" --cacert "$T/cacert.der")" "pki_status=3" "a RenewalReq is held too"
"$MDMID_BIN" revoke --config "$T/mdmid.conf" "$(openssl x509 -in "$T/e.pem" -noout -serial)" >/dev/null 2>&1
"$MDMID_BIN" request approve tid-renew --config "$T/mdmid.conf" >/dev/null
"$SCEP_REQ" build --cacert "$T/cacert.der" --type 20 --key "$T/e.key" --transaction-id tid-renew \
	--signer-cert "$T/e.pem" --out "$T/rpoll.req" >/dev/null
curl -fsS --data-binary @"$T/rpoll.req" -o "$T/rpoll.rep" "$URL?operation=PKIOperation"
like "$("$SCEP_REQ" parse --reply "$T/rpoll.rep" --cacert "$T/cacert.der")" "pki_status=2" \
	"its signer revoked before approval: the poll gets FAILURE"
is "$(q "select error from event where transaction_id = 'tid-renew' order by id desc limit 1")" renewal_signer_revoked \
	"... event renewal_signer_revoked"
t_stop
done_testing
