#!/usr/bin/env bash
# /metrics on the admin listener (no token): Prometheus text that `promtool
# check metrics` accepts, with requests by operation and outcome, issuances by
# method, refusals by reason, the PKIOperation latency histogram, database
# errors, open connections, challenges minted and consumed, and the CRL's age;
# the values move with an enrollment, a refusal, a challenge and a database
# error.
source "$(dirname "$0")/lib.sh"
t_setup metrics
t_config "challenge_mode = both"
t_start

scrape() { curl -fsS "$ADMIN_URL/metrics"; }
# value NAME{LABELS}: the sample's value in the last scrape ($T/m), or "absent"
value() {
	awk -v k="$1" '$1 == k {print $2; f = 1} END {if (!f) print "absent"}' "$T/m"
}

code=$(curl -sS -o "$T/m" -D "$T/m.h" -w '%{http_code}' "$ADMIN_URL/metrics")
is "$code" 200 "GET /metrics without a token: 200"
like "$(grep -i '^content-type' "$T/m.h")" 'text/plain; version=0.0.4' "... in the Prometheus text format 0.0.4"
is "$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$ADMIN_URL/metrics")" 405 "POST /metrics: 405"
is "$(curl -sS -o /dev/null -w '%{http_code}' "$ADMIN_URL/v1/requests")" 401 "the /v1 API still needs the token"
is "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/metrics")" 404 "/metrics is not on the public listener"

rc=0
promtool check metrics <"$T/m" >"$T/promtool.out" 2>&1 || rc=$?
is "$rc" 0 "promtool check metrics accepts the exposition"
is "$(cat "$T/promtool.out")" "" "... with no lint remark"
missing=""
for f in mdmid_requests_total mdmid_issuances_total mdmid_refusals_total mdmid_pkioperation_duration_seconds \
	mdmid_database_errors_total mdmid_connections_open mdmid_connections_total mdmid_challenges_minted_total \
	mdmid_challenges_consumed_total mdmid_crl_age_seconds; do
	grep -q "^# TYPE $f " "$T/m" || missing+=" $f"
done
is "$missing" "" "every family is there"
like "$(value mdmid_crl_age_seconds)" '^[0-9]+$' "the CRL's age is known at start (seconds since thisUpdate)"
ok "$([[ $(value mdmid_connections_open) -ge 1 ]]; echo $?)" "the scrape's own connection is open"

m0_minted=$(value mdmid_challenges_minted_total)
m0_consumed=$(value mdmid_challenges_consumed_total)
m0_scep=$(value 'mdmid_issuances_total{method="scep"}')
m0_ok=$(value 'mdmid_requests_total{operation="PKIOperation",outcome="success"}')
m0_fail=$(value 'mdmid_requests_total{operation="PKIOperation",outcome="failure"}')
m0_unknown=$(value 'mdmid_refusals_total{reason="challenge_unknown"}')
m0_count=$(value mdmid_pkioperation_duration_seconds_count)
m0_db=$(value mdmid_database_errors_total)
m0_conns=$(value mdmid_connections_total)
m0_caps=$(value 'mdmid_requests_total{operation="GetCACaps",outcome="success"}')

# A challenge minted, an enrollment with it, a refusal, a GetCACaps.
UDID=00008030-001A2D8A3C02802E
admin POST /v1/challenges -d "{\"udid\": \"$UDID\"}"
secret=$(sed -n 's/.*"challenge":"\([^"]*\)".*/\1/p' <<<"$BODY")
curl -fsS -o "$T/cacert.der" "$URL?operation=GetCACert"
curl -fsS -o /dev/null "$URL?operation=GetCACaps"
post() { # post NAME CHALLENGE: the HTTP status
	mkdir -p "$T/$1"
	"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/$1/key.pem" --challenge "$2" --cn "$UDID" \
		--out "$T/$1/req.der" --out-signer "$T/$1/self.pem" >/dev/null
	curl -sS -o "$T/$1/rep.der" -w '%{http_code}' --data-binary @"$T/$1/req.der" "$URL?operation=PKIOperation"
}
is "$(post good "$secret")" 200 "an enrollment with the minted challenge"
is "$(q "select count(*) from certificate")" 1 "... issued"
post refused "never-minted-$$" >/dev/null
is "$(q "select error from event order by id desc limit 1")" challenge_unknown "a refusal (challenge_unknown)"
scrape >"$T/m"
is "$(value mdmid_challenges_minted_total)" "$((m0_minted + 1))" "challenges minted +1"
is "$(value mdmid_challenges_consumed_total)" "$((m0_consumed + 1))" "challenges consumed +1"
is "$(value 'mdmid_issuances_total{method="scep"}')" "$((m0_scep + 1))" "issuances{method=scep} +1"
is "$(value 'mdmid_requests_total{operation="PKIOperation",outcome="success"}')" "$((m0_ok + 1))" \
	"requests{PKIOperation,success} +1"
