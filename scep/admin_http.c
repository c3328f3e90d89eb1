/* The admin API over HTTP: bearer authentication, JSON, routes. */
#include "mdmid/admin_http.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "mdmid/admin_req.h"
#include "mdmid/challenge.h"
#include "mdmid/crl.h"
#include "mdmid/http_server.h"
#include "mdmid/log.h"
#include "mdmid/mdmsig.h"
#include "mdmid/metrics.h"
#include "mdmid/profile.h"
#include "mdmid/scep_msg.h"
#include "mdmid/udid.h"

/* Where profiles put the UDID (challenge_mode, static_udid_field): SIGHUP
 * publishes a new version; replaced ones are kept until admin_http_stop, so
 * a request never sees one freed. */
struct admin_policy {
	struct policy policy;
	struct admin_policy *older;
};

struct admin_http {
	struct http_server *server;
	const struct ca *ca;
	struct dbpool *db;
	struct mdmsig_verifier *mdmsig;
	unsigned char token_sha256[32];
	unsigned challenge_ttl;
	_Atomic(struct admin_policy *) policy; /* the current version */
	struct profile_opts profile;    /* .policy is set per request */
	char public_url[512];
	char *organization, *ca_fingerprint;
	struct crl_ctx *crl;        /* the CA's, then those it replaced */
	size_t ncrl;
};

static const char json_content_type[] = "application/json";

/* A JSON reply; the encoded text is freed by cleanup. */
static void reply_json(struct http_reply *reply, unsigned status, json_t *obj, const char *error)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (!text) {
		reply->status = 500;
		reply->content_type = "text/plain";
		reply->body = "internal error\n";
		reply->len = strlen(reply->body);
		reply->error = "internal";
		return;
	}
	reply->status = status;
	reply->content_type = json_content_type;
	reply->body = text;
	reply->len = strlen(text);
	reply->error = error;
	reply->priv = text;
}

static void reply_error(struct http_reply *reply, unsigned status, const char *error, const char *message)
{
	reply_json(reply, status, json_pack("{s:s, s:s}", "error", error, "message", message), error);
}

static void reply_err(struct http_reply *reply, enum mdmid_err e)
{
	const struct mdmid_err_info *info = mdmid_err_info(e);
	reply_error(reply, (unsigned)info->http_status, info->name, info->text);
}

/* Bearer token check before any body is read. */
static unsigned precheck(void *cls, const struct http_request *req, struct http_reply *reply)
{
	struct admin_http *a = cls;
	const char *auth = http_header(req, "Authorization");
	unsigned char h[32];

	/* For the load balancer and Prometheus: no token (the listener is
	 * loopback, or behind mTLS). */
	if (!strcmp(req->url, "/readyz") || !strcmp(req->url, "/metrics"))
		return 0;
	if (strncmp(req->url, "/v1/", 4) != 0) {
		reply_error(reply, 404, "not_found", "no such endpoint");
		return 404;
	}
	/* Hash first: the comparison then takes the same time whatever the
	 * length or content of what was sent. */
	if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 ||
	    EVP_Digest(auth + 7, strlen(auth + 7), h, NULL, EVP_sha256(), NULL) != 1 ||
	    CRYPTO_memcmp(h, a->token_sha256, sizeof h) != 0) {
		char path[256];
		log_info("event=admin outcome=failure error=unauthorized peer=%s path=\"%s\"", req->peer,
			 log_value(req->url, path, sizeof path));
		reply_error(reply, 401, "unauthorized", "a valid bearer token is required");
		reply->header_name = "WWW-Authenticate";
		reply->header_value = "Bearer realm=\"mdmid\"";
		return 401;
	}
	return 0;
}

static void reply_refusal(struct http_reply *reply, const struct admin_refusal *why)
{
	reply_error(reply, why->status, why->error, why->message);
}

