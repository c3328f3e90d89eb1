#!/usr/bin/env bash
# The issuance row is committed before the certificate leaves: when the commit
# fails the client gets HTTP 503 and no certificate; with the database
# unreachable the refusal goes to the log; mdmid reconnects by itself.
source "$(dirname "$0")/lib.sh"
t_setup database
# One worker, so the connection terminated below is the one the next request uses.
t_config "workers = 1"
t_start
curl -fsS -o "$T/cacert.der" "$URL?operation=GetCACert"

# post NAME: builds a PKCSReq with the right challenge, POSTs it, prints the HTTP status.
post() {
	mkdir -p "$T/$1"
	"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/$1/key.pem" --challenge "$CHALLENGE" --cn "$(udid_for "$1")" \
		--out "$T/$1/req.der" --out-signer "$T/$1/self.pem" >/dev/null
	curl -sS -o "$T/$1/rep.der" -w '%{http_code}' --data-binary @"$T/$1/req.der" "$URL?operation=PKIOperation"
}
admin() { psql -X -Atq -v ON_ERROR_STOP=1 -d postgres -c "$1"; }

is "$(post first)" 200 "an enrollment succeeds"
is "$(q "select count(*) from certificate")" 1 "... with its row"

# A commit that fails: the table refuses new rows.
q "alter table certificate add constraint refuse_all check (false) not valid"
is "$(post refused)" 503 "a certificate row that cannot be committed gets HTTP 503"
ok "$(grep -q 'pki_status=0' < <("$SCEP_REQ" parse --reply "$T/refused/rep.der" --cacert "$T/cacert.der" 2>/dev/null); [[ $? -ne 0 ]]; echo $?)" \
	"... and no CertRep"
is "$(q "select count(*) from certificate")" 1 "... and no row"
is "$(q "select error from event order by id desc limit 1")" database "... and an event row naming the database error"
like "$(cat "$T/server.log")" "certificate row not committed" "... and a log line"
q "alter table certificate drop constraint refuse_all"

# The database unreachable: no connection is allowed.
admin "alter database $DB allow_connections false"
admin "select count(pg_terminate_backend(pid, 10000)) from pg_stat_activity where datname = '$DB'" >/dev/null
is "$(post down)" 503 "with the database unreachable a PKCSReq gets HTTP 503"
like "$(cat "$T/server.log")" "refusal not recorded in the database" "... and the refusal is logged instead"
is "$(curl -fsS "$URL?operation=GetCACaps" | head -n 1)" POSTPKIOperation "GetCACaps still answers"
admin "alter database $DB allow_connections true"
is "$(post back)" 200 "when the database returns, mdmid reconnects by itself"
is "$(q "select count(*) from certificate")" 2 "... and records the row"

# An idle connection terminated behind mdmid's back is re-opened at once.
admin "select count(pg_terminate_backend(pid, 10000)) from pg_stat_activity where datname = '$DB' and pid <> pg_backend_pid()" >/dev/null
lost=$(grep -c 'database connection lost' "$T/server.log" || true)
is "$(post after_kill)" 200 "a terminated connection is re-opened without failing the request"
is "$(q "select count(*) from certificate")" 3 "... and the row is there"
# At least one: the main thread's once-a-minute CRL check may find its own
# terminated connection too (a slow run under valgrind lasts that long).
n=$(grep -c 'database connection lost' "$T/server.log")
ok "$([[ $n -ge $((lost + 1)) ]]; echo $?)" "... after a logged reconnect ($((n - lost)))"
is "$(q "select count(*) from certificate c join event e on e.serial = c.serial and e.outcome = 'success'")" 3 \
	"every certificate row has its success event"
t_stop
done_testing