is "$(value 'mdmid_requests_total{operation="PKIOperation",outcome="failure"}')" "$((m0_fail + 1))" \
	"requests{PKIOperation,failure} +1"
is "$(value 'mdmid_refusals_total{reason="challenge_unknown"}')" "$((m0_unknown + 1))" \
	"refusals{reason=challenge_unknown} +1"
is "$(value mdmid_pkioperation_duration_seconds_count)" "$((m0_count + 2))" "the latency histogram counted both"
is "$(value 'mdmid_pkioperation_duration_seconds_bucket{le="+Inf"}')" "$((m0_count + 2))" "... in its +Inf bucket"
like "$(value mdmid_pkioperation_duration_seconds_sum)" '^[0-9]+\.[0-9]+$' "... with a sum in seconds"
is "$(value 'mdmid_requests_total{operation="GetCACaps",outcome="success"}')" "$((m0_caps + 1))" \
	"requests{GetCACaps,success} +1"
ok "$([[ $(value mdmid_connections_total) -gt $m0_conns ]]; echo $?)" "connections counted"
promtool check metrics <"$T/m" >/dev/null 2>&1
ok $? "promtool still accepts it"

# The log: one key=value line per decision, with the transaction ID, the UDID,
# the outcome and the error name.
tid_good=$(sed -n 's/^transaction_id=//p' <("$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/good/key.pem" \
	--challenge x --cn "$UDID" --out "$T/tid.der" 2>/dev/null))
like "$(grep 'event=scep.pkcsreq outcome=success' "$T/server.log")" \
	"level=info event=scep.pkcsreq outcome=success serial=[0-9a-f]+ udid=$UDID transaction_id=\"$tid_good\" peer=127.0.0.1" \
	"the enrollment's log line: outcome, serial, UDID, transaction ID, peer"
like "$(grep 'event=scep.pkcsreq outcome=failure' "$T/server.log")" \
	'level=info event=scep.pkcsreq outcome=failure error=challenge_unknown fail_info=badRequest transaction_id="[0-9a-f]+" udid=[^ ]+ peer=127.0.0.1' \
	"the refusal's log line: outcome, error name, failInfo, transaction ID, UDID"
bad=$(grep -v '^ts=[0-9T:.-]*Z level=[a-z]* [a-z_]*=' "$T/server.log" | grep -v '^$' || true)
is "$bad" "" "every log line is ts=... level=... key=value"

# A database error: the table refuses new rows.
q "alter table certificate add constraint refuse_all check (false) not valid"
admin POST /v1/challenges -d "{\"udid\": \"$UDID\"}"
secret2=$(sed -n 's/.*"challenge":"\([^"]*\)".*/\1/p' <<<"$BODY")
is "$(post dberr "$secret2")" 503 "a row that cannot be committed: 503"
q "alter table certificate drop constraint refuse_all"
scrape >"$T/m"
ok "$([[ $(value mdmid_database_errors_total) -gt $m0_db ]]; echo $?)" "database errors counted"
is "$(value 'mdmid_refusals_total{reason="database"}')" 1 "refusals{reason=database} 1"

# Held connections show in the gauge, and leave it when closed.
python3 - "$ADMIN_PORT" "$T" <<'PY'
import socket, sys, urllib.request, time
port, t = int(sys.argv[1]), sys.argv[2]
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
# Until the server has accepted all five (the gauge counts accepted ones), 10 s at most.
text = ""
for _ in range(100):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port).read().decode()
    gauge = [l.split()[1] for l in text.splitlines() if l.startswith("mdmid_connections_open ")]
    if gauge and int(gauge[0]) >= 6:
        break
    time.sleep(0.1)
with open(t + "/m.held", "w") as f:
    f.write(text)
for s in held:
    s.close()
PY
open_held=$(awk '$1 == "mdmid_connections_open" {print $2}' "$T/m.held")
ok "$([[ $open_held -ge 6 ]]; echo $?)" "5 idle connections and the scrape: the open gauge says $open_held"
for ((i = 0; i < 20; i++)); do
	scrape >"$T/m"
	[[ $(value mdmid_connections_open) -le 2 ]] && break
	sleep 0.1
done
ok "$([[ $(value mdmid_connections_open) -le 2 ]]; echo $?)" "... and drops when they close"
t_stop
done_testing
