/* PostgreSQL access with libpq: prepared statements, reconnects, migrations. */
#include "mdmid/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/asn1.h>

#include "mdmid/log.h"
#include "mdmid/migrate.h"
#include "mdmid/x509util.h"

struct store {
	char *conninfo;
	char *password;
	PGconn *conn;
	int prepared;
};

/* Statements prepared on every new connection. */
static const struct {
	const char *name;
	const char *sql;
	int nparams;
} statements[] = {
	{"event_put",
	 "INSERT INTO event (kind, outcome, error, fail_info, transaction_id, message_type, udid, serial,"
	 " requester_addr, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
	 10},
	/* The certificate and its event in one statement, so one commit. */
	{"cert_put",
	 "WITH c AS (INSERT INTO certificate (serial, issuer_id, udid, subject, sans, method, transaction_id,"
	 " requester_addr, not_before, not_after, sha256, spki_sha256, der)"
	 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING serial)"
	 " INSERT INTO event (kind, outcome, transaction_id, message_type, udid, serial, requester_addr, detail)"
	 " SELECT $14, 'success', $7, $15, $3, c.serial, $8, $16 FROM c",
	 16},
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

static void msg_copy(char *err, size_t errlen, const char *prefix, const char *msg)
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
		const char *keys[] = {"dbname", "password", "application_name", "connect_timeout", NULL};
		const char *vals[] = {st->conninfo, st->password, "mdmid", "5", NULL};
		/* expand_dbname: the first value may be a whole conninfo string. */
		st->conn = PQconnectdbParams(keys, vals, 1);
	}
	if (!st->conn || PQstatus(st->conn) != CONNECTION_OK) {
		msg_copy(err, errlen, "connecting to PostgreSQL: ", st->conn ? PQerrorMessage(st->conn) : "out of memory");
		if (st->conn)
			PQfinish(st->conn);
		st->conn = NULL;
		return MDMID_ERR_DB_UNAVAILABLE;
	}
	return MDMID_OK;
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
			msg_copy(err, errlen, "preparing statements: ", PQresultErrorMessage(r));
		PQclear(r);
		if (!ok)
			return PQstatus(st->conn) == CONNECTION_OK ? MDMID_ERR_DB : MDMID_ERR_DB_UNAVAILABLE;
	}
	st->prepared = 1;
	return MDMID_OK;
}

/* Runs a prepared statement; text parameters unless lengths are given. A
 * connection found broken (a server restart, an idle backend terminated) is
 * re-opened and the statement sent once more: every statement here is an
 * INSERT keyed by a unique serial or is an append, so a second attempt can
 * never record a certificate twice. */
static enum mdmid_err store_exec(struct store *st, const char *name, int n, const char *const *vals,
				 const int *lens, const int *fmts, char *err, size_t errlen)
{
	for (int attempt = 0;; attempt++) {
		PGresult *r;
		ExecStatusType s;
		enum mdmid_err rc = store_ready(st, err, errlen);

		if (rc != MDMID_OK)
			return rc;
		r = PQexecPrepared(st->conn, name, n, vals, lens, fmts, 0);
		s = PQresultStatus(r);
		if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
			PQclear(r);
			return MDMID_OK;
		}
		msg_copy(err, errlen, "", PQresultErrorMessage(r));
		PQclear(r);
		if (PQstatus(st->conn) == CONNECTION_OK)
			return MDMID_ERR_DB;
		if (attempt > 0)
			return MDMID_ERR_DB_UNAVAILABLE;
		log_warn("msg=\"database connection lost; reconnecting\" db_error=\"%s\"", err);
	}
}

static int time_text(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;
	if (!ASN1_TIME_to_tm(t, &tm))
		return 0;
	return strftime(buf, len, "%Y-%m-%d %H:%M:%S+00", &tm) > 0;
}

enum mdmid_err store_event_put(struct store *st, const struct event_record *ev)
{
	char mt[16], err[512];
	const char *vals[10];
	enum mdmid_err rc;

	snprintf(mt, sizeof mt, "%d", ev->message_type);
	vals[0] = ev->kind;
	vals[1] = ev->outcome;
	vals[2] = ev->error;
	vals[3] = ev->fail_info;
	vals[4] = ev->transaction_id;
	vals[5] = ev->message_type >= 0 ? mt : NULL;
	vals[6] = ev->udid;
	vals[7] = ev->serial;
	vals[8] = ev->requester_addr;
	vals[9] = ev->detail;
	rc = store_exec(st, "event_put", 10, vals, NULL, NULL, err, sizeof err);
	if (rc != MDMID_OK)
		log_error("msg=\"event not recorded\" error=%s db_error=\"%s\" kind=%s outcome=%s event_error=%s",
			  mdmid_err_name(rc), err, ev->kind, ev->outcome, ev->error ? ev->error : "-");
	return rc;
}

