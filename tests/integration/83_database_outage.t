#!/usr/bin/env bash
# The database goes away under load: PostgreSQL restarted (pg_ctl restart -m
# fast), then stopped for 10 s and started again, while scep_load batches
# (static challenge) and a trickle of PKCSReqs presenting one-time challenges
# keep coming. mdmid does not crash, answers every request cleanly (HTTP 503,
# or a valid CertRep; no dropped connection), reconnects by itself and serves
# normally afterwards; nothing is half-written (every row has its event, no
# challenge is consumed without its certificate, every certificate a client
# received has its row).
source "$(dirname "$0")/lib.sh"
# This script restarts and stops PostgreSQL: a cluster of its own (in $T/pg),
# not the one the suite shares.
unset MDMID_TEST_PGHOST MDMID_TEST_PGPORT
t_setup database_outage
t_config "challenge_mode = both"
t_start
curl -fsS -o "$T/cacert.der" "$URL?operation=GetCACert"
LOAD=$MDMID_ROOT/$MDMID_BUILD/scep_load
PG_BIN=$(pg_bindir)
PG_OPTS="-p $PGPORT -k '$PGHOST' -c listen_addresses=''"
pgctl() { _pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATADIR" -l "$PG_DATADIR/log" -w -t 60 "$@" >/dev/null; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
mkdir -p "$T/load" "$T/probe" "$T/poll"

# Probes: PKCSReqs presenting one-time challenges, minted and built beforehand.
NPROBE=90
: >"$T/probe/ids"
for ((i = 1; i <= NPROBE; i++)); do
	udid=$(udid_for "probe-$i")
	admin POST /v1/challenges -d "{\"udid\": \"$udid\"}"
	secret=$(sed -n 's/.*"challenge":"\([^"]*\)".*/\1/p' <<<"$BODY")
	echo "$i $(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$BODY")" >>"$T/probe/ids"
	"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/probe/key.pem" --challenge "$secret" --cn "probe-$i" \
		--transaction-id "probe-$i" --out "$T/probe/req$i.der" --out-signer "$T/probe/self$i.pem" >/dev/null
done
is "$(ls "$T"/probe/req*.der | wc -l)/$(q "select count(*) from challenge where consumed_at is null")" "$NPROBE/$NPROBE" \
	"$NPROBE one-time challenges minted and their PKCSReqs built"

