#!/usr/bin/env bash
# RenewalReq (messageType 17): no challenge, only a signer mdmid issued that
# is within its validity and not revoked; the new row inherits the UDID and
# names the row it renews. And badTime for a signingTime far from the clock.
source "$(dirname "$0")/lib.sh"
t_setup renewal_time
t_start
curl -fsS -o "$T/cacert.der" "$URL?operation=GetCACert"
ok "$(curl -fsS "$URL?operation=GetCACaps" | grep -qx Renewal; echo $?)" "GetCACaps advertises Renewal"
UDID=$(udid_for renewing-device)

# req NAME TYPE [scep-req options]: sends a request; STATUS, FAILINFO, the cert in $T/NAME.pem
req() {
	local name=$1 type=$2
	shift 2
	"$SCEP_REQ" build --cacert "$T/cacert.der" --type "$type" --out "$T/$name.req" --out-signer "$T/$name.self" "$@" \
		>"$T/$name.build"
	curl -fsS --data-binary @"$T/$name.req" -o "$T/$name.rep" "$URL?operation=PKIOperation"
	"$SCEP_REQ" parse --reply "$T/$name.rep" --cacert "$T/cacert.der" --key "$KEY" --signer-cert "$T/$name.self" \
		--out-cert "$T/$name.pem" >"$T/$name.out"
	STATUS=$(sed -n 's/^pki_status=//p' "$T/$name.out")
	FAILINFO=$(sed -n 's/^fail_info=//p' "$T/$name.out")
}
last_event() { q "select coalesce(error, 'ok') || '/' || coalesce(fail_info, '-') from event order by id desc limit 1"; }

KEY=$T/old.key
req old 19 --key "$KEY" --challenge "$CHALLENGE" --cn "$UDID"
is "$STATUS" 0 "a device enrolls"
old_id=$(q "select id from certificate where udid = '$UDID'")