/* POST /v1/challenges {"udid", "ttl_seconds"?, "subject"?} */
static void post_challenge(struct admin_http *a, const struct http_request *req, struct http_reply *reply)
{
	struct admin_challenge_req in;
	struct admin_refusal why;
	struct challenge_minted m;
	struct store *st;
	enum mdmid_err rc;

	if (admin_parse_challenge(req->body, req->body_len, a->challenge_ttl, &in, &why) < 0) {
		reply_refusal(reply, &why);
		return;
	}
	if (!(st = dbpool_get(a->db))) {
		reply_err(reply, MDMID_ERR_NOMEM);
		goto out;
	}
	rc = challenge_mint(st, in.udid, in.subject, in.ttl_seconds, in.require_approval, &m);
	if (rc != MDMID_OK) {
		reply_err(reply, rc);
		goto out;
	}
	log_info("event=challenge.mint outcome=success udid=%s challenge_id=%lld expires_at=%s peer=%s", in.udid,
		 (long long)m.id, m.expires_at, req->peer);
	reply_json(reply, 201,
		   json_pack("{s:s, s:s, s:s, s:I}", "challenge", m.secret, "expires_at", m.expires_at, "udid", in.udid,
			     "id", (json_int_t)m.id),
		   NULL);
	OPENSSL_cleanse(m.secret, sizeof m.secret);
out:
	admin_challenge_req_clear(&in);
}

/* POST /v1/identity/check {"udid", "certificate": PEM | "sha256": HEX} */
static void post_identity_check(struct admin_http *a, const struct http_request *req, struct http_reply *reply)
{
	struct admin_identity_req in;
	struct admin_refusal why;
	char reason[32];
	struct store *st;
	bool match = false;
	enum mdmid_err rc;

	if (admin_parse_identity_check(req->body, req->body_len, &in, &why) < 0) {
		reply_refusal(reply, &why);
		return;
	}
	if (!(st = dbpool_get(a->db))) {
		reply_err(reply, MDMID_ERR_NOMEM);
		return;
	}
	if ((rc = store_identity_check(st, in.udid, in.sha256, &match, reason, sizeof reason)) != MDMID_OK) {
		reply_err(reply, rc);
		return;
	}
	reply_json(reply, 200, json_pack("{s:b, s:s}", "match", match, "reason", reason), NULL);
}

/* POST /v1/mdm-signature/verify: the body is the device's body as received,
 * the Mdm-Signature header the device's header. 200 with a verdict for any
 * well-formed request; 400 only without the header. */
static void post_mdmsig_verify(struct admin_http *a, const struct http_request *req, struct http_reply *reply)
{
	const char *header = http_header(req, "Mdm-Signature");
	struct mdmsig_result r;
	struct store *st;
	enum mdmid_err rc;
	json_t *matches;

	if (!header || !*header) {
		reply_error(reply, 400, "missing_header", "the Mdm-Signature header is required");
		return;
	}
	if (!(st = dbpool_get(a->db))) {
		reply_err(reply, MDMID_ERR_NOMEM);
		return;
	}
	if ((rc = mdmsig_verify(a->mdmsig, st, req->body, req->body_len, header, &r)) != MDMID_OK) {
		reply_err(reply, rc);
		return;
	}
	matches = r.body_udid_matches < 0 ? json_null() : json_boolean(r.body_udid_matches);
	log_info("event=mdmsig.verify outcome=%s reason=%s serial=%s udid=%s peer=%s", r.valid ? "valid" : "invalid",
		 r.reason, r.serial[0] ? r.serial : "-", r.udid[0] ? r.udid : "-", req->peer);
	reply_json(reply, 200,
		   json_pack("{s:b, s:s, s:s?, s:s?, s:s?, s:o}", "valid", r.valid, "reason", r.reason, "serial",
			     r.serial[0] ? r.serial : NULL, "sha256", r.sha256[0] ? r.sha256 : NULL, "udid",
			     r.udid[0] ? r.udid : NULL, "body_udid_matches", matches),
		   NULL);
}