# probe_loop FROM TO: one probe every 0.3 s until $T/stop; "index HTTP-status" lines in $T/probe/codes.
probe_loop() {
	local i code
	for ((i = $1; i <= $2; i++)); do
		[[ ! -e $T/stop ]] || break
		code=$(curl -sS -m "$(t_scale 30)" -o "$T/probe/rep$i.der" -w '%{http_code}' --data-binary @"$T/probe/req$i.der" \
			"$URL?operation=PKIOperation" 2>/dev/null) || true
		echo "$i ${code:-000}" >>"$T/probe/codes"
		sleep 0.3
	done
}
# load_loop NAME N: scep_load batches (N requests, C = 16) until $T/stop.
load_loop() {
	local b=0
	while [[ ! -e $T/stop ]]; do
		((b == 0)) || sleep 0.3
		b=$((b + 1))
		"$LOAD" --url "$URL" -n "$2" -c 16 --keys 2 --challenge "$CHALLENGE" --allow-errors --sample 100 \
			--timeout "$(t_scale 60)" --label "$1-$b" --log "$T/load/$1.$b.log" \
			>>"$T/load/$1.results" 2>>"$T/load/$1.err" || true
	done
}
# start_load NAME N FROM TO: both loops in the background, returns once a batch is being sent.
start_load() {
	rm -f "$T/stop"
	load_loop "$1" "$2" &
	LOAD_LOOP=$!
	probe_loop "$3" "$4" &
	PROBE_LOOP=$!
	for ((i = 0; i < 300 * T_SCALE; i++)); do
		grep -q 'requests built' "$T/load/$1.err" 2>/dev/null && break
		sleep 0.1
	done
}
stop_load() {
	touch "$T/stop"
	wait "$LOAD_LOOP" "$PROBE_LOOP" || true
}
# sum NAME KEY: the sum of KEY over the result lines of NAME's batches.
sum() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" "$T/load/$1.results" | awk '{ s += $1 } END { print s + 0 }'; }
# check_load NAME: scep_load's view of a phase.
check_load() {
	local n http_ok success failure invalid conn
	n=$(sum "$1" n) http_ok=$(sum "$1" http_ok) success=$(sum "$1" success) failure=$(sum "$1" failure)
	invalid=$(sum "$1" invalid) conn=$(sum "$1" conn_errors)
	diag "$1: $(wc -l <"$T/load/$1.results") scep_load batches, $n requests: $http_ok HTTP 200 ($success SUCCESS," \
		"$failure FAILURE), $(sum "$1" http_503) HTTP 503, $(sum "$1" http_other) other HTTP status, $conn connection errors"
	is "$conn/$invalid" 0/0 "$1: no connection dropped, no invalid reply under load"
	is "$(sum "$1" http_other)" 0 "$1: every refusal under load was an HTTP 503"
	NON200=$((n - http_ok - conn))
}
# check_probes FROM TO NAME: the probes' HTTP statuses (only 200 and 503 are clean).
check_probes() {
	local codes
	codes=$(awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b { print $2 }' "$T/probe/codes" | sort | uniq -c | awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')
	diag "$3: one-time-challenge probes answered: $codes"
	is "$(awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b && $2 != 200 && $2 != 503' "$T/probe/codes" | wc -l)" 0 \
		"$3: every probe got HTTP 200 or 503"
	P503=$(awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b && $2 == 503' "$T/probe/codes" | wc -l)
}
# wait_enroll LABEL: polls with real enrollments (static challenge) for up to 30 s; sets TOOK.
wait_enroll() {
	local t0 deadline=$((SECONDS + $(t_scale 30))) i=0 code
	t0=$(now)
	TOOK=""
	while ((SECONDS < deadline)); do
		i=$((i + 1))
		"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/poll/key.pem" --challenge "$CHALLENGE" \
			--cn "$(udid_for "$1-$i")" --transaction-id "$1-$i" --out "$T/poll/req.der" \
			--out-signer "$T/poll/self.pem" >/dev/null
		code=$(curl -sS -m 30 -o "$T/poll/rep.der" -w '%{http_code}' --data-binary @"$T/poll/req.der" \
			"$URL?operation=PKIOperation" 2>/dev/null) || true
		if [[ $code == 200 ]] && "$SCEP_REQ" parse --reply "$T/poll/rep.der" --cacert "$T/cacert.der" \
			--key "$T/poll/key.pem" --signer-cert "$T/poll/self.pem" 2>/dev/null | grep -q '^pki_status=0'; then
			TOOK=$(secs "$t0" "$(now)")
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# 1. pg_ctl restart -m fast under load.
# (600 requests take about 1.3 s at 470/s here: the restart falls into their sending.)
start_load restart 600 1 30
sleep 0.3
t0=$(now)
pgctl -m fast restart
diag "restart: pg_ctl restart -m fast took $(secs "$t0" "$(now)") s"
rc=0
wait_enroll after-restart || rc=$?
ok "$rc" "after pg_ctl restart -m fast, an enrollment succeeds within 30 s"
diag "restart: first successful enrollment ${TOOK:-never} s after PostgreSQL was back"
sleep 1
stop_load
ok "$(kill -0 "$SERVER_PID"; echo $?)" "restart: mdmid is still running"
lost=$(grep -c 'database connection lost' "$T/server.log" || true)
ok "$((lost > 0 ? 0 : 1))" "restart: mdmid noticed its lost connections and reconnected ($lost logged)"
check_load restart
check_probes 1 30 restart

# 2. PostgreSQL stopped for 10 s under load.
start_load outage 300 31 "$NPROBE"
sleep 1
pgctl -m fast stop
t_down=$SECONDS
sleep 2
"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/poll/key.pem" --challenge "$CHALLENGE" \
	--cn "$(udid_for down)" --out "$T/poll/down.der" >/dev/null
is "$(curl -sS -o /dev/null -w '%{http_code}' --data-binary @"$T/poll/down.der" "$URL?operation=PKIOperation")" 503 \
	"outage: a PKCSReq gets HTTP 503"
is "$(curl -fsS "$URL?operation=GetCACaps" | head -n 1)" POSTPKIOperation "outage: GetCACaps still answers"
like "$(cat "$T/server.log")" "refusal not recorded in the database" "outage: refusals go to the log"
left=$((10 - (SECONDS - t_down)))
((left <= 0)) || sleep "$left"
pgctl -o "$PG_OPTS" start
diag "outage: PostgreSQL was down for $((SECONDS - t_down)) s"
rc=0
wait_enroll after-outage || rc=$?
ok "$rc" "after the outage, an enrollment succeeds within 30 s"
diag "outage: first successful enrollment ${TOOK:-never} s after PostgreSQL was started"
sleep 1
stop_load
ok "$(kill -0 "$SERVER_PID"; echo $?)" "outage: mdmid is still running"
check_load outage
ok "$((NON200 > 0 ? 0 : 1))" "outage: scep_load saw refusals other than HTTP 200 ($NON200)"
check_probes 31 "$NPROBE" outage
ok "$((P503 > 0 ? 0 : 1))" "outage: probes got HTTP 503 ($P503)"
lost=$(grep -c 'database connection lost' "$T/server.log" || true)
diag "mdmid logged 'database connection lost; reconnecting' $lost times"

# 3. Normal service afterwards: a whole batch succeeds, checked against the table.
rc=0
"$LOAD" --url "$URL" -n 400 -c 16 --keys 2 --challenge "$CHALLENGE" --sample 100 \
	--db "host=$PGHOST port=$PGPORT user=mdmid dbname=$DB" >"$T/load/final.out" 2>"$T/load/final.err" || rc=$?
result=$(grep '^result ' "$T/load/final.out" || true)
diag "after: $(sed 's/^result //' <<<"$result" | cut -d' ' -f2-11)"
is "$rc" 0 "after the outage, 400 enrollments (C = 16) all succeed and match their rows"
if [[ $rc -ne 0 ]]; then tail -n 20 "$T/load/final.err" | sed 's/^/# /'; fi

# 4. Nothing half-written.
is "$(q "select count(*) from certificate c where not exists (select 1 from event e where e.serial = c.serial and e.outcome = 'success')")" 0 \
	"every certificate row has its success event"
is "$(q "select count(*) from challenge ch where ch.consumed_at is not null and not exists (select 1 from certificate c where c.challenge_id = ch.id)")" 0 \
	"no challenge is consumed without its certificate"
ok200=$(awk '$2 == 200 { print $1 }' "$T/probe/codes")
n200=$(wc -w <<<"$ok200")
succ=0
for i in $ok200; do
	"$SCEP_REQ" parse --reply "$T/probe/rep$i.der" --cacert "$T/cacert.der" --key "$T/probe/key.pem" \
		--signer-cert "$T/probe/self$i.pem" 2>/dev/null | grep -q '^pki_status=0' && succ=$((succ + 1))
done
is "$succ" "$n200" "every probe answered HTTP 200 got SUCCESS ($n200)"
in200=$(sed 's/^/probe-/' <<<"$ok200" | paste -sd, | sed "s/[^,]\+/'&'/g")
is "$(q "select count(*) from certificate where transaction_id in (${in200:-''})")" "$n200" "... and its certificate row"
rows_probe=$(q "select count(*) from certificate where transaction_id like 'probe-%'")
diag "probes refused but with a row (a reply lost after the commit, harmless): $((rows_probe - n200))"
cat "$T"/load/*.log | sort >"$T/received"
q "select transaction_id || ' ' || serial from certificate" | sort >"$T/rows"
missing=$(comm -23 "$T/received" "$T/rows" | wc -l)
is "$missing" 0 "every certificate scep_load received ($(wc -l <"$T/received")) has its row"
is "$(awk '$2 == "-"' "$T/received" | wc -l)" 0 "... each known by its serial"
t_stop
done_testing
