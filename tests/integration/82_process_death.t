#!/usr/bin/env bash
# Process death under load: scep_load keeps 32 connections busy while the
# server is killed with SIGKILL three times at random points of the load (by
# rows committed, so the kills land inside it on any machine) and restarted
# on the same port each time. Every certificate a client received has its
# committed row (compared serial by serial with the client-side log), no
# serial is issued twice, every row has its success event, and each restarted
# server answers again (the time it took is reported).
source "$(dirname "$0")/lib.sh"
t_setup process_death
N=${MDMID_DEATH_N:-2000}
KILLS=3
t_start
# Restarts listen on the port the first server was given (the client reconnects to it).
# shellcheck disable=SC2034 # read by t_start
T_LISTEN=127.0.0.1:$PORT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# The load, in the background: it waits for a server that is down and counts
# the requests lost with a connection as connection errors.
"$MDMID_ROOT/$MDMID_BUILD/scep_load" --url "$URL" -n "$N" -c 32 --keys 4 --challenge "$CHALLENGE" \
	--allow-errors --sample 100 --log "$T/received.log" --timeout "$(t_scale 60)" \
	>"$T/load.out" 2>"$T/load.err" &
LOAD_PID=$!
# Phase 1 (building the requests) is not timed: start killing once they are sent.
for ((i = 0; i < 600 * T_SCALE; i++)); do
	grep -q 'requests built' "$T/load.err" 2>/dev/null && break
	kill -0 "$LOAD_PID" 2>/dev/null || break
	sleep 0.1
done
ok "$(grep -q 'requests built' "$T/load.err"; echo $?)" "scep_load built $N requests and started sending (C = 32)"

killed=0
for ((k = 1; k <= KILLS; k++)); do
	# A random point of the load, measured in committed rows rather than
	# time: kill k comes when between (k - 0.5) and k quarters of the
	# requests have their row, whatever the machine's speed.
	target=$(((2 * k - 1) * N / (2 * (KILLS + 1)) + RANDOM % (N / (2 * (KILLS + 1)))))
	rows_before=0
	while kill -0 "$LOAD_PID" 2>/dev/null; do
		rows_before=$(q "select count(*) from certificate")
		((rows_before >= target)) && break
		sleep 0.05
	done
	if ! kill -0 "$LOAD_PID" 2>/dev/null; then
		diag "the load ended before kill $k"
		break
	fi
	kill -KILL "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
	killed=$((killed + 1))
	t0=$(now)
	t_start
	code=""
	for ((i = 0; i < 100 * T_SCALE; i++)); do
		code=$(curl -sS -m 2 -o "$T/caps" -w '%{http_code}' "$URL?operation=GetCACaps" 2>/dev/null || true)
		[[ $code == 200 ]] && break
		sleep 0.1
	done
	took=$(secs "$t0" "$(now)")
	is "$code/$(head -n 1 "$T/caps" 2>/dev/null)" 200/POSTPKIOperation \
		"kill -9 number $k (with $rows_before rows committed): the restarted server answers GetCACaps on port $PORT"
	diag "restart $k: GetCACaps answered ${took} s after the restart began (kill -9 to answer)"
done
is "$killed" "$KILLS" "the server was killed $KILLS times while the load ran"

# The load finishes against the last server.
rc=0
wait "$LOAD_PID" || rc=$?
result=$(grep '^result ' "$T/load.out" || true)
ok "$([[ -n $result ]]; echo $?)" "scep_load ran to its end (exit $rc: requests lost with the connection are counted)"
if [[ -z $result ]]; then sed 's/^/# /' "$T/load.err"; fi
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$result"; }
diag "scep_load: $(sed 's/^result //' <<<"$result" | cut -d' ' -f2-12)"
success=$(field success)
conn_errors=$(field conn_errors)
is "$((success + conn_errors))" "$N" "every request got a certificate or lost its connection to a kill ($success + $conn_errors)"
is "$(field invalid)/$(field failure)" 0/0 "no invalid reply and no FAILURE"
is "$(field checked)/$(field cert_ok)" "$success/$success" "every certificate received was opened and matches its request"
is "$(field dup_serials)" 0 "no serial was received twice"

# The client-side log against the table.
sort -k2 "$T/received.log" >"$T/received.sorted"
is "$(wc -l <"$T/received.sorted")" "$success" "the client log has one line per certificate received"
is "$(awk '$2 == "-"' "$T/received.log" | wc -l)" 0 "... each with its serial"
q "select transaction_id || ' ' || serial from certificate" | sort -k2 >"$T/rows.sorted"
missing=$(comm -23 <(sort "$T/received.sorted") <(sort "$T/rows.sorted") | wc -l)
is "$missing" 0 "every certificate a client received has its committed row (transaction ID and serial)"
if [[ $missing -ne 0 ]]; then comm -23 <(sort "$T/received.sorted") <(sort "$T/rows.sorted") | head | sed 's/^/# missing: /'; fi
rows=$(wc -l <"$T/rows.sorted")
ok "$((rows >= success ? 0 : 1))" "rows ($rows) >= certificates received ($success)"
diag "$rows rows, $success certificates received, $((rows - success)) rows whose reply was lost to a kill"
is "$(cut -d' ' -f2 "$T/rows.sorted" | uniq -d | wc -l)" 0 "no duplicate serial in the table"
is "$(q "select count(*) from (select transaction_id from certificate group by 1 having count(*) > 1) d")" 0 \
	"no transaction got two certificates"
is "$(q "select count(*) from certificate c where not exists (select 1 from event e where e.serial = c.serial and e.outcome = 'success')")" 0 \
	"every certificate row has its success event"

# The last server still issues.
curl -fsS -o "$T/cacert.der" "$URL?operation=GetCACert"
mkdir -p "$T/after"
"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/after/key.pem" --challenge "$CHALLENGE" --cn "$(udid_for after)" \
	--out "$T/after/req.der" --out-signer "$T/after/self.pem" >/dev/null
is "$(curl -sS -o "$T/after/rep.der" -w '%{http_code}' --data-binary @"$T/after/req.der" "$URL?operation=PKIOperation")" 200 \
	"after the kills, an enrollment is answered"
like "$("$SCEP_REQ" parse --reply "$T/after/rep.der" --cacert "$T/cacert.der" --key "$T/after/key.pem" \
	--signer-cert "$T/after/self.pem" 2>&1)" 'pki_status=0' "... with SUCCESS"
t_stop
done_testing
