/* The records: events, certificates, issuers, challenges, the cross-check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>

#include "mdmid/log.h"
#include "mdmid/metrics.h"
#include "mdmid/x509util.h"
#include "store_pg_internal.h"

/* The certificate in the first column of a binary-format result row. */
static enum mdmid_err cert_from_result(const PGresult *r, X509 **out)
{
	const unsigned char *p = (const unsigned char *)PQgetvalue(r, 0, 0);
	*out = d2i_X509(NULL, &p, PQgetlength(r, 0, 0));
	return *out ? MDMID_OK : MDMID_ERR_INTERNAL;
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
	rc = store_run(st, "event_put", 10, vals, NULL, NULL, NULL, err, sizeof err);
	if (rc != MDMID_OK)
		log_error("msg=\"event not recorded\" error=%s db_error=\"%s\" kind=%s outcome=%s event_error=%s",
			  mdmid_err_name(rc), err, ev->kind, ev->outcome, ev->error ? ev->error : "-");
	return rc;
}

/* A certificate row on its way to the database: the statement's parameters
 * live here until its result is in. */
struct cert_put {
	char serial[41], issuer[24], nb[40], na[40], mt[16];
	unsigned char sha[32], spki[32];
	unsigned char *der;
	char *subject, *sans;
	char challenge[24], renews[24], request[24];
	const char *vals[20];
	int lens[20], fmts[20];
	const char *method;
	int64_t challenge_id, request_id;
	struct store_pending pending;
};

static void cert_put_free(struct cert_put *p)
{
	if (!p)
		return;
	OPENSSL_free(p->der);
	free(p->subject);
	free(p->sans);
	free(p);
}

enum mdmid_err store_cert_put_begin(struct store *st, const struct cert_record *c, const struct event_record *ev,
				    struct cert_put **out)
{
	struct cert_put *p = calloc(1, sizeof *p);
	const char **vals;
	int der_len;
	enum mdmid_err rc;

	*out = NULL;
	if (!p)
		return MDMID_ERR_NOMEM;
	vals = p->vals;
	if (!x509u_serial_hex(X509_get0_serialNumber(c->cert), p->serial, sizeof p->serial) ||
	    !time_text(X509_get0_notBefore(c->cert), p->nb, sizeof p->nb) ||
	    !time_text(X509_get0_notAfter(c->cert), p->na, sizeof p->na) || !x509u_sha256(c->cert, p->sha) ||
	    !x509u_spki_sha256(c->cert, p->spki) || (der_len = i2d_X509(c->cert, &p->der)) <= 0 ||
	    !(p->subject = x509u_name_oneline(X509_get_subject_name(c->cert)))) {
		cert_put_free(p);
		return MDMID_ERR_INTERNAL;
	}
	p->sans = x509u_san_text(c->cert);
	snprintf(p->issuer, sizeof p->issuer, "%lld", (long long)c->issuer_id);
	snprintf(p->mt, sizeof p->mt, "%d", ev->message_type);
	vals[0] = p->serial;
	vals[1] = p->issuer;
	vals[2] = c->udid;
	vals[3] = p->subject;
	vals[4] = p->sans;
	vals[5] = c->method;
	vals[6] = c->transaction_id;
	vals[7] = c->requester_addr;
	vals[8] = p->nb;
	vals[9] = p->na;
	vals[10] = (const char *)p->sha, p->lens[10] = 32, p->fmts[10] = 1;
	vals[11] = (const char *)p->spki, p->lens[11] = 32, p->fmts[11] = 1;
	vals[12] = (const char *)p->der, p->lens[12] = der_len, p->fmts[12] = 1;
	vals[13] = ev->kind;
	vals[14] = ev->message_type >= 0 ? p->mt : NULL;
	vals[15] = ev->detail;
	if (c->challenge_id > 0)
		snprintf(p->challenge, sizeof p->challenge, "%lld", (long long)c->challenge_id);
	vals[16] = c->challenge_id > 0 ? p->challenge : NULL;
	vals[17] = c->batch;
	if (c->renews > 0)
		snprintf(p->renews, sizeof p->renews, "%lld", (long long)c->renews);
	vals[18] = c->renews > 0 ? p->renews : NULL;
	if (c->request_id > 0)
		snprintf(p->request, sizeof p->request, "%lld", (long long)c->request_id);
	vals[19] = c->request_id > 0 ? p->request : NULL;
	p->method = c->method;
	p->challenge_id = c->challenge_id;
	p->request_id = c->request_id;
	p->pending = (struct store_pending){.name = "cert_put", .n = 20, .vals = vals, .lens = p->lens, .fmts = p->fmts};
	if ((rc = store_send(st, &p->pending)) != MDMID_OK) {
		log_error("msg=\"certificate row not committed\" error=%s db_error=\"%s\" serial=%s", mdmid_err_name(rc),
			  p->pending.err, p->serial);
		cert_put_free(p);
		return rc;
	}
	*out = p;
	return MDMID_OK;
}