/* GET /v1/profiles/scep?udid=U: a .mobileconfig with a fresh challenge. */
static void get_profile_scep(struct admin_http *a, const struct http_request *req, struct http_reply *reply)
{
	const char *udid = http_query_arg(req, "udid");
	char canon[UDID_MAX + 1], *xml = NULL;
	size_t len = 0;
	struct store *st;
	enum mdmid_err rc;

	if (!udid || udid_canonical(udid, canon) < 0) {
		reply_err(reply, MDMID_ERR_UDID_INVALID);
		return;
	}
	if (!(st = dbpool_get(a->db))) {
		reply_err(reply, MDMID_ERR_NOMEM);
		return;
	}
	{
		/* One version of the binding for the whole profile. */
		struct profile_opts po = a->profile;
		po.policy = &atomic_load_explicit(&a->policy, memory_order_acquire)->policy;
		rc = profile_scep(a->ca, st, &po, canon, &xml, &len);
	}
	if (rc != MDMID_OK) {
		reply_err(reply, rc);
		return;
	}
	log_info("event=profile.scep outcome=success udid=%s peer=%s", canon, req->peer);
	reply->status = 200;
	reply->content_type = "application/x-apple-aspen-config";
	reply->body = xml;
	reply->len = len;
	reply->priv = xml;
}

/* POST /v1/revoke {"serial", "reason"?}: revokes and issues a new CRL. */
static void post_revoke(struct admin_http *a, const struct http_request *req, struct http_reply *reply)
{
	struct admin_revoke_req in;
	struct admin_refusal why;
	struct store *st;
	enum mdmid_err rc;

	if (admin_parse_revoke(req->body, req->body_len, &in, &why) < 0) {
		reply_refusal(reply, &why);
		return;
	}
	if (!(st = dbpool_get(a->db))) {
		reply_err(reply, MDMID_ERR_NOMEM);
		return;
	}
	if ((rc = crl_revoke(a->crl, a->ncrl, st, in.serial, in.reason)) != MDMID_OK) {
		if (rc == MDMID_ERR_BAD_CERT_ID)
			reply_error(reply, 404, "unknown_serial", "no certificate with this serial");
		else
			reply_err(reply, rc);
		return;
	}
	reply_json(reply, 200,
		   json_pack("{s:s, s:s, s:s}", "serial", in.serial, "status", "revoked", "reason", in.reason), NULL);
}

static void add_request(void *cls, const char *tid, int type, const char *udid, const char *subject,
			const char *since, const char *peer)
{
	json_array_append_new((json_t *)cls, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "transaction_id", tid,
						       "message_type", scep_message_type_name(type), "udid", udid,
						       "subject", subject, "since", since, "peer", peer));
}

/* GET /v1/requests: the requests waiting for a decision. */
static void get_requests(struct admin_http *a, struct http_reply *reply)
{
	struct store *st = dbpool_get(a->db);
	json_t *list = json_array();
	enum mdmid_err rc;

	if (!st || !list) {
		json_decref(list);
		reply_err(reply, MDMID_ERR_NOMEM);
		return;
	}
	if ((rc = store_request_list(st, add_request, list)) != MDMID_OK) {
		json_decref(list);
		reply_err(reply, rc);
		return;
	}
	reply_json(reply, 200, json_pack("{s:o}", "pending", list), NULL);
}

/* POST /v1/requests/approve or /deny {"transaction_id"}. */
static void post_decide(struct admin_http *a, const struct http_request *req, bool approve, struct http_reply *reply)
{
	struct admin_decide_req in;
	struct admin_refusal why;
	struct store *st;
	unsigned n = 0;
	enum mdmid_err rc;

	if (admin_parse_decide(req->body, req->body_len, &in, &why) < 0) {
		reply_refusal(reply, &why);
	} else if (!(st = dbpool_get(a->db))) {
		reply_err(reply, MDMID_ERR_NOMEM);
	} else if ((rc = store_request_decide(st, in.transaction_id, approve, &n)) != MDMID_OK) {
		reply_err(reply, rc);
	} else if (!n) {
		reply_error(reply, 404, "no_pending_request", "no pending request with this transaction_id");
	} else {
		char tidv[64];
		log_info("event=request.%s outcome=success transaction_id=\"%s\" peer=%s", approve ? "approve" : "deny",
			 log_value(in.transaction_id, tidv, sizeof tidv), req->peer);
		reply_json(reply, 200,
			   json_pack("{s:s, s:s, s:i}", "transaction_id", in.transaction_id, "decision",
				     approve ? "approved" : "denied", "requests", (int)n),
			   NULL);
	}
}

