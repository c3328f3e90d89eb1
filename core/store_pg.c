/* PostgreSQL access with libpq: the connection, prepared statements,
 * reconnects and migrations. The records themselves: store_records.c. */
#include "store_pg_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "mdmid/log.h"
#include "mdmid/metrics.h"
#include "mdmid/migrate.h"

/* Statements prepared on every new connection. Casts pin parameter types
 * where PostgreSQL could not infer them from an INSERT ... SELECT. */
static const struct {
	const char *name;
	const char *sql;
	int nparams;
} statements[] = {
	{"event_put",
	 "INSERT INTO event (kind, outcome, error, fail_info, transaction_id, message_type, udid, serial,"
	 " requester_addr, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
	 10},
	/* The certificate and its event in one statement, so one commit; with a
	 * one-time challenge ($17), consuming it is part of the same statement:
	 * when another request took it first, nothing at all is inserted. */
	{"cert_put",
	 "WITH ch AS (UPDATE challenge SET consumed_at = now(), consumed_by = $7"
	 "   WHERE $17::bigint IS NOT NULL AND $20::bigint IS NULL AND id = $17::bigint AND consumed_at IS NULL"
	 "   AND expires_at > now() RETURNING id),"
	 /* An approved request is issued once: its row is locked, and a second
	  * issuer finds certificate_id set once the first commits. */
	 " rq AS (SELECT id FROM request WHERE $20::bigint IS NOT NULL AND id = $20::bigint AND decision = 'approved'"
	 "   AND certificate_id IS NULL FOR UPDATE),"
	 " c AS (INSERT INTO certificate (serial, issuer_id, udid, subject, sans, method, transaction_id,"
	 "   requester_addr, not_before, not_after, sha256, spki_sha256, der, challenge_id, batch, renews)"
	 "   SELECT $1::text, $2::bigint, $3::text, $4::text, $5::text, $6::text, $7::text, $8::inet,"
	 "   $9::timestamptz, $10::timestamptz, $11::bytea, $12::bytea, $13::bytea, $17::bigint, $18::text,"
	 "   $19::bigint"
	 "   WHERE CASE WHEN $20::bigint IS NOT NULL THEN EXISTS (SELECT 1 FROM rq)"
	 "              ELSE $17::bigint IS NULL OR EXISTS (SELECT 1 FROM ch) END"
	 "   RETURNING id, serial),"
	 " u AS (UPDATE request SET certificate_id = c.id FROM c WHERE request.id = $20::bigint RETURNING request.id)"
	 " INSERT INTO event (kind, outcome, transaction_id, message_type, udid, serial, requester_addr, detail)"
	 " SELECT $14::text, 'success', $7::text, $15::integer, $3::text, c.serial, $8::inet, $16::text FROM c",
	 20},
	/* Holding a request for approval consumes its challenge, like issuing. */
	{"request_hold",
	 "WITH ch AS (UPDATE challenge SET consumed_at = now(), consumed_by = $2"
	 "   WHERE $9::bigint IS NOT NULL AND id = $9::bigint AND consumed_at IS NULL AND expires_at > now()"
	 "   RETURNING id),"
	 " r AS (INSERT INTO request (issuer_id, transaction_id, message_type, spki_sha256, signer_spki_sha256, csr,"
	 "   subject, udid, challenge_id, renews, requester_addr)"
	 "   SELECT $1::bigint, $2::text, $3::integer, $4::bytea, $5::bytea, $6::bytea, $7::text, $8::text,"
	 "   $9::bigint, $10::bigint, $11::inet WHERE $9::bigint IS NULL OR EXISTS (SELECT 1 FROM ch) RETURNING id)"
	 " INSERT INTO event (kind, outcome, transaction_id, message_type, udid, requester_addr, detail)"
	 " SELECT $12::text, 'pending', $2::text, $3::integer, $8::text, $11::inet, 'held for approval' FROM r",
	 12},
	/* Whichever CA was issuing when it was held: a request survives a
	 * rollover and is issued by the current CA. */
	{"request_find",
	 "SELECT id, decision, message_type, csr, coalesce(udid, ''), coalesce(challenge_id, 0), coalesce(renews, 0)"
	 " FROM request WHERE transaction_id = $1 AND signer_spki_sha256 = $2"
	 " AND ($3::integer < 0 OR message_type = $3::integer)"
	 " AND ($4::integer = 0 OR created_at > now() - make_interval(secs => $4::integer))"
	 " ORDER BY id DESC LIMIT 1",
	 4},
	{"cert_state_by_id", "SELECT status, now() >= not_after FROM certificate WHERE id = $1", 1},
	{"request_cert",
	 "SELECT c.der FROM request r JOIN certificate c ON c.id = r.certificate_id WHERE r.id = $1", 1},
	/* One decision, one request: a transaction ID that several pending
	 * requests share (another key, another type) is decided for none. */
	{"request_decide",
	 "WITH d AS (UPDATE request SET decision = $2, decided_at = now() WHERE transaction_id = $1"
	 "   AND decision = 'pending'"
	 "   AND (SELECT count(*) FROM request WHERE transaction_id = $1 AND decision = 'pending') = 1"
	 "   RETURNING udid)"
	 " INSERT INTO event (kind, outcome, transaction_id, udid, detail)"
	 " SELECT 'request.' || $2, 'success', $1, d.udid, 'decided by an operator' FROM d",
	 2},
	{"request_list",
	 "SELECT transaction_id, message_type, coalesce(udid, '-'), coalesce(subject, '-'),"
	 " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), requester_addr"
	 " FROM request WHERE decision = 'pending' ORDER BY created_at",
	 0},
	/* A batch rerun: the rows of this batch and UDID whose keys were lost
	 * (every issued one but the certificate in the finished file, $3). */
	{"batch_abandon",
	 "WITH a AS (UPDATE certificate SET status = 'abandoned', revoked_at = now(), revocation_reason = 'superseded'"
	 "   WHERE batch = $1 AND udid = $2 AND status = 'issued' AND ($3::bytea IS NULL OR sha256 <> $3::bytea)"
	 "   RETURNING serial, udid)"
	 " INSERT INTO event (kind, outcome, udid, serial, detail)"
	 " SELECT 'pkcs12.abandon', 'success', a.udid, a.serial,"
	 "   'the key was lost before its file was written; the certificate is no identity' FROM a",
	 3},
	{"challenge_put",
	 "INSERT INTO challenge (secret_sha256, udid, subject, expires_at, require_approval)"
	 " VALUES ($1, $2, $3, now() + make_interval(secs => $4::integer), coalesce($5::boolean, false))"
	 " RETURNING id, to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
	 5},
	{"challenge_find",
	 "SELECT id, udid, subject, expires_at <= now(), consumed_at IS NOT NULL, require_approval FROM challenge"
	 " WHERE secret_sha256 = $1",
	 1},
	{"identity_check", "SELECT match, reason FROM identity_check($1, $2)", 2},
	/* Revocation by serial, with its event, in one statement. */
	{"revoke",
	 "WITH r AS (UPDATE certificate SET status = 'revoked', revoked_at = now(), revocation_reason = $2"
	 "   WHERE serial = $1 AND status = 'issued' RETURNING serial, udid, issuer_id),"
	 " e AS (INSERT INTO event (kind, outcome, udid, serial, detail)"
	 "   SELECT 'revoke', 'success', r.udid, r.serial, 'revoked: ' || $2 FROM r RETURNING 1)"
	 " SELECT issuer_id FROM r",
	 2},
	{"cert_status", "SELECT status FROM certificate WHERE serial = $1", 1},
	{"cert_by_serial", "SELECT der FROM certificate WHERE issuer_id = $1 AND serial = $2", 2},
	{"batch_has",
	 "SELECT count(*) FROM certificate WHERE batch = $1 AND udid = $2 AND sha256 = $3 AND status = 'issued'", 3},
	{"crl_latest",
	 "SELECT der, extract(epoch FROM next_update)::bigint, extract(epoch FROM this_update)::bigint, number"
	 " FROM crl WHERE issuer_id = $1 ORDER BY number DESC LIMIT 1",
	 1},
	/* A retransmission: the certificate already issued for this transaction
	 * to this key (the certificate_transaction index). */
	{"cert_by_transaction",
	 "SELECT der FROM certificate WHERE issuer_id = $1 AND transaction_id = $2 AND spki_sha256 = $3"
	 " AND method = $4 AND status = 'issued' AND created_at > now() - make_interval(secs => $5::integer)"
	 " ORDER BY id DESC LIMIT 1",
	 5},
	/* The three look-ups of a new PKCSReq or RenewalReq in one round trip:
	 * the certificate already issued for this transaction to this key
	 * ($8: the retransmission window, 0 = none), the newest held request of
	 * this transaction signed by this key, and whether another key took
	 * the transaction ID. Binary results. */
	{"enroll_lookup",
	 "SELECT (SELECT der FROM certificate WHERE $8::integer > 0 AND issuer_id = $1 AND transaction_id = $2"
	 "   AND spki_sha256 = $4 AND method = $3 AND status = 'issued'"
	 "   AND created_at > now() - make_interval(secs => $8::integer) ORDER BY id DESC LIMIT 1),"
	 " r.id, r.decision, r.message_type, r.csr, coalesce(r.udid, ''), coalesce(r.challenge_id, 0),"
	 " coalesce(r.renews, 0),"
	 " EXISTS (SELECT 1 FROM certificate WHERE issuer_id = $1 AND transaction_id = $2 AND method = $3"
	 "   AND spki_sha256 <> $4 AND created_at > now() - make_interval(secs => $5::integer))"
	 " OR EXISTS (SELECT 1 FROM request WHERE issuer_id = $1 AND transaction_id = $2"
	 "   AND message_type = $6::integer AND signer_spki_sha256 <> $7"
	 "   AND created_at > now() - make_interval(secs => $5::integer))"
	 " FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT id, decision, message_type, csr, udid, challenge_id, renews"
	 "   FROM request WHERE transaction_id = $2 AND signer_spki_sha256 = $7 AND message_type = $6::integer"
	 "   AND created_at > now() - make_interval(secs => $5::integer) ORDER BY id DESC LIMIT 1) AS r ON true",
	 8},
	{"expiring",
	 "SELECT coalesce(udid, '-'), serial,"
	 " to_char(not_after AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), method"
	 " FROM certificate WHERE status = 'issued' AND not_after > now()"
	 " AND not_after <= now() + make_interval(secs => $1::double precision) ORDER BY not_after, serial",
	 1},
	{"cert_find",
	 "SELECT serial, coalesce(udid, ''), status, now() < not_before, now() >= not_after, id FROM certificate"
	 " WHERE sha256 = $1",
	 1},
};