enum mdmid_err store_cert_put_end(struct store *st, struct cert_put *p)
{
	PGresult *res = NULL;
	enum mdmid_err rc = store_wait(st, &p->pending, &res);

	/* No row inserted: the challenge was consumed (or expired) meanwhile,
	 * or the approved request was issued by another process. */
	if (rc == MDMID_OK && strcmp(PQcmdTuples(res), "1") != 0)
		rc = MDMID_ERR_CHALLENGE_CONSUMED;
	else if (rc == MDMID_OK) {
		metrics_issued(p->method);
		/* An approved request consumed its challenge when it was held. */
		if (p->challenge_id > 0 && p->request_id <= 0)
			metrics_challenge_consumed();
	} else
		log_error("msg=\"certificate row not committed\" error=%s db_error=\"%s\" serial=%s", mdmid_err_name(rc),
			  p->pending.err, p->serial);
	PQclear(res);
	cert_put_free(p);
	return rc;
}

enum mdmid_err store_cert_put(struct store *st, const struct cert_record *c, const struct event_record *ev)
{
	struct cert_put *p;
	enum mdmid_err rc = store_cert_put_begin(st, c, ev, &p);
	return rc == MDMID_OK ? store_cert_put_end(st, p) : rc;
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
		store_msg_copy(err, errlen, "recording the issuer: ", PQresultErrorMessage(r));
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


enum mdmid_err store_challenge_put(struct store *st, const unsigned char secret_sha256[32], const char *udid,
				   const char *subject, unsigned ttl_seconds, bool require_approval, int64_t *id,
				   char *expires_at, size_t expires_len)
{
	char ttl[16], err[512];
	const char *vals[5] = {(const char *)secret_sha256, udid, subject, ttl, require_approval ? "true" : NULL};
	int lens[5] = {32, 0, 0, 0, 0}, fmts[5] = {1, 0, 0, 0, 0};
	PGresult *r = NULL;
	enum mdmid_err rc;

	snprintf(ttl, sizeof ttl, "%u", ttl_seconds);
	rc = store_run(st, "challenge_put", 5, vals, lens, fmts, &r, err, sizeof err);
	if (rc == MDMID_OK && PQntuples(r) == 1) {
		*id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		snprintf(expires_at, expires_len, "%s", PQgetvalue(r, 0, 1));
	} else if (rc == MDMID_OK) {
		rc = MDMID_ERR_DB;
	}
	if (rc != MDMID_OK)
		log_error("msg=\"challenge not recorded\" error=%s db_error=\"%s\"", mdmid_err_name(rc), err);
	PQclear(r);
	return rc;
}

static bool is_true(const PGresult *r, int row, int col) { return PQgetvalue(r, row, col)[0] == 't'; }

enum mdmid_err store_challenge_find(struct store *st, const unsigned char secret_sha256[32], struct challenge_row *row)
{
	char err[512];
	const char *vals[1] = {(const char *)secret_sha256};
	int lens[1] = {32}, fmts[1] = {1};
	PGresult *r = NULL;
	enum mdmid_err rc;