req same 17 --key "$KEY" --cn "$UDID" --signer-cert "$T/old.pem"
is "$STATUS" 0 "a RenewalReq signed by its certificate, same key, no challenge: SUCCESS"
serial=$(openssl x509 -in "$T/same.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
is "$(q "select method || ' ' || udid || ' ' || renews from certificate where serial = '$serial'")" "scep-renewal $UDID $old_id" \
	"the new row: method scep-renewal, the UDID inherited, renews the old row"
is "$(q "select kind from event where serial = '$serial'")" scep.renewalreq "... and a scep.renewalreq event"

KEY=$T/new.key
req newkey 17 --key "$KEY" --cn "$UDID" --signer-cert "$T/old.pem" --signer-key "$T/old.key"
is "$STATUS" 0 "a RenewalReq for a new key, signed with the old certificate and key: SUCCESS"
# The reply is encrypted to the signer: the old certificate and key open it.
openssl cms -verify -noverify -binary -inform DER -in "$T/newkey.rep" -out "$T/newkey.env" 2>/dev/null
openssl cms -decrypt -binary -inform DER -in "$T/newkey.env" -recip "$T/old.pem" -inkey "$T/old.key" -out "$T/newkey.p7" 2>/dev/null
openssl pkcs7 -inform DER -in "$T/newkey.p7" -print_certs -out "$T/newkey.pem"
is "$(openssl x509 -in "$T/newkey.pem" -noout -pubkey)" "$(openssl pkey -in "$T/new.key" -pubout)" \
	"... for the new key, in a reply encrypted to the old certificate"

KEY=$T/other.key
req otherudid 17 --key "$KEY" --cn "$(udid_for someone-else)" --signer-cert "$T/old.pem" --signer-key "$T/old.key"
is "$STATUS/$FAILINFO" "2/2" "a RenewalReq whose CSR names another device: FAILURE badRequest"
is "$(last_event)" "udid_mismatch/badRequest" "... event udid_mismatch"

KEY=$T/stranger.key
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$KEY" -subj "/CN=$UDID" -days 30 -out "$T/stranger.pem" 2>/dev/null
req stranger 17 --key "$KEY" --cn "$UDID" --signer-cert "$T/stranger.pem"
is "$STATUS/$FAILINFO" "2/4" "a signer mdmid did not issue: FAILURE badCertId"
is "$(last_event)" "renewal_signer_unknown/badCertId" "... event renewal_signer_unknown"
KEY=$T/nochallenge.key
req pkcs 19 --key "$KEY" --cn "$UDID"
is "$STATUS/$FAILINFO" "2/2" "(a PKCSReq without a challenge is still refused: badRequest)"

# Expired (as the database sees it) and revoked signers.
KEY=$T/old.key
q "update certificate set not_before = now() - interval '2 days', not_after = now() - interval '1 day' where id = $old_id"
req expired 17 --key "$KEY" --cn "$UDID" --signer-cert "$T/old.pem" --transaction-id expired-signer
is "$STATUS/$FAILINFO" "2/3" "an expired signer: FAILURE badTime"
is "$(last_event)" "renewal_signer_expired/badTime" "... event renewal_signer_expired"
q "update certificate set not_before = now() - interval '1 day', not_after = now() + interval '300 days' where id = $old_id"
"$MDMID_BIN" revoke --config "$T/mdmid.conf" "$(q "select serial from certificate where id = $old_id")" >/dev/null 2>&1
req revoked 17 --key "$KEY" --cn "$UDID" --signer-cert "$T/old.pem" --transaction-id revoked-signer
is "$STATUS/$FAILINFO" "2/2" "a revoked signer: FAILURE badRequest"
is "$(last_event)" "renewal_signer_revoked/badRequest" "... event renewal_signer_revoked"

# The same transaction ID from another key is refused; from the same key it
# is a retransmission (the same certificate).
KEY=$T/tx1.key
req tx1 19 --key "$KEY" --challenge "$CHALLENGE" --cn "$(udid_for tx)" --transaction-id shared-tid
is "$STATUS" 0 "a PKCSReq with transaction ID shared-tid"
KEY=$T/tx2.key
req tx2 19 --key "$KEY" --challenge "$CHALLENGE" --cn "$(udid_for tx)" --transaction-id shared-tid
is "$STATUS/$FAILINFO" "2/2" "the same transaction ID with another key: FAILURE badRequest"
is "$(last_event)" "transaction_key_mismatch/badRequest" "... event transaction_key_mismatch"
KEY=$T/tx1.key
req tx1b 19 --key "$KEY" --challenge "$CHALLENGE" --cn "$(udid_for tx)" --transaction-id shared-tid
is "$STATUS/$(openssl x509 -in "$T/tx1b.pem" -noout -serial)" "0/$(openssl x509 -in "$T/tx1.pem" -noout -serial)" \
	"... and with the same key: the same certificate again"

# signingTime far from the server clock.
KEY=$T/time.key
req skewed 19 --key "$KEY" --challenge "$CHALLENGE" --cn "$(udid_for skewed)" --signing-time -172800
is "$STATUS/$FAILINFO" "2/3" "a signingTime two days off: FAILURE badTime"
is "$(last_event)" "bad_time/badTime" "... event bad_time"
req hour 19 --key "$KEY" --challenge "$CHALLENGE" --cn "$(udid_for skewed)" --signing-time -3600
is "$STATUS" 0 "an hour off is within the default tolerance (max_clock_skew_seconds = 86400)"
t_stop
t_config "max_clock_skew_seconds = 600"
t_start
KEY=$T/time2.key
req strict 19 --key "$KEY" --challenge "$CHALLENGE" --cn "$(udid_for strict)" --signing-time -3600
is "$STATUS/$FAILINFO" "2/3" "with max_clock_skew_seconds = 600, an hour off: badTime"
req future 19 --key "$KEY" --challenge "$CHALLENGE" --cn "$(udid_for strict)" --signing-time 3600 --transaction-id future
is "$STATUS/$FAILINFO" "2/3" "... in the future too"
t_stop
done_testing