struct store *store_new(const char *conninfo, const char *password)
{
	struct store *st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	st->conninfo = strdup(conninfo ? conninfo : "");
	st->password = password ? strdup(password) : NULL;
	if (!st->conninfo || (password && !st->password)) {
		store_free(st);
		return NULL;
	}
	return st;
}

void store_free(struct store *st)
{
	if (!st)
		return;
	if (st->conn)
		PQfinish(st->conn);
	free(st->conninfo);
	if (st->password) {
		memset(st->password, 0, strlen(st->password));
		free(st->password);
	}
	free(st);
}

void store_msg_copy(char *err, size_t errlen, const char *prefix, const char *msg)
{
	size_t n;
	if (!err || !errlen)
		return;
	snprintf(err, errlen, "%s%s", prefix, msg ? msg : "");
	n = strlen(err);
	while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
}

enum mdmid_err store_connect(struct store *st, char *err, size_t errlen)
{
	if (st->conn && PQstatus(st->conn) == CONNECTION_OK)
		return MDMID_OK;
	if (st->conn) {
		PQfinish(st->conn);
		st->conn = NULL;
	}
	st->prepared = 0;
	{
		/* Defaults first, so the operator's conninfo (expanded from dbname)
		 * overrides them: a stalled server must not hold a worker forever. */
		const char *keys[] = {"application_name", "connect_timeout", "keepalives", "keepalives_idle",
				      "keepalives_interval", "keepalives_count", "options", "dbname", "password", NULL};
		const char *vals[] = {"mdmid", "5", "1", "30", "10", "3",
				      "-c statement_timeout=15000 -c idle_in_transaction_session_timeout=60000",
				      st->conninfo, st->password, NULL};
		st->conn = PQconnectdbParams(keys, vals, 1);
	}
	if (!st->conn || PQstatus(st->conn) != CONNECTION_OK) {
		store_msg_copy(err, errlen, "connecting to PostgreSQL: ", st->conn ? PQerrorMessage(st->conn) : "out of memory");
		if (st->conn)
			PQfinish(st->conn);
		st->conn = NULL;
		return MDMID_ERR_DB_UNAVAILABLE;
	}
	return MDMID_OK;
}