	memset(row, 0, sizeof *row);
	rc = store_run(st, "challenge_find", 1, vals, lens, fmts, &r, err, sizeof err);
	if (rc != MDMID_OK) {
		log_error("msg=\"challenge look-up failed\" error=%s db_error=\"%s\"", mdmid_err_name(rc), err);
		return rc;
	}
	if (PQntuples(r) == 1) {
		row->found = true;
		row->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		snprintf(row->udid, sizeof row->udid, "%s", PQgetvalue(r, 0, 1));
		if (!PQgetisnull(r, 0, 2) && !(row->subject = strdup(PQgetvalue(r, 0, 2))))
			rc = MDMID_ERR_NOMEM;
		row->expired = is_true(r, 0, 3);
		row->consumed = is_true(r, 0, 4);
		row->require_approval = is_true(r, 0, 5);
	}
	PQclear(r);
	return rc;
}

void store_challenge_row_clear(struct challenge_row *row)
{
	free(row->subject);
	row->subject = NULL;
}

enum mdmid_err store_identity_check(struct store *st, const char *udid, const unsigned char sha256[32], bool *match,
				    char *reason, size_t reason_len)
{
	char err[512];
	const char *vals[2] = {udid, (const char *)sha256};
	int lens[2] = {0, 32}, fmts[2] = {0, 1};
	PGresult *r = NULL;
	enum mdmid_err rc = store_run(st, "identity_check", 2, vals, lens, fmts, &r, err, sizeof err);

	if (rc == MDMID_OK && PQntuples(r) == 1) {
		*match = is_true(r, 0, 0);
		snprintf(reason, reason_len, "%s", PQgetvalue(r, 0, 1));
	} else {
		if (rc == MDMID_OK)
			rc = MDMID_ERR_DB;
		log_error("msg=\"identity check failed\" error=%s db_error=\"%s\"", mdmid_err_name(rc), err);
	}
	PQclear(r);
	return rc;
}

enum mdmid_err store_cert_find(struct store *st, const unsigned char sha256[32], struct cert_row *row)
{
	char err[512];
	const char *vals[1] = {(const char *)sha256};
	int lens[1] = {32}, fmts[1] = {1};
	PGresult *r = NULL;
	enum mdmid_err rc = store_run(st, "cert_find", 1, vals, lens, fmts, &r, err, sizeof err);

	memset(row, 0, sizeof *row);
	if (rc != MDMID_OK) {
		log_error("msg=\"certificate look-up failed\" error=%s db_error=\"%s\"", mdmid_err_name(rc), err);
		return rc;
	}
	if (PQntuples(r) == 1) {
		row->found = true;
		snprintf(row->serial, sizeof row->serial, "%s", PQgetvalue(r, 0, 0));
		snprintf(row->udid, sizeof row->udid, "%s", PQgetvalue(r, 0, 1));
		snprintf(row->status, sizeof row->status, "%s", PQgetvalue(r, 0, 2));
		row->not_yet_valid = is_true(r, 0, 3);
		row->expired = is_true(r, 0, 4);
		row->id = strtoll(PQgetvalue(r, 0, 5), NULL, 10);
	}
	PQclear(r);
	return rc;
}

enum mdmid_err store_cert_by_transaction(struct store *st, int64_t issuer_id, const char *transaction_id,
					 const unsigned char spki_sha256[32], const char *method,
					 unsigned window_seconds, X509 **out)
{
	char issuer[24], window[16], err[512];
	const char *vals[5] = {issuer, transaction_id, (const char *)spki_sha256, method, window};
	int lens[5] = {0, 0, 32, 0, 0}, fmts[5] = {0, 0, 1, 0, 0};
	PGresult *r = NULL;
	enum mdmid_err rc;

	*out = NULL;
	snprintf(issuer, sizeof issuer, "%lld", (long long)issuer_id);
	snprintf(window, sizeof window, "%u", window_seconds);
	/* The DER comes back in binary: the last argument of PQexecPrepared is
	 * the result format, so this one runs through its own call. */
	rc = store_run_binary(st, "cert_by_transaction", 5, vals, lens, fmts, &r, err, sizeof err);
	if (rc != MDMID_OK) {
		log_error("msg=\"retransmission look-up failed\" error=%s db_error=\"%s\"", mdmid_err_name(rc), err);
		return rc;
	}
	if (PQntuples(r) == 1) {
		rc = cert_from_result(r, out);
	}
	PQclear(r);
	return rc;
}

enum mdmid_err store_batch_abandon(struct store *st, const char *batch, const char *udid,
				   const unsigned char *keep_sha256, unsigned *count)
{
	char err[512];
	const char *vals[3] = {batch, udid, (const char *)keep_sha256};
	int lens[3] = {0, 0, 32}, fmts[3] = {0, 0, 1};
	PGresult *r = NULL;
	enum mdmid_err rc = store_run(st, "batch_abandon", 3, vals, lens, fmts, &r, err, sizeof err);

	*count = 0;
	if (rc == MDMID_OK)
		*count = (unsigned)strtoul(PQcmdTuples(r), NULL, 10);
	else
		log_error("msg=\"abandoning rows failed\" error=%s db_error=\"%s\" udid=%s", mdmid_err_name(rc), err, udid);
	PQclear(r);
	return rc;
}

enum mdmid_err store_revoke(struct store *st, const char *serial, const char *reason, int64_t *issuer_id)
{
	char err[512];
	const char *vals[2] = {serial, reason};
	PGresult *r = NULL;
	enum mdmid_err rc = store_run(st, "revoke", 2, vals, NULL, NULL, &r, err, sizeof err);