enum mdmid_err store_cert_put(struct store *st, const struct cert_record *c, const struct event_record *ev)
{
	char serial[41], issuer[24], nb[40], na[40], mt[16], err[512];
	unsigned char sha[32], spki[32];
	unsigned char *der = NULL;
	char *subject = NULL, *sans = NULL;
	const char *vals[16];
	int lens[16] = {0}, fmts[16] = {0};
	int der_len;
	enum mdmid_err rc = MDMID_ERR_INTERNAL;

	if (!x509u_serial_hex(X509_get0_serialNumber(c->cert), serial, sizeof serial) ||
	    !time_text(X509_get0_notBefore(c->cert), nb, sizeof nb) ||
	    !time_text(X509_get0_notAfter(c->cert), na, sizeof na) || !x509u_sha256(c->cert, sha) ||
	    !x509u_spki_sha256(c->cert, spki) || (der_len = i2d_X509(c->cert, &der)) <= 0 ||
	    !(subject = x509u_name_oneline(X509_get_subject_name(c->cert))))
		goto out;
	sans = x509u_san_text(c->cert);
	snprintf(issuer, sizeof issuer, "%lld", (long long)c->issuer_id);
	snprintf(mt, sizeof mt, "%d", ev->message_type);
	vals[0] = serial;
	vals[1] = issuer;
	vals[2] = c->udid;
	vals[3] = subject;
	vals[4] = sans;
	vals[5] = c->method;
	vals[6] = c->transaction_id;
	vals[7] = c->requester_addr;
	vals[8] = nb;
	vals[9] = na;
	vals[10] = (const char *)sha, lens[10] = 32, fmts[10] = 1;
	vals[11] = (const char *)spki, lens[11] = 32, fmts[11] = 1;
	vals[12] = (const char *)der, lens[12] = der_len, fmts[12] = 1;
	vals[13] = ev->kind;
	vals[14] = ev->message_type >= 0 ? mt : NULL;
	vals[15] = ev->detail;
	rc = store_exec(st, "cert_put", 16, vals, lens, fmts, err, sizeof err);
	if (rc != MDMID_OK)
		log_error("msg=\"certificate row not committed\" error=%s db_error=\"%s\" serial=%s", mdmid_err_name(rc),
			  err, serial);
out:
	OPENSSL_free(der);
	free(subject);
	free(sans);
	return rc;
}

enum mdmid_err store_issuer_put(struct store *st, X509 *cert, const char *role, int64_t *id, char *err, size_t errlen)
{
	unsigned char sha[32], *der = NULL;
	char nb[40], na[40], *subject = NULL;
	int der_len;
	const char *vals[6];
	int lens[6] = {0}, fmts[6] = {0};
	PGresult *r = NULL;
	enum mdmid_err rc = store_connect(st, err, errlen);

	if (rc != MDMID_OK)
		return rc;
	rc = MDMID_ERR_INTERNAL;
	if (!x509u_sha256(cert, sha) || (der_len = i2d_X509(cert, &der)) <= 0 ||
	    !time_text(X509_get0_notBefore(cert), nb, sizeof nb) || !time_text(X509_get0_notAfter(cert), na, sizeof na) ||
	    !(subject = x509u_name_oneline(X509_get_subject_name(cert))))
		goto out;
	vals[0] = role;
	vals[1] = subject;
	vals[2] = (const char *)der, lens[2] = der_len, fmts[2] = 1;
	vals[3] = (const char *)sha, lens[3] = 32, fmts[3] = 1;
	vals[4] = nb;
	vals[5] = na;
	/* DO UPDATE (a no-op change) so that RETURNING yields the existing id. */
	r = PQexecParams(st->conn,
			 "INSERT INTO issuer (role, subject, der, sha256, not_before, not_after)"
			 " VALUES ($1, $2, $3, $4, $5, $6)"
			 " ON CONFLICT (sha256) DO UPDATE SET active = true RETURNING id",
			 6, NULL, vals, lens, fmts, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		msg_copy(err, errlen, "recording the issuer: ", PQresultErrorMessage(r));
		rc = MDMID_ERR_DB;
		goto out;
	}
	*id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	rc = MDMID_OK;
out:
	PQclear(r);
	OPENSSL_free(der);
	free(subject);
	return rc;
}

/* Runs one SQL command string (may hold several statements). */
static int run(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(conn, sql);
	ExecStatusType s = PQresultStatus(r);
	int ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
	if (!ok)
		msg_copy(err, errlen, "", PQresultErrorMessage(r));
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
			msg_copy(err, errlen, "creating schema_migration: ", sub);
			return MDMID_ERR_DB;
		}
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
			msg_copy(sub, sizeof sub, "", PQresultErrorMessage(r));
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
			msg_copy(sub, sizeof sub, "", PQresultErrorMessage(r));
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