/* One SELECT 1 on st's connection, opened if needed, answered within
 * timeout_ms of start. A broken connection is closed (st->conn NULL). */
static enum mdmid_err ping_once(struct store *st, const struct timespec *start_ts, unsigned timeout_ms, char *err,
				size_t errlen)
{
	struct timespec start = *start_ts, now;
	PGresult *r;
	int ok = 1;

	if (store_connect(st, err, errlen) != MDMID_OK) {
		metrics_db_error();
		return MDMID_ERR_DB_UNAVAILABLE;
	}
	if (!PQsendQuery(st->conn, "SELECT 1")) {
		store_msg_copy(err, errlen, "", PQerrorMessage(st->conn));
		goto broken;
	}
	for (;;) {
		struct pollfd pfd = {.fd = PQsocket(st->conn), .events = POLLIN};
		long left;
		if (!PQconsumeInput(st->conn)) {
			store_msg_copy(err, errlen, "", PQerrorMessage(st->conn));
			goto broken;
		}
		if (!PQisBusy(st->conn))
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (long)timeout_ms - ((now.tv_sec - start.tv_sec) * 1000L + (now.tv_nsec - start.tv_nsec) / 1000000L);
		if (left <= 0 || pfd.fd < 0) {
			snprintf(err, errlen, "no answer within %u ms", timeout_ms);
			goto broken;
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			goto broken;
		}
	}
	while ((r = PQgetResult(st->conn))) {
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			store_msg_copy(err, errlen, "", PQresultErrorMessage(r));
			ok = 0;
		}
		PQclear(r);
	}
	if (ok)
		return MDMID_OK;
	if (PQstatus(st->conn) == CONNECTION_OK) {
		metrics_db_error();
		return MDMID_ERR_DB_UNAVAILABLE;
	}