	if (rc != MDMID_OK) {
		log_error("msg=\"revocation failed\" error=%s db_error=\"%s\" serial=%s", mdmid_err_name(rc), err, serial);
		PQclear(r);
		return rc;
	}
	if (PQntuples(r) == 1)
		*issuer_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	if (PQntuples(r) != 1) {
		/* Nothing revoked: unknown, or not in the issued state. */
		PQclear(r);
		r = NULL;
		const char *one[1] = {serial};
		if ((rc = store_run(st, "cert_status", 1, one, NULL, NULL, &r, err, sizeof err)) == MDMID_OK)
			rc = PQntuples(r) == 1 ? MDMID_ERR_ALREADY_REVOKED : MDMID_ERR_BAD_CERT_ID;
	}
	PQclear(r);
	return rc;
}

/* Runs a statement outside the prepared set; 1 when it succeeded. */
static int exec_ok(PGconn *c, const char *sql, int n, const char *const *vals, PGresult **out, char *err, size_t len)
{
	PGresult *r = n ? PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0) : PQexec(c, sql);
	ExecStatusType s = PQresultStatus(r);
	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
		if (out)
			*out = r;
		else
			PQclear(r);
		return 1;
	}
	store_msg_copy(err, len, "", PQresultErrorMessage(r));
	PQclear(r);
	return 0;
}

enum mdmid_err store_crl_issue(struct store *st, int64_t issuer_id, crl_sign_fn sign, void *cls, int64_t *number)
{
	char issuer[24], err[512], num[24], tu[24], nu[24], cnt[16];
	const char *one[1] = {issuer};
	PGresult *r = NULL;
	struct revoked_entry *e = NULL;
	unsigned char *der = NULL;
	size_t n = 0, len = 0;
	int64_t this_update, next_update;
	enum mdmid_err rc = store_connect(st, err, sizeof err);

