#!/usr/bin/env bash
# One challenge, one certificate: 50 PKCSReqs presenting one challenge, built
# beforehand and released at once against two mdmid processes on one
# database; and a consuming transaction held open in the database while
# mdmid tries the same challenge (committed: refused; rolled back: issued).
source "$(dirname "$0")/lib.sh"
t_setup challenge_race
t_config "challenge_mode = dynamic"
t_start
URL_A=$URL
# A second process on the same database.
sed "s|^port_file = .*|port_file = $T/port2|" "$T/mdmid.conf" >"$T/mdmid2.conf"
"$MDMID_BIN" serve --config "$T/mdmid2.conf" >"$T/server2.log" 2>&1 &
PID2=$!
for ((i = 0; i < 100 * T_SCALE; i++)); do [[ -s $T/port2 ]] && break; sleep 0.1; done
URL_B="http://127.0.0.1:$(sed -n 1p "$T/port2")/scep"
ok "$([[ $URL_A != "$URL_B" && -s $T/port2 ]]; echo $?)" "two mdmid processes serve one database"
curl -fsS -o "$T/cacert.der" "$URL_A?operation=GetCACert"

UDID=$(udid_for race-device)
admin POST /v1/challenges -d "{\"udid\": \"$UDID\"}"
secret=$(sed -n 's/.*"challenge":"\([^"]*\)".*/\1/p' <<<"$BODY")
ok "$([[ -n $secret ]]; echo $?)" "a challenge is minted"

# 50 distinct PKCSReqs (one requester key, 50 transaction IDs), all built first.
mkdir -p "$T/race"
: >"$T/race/curl.conf"
for i in $(seq 1 50); do
	"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/race/key.pem" --challenge "$secret" --cn "race" \
		--transaction-id "race-$i" --out "$T/race/req$i.der" >/dev/null
	if ((i % 2)); then u=$URL_A; else u=$URL_B; fi
	((i == 1)) || echo next >>"$T/race/curl.conf"
	printf 'url = "%s?operation=PKIOperation"\ndata-binary = "@%s"\noutput = "%s"\nwrite-out = "%%{http_code}\\n"\nsilent\nshow-error\n' \
		"$u" "$T/race/req$i.der" "$T/race/rep$i.der" >>"$T/race/curl.conf"
done
is "$(ls "$T"/race/req*.der | wc -l)" 50 "50 requests are built before any is sent"
curl -sS --parallel --parallel-immediate --parallel-max 50 -K "$T/race/curl.conf" >"$T/race/codes" 2>"$T/race/curl.err"
is "$(sort "$T/race/codes" | uniq -c | tr -s ' ' | sed 's/^ //')" "50 200" "all 50 are answered with a CertRep (HTTP 200)"
is "$(q "select count(*) from certificate")" 1 "exactly one certificate is issued"
is "$(q "select count(*) from event where transaction_id like 'race-%'")" 50 "50 PKIOperation event rows"
is "$(q "select count(*) from event where transaction_id like 'race-%' and outcome = 'failure' and error = 'challenge_consumed' and fail_info = 'badRequest'")" 49 \
	"49 refusals name challenge_consumed (badRequest)"
succ=0
for i in $(seq 1 50); do
	grep -q 'pki_status=0' < <("$SCEP_REQ" parse --reply "$T/race/rep$i.der" --cacert "$T/cacert.der" \
		--key "$T/race/key.pem") && succ=$((succ + 1))
done
is "$succ" 1 "exactly one CertRep says SUCCESS"
ok "$(grep -q 'event=scep.pkcsreq' "$T/server.log" && grep -q 'event=scep.pkcsreq' "$T/server2.log"; echo $?)" \
	"both processes answered some of them"

# A consuming transaction held open in the database.
hold() { # hold COMMIT|ROLLBACK CHALLENGE_ID: consume in a transaction kept open for 3 s
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL &
begin;
update challenge set consumed_at = now(), consumed_by = 'held' where id = $2 and consumed_at is null;
select pg_sleep(3);
$1;
SQL
	HOLDER=$!
}
build_with() { # build_with NAME SECRET: the request, built before any timing starts
	"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/$1.key" --challenge "$2" --out "$T/$1.req" \
		--out-signer "$T/$1.self" >/dev/null
}
wait_holder() { # until the holding transaction has consumed the challenge and sleeps
	for ((i = 0; i < 100 * T_SCALE; i++)); do
		[[ $(q "select count(*) from pg_stat_activity where wait_event = 'PgSleep'") -ge 1 ]] && return
		sleep 0.02
	done
}
enroll_with() { # enroll_with NAME: sets STATUS (pki_status) and ELAPSED (milliseconds)
	local t0=${EPOCHREALTIME/./}
	curl -fsS --data-binary @"$T/$1.req" -o "$T/$1.rep" "$URL_A?operation=PKIOperation"
	ELAPSED=$(((${EPOCHREALTIME/./} - t0) / 1000))
	STATUS=$("$SCEP_REQ" parse --reply "$T/$1.rep" --cacert "$T/cacert.der" --key "$T/$1.key" \
		--signer-cert "$T/$1.self" | sed -n 's/^pki_status=//p')
}
for outcome in commit rollback; do
	admin POST /v1/challenges -d "{\"udid\": \"$UDID\"}"
	s=$(sed -n 's/.*"challenge":"\([^"]*\)".*/\1/p' <<<"$BODY")
	id=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$BODY")
	build_with "held-$outcome" "$s"
	hold "$outcome" "$id"
	wait_holder
	enroll_with "held-$outcome"
	status=$STATUS
	wait "$HOLDER"
	ok "$((ELAPSED >= 1000 ? 0 : 1))" "held ($outcome): mdmid's consuming statement waited for the other transaction (${ELAPSED} ms)"
	if [[ $outcome == commit ]]; then
		is "$status" 2 "held, then committed: the request is refused"
		is "$(q "select error from event order by id desc limit 1")" challenge_consumed "... as challenge_consumed"
		is "$(q "select consumed_by from challenge where id = $id")" held "... and the other transaction's consumption stands"
	else
		is "$status" 0 "held, then rolled back: the request gets its certificate"
		is "$(q "select count(*) from certificate where challenge_id = $id")" 1 "... with the challenge recorded on its row"
	fi
done

kill -TERM "$PID2"
rc=0
wait "$PID2" || rc=$?
is "$rc" 0 "the second process stops cleanly"
t_stop
done_testing