broken:
	/* A half-answered query leaves the connection unusable: the next call
	 * opens a new one. */
	PQfinish(st->conn);
	st->conn = NULL;
	st->prepared = 0;
	metrics_db_error();
	return MDMID_ERR_DB_UNAVAILABLE;
}

enum mdmid_err store_ping(struct store *st, unsigned timeout_ms, char *err, size_t errlen)
{
	struct timespec start;
	int reused = st->conn && PQstatus(st->conn) == CONNECTION_OK;
	enum mdmid_err rc;

	clock_gettime(CLOCK_MONOTONIC, &start);
	rc = ping_once(st, &start, timeout_ms, err, errlen);
	/* A connection kept from before a database restart looks open until it
	 * is used: its failure says nothing about the database now, so a fresh
	 * connection gets one more try within the same time budget. */
	if (rc != MDMID_OK && reused && !st->conn)
		rc = ping_once(st, &start, timeout_ms, err, errlen);
	return rc;
}

/* Connects and prepares the statements when needed. */
static enum mdmid_err store_ready(struct store *st, char *err, size_t errlen)
{
	enum mdmid_err rc = store_connect(st, err, errlen);
	if (rc != MDMID_OK || st->prepared)
		return rc;
	for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++) {
		PGresult *r = PQprepare(st->conn, statements[i].name, statements[i].sql, statements[i].nparams, NULL);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			store_msg_copy(err, errlen, "preparing statements: ", PQresultErrorMessage(r));
		PQclear(r);
		if (!ok)
			return PQstatus(st->conn) == CONNECTION_OK ? MDMID_ERR_DB : MDMID_ERR_DB_UNAVAILABLE;
	}
	st->prepared = 1;
	return MDMID_OK;
}