	if (rc != MDMID_OK)
		return rc;
	snprintf(issuer, sizeof issuer, "%lld", (long long)issuer_id);
	rc = MDMID_ERR_DB;
	/* One issuer of CRLs at a time, across every process. */
	if (!exec_ok(st->conn, "BEGIN", 0, NULL, NULL, err, sizeof err) ||
	    !exec_ok(st->conn, "SELECT pg_advisory_xact_lock(hashtext('mdmid-crl'))", 0, NULL, NULL, err, sizeof err) ||
	    !exec_ok(st->conn,
		     "SELECT serial, floor(extract(epoch FROM revoked_at))::bigint, coalesce(revocation_reason, 'unspecified')"
		     " FROM certificate WHERE issuer_id = $1 AND status IN ('revoked', 'abandoned') AND not_after > now()"
		     " ORDER BY revoked_at, serial",
		     1, one, &r, err, sizeof err))
		goto fail;
	n = (size_t)PQntuples(r);
	if (n && !(e = calloc(n, sizeof *e))) {
		rc = MDMID_ERR_NOMEM;
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(e[i].serial, sizeof e[i].serial, "%s", PQgetvalue(r, (int)i, 0));
		e[i].revoked_at = strtoll(PQgetvalue(r, (int)i, 1), NULL, 10);
		snprintf(e[i].reason, sizeof e[i].reason, "%s", PQgetvalue(r, (int)i, 2));
	}
	PQclear(r);
	r = NULL;
	if (!exec_ok(st->conn, "SELECT nextval('crl_number')", 0, NULL, &r, err, sizeof err))
		goto fail;
	*number = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	r = NULL;
	if (!sign(cls, e, n, *number, &der, &len, &this_update, &next_update)) {
		rc = MDMID_ERR_ISSUE;
		snprintf(err, sizeof err, "signing the CRL failed");
		goto fail;
	}
	snprintf(num, sizeof num, "%lld", (long long)*number);
	snprintf(tu, sizeof tu, "%lld", (long long)this_update);
	snprintf(nu, sizeof nu, "%lld", (long long)next_update);
	snprintf(cnt, sizeof cnt, "%zu", n);
	{
		const char *vals[6] = {num, issuer, tu, nu, cnt, (const char *)der};
		int lens[6] = {0, 0, 0, 0, 0, (int)len}, fmts[6] = {0, 0, 0, 0, 0, 1};
		r = PQexecParams(st->conn,
				 "INSERT INTO crl (number, issuer_id, this_update, next_update, entries, der)"
				 " VALUES ($1, $2, to_timestamp($3), to_timestamp($4), $5, $6)",
				 6, NULL, vals, lens, fmts, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			store_msg_copy(err, sizeof err, "", PQresultErrorMessage(r));
			goto fail;
		}
		PQclear(r);
		r = NULL;
	}
	if (!exec_ok(st->conn, "COMMIT", 0, NULL, NULL, err, sizeof err))
		goto fail;
	OPENSSL_free(der);
	free(e);
	log_info("event=crl.issue outcome=success number=%lld entries=%zu", (long long)*number, n);
	return MDMID_OK;
fail:
	PQclear(r);
	exec_ok(st->conn, "ROLLBACK", 0, NULL, NULL, NULL, 0);
	if (PQstatus(st->conn) != CONNECTION_OK)
		rc = MDMID_ERR_DB_UNAVAILABLE;
	log_error("msg=\"CRL not issued\" error=%s db_error=\"%s\"", mdmid_err_name(rc), err);
	OPENSSL_free(der);
	free(e);
	return rc;
}

enum mdmid_err store_crl_latest(struct store *st, int64_t issuer_id, unsigned char **der, size_t *len,
				int64_t *this_update, int64_t *next_update, int64_t *number)
{
	char issuer[24], err[512];
	const char *vals[1] = {issuer};
	PGresult *r = NULL;
	enum mdmid_err rc;

	*der = NULL;
	snprintf(issuer, sizeof issuer, "%lld", (long long)issuer_id);
	/* Binary results: the DER as raw bytes, the numbers as int8. */
	rc = store_run_binary(st, "crl_latest", 1, vals, NULL, NULL, &r, err, sizeof err);
	if (rc != MDMID_OK) {
		log_error("msg=\"CRL look-up failed\" error=%s db_error=\"%s\"", mdmid_err_name(rc), err);
		return rc;
	}
	if (PQntuples(r) == 1) {
		int n = PQgetlength(r, 0, 0);
		const unsigned char *p;
		uint64_t v[3];
		for (int col = 1; col <= 3; col++) {
			p = (const unsigned char *)PQgetvalue(r, 0, col);
			v[col - 1] = 0;
			for (int i = 0; i < 8; i++)
				v[col - 1] = v[col - 1] << 8 | p[i];
		}
		*next_update = (int64_t)v[0];
		*this_update = (int64_t)v[1];
		*number = (int64_t)v[2];
		if ((*der = malloc((size_t)n))) {
			memcpy(*der, PQgetvalue(r, 0, 0), (size_t)n);
			*len = (size_t)n;
		} else {
			rc = MDMID_ERR_NOMEM;
		}
	}
	PQclear(r);
	return rc;
}

