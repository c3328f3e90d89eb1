/* SCEP operations: GetCACaps, GetCACert and PKIOperation (PKCSReq). */
#include "mdmid/scep_svc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mdmid/challenge.h"
#include "mdmid/crl.h"
#include "mdmid/dbpool.h"
#include "mdmid/issue.h"
#include "mdmid/log.h"
#include "mdmid/metrics.h"
#include "mdmid/scep_msg.h"
#include "mdmid/scep_rep.h"
#include "mdmid/store.h"
#include "mdmid/x509util.h"

/*
 * What SIGHUP may change while requests run. A version is immutable once
 * published; a request takes the current one at its entry and uses it to the
 * end. Versions replaced by a reload stay (linked from the newer one) until
 * scep_svc_free, so a request never sees one freed: reloads are rare.
 */
struct svc_settings {
	struct policy policy;      /* static challenge included */
	unsigned retransmission_window;
	bool require_approval;     /* every request waits for an operator */
	struct svc_settings *older; /* the version this one replaced */
};

struct scep_svc {
	const struct ca *ca;
	_Atomic(struct svc_settings *) settings; /* the current version */
	pthread_mutex_t reload_lock; /* one reload at a time */
	int64_t issuer_id;
	struct dbpool *db;         /* one connection per worker thread */
	struct crl_ctx *crl;       /* the CA's (first), then those it replaced */
	size_t ncrl;
	char caps[160];
};

static struct store *thread_store(struct scep_svc *svc) { return dbpool_get(svc->db); }

/* The current settings: taken once per request. */
static const struct svc_settings *settings_get(struct scep_svc *svc)
{
	return atomic_load_explicit(&svc->settings, memory_order_acquire);
}

/* A new version from cfg (the keys scep_svc_reload names), or NULL with a message. */
static struct svc_settings *settings_new(const struct mdmid_config *cfg, char *err, size_t errlen)
{
	struct svc_settings *set = calloc(1, sizeof *set);

	if (!set) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (policy_from_config(&set->policy, cfg, cfg->challenge, err, errlen) < 0) {
		free(set);
		return NULL;
	}
	set->retransmission_window = cfg->retransmission_window_seconds;
	set->require_approval = cfg->require_approval;
	return set;
}