static enum mdmid_err store_run_fmt(struct store *st, const char *name, int n, const char *const *vals,
				    const int *lens, const int *fmts, int result_format, PGresult **out, char *err,
				    size_t errlen);

enum mdmid_err store_run(struct store *st, const char *name, int n, const char *const *vals, const int *lens,
			 const int *fmts, PGresult **out, char *err, size_t errlen)
{
	return store_run_fmt(st, name, n, vals, lens, fmts, 0, out, err, errlen);
}

enum mdmid_err store_run_binary(struct store *st, const char *name, int n, const char *const *vals, const int *lens,
				const int *fmts, PGresult **out, char *err, size_t errlen)
{
	return store_run_fmt(st, name, n, vals, lens, fmts, 1, out, err, errlen);
}

static enum mdmid_err store_run_fmt(struct store *st, const char *name, int n, const char *const *vals,
				    const int *lens, const int *fmts, int result_format, PGresult **out, char *err,
				    size_t errlen)
{
	/* Every statement is an INSERT keyed by a unique serial, an append, an
	 * update guarded by its own WHERE, or a read: sending one again after a
	 * broken connection can never record a certificate twice. */
	if (out)
		*out = NULL;
	for (int attempt = 0;; attempt++) {
		PGresult *r;
		ExecStatusType s;
		enum mdmid_err rc = store_ready(st, err, errlen);

		if (rc != MDMID_OK) {
			metrics_db_error();
			return rc;
		}
		r = PQexecPrepared(st->conn, name, n, vals, lens, fmts, result_format);
		s = PQresultStatus(r);
		if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
			if (out)
				*out = r;
			else
				PQclear(r);
			return MDMID_OK;
		}
		store_msg_copy(err, errlen, "", PQresultErrorMessage(r));
		PQclear(r);
		if (PQstatus(st->conn) == CONNECTION_OK || attempt > 0) {
			metrics_db_error();
			return PQstatus(st->conn) == CONNECTION_OK ? MDMID_ERR_DB : MDMID_ERR_DB_UNAVAILABLE;
		}
		log_warn("msg=\"database connection lost; reconnecting\" db_error=\"%s\"", err);
	}
}

enum mdmid_err store_send(struct store *st, struct store_pending *p)
{
	enum mdmid_err rc;

	p->sent = false;
	if ((rc = store_ready(st, p->err, sizeof p->err)) != MDMID_OK) {
		metrics_db_error();
		return rc;
	}
	/* A connection that cannot take the statement now is dealt with by
	 * store_wait, which sends it again the synchronous way. */
	p->sent = PQsendQueryPrepared(st->conn, p->name, p->n, p->vals, p->lens, p->fmts, 0) == 1;
	return MDMID_OK;
}

enum mdmid_err store_wait(struct store *st, struct store_pending *p, PGresult **out)
{
	PGresult *r, *result = NULL;

	*out = NULL;
	if (!p->sent)
		return store_run(st, p->name, p->n, p->vals, p->lens, p->fmts, out, p->err, sizeof p->err);
	p->sent = false;
	/* One statement, one result, then NULL. */
	while ((r = PQgetResult(st->conn))) {
		if (result)
			PQclear(r);
		else
			result = r;
	}
	if (result && (PQresultStatus(result) == PGRES_COMMAND_OK || PQresultStatus(result) == PGRES_TUPLES_OK)) {
		*out = result;
		return MDMID_OK;
	}
	store_msg_copy(p->err, sizeof p->err, "", result ? PQresultErrorMessage(result) : PQerrorMessage(st->conn));
	PQclear(result);
	if (PQstatus(st->conn) == CONNECTION_OK) {
		metrics_db_error();
		return MDMID_ERR_DB;
	}
	/* The same retry as store_run's: once, on a fresh connection. */
	log_warn("msg=\"database connection lost; reconnecting\" db_error=\"%s\"", p->err);
	return store_run(st, p->name, p->n, p->vals, p->lens, p->fmts, out, p->err, sizeof p->err);
}