enum mdmid_err store_batch_has(struct store *st, const char *batch, const char *udid, const unsigned char sha256[32],
			       bool *has)
{
	char err[512];
	const char *vals[3] = {batch, udid, (const char *)sha256};
	int lens[3] = {0, 0, 32}, fmts[3] = {0, 0, 1};
	PGresult *r = NULL;
	enum mdmid_err rc = store_run(st, "batch_has", 3, vals, lens, fmts, &r, err, sizeof err);

	*has = rc == MDMID_OK && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "0") != 0;
	if (rc != MDMID_OK)
		log_error("msg=\"batch look-up failed\" error=%s db_error=\"%s\" udid=%s", mdmid_err_name(rc), err, udid);
	PQclear(r);
	return rc;
}

enum mdmid_err store_cert_by_serial(struct store *st, int64_t issuer_id, const char *serial, X509 **out)
{
	char issuer[24], err[512];
	const char *vals[2] = {issuer, serial};
	PGresult *r = NULL;
	enum mdmid_err rc;

	*out = NULL;
	snprintf(issuer, sizeof issuer, "%lld", (long long)issuer_id);
	rc = store_run_binary(st, "cert_by_serial", 2, vals, NULL, NULL, &r, err, sizeof err);
	if (rc == MDMID_OK && PQntuples(r) == 1) {
		rc = cert_from_result(r, out);
	} else if (rc != MDMID_OK) {
		log_error("msg=\"certificate look-up failed\" error=%s db_error=\"%s\"", mdmid_err_name(rc), err);
	}
	PQclear(r);
	return rc;
}

enum mdmid_err store_request_hold(struct store *st, const struct request_record *q)
{
	char issuer[24], mt[16], ch[24], rn[24], err[512];
	const char *vals[12];
	int lens[12] = {0}, fmts[12] = {0};
	PGresult *r = NULL;
	enum mdmid_err rc;

	snprintf(issuer, sizeof issuer, "%lld", (long long)q->issuer_id);
	snprintf(mt, sizeof mt, "%d", q->message_type);
	snprintf(ch, sizeof ch, "%lld", (long long)q->challenge_id);
	snprintf(rn, sizeof rn, "%lld", (long long)q->renews);
	vals[0] = issuer;
	vals[1] = q->transaction_id;
	vals[2] = mt;
	vals[3] = (const char *)q->spki_sha256, lens[3] = 32, fmts[3] = 1;
	vals[4] = (const char *)q->signer_spki_sha256, lens[4] = 32, fmts[4] = 1;
	vals[5] = (const char *)q->csr, lens[5] = (int)q->csr_len, fmts[5] = 1;
	vals[6] = q->subject;
	vals[7] = q->udid && q->udid[0] ? q->udid : NULL;
	vals[8] = q->challenge_id > 0 ? ch : NULL;
	vals[9] = q->renews > 0 ? rn : NULL;
	vals[10] = q->requester_addr;
	vals[11] = q->event_kind;
	rc = store_run(st, "request_hold", 12, vals, lens, fmts, &r, err, sizeof err);
	if (rc == MDMID_OK && strcmp(PQcmdTuples(r), "1") != 0)
		rc = MDMID_ERR_CHALLENGE_CONSUMED;
	else if (rc == MDMID_OK && q->challenge_id > 0)
		metrics_challenge_consumed();
	else if (rc != MDMID_OK)
		log_error("msg=\"request not held\" error=%s db_error=\"%s\"", mdmid_err_name(rc), err);
	PQclear(r);
	return rc;
}

