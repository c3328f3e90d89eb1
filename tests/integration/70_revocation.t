#!/usr/bin/env bash
# Revocation and the CRL: mdmid revoke and the admin API, a CRL signed by the
# CA with a CRL number from PostgreSQL, served at /crl and written by mdmid
# crl; openssl accepts it and rejects a revoked certificate; abandoned PKCS#12
# rows are listed as superseded; a CRL past half its life is replaced.
source "$(dirname "$0")/lib.sh"
t_setup revocation
t_start
curl -fsS -o "$T/cacert.der" "$URL?operation=GetCACert"

enroll() { # enroll NAME: a certificate in $T/NAME.pem
	"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/$1.key" --challenge "$CHALLENGE" --cn "$(udid_for "$1")" \
		--out "$T/$1.req" --out-signer "$T/$1.self" >/dev/null
	curl -fsS --data-binary @"$T/$1.req" -o "$T/$1.rep" "$URL?operation=PKIOperation"
	"$SCEP_REQ" parse --reply "$T/$1.rep" --cacert "$T/cacert.der" --key "$T/$1.key" --signer-cert "$T/$1.self" \
		--out-cert "$T/$1.pem" >/dev/null
}
serial_of() { openssl x509 -in "$T/$1.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f'; }
crl_number() { openssl crl -in "$1" -inform DER -noout -crlnumber | sed 's/.*=//; s/^0x//'; }
enroll good
enroll bad
ok "$([[ -s $T/good.pem && -s $T/bad.pem ]]; echo $?)" "two devices enroll"

curl -fsS -o "$T/crl0.der" "http://127.0.0.1:$PORT/crl"
like "$(openssl crl -in "$T/crl0.der" -inform DER -CAfile "$T/ca/ca.pem" -noout 2>&1)" "verify OK" "GET /crl: a CRL the CA signed (openssl crl -verify)"
like "$(openssl crl -in "$T/crl0.der" -inform DER -noout -text)" "No Revoked Certificates" "... listing nothing yet"
n0=$(crl_number "$T/crl0.der")
next=$(date -d "$(openssl crl -in "$T/crl0.der" -inform DER -noout -nextupdate | cut -d= -f2)" +%s)
ok "$(((next - $(date +%s)) > 6 * 86400 && (next - $(date +%s)) <= 7 * 86400 ? 0 : 1))" "nextUpdate is crl_validity_days (7) ahead"

bad=$(serial_of bad)
out=$("$MDMID_BIN" revoke --config "$T/mdmid.conf" "$(openssl x509 -in "$T/bad.pem" -noout -serial)" --reason keyCompromise)
is "$out" "revoked $bad (keyCompromise)" "mdmid revoke takes the serial as openssl prints it"
is "$(q "select status || ' ' || revocation_reason || ' ' || (revoked_at is not null) from certificate where serial = '$bad'")" \
	"revoked keyCompromise true" "the row is revoked with its reason and time"
is "$(q "select count(*) from event where kind = 'revoke' and serial = '$bad'")" 1 "... with an event"
curl -fsS -o "$T/crl1.der" "http://127.0.0.1:$PORT/crl"
n1=$(crl_number "$T/crl1.der")
ok "$((16#$n1 > 16#$n0 ? 0 : 1))" "revocation issued a new CRL ($n0 -> $n1), and /crl serves it"
text=$(openssl crl -in "$T/crl1.der" -inform DER -noout -text)
like "$text" "Serial Number: ${bad^^}" "the CRL lists the revoked serial"
like "$text" "Key Compromise" "... with its reason"
openssl crl -in "$T/crl1.der" -inform DER -out "$T/crl1.pem"
like "$(openssl verify -crl_check -CAfile "$T/ca/ca.pem" -CRLfile "$T/crl1.pem" "$T/bad.pem" 2>&1)" "certificate revoked" \
	"openssl verify -crl_check rejects the revoked certificate"
ok_cmd "... and accepts the other one" openssl verify -crl_check -CAfile "$T/ca/ca.pem" -CRLfile "$T/crl1.pem" "$T/good.pem"
rc=0
"$MDMID_BIN" check --config "$T/mdmid.conf" --udid "$(udid_for bad)" --cert "$T/bad.pem" 2>"$T/err" || rc=$?
is "$rc/$(cat "$T/err")" "1/revoked" "the cross-check says revoked"

rc=0; "$MDMID_BIN" revoke --config "$T/mdmid.conf" "$bad" 2>"$T/err" || rc=$?
is "$rc" 1 "revoking it again exits 1"
like "$(cat "$T/err")" "revoked or abandoned already" "... and says so"
rc=0; "$MDMID_BIN" revoke --config "$T/mdmid.conf" 0123456789abcdef 2>"$T/err" || rc=$?
is "$rc/$(cat "$T/err")" "1/mdmid revoke: 0123456789abcdef: no certificate with this serial" "an unknown serial exits 1"
rc=0; "$MDMID_BIN" revoke --config "$T/mdmid.conf" "$(serial_of good)" --reason whim 2>/dev/null || rc=$?
is "$rc" 2 "an unknown reason exits 2"
is "$(q "select status from certificate where serial = '$(serial_of good)'")" issued "... and revokes nothing"

# The admin API.
admin POST /v1/revoke -d '{"serial": "00aa", "reason": "superseded"}'
is "$HTTP_STATUS" 404 "API: an unknown serial: 404"
admin POST /v1/revoke -d "{\"serial\": \"$bad\"}"
is "$HTTP_STATUS" 409 "API: already revoked: 409"
admin POST /v1/revoke -d "{\"serial\": \"$(serial_of good)\", \"reason\": \"superseded\"}"
is "$HTTP_STATUS/$BODY" "200/{\"serial\":\"$(serial_of good)\",\"status\":\"revoked\",\"reason\":\"superseded\"}" "API: revoked: 200"

# mdmid crl: a new number, written atomically; every process serves the latest.
"$MDMID_BIN" crl --config "$T/mdmid.conf" --out "$T/crl2.der" 2>/dev/null
n2=$(crl_number "$T/crl2.der")
like "$(openssl crl -in "$T/crl2.der" -inform DER -CAfile "$T/ca/ca.pem" -noout 2>&1)" "verify OK" "mdmid crl writes a CRL the CA signed"
is "$(stat -c %a "$T/crl2.der")" 644 "... readable by all (it is public)"
curl -fsS -o "$T/crl3.der" "http://127.0.0.1:$PORT/crl"
is "$(crl_number "$T/crl3.der")" "$n2" "the server serves the CRL another process issued (number $n2)"
is "$(openssl crl -in "$T/crl2.der" -inform DER -noout -text | grep -c 'Serial Number:')" 2 "it lists both revoked certificates"
is "$(q "select count(*) from crl")" "$(q "select count(distinct number) from crl")" "every CRL is recorded under its own number"

# Abandoned PKCS#12 rows are on the CRL, as superseded.
udid=$(udid_for lost-key)
echo "$udid" >"$T/p12.list"
MDMID_CRASH_AT=after_commit "$MDMID_BIN" p12 export --config "$T/mdmid.conf" --udids "$T/p12.list" --out "$T/p12" \
	--key ec-p256 --jobs 1 2>/dev/null || true
"$MDMID_BIN" p12 export --config "$T/mdmid.conf" --udids "$T/p12.list" --out "$T/p12" --key ec-p256 --jobs 1 2>/dev/null
lost=$(q "select serial from certificate where udid = '$udid' and status = 'abandoned'")
ok "$([[ -n $lost ]]; echo $?)" "a PKCS#12 row whose key was lost is abandoned"
"$MDMID_BIN" crl --config "$T/mdmid.conf" --out "$T/crl4.der" 2>/dev/null
text=$(openssl crl -in "$T/crl4.der" -inform DER -noout -text)
like "$text" "Serial Number: ${lost^^}" "the abandoned certificate is on the CRL"
like "$text" "Superseded" "... as superseded"

# A CRL past half of its life is replaced when asked for.
n4=$(crl_number "$T/crl4.der")
q "update crl set this_update = now() - interval '5 days', next_update = now() + interval '2 days' where number = (select max(number) from crl)"
curl -fsS -o "$T/crl5.der" "http://127.0.0.1:$PORT/crl"
ok "$((16#$(crl_number "$T/crl5.der") > 16#$n4 ? 0 : 1))" "a CRL past half its life is replaced by a fresh one"
t_stop
done_testing