struct scep_svc *scep_svc_new(const struct mdmid_config *cfg, const struct ca *ca, struct dbpool *db, char *err,
			      size_t errlen)
{
	struct scep_svc *svc = calloc(1, sizeof *svc);
	struct store *st;
	int64_t ra_id;

	if (!svc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	svc->ca = ca;
	svc->db = db;
	pthread_mutex_init(&svc->reload_lock, NULL);
	atomic_init(&svc->settings, NULL);
	if (!scep_oids_init()) {
		snprintf(err, errlen, "registering the SCEP OIDs failed");
		goto fail;
	}
	{
		struct svc_settings *set = settings_new(cfg, err, errlen);
		if (!set)
			goto fail;
		atomic_store_explicit(&svc->settings, set, memory_order_release);
	}
	/* Records which certificates sign, so every row names its issuer. */
	if (!(st = thread_store(svc)) ||
	    store_issuer_put(st, ca_get0_cert(svc->ca), "ca", &svc->issuer_id, err, errlen) != MDMID_OK ||
	    (ca_has_ra(svc->ca) &&
	     store_issuer_put(st, ca_get0_responder_cert(svc->ca), "ra", &ra_id, err, errlen) != MDMID_OK))
		goto fail;
	if (crl_contexts(ca, st, cfg->crl_validity_days, &svc->crl, &svc->ncrl, err, errlen) < 0)
		goto fail;
	/* RFC 8894 section 3.5.2; SCEPStandard implies POSTPKIOperation, so a
	 * site that wants GET-only clients turns both off. */
	snprintf(svc->caps, sizeof svc->caps, "%sRenewal\n%sSHA-1\nSHA-256\nSHA-512\nAES\nDES3\n",
		 cfg->advertise_post ? "POSTPKIOperation\nSCEPStandard\n" : "",
		 ca_has_next(ca) ? "GetNextCACert\n" : "");
	/* Certificates of replaced CAs keep naming their issuer row. */
	for (int i = 0; i < sk_X509_num(ca_get0_previous(ca)); i++) {
		int64_t id;
		if (store_issuer_put(st, sk_X509_value(ca_get0_previous(ca), i), "ca", &id, err, errlen) != MDMID_OK)
			goto fail;
	}
	return svc;
fail:
	scep_svc_free(svc);
	return NULL;
}

int scep_svc_reload(struct scep_svc *svc, const struct mdmid_config *cfg, char *err, size_t errlen)
{
	struct svc_settings *set = settings_new(cfg, err, errlen);

	if (!set)
		return -1;
	pthread_mutex_lock(&svc->reload_lock);
	set->older = atomic_load_explicit(&svc->settings, memory_order_relaxed);
	atomic_store_explicit(&svc->settings, set, memory_order_release);
	pthread_mutex_unlock(&svc->reload_lock);
	return 0;
}

void scep_svc_free(struct scep_svc *svc)
{
	struct svc_settings *set;

	if (!svc)
		return;
	set = atomic_load_explicit(&svc->settings, memory_order_acquire);
	while (set) {
		struct svc_settings *older = set->older;
		OPENSSL_cleanse(set, sizeof *set); /* the static challenge's hash */
		free(set);
		set = older;
	}
	pthread_mutex_destroy(&svc->reload_lock);
	free(svc->crl);
	free(svc);
}

void scep_answer_free(struct scep_answer *ans)
{
	if (!ans->body_static)
		OPENSSL_free(ans->body);
	ans->body = NULL;
}

static void answer_static(struct scep_answer *ans, int status, const char *type, const void *body, size_t len)
{
	ans->http_status = status;
	ans->content_type = type;
	ans->body = (unsigned char *)(uintptr_t)body;
	ans->len = len;
	ans->body_static = true;
}

void scep_svc_getcacaps(struct scep_svc *svc, struct scep_answer *ans)
{
	answer_static(ans, 200, "text/plain", svc->caps, strlen(svc->caps));
}

void scep_svc_getnextcacert(struct scep_svc *svc, struct scep_answer *ans)
{
	const unsigned char *body;
	size_t len;

	if (!ca_has_next(svc->ca)) {
		answer_static(ans, 404, "text/plain", "no next CA\n", 11);
		ans->error = "no_next_ca";
		return;
	}
	ca_get0_getnextcacert(svc->ca, &body, &len);
	answer_static(ans, 200, "application/x-x509-next-ca-cert", body, len);
}

void scep_svc_getcacert(struct scep_svc *svc, struct scep_answer *ans)
{
	const unsigned char *body;
	size_t len;
	const char *type;

	ca_get0_getcacert(svc->ca, &body, &len, &type);
	answer_static(ans, 200, type, body, len);
}

/* An HTTP error answer with the error's text as a plain body. */
static void answer_http_error(struct scep_answer *ans, enum mdmid_err e);

void scep_svc_crl(struct scep_svc *svc, struct scep_answer *ans) { scep_svc_crl_of(svc, NULL, ans); }

void scep_svc_crl_of(struct scep_svc *svc, const char *ca_sha256, struct scep_answer *ans)
{
	struct store *st = thread_store(svc);
	unsigned char *der = NULL, *copy, fp[32];
	char hex[65];
	size_t len = 0;
	const struct crl_ctx *ctx = ca_sha256 ? NULL : &svc->crl[0];
	enum mdmid_err rc;

	for (size_t i = 0; ca_sha256 && i < svc->ncrl && !ctx; i++)
		if (x509u_sha256(ca_get0_crl_issuer(svc->ca, svc->crl[i].signer), fp)) {
			x509u_hex(fp, sizeof fp, hex);
			if (!strcasecmp(hex, ca_sha256))
				ctx = &svc->crl[i];
		}
	if (!ctx) {
		memset(ans, 0, sizeof *ans);
		answer_http_error(ans, MDMID_ERR_NOT_FOUND);
		return;
	}
	rc = st ? crl_current(ctx, st, &der, &len) : MDMID_ERR_NOMEM;

	memset(ans, 0, sizeof *ans);
	/* The answer's body is freed with OPENSSL_free. */
	if (rc == MDMID_OK && der && (copy = OPENSSL_memdup(der, len))) {
		ans->http_status = 200;
		ans->content_type = "application/pkix-crl";
		ans->body = copy;
		ans->len = len;
	} else {
		answer_http_error(ans, rc == MDMID_OK ? MDMID_ERR_INTERNAL : rc);
	}
	free(der);
}

/* An HTTP error answer with the error's text as a plain body. */
static void answer_http_error(struct scep_answer *ans, enum mdmid_err e)
{
	const struct mdmid_err_info *info = mdmid_err_info(e);
	answer_static(ans, info->http_status, "text/plain", info->text, strlen(info->text));
	ans->error = info->name;
}

static const char *event_kind(int message_type)
{
	switch (message_type) {
	case SCEP_MT_PKCSREQ: return "scep.pkcsreq";
	case SCEP_MT_RENEWALREQ: return "scep.renewalreq";
	case SCEP_MT_CERTPOLL: return "scep.certpoll";
	case SCEP_MT_GETCERT: return "scep.getcert";
	case SCEP_MT_GETCRL: return "scep.getcrl";
	default: return "scep.pkioperation";
	}
}

/* Records a refusal: one event row (or a log line without the database). */
static void record_failure(struct scep_svc *svc, const struct scep_msg *msg, enum mdmid_err e, const char *udid,
			   const char *peer)
{
	const struct mdmid_err_info *info = mdmid_err_info(e);
	struct store *st = thread_store(svc);
	struct event_record ev = {
		.kind = event_kind(msg ? msg->message_type : -1),
		.outcome = "failure",
		.error = info->name,
		.fail_info = scep_fail_info_name(info->fail_info),
		.transaction_id = msg && msg->transaction_id[0] ? msg->transaction_id : NULL,
		.message_type = msg ? msg->message_type : -1,
		.udid = udid && udid[0] ? udid : NULL,
		.requester_addr = peer,
		.detail = info->text,
	};
	metrics_refused(e);
	log_info("event=%s outcome=failure error=%s fail_info=%s transaction_id=\"%s\" udid=%s peer=%s", ev.kind,
		 ev.error, ev.fail_info ? ev.fail_info : "-", ev.transaction_id ? ev.transaction_id : "-",
		 ev.udid ? ev.udid : "-", peer ? peer : "-");
	if (!st || store_event_put(st, &ev) != MDMID_OK)
		log_error("event=%s msg=\"refusal not recorded in the database\" error=%s transaction_id=\"%s\"", ev.kind,
			  ev.error, ev.transaction_id ? ev.transaction_id : "-");
}

void scep_svc_refused(struct scep_svc *svc, enum mdmid_err e, const char *peer, struct scep_answer *ans)
{
	record_failure(svc, NULL, e, NULL, peer);
	answer_http_error(ans, e);
}

/* Answers msg with a signed FAILURE CertRep naming e. */
/* Builds a CertRep into ans: HTTP 200, application/x-pki-message. */
static enum mdmid_err answer_rep(struct scep_svc *svc, const struct scep_rep *rep, struct scep_answer *ans)
{
	enum mdmid_err rc = scep_rep_build(svc->ca, rep, &ans->body, &ans->len);

	if (rc == MDMID_OK) {
		ans->http_status = 200;
		ans->content_type = "application/x-pki-message";
		ans->body_static = false;
	}
	return rc;
}

static void answer_failure(struct scep_svc *svc, const struct scep_msg *msg, enum mdmid_err e,
			   struct scep_answer *ans)
{
	const struct mdmid_err_info *info = mdmid_err_info(e);
	struct scep_rep rep = {
		.pki_status = SCEP_STATUS_FAILURE,
		.fail_info = info->fail_info < 0 ? SCEP_FAIL_BAD_REQUEST : info->fail_info,
		.fail_info_text = info->text,
		.transaction_id = msg->transaction_id,
		.recipient_nonce = msg->sender_nonce,
		.recipient_nonce_len = msg->sender_nonce_len,
		.digest_nid = msg->digest_nid,
	};
	ans->error = info->name;
	if (answer_rep(svc, &rep, ans) != MDMID_OK)
		answer_http_error(ans, MDMID_ERR_INTERNAL);
}

/* A SUCCESS CertRep carrying cert (or crl), encrypted to the requester. */
static enum mdmid_err answer_success_crl(struct scep_svc *svc, const struct scep_msg *msg, X509 *cert,
					 X509_CRL *crl, struct scep_answer *ans);

static enum mdmid_err answer_success(struct scep_svc *svc, const struct scep_msg *msg, X509 *cert,
				     struct scep_answer *ans)
{
	return answer_success_crl(svc, msg, cert, NULL, ans);
}

static enum mdmid_err answer_success_crl(struct scep_svc *svc, const struct scep_msg *msg, X509 *cert,
					 X509_CRL *crl, struct scep_answer *ans)
{
	struct scep_rep rep = {
		.pki_status = SCEP_STATUS_SUCCESS,
		.transaction_id = msg->transaction_id,
		.recipient_nonce = msg->sender_nonce,
		.recipient_nonce_len = msg->sender_nonce_len,
		.digest_nid = msg->digest_nid,
		.cipher_nid = msg->cipher_nid,
		.recipient = msg->signer,
		.issued = cert,
		.crl = crl,
	};
	return answer_rep(svc, &rep, ans);
}

/* The certificate already issued for this transaction to this key, if any. */
static enum mdmid_err find_retransmission(struct scep_svc *svc, const struct svc_settings *set, struct store *st,
					  const struct scep_msg *msg, X509 **cert)
{
	unsigned char spki[32];

	*cert = NULL;
	if (!set->retransmission_window)
		return MDMID_OK;
	if (!x509u_req_spki_sha256(msg->csr, spki))
		return MDMID_ERR_INTERNAL;
	return store_cert_by_transaction(st, svc->issuer_id, msg->transaction_id, spki,
					 msg->message_type == SCEP_MT_RENEWALREQ ? "scep-renewal" : "scep",
					 set->retransmission_window, cert);
}

/* One event row and one log line for an answer that is not a failure. */
static void record(struct store *st, const struct scep_msg *msg, const char *outcome, const char *serial,
		   const char *udid, const char *peer, const char *detail)
{
	struct event_record ev = {
		.kind = event_kind(msg->message_type),
		.outcome = outcome,
		.transaction_id = msg->transaction_id,
		.message_type = msg->message_type,
		.udid = udid && udid[0] ? udid : NULL,
		.serial = serial && serial[0] ? serial : NULL,
		.requester_addr = peer,
		.detail = detail,
	};
	store_event_put(st, &ev);
	log_info("event=%s outcome=%s serial=%s udid=%s transaction_id=\"%s\" peer=%s", ev.kind, outcome,
		 ev.serial ? ev.serial : "-", ev.udid ? ev.udid : "-", msg->transaction_id, peer ? peer : "-");
}

/* Answers a retransmission with the certificate it already got: never a
 * second certificate, and a lost CertRep does not burn the challenge. */
static enum mdmid_err answer_retransmission(struct scep_svc *svc, struct store *st, const struct scep_msg *msg,
					    X509 *cert, const char *peer, struct scep_answer *ans)
{
	char serial[41] = "";
	enum mdmid_err rc = answer_success(svc, msg, cert, ans);

	if (rc != MDMID_OK)
		return rc;
	x509u_serial_hex(X509_get0_serialNumber(cert), serial, sizeof serial);
	record(st, msg, "success", serial, NULL, peer,
	       "retransmission: the certificate already issued for this transaction");
	return MDMID_OK;
}

/* Issued by the current CA, or by one it replaced (renewals across a rollover). */
static bool issued_by_us(struct scep_svc *svc, X509 *cert)
{
	STACK_OF(X509) *prev = ca_get0_previous(svc->ca);
	if (X509_check_issued(ca_get0_cert(svc->ca), cert) == X509_V_OK)
		return true;
	for (int i = 0; i < sk_X509_num(prev); i++)
		if (X509_check_issued(sk_X509_value(prev, i), cert) == X509_V_OK)
			return true;
	return false;
}

/* A RenewalReq's signer: a certificate mdmid issued, within its validity,
 * neither revoked nor abandoned. Its row gives the UDID and the row renewed. */
static enum mdmid_err renewal_signer(struct scep_svc *svc, const struct svc_settings *set, struct store *st,
				     const struct scep_msg *msg, struct binding *b, int64_t *renews)
{
	unsigned char fp[32];
	struct cert_row row;
	enum mdmid_err rc;

	if (!x509u_sha256(msg->signer, fp))
		return MDMID_ERR_INTERNAL;
	if ((rc = store_cert_find(st, fp, &row)) != MDMID_OK)
		return rc;
	/* A certificate with this fingerprint but not signed by this CA cannot
	 * exist in the table; a foreign signer simply has no row. */
	if (!row.found || !issued_by_us(svc, msg->signer))
		return MDMID_ERR_RENEWAL_SIGNER_UNKNOWN;
	memcpy(b->udid, row.udid, sizeof b->udid);
	if (strcmp(row.status, "issued") != 0)
		return MDMID_ERR_RENEWAL_SIGNER_REVOKED;
	/* The new certificate is the same device's: a CSR naming a UDID where
	 * static mode reads it must name the renewed row's. */
	{
		char named[UDID_MAX + 1];
		if (policy_csr_udid(&set->policy, msg->csr, named) == 0 && strcmp(named, row.udid) != 0)
			return MDMID_ERR_UDID_MISMATCH;
	}
	if (row.expired || row.not_yet_valid)
		return MDMID_ERR_RENEWAL_SIGNER_EXPIRED;
	*renews = row.id;
	return MDMID_OK;
}

/* A PENDING CertRep: no content, the request is kept for an operator. */
static enum mdmid_err answer_pending(struct scep_svc *svc, const struct scep_msg *msg, struct scep_answer *ans)
{
	struct scep_rep rep = {
		.pki_status = SCEP_STATUS_PENDING,
		.transaction_id = msg->transaction_id,
		.recipient_nonce = msg->sender_nonce,
		.recipient_nonce_len = msg->sender_nonce_len,
		.digest_nid = msg->digest_nid,
	};
	ans->pending = true;
	return answer_rep(svc, &rep, ans);
}


/*
 * The answer for a request held for approval: PENDING while it waits,
 * FAILURE once denied, and once approved its certificate, issued by the
 * first process that is asked (the row of the request is locked for that).
 */
static enum mdmid_err answer_request(struct scep_svc *svc, const struct svc_settings *set, struct store *st,
				     const struct scep_msg *msg, const struct request_row *row, const char *peer,
				     struct scep_answer *ans)
{
	X509 *cert = NULL;
	X509_REQ *csr = NULL;
	const unsigned char *p;
	char serial[41] = "";
	enum mdmid_err rc;

	if (!strcmp(row->decision, "pending")) {
		if ((rc = answer_pending(svc, msg, ans)) == MDMID_OK)
			record(st, msg, "pending", NULL, row->udid, peer, "waiting for approval");
		return rc;
	}
	if (strcmp(row->decision, "approved") != 0)
		return MDMID_ERR_REQUEST_DENIED;
	if ((rc = store_request_cert(st, row->id, &cert)) != MDMID_OK)
		return rc;
	if (!cert && row->renews > 0) {
		/* A held renewal: its signer must still be good when it is issued. */
		bool issued = false, expired = false;
		if ((rc = store_cert_state(st, row->renews, &issued, &expired)) != MDMID_OK)
			goto out;
		if (!issued || expired) {
			rc = !issued ? MDMID_ERR_RENEWAL_SIGNER_REVOKED : MDMID_ERR_RENEWAL_SIGNER_EXPIRED;
			goto out;
		}
	}
	if (!cert) {
		struct cert_record c = {
			.issuer_id = svc->issuer_id,
			.challenge_id = row->challenge_id,
			.udid = row->udid[0] ? row->udid : NULL,
			.method = row->message_type == SCEP_MT_RENEWALREQ ? "scep-renewal" : "scep",
			.transaction_id = msg->transaction_id,
			.requester_addr = peer,
			.renews = row->renews,
			.request_id = row->id,
		};
		struct event_record ev = {
			.kind = event_kind(msg->message_type),
			.message_type = msg->message_type,
			.detail = "issued after approval",
		};
		p = row->csr;
		if (!(csr = d2i_X509_REQ(NULL, &p, (long)row->csr_len))) {
			rc = MDMID_ERR_INTERNAL;
			goto out;
		}
		if ((rc = issue_from_csr(svc->ca, &set->policy, csr, &cert)) != MDMID_OK)
			goto out;
		c.cert = cert;
		rc = store_cert_put(st, &c, &ev);
		if (rc == MDMID_ERR_CHALLENGE_CONSUMED) {
			/* Another process issued it first: that certificate, then. */
			X509_free(cert);
			cert = NULL;
			if ((rc = store_request_cert(st, row->id, &cert)) == MDMID_OK && !cert)
				rc = MDMID_ERR_INTERNAL;
		}
		if (rc != MDMID_OK)
			goto out;
	}
	if ((rc = answer_success(svc, msg, cert, ans)) == MDMID_OK) {
		x509u_serial_hex(X509_get0_serialNumber(cert), serial, sizeof serial);
		log_info("event=%s outcome=success serial=%s udid=%s transaction_id=\"%s\" peer=%s msg=\"approved request\"",
			 event_kind(msg->message_type), serial, row->udid[0] ? row->udid : "-", msg->transaction_id,
			 peer ? peer : "-");
	}
out:
	X509_REQ_free(csr);
	X509_free(cert);
	return rc;
}

/* The request this message continues, if any (same transaction, same key). */
static enum mdmid_err find_request(struct scep_svc *svc, const struct svc_settings *set, struct store *st,
				   const struct scep_msg *msg, int type, struct request_row *row)
{
	unsigned char spki[32];

	memset(row, 0, sizeof *row);
	if (!x509u_spki_sha256(msg->signer, spki))
		return MDMID_ERR_INTERNAL;
	/* A poll finds its request whatever its age (window 0): a request may
	 * wait for an operator longer than the retransmission window. */
	return store_request_find(st, svc->issuer_id, msg->transaction_id, spki, type,
				  type < 0 ? 0 : set->retransmission_window ? set->retransmission_window : 86400, row);
}

/* CertPoll: the state of the request it polls. */
static enum mdmid_err poll(struct scep_svc *svc, const struct svc_settings *set, struct scep_msg *msg,
			   const char *peer, struct scep_answer *ans)
{
	struct store *st = thread_store(svc);
	struct request_row row;
	enum mdmid_err rc;

	if (!st)
		return MDMID_ERR_NOMEM;
	if ((rc = find_request(svc, set, st, msg, -1, &row)) != MDMID_OK)
		return rc;
	rc = row.found ? answer_request(svc, set, st, msg, &row, peer, ans) : MDMID_ERR_BAD_CERT_ID;
	store_request_row_clear(&row);
	return rc;
}

/* Holds a checked request for an operator and answers PENDING. */
static enum mdmid_err hold(struct scep_svc *svc, const struct svc_settings *set, struct store *st,
			   const struct scep_msg *msg, const struct binding *b, int64_t renews, const char *peer,
			   struct scep_answer *ans)
{
	unsigned char spki[32], signer_spki[32], *csr = NULL;
	char *subject = x509u_name_oneline(X509_REQ_get_subject_name(msg->csr));
	int csr_len = i2d_X509_REQ(msg->csr, &csr);
	enum mdmid_err rc = MDMID_ERR_INTERNAL;

	if (csr_len > 0 && subject && x509u_req_spki_sha256(msg->csr, spki) &&
	    x509u_spki_sha256(msg->signer, signer_spki)) {
		struct request_record r = {
			.issuer_id = svc->issuer_id,
			.transaction_id = msg->transaction_id,
			.message_type = msg->message_type,
			.spki_sha256 = spki,
			.signer_spki_sha256 = signer_spki,
			.csr = csr,
			.csr_len = (size_t)csr_len,
			.subject = subject,
			.udid = b->udid,
			.challenge_id = b->challenge_id,
			.renews = renews,
			.requester_addr = peer,
			.event_kind = event_kind(msg->message_type),
		};
		rc = store_request_hold(st, &r);
		if (rc == MDMID_ERR_CHALLENGE_CONSUMED) {
			/* Held already, by this very statement resent after a broken
			 * connection? Then it is pending, not refused. */
			struct request_row row;
			if (find_request(svc, set, st, msg, msg->message_type, &row) == MDMID_OK && row.found)
				rc = MDMID_OK;
			store_request_row_clear(&row);
		}
		if (rc == MDMID_OK && (rc = answer_pending(svc, msg, ans)) == MDMID_OK)
			log_info("event=%s outcome=pending udid=%s transaction_id=\"%s\" peer=%s",
				 event_kind(msg->message_type), b->udid[0] ? b->udid : "-", msg->transaction_id,
				 peer ? peer : "-");
	}
	OPENSSL_free(csr);
	free(subject);
	return rc;
}

/* Checks, issues, commits and answers one verified PKCSReq or RenewalReq. */
static enum mdmid_err enroll(struct scep_svc *svc, const struct svc_settings *set, struct scep_msg *msg,
			     const char *peer, struct binding *b, struct scep_answer *ans)
{
	X509 *cert = NULL, *earlier = NULL;
	struct store *st = thread_store(svc);
	char serial[41] = "";
	bool renewal = msg->message_type == SCEP_MT_RENEWALREQ;
	int64_t renews = 0;
	enum mdmid_err rc;

	if (!st)
		return MDMID_ERR_NOMEM;
	/* A PKCSReq is signed with the CSR's own key; a RenewalReq with the key
	 * of the certificate it renews, so its CSR may carry a new one. */
	rc = renewal ? policy_check_csr_key_with(&set->policy, msg->csr, msg->csr_key)
		     : policy_check_csr_with(&set->policy, msg->csr, msg->csr_key, X509_get0_pubkey(msg->signer));
	if (rc != MDMID_OK)
		goto out;
	{
		/* One round trip: a retransmission (the same transaction from the
		 * same key, answered with the certificate it already got), a request
		 * held for approval, or the transaction ID taken by another key
		 * (checked whatever the window: approvals go by transaction ID). */
		unsigned char spki[32], signer_spki[32];
		struct enroll_lookup lk;
		if (!x509u_req_spki_sha256(msg->csr, spki) || !x509u_spki_sha256(msg->signer, signer_spki)) {
			rc = MDMID_ERR_INTERNAL;
			goto out;
		}
		if ((rc = store_enroll_lookup(st, svc->issuer_id, msg->transaction_id, renewal ? "scep-renewal" : "scep",
					      msg->message_type, spki, signer_spki, set->retransmission_window,
					      set->retransmission_window ? set->retransmission_window : 86400, &lk)) !=
		    MDMID_OK)
			goto out;
		if (lk.earlier) {
			earlier = lk.earlier;
			store_request_row_clear(&lk.request);
			rc = answer_retransmission(svc, st, msg, earlier, peer, ans);
			goto out;
		}
		if (lk.request.found) {
			rc = answer_request(svc, set, st, msg, &lk.request, peer, ans);
			store_request_row_clear(&lk.request);
			goto out;
		}
		if (lk.other_key) {
			rc = MDMID_ERR_TRANSACTION_KEY;
			goto out;
		}
	}
	if (renewal) {
		/* No challenge: the signer must be a certificate mdmid issued, within
		 * its validity and not revoked; the new row inherits its UDID. */
		if ((rc = renewal_signer(svc, set, st, msg, b, &renews)) != MDMID_OK ||
		    (rc = issue_from_csr_key(svc->ca, &set->policy, msg->csr, msg->csr_key, &cert)) != MDMID_OK)
			goto out;
	}
	/* The challenge is only looked up here; it is consumed by the statement
	 * that records the certificate, so a refused or failed request leaves it
	 * usable and two requests racing for it get one certificate. */
	/* The certificate is built even for a request that will be held, so
	 * that a CSR the policy refuses is refused now, not after approval. */
	else if ((rc = challenge_resolve(st, &set->policy, msg->csr, b)) != MDMID_OK ||
		 (rc = issue_from_csr_key(svc->ca, &set->policy, msg->csr, msg->csr_key, &cert)) != MDMID_OK)
		goto out;
	if (set->require_approval || b->require_approval) {
		rc = hold(svc, set, st, msg, b, renews, peer, ans);
		goto out;
	}
	x509u_serial_hex(X509_get0_serialNumber(cert), serial, sizeof serial);
	{
		struct cert_record c = {
			.issuer_id = svc->issuer_id,
			.cert = cert,
			.challenge_id = b->challenge_id,
			.udid = b->udid[0] ? b->udid : NULL,
			.method = renewal ? "scep-renewal" : "scep",
			.transaction_id = msg->transaction_id,
			.requester_addr = peer,
			.renews = renews,
		};
		struct event_record ev = {
			.kind = event_kind(msg->message_type),
			.message_type = msg->message_type,
			.detail = "issued",
		};
		struct cert_put *put;
		struct scep_answer reply = {0};
		enum mdmid_err rep_rc = MDMID_ERR_INTERNAL;
		/* The CertRep is signed while PostgreSQL commits the row; it is
		 * handed out only once the commit succeeded. */
		if ((rc = store_cert_put_begin(st, &c, &ev, &put)) == MDMID_OK) {
			rep_rc = answer_success(svc, msg, cert, &reply);
			rc = store_cert_put_end(st, put);
		}
		if (rc == MDMID_OK && rep_rc == MDMID_OK) {
			*ans = reply;
		} else {
			scep_answer_free(&reply);
			/* The row stands if the CertRep failed: a retransmission finds it. */
			if (rc == MDMID_OK)
				rc = rep_rc;
		}
	}
	if (rc == MDMID_ERR_CHALLENGE_CONSUMED) {
		/* Taken meanwhile: by a request racing this one, or by this very
		 * statement when a broken connection made the store send it twice
		 * (then the row is there, for this transaction), or it expired. */
		struct challenge_row row;
		if (find_retransmission(svc, set, st, msg, &earlier) == MDMID_OK && earlier) {
			rc = answer_retransmission(svc, st, msg, earlier, peer, ans);
			goto out;
		}
		/* Name the right reason: consumed, or expired since the look-up. */
		if (b->challenge_id > 0 && store_challenge_find(st, b->secret_sha256, &row) == MDMID_OK) {
			if (row.found && !row.consumed && row.expired)
				rc = MDMID_ERR_CHALLENGE_EXPIRED;
			store_challenge_row_clear(&row);
		}
		goto out;
	}
	if (rc != MDMID_OK)
		goto out;
	log_info("event=%s outcome=success serial=%s udid=%s transaction_id=\"%s\" peer=%s",
		 event_kind(msg->message_type), serial, b->udid[0] ? b->udid : "-", msg->transaction_id,
		 peer ? peer : "-");
out:
	X509_free(cert);
	X509_free(earlier);
	return rc;
}

/* GetCert and GetCRL: a certificate mdmid issued, or its current CRL. */
static enum mdmid_err lookup(struct scep_svc *svc, struct scep_msg *msg, const char *peer, struct scep_answer *ans)
{
	struct store *st = thread_store(svc);
	char serial[41] = "";
	X509 *cert = NULL;
	X509_CRL *crl = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	enum mdmid_err rc;

	if (!st)
		return MDMID_ERR_NOMEM;
	const struct crl_ctx *ctx = NULL;

	/* The CA named in IssuerAndSerialNumber: this one or one it replaced. */
	for (size_t i = 0; i < svc->ncrl && !ctx; i++)
		if (!X509_NAME_cmp(msg->ias->issuer, X509_get_subject_name(ca_get0_crl_issuer(svc->ca, svc->crl[i].signer))))
			ctx = &svc->crl[i];
	if (!ctx || !x509u_serial_hex(msg->ias->serial, serial, sizeof serial))
		return MDMID_ERR_BAD_CERT_ID;
	if ((rc = store_cert_by_serial(st, ctx->issuer_id, serial, &cert)) != MDMID_OK)
		return rc;
	if (!cert)
		return MDMID_ERR_BAD_CERT_ID;
	if (msg->message_type == SCEP_MT_GETCRL) {
		const unsigned char *p;
		if ((rc = crl_current(ctx, st, &der, &len)) != MDMID_OK)
			goto out;
		p = der;
		if (!(crl = d2i_X509_CRL(NULL, &p, (long)len))) {
			rc = MDMID_ERR_INTERNAL;
			goto out;
		}
	}
	if ((rc = answer_success_crl(svc, msg, msg->message_type == SCEP_MT_GETCRL ? NULL : cert, crl, ans)) ==
	    MDMID_OK)
		record(st, msg, "success", serial, NULL, peer,
		       msg->message_type == SCEP_MT_GETCRL ? "the current CRL" : "the certificate");
out:
	free(der);
	X509_CRL_free(crl);
	X509_free(cert);
	return rc;
}

void scep_svc_pkioperation(struct scep_svc *svc, const unsigned char *body, size_t len, const char *peer,
			   struct scep_answer *ans)
{
	/* One version of the settings from the start of the request to its end. */
	const struct svc_settings *set = settings_get(svc);
	struct scep_msg msg;
	struct binding b = {0};
	enum mdmid_err rc;

	memset(ans, 0, sizeof *ans);
	rc = scep_msg_parse(body, len, svc->ca, &set->policy, &msg);
	if (rc == MDMID_OK)
		rc = msg.ias ? lookup(svc, &msg, peer, ans)
		     : msg.poll ? poll(svc, set, &msg, peer, ans)
				: enroll(svc, set, &msg, peer, &b, ans);
	if (rc == MDMID_OK)
		goto out;
	record_failure(svc, &msg, rc, b.udid, peer);
	/* Without a committed row there is no certificate, and the client
	 * should retry later: 503 rather than a final FAILURE. */
	if (!msg.answerable || rc == MDMID_ERR_DB || rc == MDMID_ERR_DB_UNAVAILABLE || rc == MDMID_ERR_NOMEM)
		answer_http_error(ans, rc);
	else
		answer_failure(svc, &msg, rc, ans);
out:
	scep_msg_clear(&msg);
	ERR_clear_error();
}