/* Big-endian integers of a binary result. */
static int64_t bin_int8(const PGresult *r, int col)
{
	const unsigned char *p = (const unsigned char *)PQgetvalue(r, 0, col);
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

static int bin_int4(const PGresult *r, int col)
{
	const unsigned char *p = (const unsigned char *)PQgetvalue(r, 0, col);
	return (int)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

/* A request row from the binary columns col..col+6 of the first result row:
 * id, decision, message_type, csr, udid, challenge_id, renews. */
static enum mdmid_err request_row_read(const PGresult *r, int col, struct request_row *row)
{
	int n = PQgetlength(r, 0, col + 3);
	row->found = true;
	row->id = bin_int8(r, col);
	snprintf(row->decision, sizeof row->decision, "%.*s", PQgetlength(r, 0, col + 1), PQgetvalue(r, 0, col + 1));
	row->message_type = bin_int4(r, col + 2);
	if (!(row->csr = malloc((size_t)n + 1)))
		return MDMID_ERR_NOMEM;
	memcpy(row->csr, PQgetvalue(r, 0, col + 3), (size_t)n);
	row->csr_len = (size_t)n;
	snprintf(row->udid, sizeof row->udid, "%.*s", PQgetlength(r, 0, col + 4), PQgetvalue(r, 0, col + 4));
	row->challenge_id = bin_int8(r, col + 5);
	row->renews = bin_int8(r, col + 6);
	return MDMID_OK;
}

enum mdmid_err store_enroll_lookup(struct store *st, int64_t issuer_id, const char *transaction_id, const char *method,
				   int message_type, const unsigned char spki_sha256[32],
				   const unsigned char signer_spki_sha256[32], unsigned retransmission_window,
				   unsigned window_seconds, struct enroll_lookup *out)
{
	char issuer[24], win[16], mt[16], rwin[16], err[512];
	const char *vals[8] = {issuer, transaction_id, method, (const char *)spki_sha256, win, mt,
			       (const char *)signer_spki_sha256, rwin};
	int lens[8] = {0, 0, 0, 32, 0, 0, 32, 0}, fmts[8] = {0, 0, 0, 1, 0, 0, 1, 0};
	PGresult *r = NULL;
	enum mdmid_err rc;

	memset(out, 0, sizeof *out);
	snprintf(issuer, sizeof issuer, "%lld", (long long)issuer_id);
	snprintf(win, sizeof win, "%u", window_seconds);
	snprintf(mt, sizeof mt, "%d", message_type);
	snprintf(rwin, sizeof rwin, "%u", retransmission_window);
	rc = store_run_binary(st, "enroll_lookup", 8, vals, lens, fmts, &r, err, sizeof err);
	if (rc != MDMID_OK) {
		log_error("msg=\"transaction look-up failed\" error=%s db_error=\"%s\"", mdmid_err_name(rc), err);
		return rc;
	}
	if (PQntuples(r) != 1 || PQnfields(r) != 9) {
		rc = MDMID_ERR_INTERNAL;
		goto out;
	}
	if (!PQgetisnull(r, 0, 0) && (rc = cert_from_result(r, &out->earlier)) != MDMID_OK)
		goto out;
	if (!PQgetisnull(r, 0, 1) && (rc = request_row_read(r, 1, &out->request)) != MDMID_OK)
		goto out;
	out->other_key = PQgetlength(r, 0, 8) == 1 && PQgetvalue(r, 0, 8)[0] == 1;
out:
	if (rc != MDMID_OK) {
		X509_free(out->earlier);
		out->earlier = NULL;
		store_request_row_clear(&out->request);
	}
	PQclear(r);
	return rc;
}

enum mdmid_err store_request_find(struct store *st, int64_t issuer_id, const char *transaction_id,
				  const unsigned char signer_spki_sha256[32], int message_type, unsigned window_seconds,
				  struct request_row *row)
{
	char mt[16], win[16], err[512];
	const char *vals[4] = {transaction_id, (const char *)signer_spki_sha256, mt, win};
	int lens[4] = {0, 32, 0, 0}, fmts[4] = {0, 1, 0, 0};
	PGresult *r = NULL;
	enum mdmid_err rc;

	(void)issuer_id; /* requests are found across CAs: they survive a rollover */
	memset(row, 0, sizeof *row);
	snprintf(mt, sizeof mt, "%d", message_type);
	snprintf(win, sizeof win, "%u", window_seconds);
	/* Text results but for the CSR: run it twice would be silly, so the
	 * whole row comes in binary and the integers are decoded here. */
	rc = store_run_binary(st, "request_find", 4, vals, lens, fmts, &r, err, sizeof err);
	if (rc != MDMID_OK) {
		log_error("msg=\"request look-up failed\" error=%s db_error=\"%s\"", mdmid_err_name(rc), err);
		return rc;
	}
	if (PQntuples(r) == 1)
		rc = request_row_read(r, 0, row);
	PQclear(r);
	return rc;
}

void store_request_row_clear(struct request_row *row)
{
	free(row->csr);
	row->csr = NULL;
}

enum mdmid_err store_request_cert(struct store *st, int64_t request_id, X509 **out)
{
	char id[24], err[512];
	const char *vals[1] = {id};
	PGresult *r = NULL;
	enum mdmid_err rc;

	*out = NULL;
	snprintf(id, sizeof id, "%lld", (long long)request_id);
	rc = store_run_binary(st, "request_cert", 1, vals, NULL, NULL, &r, err, sizeof err);
	if (rc == MDMID_OK && PQntuples(r) == 1) {
		rc = cert_from_result(r, out);
	}
	PQclear(r);
	return rc;
}

enum mdmid_err store_request_decide(struct store *st, const char *transaction_id, bool approve, unsigned *count)
{
	char err[512];
	const char *vals[2] = {transaction_id, approve ? "approved" : "denied"};
	PGresult *r = NULL;
	enum mdmid_err rc = store_run(st, "request_decide", 2, vals, NULL, NULL, &r, err, sizeof err);

	*count = rc == MDMID_OK ? (unsigned)strtoul(PQcmdTuples(r), NULL, 10) : 0;
	if (rc != MDMID_OK)
		log_error("msg=\"decision not recorded\" error=%s db_error=\"%s\"", mdmid_err_name(rc), err);
	PQclear(r);
	return rc;
}

enum mdmid_err store_request_list(struct store *st,
				  void (*fn)(void *cls, const char *tid, int type, const char *udid, const char *subject,
					     const char *since, const char *peer),
				  void *cls)
{
	char err[512];
	PGresult *r = NULL;
	enum mdmid_err rc = store_run(st, "request_list", 0, NULL, NULL, NULL, &r, err, sizeof err);

	if (rc == MDMID_OK)
		for (int i = 0; i < PQntuples(r); i++)
			fn(cls, PQgetvalue(r, i, 0), atoi(PQgetvalue(r, i, 1)), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
			   PQgetvalue(r, i, 4), PQgetisnull(r, i, 5) ? "-" : PQgetvalue(r, i, 5));
	else
		log_error("msg=\"request list failed\" error=%s db_error=\"%s\"", mdmid_err_name(rc), err);
	PQclear(r);
	return rc;
}

enum mdmid_err store_cert_state(struct store *st, int64_t id, bool *issued, bool *expired)
{
	char sid[24], err[512];
	const char *vals[1] = {sid};
	PGresult *r = NULL;
	enum mdmid_err rc;

	snprintf(sid, sizeof sid, "%lld", (long long)id);
	rc = store_run(st, "cert_state_by_id", 1, vals, NULL, NULL, &r, err, sizeof err);
	*issued = rc == MDMID_OK && PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "issued");
	*expired = rc == MDMID_OK && PQntuples(r) == 1 && is_true(r, 0, 1);
	PQclear(r);
	return rc;
}

enum mdmid_err store_expiring(struct store *st, unsigned long long within_seconds,
			      void (*fn)(void *cls, const char *udid, const char *serial, const char *not_after,
					 const char *method),
			      void *cls)
{
	char secs[32], err[512];
	const char *vals[1] = {secs};
	PGresult *r = NULL;
	enum mdmid_err rc;

	snprintf(secs, sizeof secs, "%llu", within_seconds);
	rc = store_run(st, "expiring", 1, vals, NULL, NULL, &r, err, sizeof err);
	if (rc == MDMID_OK)
		for (int i = 0; i < PQntuples(r); i++)
			fn(cls, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
	else
		log_error("msg=\"expiring certificates look-up failed\" error=%s db_error=\"%s\"", mdmid_err_name(rc), err);
	PQclear(r);
	return rc;
}