/* Runs one SQL command string (may hold several statements). */
static int run(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(conn, sql);
	ExecStatusType s = PQresultStatus(r);
	int ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
	if (!ok)
		store_msg_copy(err, errlen, "", PQresultErrorMessage(r));
	PQclear(r);
	return ok;
}

enum mdmid_err store_migrate(struct store *st, void (*report)(const char *name, int applied), char *err, size_t errlen)
{
	char sub[1024];
	enum mdmid_err rc = store_connect(st, err, errlen);

	if (rc != MDMID_OK)
		return rc;
	if (!run(st->conn,
		 "CREATE TABLE IF NOT EXISTS schema_migration (version integer PRIMARY KEY, name text NOT NULL,"
		 " applied_at timestamptz NOT NULL DEFAULT now())",
		 sub, sizeof sub)) {
		/* Two concurrent first runs may race on the CREATE: retry once. */
		if (!run(st->conn, "SELECT 1 FROM schema_migration LIMIT 0", sub, sizeof sub)) {
			store_msg_copy(err, errlen, "creating schema_migration: ", sub);
			return MDMID_ERR_DB;
		}
	}
	/* Roles are cluster-wide and CREATE ROLE has no IF NOT EXISTS: create
	 * each when missing, every time, so a dropped role comes back. */
	if (!run(st->conn,
		 "DO $$ DECLARE r text; BEGIN"
		 " FOREACH r IN ARRAY ARRAY['mdm_reader', 'auditor'] LOOP"
		 "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN"
		 "   BEGIN EXECUTE format('CREATE ROLE %I NOLOGIN', r);"
		 "   EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;"
		 "  END IF;"
		 " END LOOP; END $$",
		 sub, sizeof sub)) {
		store_msg_copy(err, errlen, "creating the roles mdm_reader and auditor: ", sub);
		return MDMID_ERR_DB;
	}
	for (unsigned i = 0; i < migration_count; i++) {
		const struct migration *m = &migrations[i];
		char version[16];
		const char *vals[2] = {version, m->name};
		PGresult *r;
		int applied;

		snprintf(version, sizeof version, "%d", m->version);
		/* The advisory lock serialises concurrent migrators. */
		if (!run(st->conn, "BEGIN; SELECT pg_advisory_xact_lock(4242424242)", sub, sizeof sub))
			goto fail;
		r = PQexecParams(st->conn, "SELECT 1 FROM schema_migration WHERE version = $1", 1, NULL, vals, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			store_msg_copy(sub, sizeof sub, "", PQresultErrorMessage(r));
			PQclear(r);
			goto fail;
		}
		applied = PQntuples(r) > 0;
		PQclear(r);
		if (applied) {
			if (!run(st->conn, "COMMIT", sub, sizeof sub))
				goto fail;
			if (report)
				report(m->name, 0);
			continue;
		}
		if (!run(st->conn, m->sql, sub, sizeof sub))
			goto fail;
		r = PQexecParams(st->conn, "INSERT INTO schema_migration (version, name) VALUES ($1, $2)", 2, NULL, vals,
				 NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			store_msg_copy(sub, sizeof sub, "", PQresultErrorMessage(r));
			PQclear(r);
			goto fail;
		}
		PQclear(r);
		if (!run(st->conn, "COMMIT", sub, sizeof sub))
			goto fail;
		if (report)
			report(m->name, 1);
		continue;
	fail:
		run(st->conn, "ROLLBACK", NULL, 0);
		snprintf(err, errlen, "migration %s: %s", m->name, sub);
		return PQstatus(st->conn) == CONNECTION_OK ? MDMID_ERR_DB : MDMID_ERR_DB_UNAVAILABLE;
	}
	return MDMID_OK;
}