static void reply_text(struct http_reply *reply, unsigned status, const char *type, char *text, size_t len,
		       const char *error)
{
	reply->status = status;
	reply->content_type = type;
	reply->body = text;
	reply->len = len;
	reply->error = error;
	reply->priv = text;
}

/* GET /readyz: 200 when the database answers SELECT 1 within 2 s, else 503. */
static void get_readyz(struct admin_http *a, struct http_reply *reply)
{
	struct store *st = dbpool_get(a->db);
	char err[256] = "", *text;
	int ready = st && store_ping(st, 2000, err, sizeof err) == MDMID_OK;

	if (!ready)
		log_warn("event=readyz outcome=failure error=database_unavailable db_error=\"%s\"",
			 st ? err : "out of memory");
	text = strdup(ready ? "ready\n" : "not ready: the database does not answer\n");
	if (!text) {
		reply_err(reply, MDMID_ERR_NOMEM);
		return;
	}
	reply_text(reply, ready ? 200 : 503, "text/plain", text, strlen(text), ready ? NULL : "database_unavailable");
}

/* GET /metrics: the Prometheus text format. */
static void get_metrics(struct http_reply *reply)
{
	size_t len = 0;
	char *text = metrics_render(&len);

	if (!text) {
		reply_err(reply, MDMID_ERR_NOMEM);
		return;
	}
	reply_text(reply, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
}

static void route(void *cls, const struct http_request *req, struct http_reply *reply)
{
	struct admin_http *a = cls;
	int post = strcmp(req->method, "POST") == 0;

	if (!strcmp(req->url, "/readyz") || !strcmp(req->url, "/metrics")) {
		if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD"))
			reply_error(reply, 405, "method_not_allowed", "GET only");
		else if (req->url[1] == 'r')
			get_readyz(a, reply);
		else
			get_metrics(reply);
	} else if (!strcmp(req->url, "/v1/challenges")) {
		if (post)
			post_challenge(a, req, reply);
		else
			reply_error(reply, 405, "method_not_allowed", "POST only");
	} else if (!strcmp(req->url, "/v1/identity/check")) {
		if (post)
			post_identity_check(a, req, reply);
		else
			reply_error(reply, 405, "method_not_allowed", "POST only");
	} else if (!strcmp(req->url, "/v1/requests")) {
		if (!strcmp(req->method, "GET"))
			get_requests(a, reply);
		else
			reply_error(reply, 405, "method_not_allowed", "GET only");
	} else if (!strcmp(req->url, "/v1/requests/approve") || !strcmp(req->url, "/v1/requests/deny")) {
		if (post)
			post_decide(a, req, !strcmp(req->url, "/v1/requests/approve"), reply);
		else
			reply_error(reply, 405, "method_not_allowed", "POST only");
	} else if (!strcmp(req->url, "/v1/revoke")) {
		if (post)
			post_revoke(a, req, reply);
		else
			reply_error(reply, 405, "method_not_allowed", "POST only");
	} else if (!strcmp(req->url, "/v1/profiles/scep")) {
		if (!strcmp(req->method, "GET"))
			get_profile_scep(a, req, reply);
		else
			reply_error(reply, 405, "method_not_allowed", "GET only");
	} else if (!strcmp(req->url, "/v1/mdm-signature/verify")) {
		if (post)
			post_mdmsig_verify(a, req, reply);
		else
			reply_error(reply, 405, "method_not_allowed", "POST only");
	} else {
		reply_error(reply, 404, "not_found", "no such endpoint");
	}
}

static void cleanup(void *cls, struct http_reply *reply)
{
	(void)cls;
	/* Bodies may hold a challenge (profiles): wiped before they are freed. */
	if (reply->priv)
		OPENSSL_cleanse(reply->priv, reply->len);
	free(reply->priv);
}

/* A version of the profiles' binding from cfg, or NULL with a message. */
static struct admin_policy *admin_policy_new(const struct mdmid_config *cfg, char *err, size_t errlen)
{
	struct admin_policy *p = calloc(1, sizeof *p);

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* No static challenge: profiles carry one-time challenges. */
	if (policy_from_config(&p->policy, cfg, NULL, err, errlen) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

int admin_http_reload(struct admin_http *a, const struct mdmid_config *cfg, char *err, size_t errlen)
{
	struct admin_policy *p = admin_policy_new(cfg, err, errlen);

	if (!p)
		return -1;
	/* Only the main thread reloads; workers only load. */
	p->older = atomic_load_explicit(&a->policy, memory_order_relaxed);
	atomic_store_explicit(&a->policy, p, memory_order_release);
	return 0;
}

struct admin_http *admin_http_start(const struct mdmid_config *cfg, const struct ca *ca, struct dbpool *db, char *err,
				    size_t errlen)
{
	struct admin_http *a;
	struct http_server_opts o = {
		.listen = cfg->admin_listen,
		.workers = cfg->workers,
		.max_connections = cfg->max_connections,
		.idle_timeout_seconds = cfg->idle_timeout_seconds,
		.body_timeout_seconds = cfg->body_timeout_seconds,
		.max_body_bytes = cfg->admin_max_body_bytes,
		.precheck = precheck,
		.trusted_proxies = &cfg->proxies,
	};

	if (!cfg->admin_token || strlen(cfg->admin_token) < 16) {
		snprintf(err, errlen, "the admin listener needs a token of at least 16 characters (admin_token_file or "
				      "MDMID_ADMIN_TOKEN); set admin_listen to \"\" to turn it off");
		return NULL;
	}
	if (!(a = calloc(1, sizeof *a))) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->ca = ca;
	a->db = db;
	a->challenge_ttl = cfg->challenge_ttl_seconds;
	{
		struct admin_policy *p = admin_policy_new(cfg, err, errlen);
		atomic_init(&a->policy, p);
		if (!p)
			goto fail;
	}
	config_public_url(cfg, a->public_url, sizeof a->public_url);
	a->organization = strdup(cfg->profile_organization);
	a->ca_fingerprint = strdup(cfg->profile_ca_fingerprint);
	a->profile = (struct profile_opts){.url = a->public_url, .organization = a->organization,
					   .ca_fingerprint = a->ca_fingerprint, .key_size = cfg->profile_key_size,
					   .challenge_ttl = cfg->challenge_ttl_seconds, .policy = NULL};
	if (!a->organization || !a->ca_fingerprint || !(a->mdmsig = mdmsig_verifier_new(ca)) ||
	    EVP_Digest(cfg->admin_token, strlen(cfg->admin_token), a->token_sha256, NULL, EVP_sha256(), NULL) != 1) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	{
		struct store *st = dbpool_get(db);
		if (!st || crl_contexts(ca, st, cfg->crl_validity_days, &a->crl, &a->ncrl, err, errlen) < 0)
			goto fail;
	}
	if (!(a->server = http_server_start(&o, route, cleanup, a, err, errlen)))
		goto fail;
	return a;
fail:
	admin_http_stop(a);
	return NULL;
}

unsigned admin_http_port(const struct admin_http *a) { return http_server_port(a->server); }

void admin_http_stop(struct admin_http *a)
{
	if (!a)
		return;
	http_server_stop(a->server); /* NULL-safe */
	mdmsig_verifier_free(a->mdmsig);
	for (struct admin_policy *p = atomic_load_explicit(&a->policy, memory_order_acquire), *older; p; p = older) {
		older = p->older;
		free(p);
	}
	free(a->organization);
	free(a->ca_fingerprint);
	free(a->crl);
	OPENSSL_cleanse(a->token_sha256, sizeof a->token_sha256);
	free(a);
}
