/* SCEP over HTTP (RFC 8894 section 4): operation dispatch and GET/POST. */
#include "mdmid/scep_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mdmid/err.h"
#include "mdmid/metrics.h"
#include "mdmid/scep_b64.h"

struct scep_http {
	struct http_server *server;
	struct scep_svc *svc;
	char *scep_path;
};

/* True when url is prefix itself or lies under it ("/scep/anything"). */
static int path_under(const char *url, const char *prefix)
{
	size_t n = strlen(prefix);
	while (n > 1 && prefix[n - 1] == '/')
		n--;
	return strncmp(url, prefix, n) == 0 && (url[n] == '\0' || url[n] == '/');
}

static void reply_text(struct http_reply *reply, unsigned status, const char *text, const char *error)
{
	reply->status = status;
	reply->content_type = "text/plain";
	reply->body = text;
	reply->len = strlen(text);
	reply->error = error;
}

/* Runs one SCEP operation into ans (owned by the caller). */
static void scep_operation(struct scep_http *h, const struct http_request *req, struct scep_answer *ans)
{
	const char *op = http_query_arg(req, "operation");
	int is_post = strcmp(req->method, "POST") == 0;

	if (strcasecmp(op, "GetCACaps") == 0) {
		scep_svc_getcacaps(h->svc, ans);
	} else if (strcasecmp(op, "GetCACert") == 0) {
		/* Apple sends its payload name as message=: it is ignored. */
		scep_svc_getcacert(h->svc, ans);
	} else if (strcasecmp(op, "GetNextCACert") == 0) {
		scep_svc_getnextcacert(h->svc, ans);
	} else if (is_post) {
		/* Whatever the Content-Type: scepclient sends octet-stream. */
		scep_svc_pkioperation(h->svc, req->body, req->body_len, req->peer, ans);
	} else {
		const char *m = http_query_arg(req, "message");
		size_t len = 0;
		unsigned char *der = m ? scep_b64_decode(m, strlen(m), &len) : NULL;
		if (!der)
			scep_svc_refused(h->svc, m ? MDMID_ERR_BAD_BASE64 : MDMID_ERR_MSG_DECODE, req->peer, ans);
		else
			scep_svc_pkioperation(h->svc, der, len, req->peer, ans);
		free(der);
	}
}

static void route_request(void *cls, const struct http_request *req, struct http_reply *reply)
{
	struct scep_http *h = cls;
	struct scep_answer *ans;
	const char *op;
	int is_get = strcmp(req->method, "GET") == 0, is_post = strcmp(req->method, "POST") == 0;

	if (strcmp(req->url, "/healthz") == 0) {
		reply_text(reply, 200, "ok\n", NULL);
		return;
	}
	if (strcmp(req->url, "/crl") == 0 || strncmp(req->url, "/crl/", 5) == 0) {
		if (!is_get) {
			reply_text(reply, 405, "method not allowed\n", "method_not_allowed");
			return;
		}
		if (!(ans = calloc(1, sizeof *ans))) {
			reply_text(reply, 503, "out of memory\n", "out_of_memory");
			return;
		}
		if (req->url[4] == '/')
			scep_svc_crl_of(h->svc, req->url + 5, ans);
		else
			scep_svc_crl(h->svc, ans);
		goto answered;
	}
	if (!path_under(req->url, h->scep_path) && !path_under(req->url, "/cgi-bin/pkiclient.exe")) {
		reply_text(reply, 404, "not found\n", "not_found");
		return;
	}
	if (!is_get && !is_post) {
		reply_text(reply, 405, "method not allowed\n", "method_not_allowed");
		return;
	}
	op = http_query_arg(req, "operation");
	if (!op || (strcasecmp(op, "GetCACaps") && strcasecmp(op, "GetCACert") && strcasecmp(op, "GetNextCACert") &&
		    strcasecmp(op, "PKIOperation"))) {
		reply_text(reply, 400, "unknown or missing operation\n", "bad_operation");
		return;
	}
	if (is_post && strcasecmp(op, "PKIOperation")) {
		reply_text(reply, 405, "only PKIOperation is POSTed\n", "method_not_allowed");
		return;
	}
	if (!(ans = calloc(1, sizeof *ans))) {
		reply_text(reply, 503, "out of memory\n", "out_of_memory");
		return;
	}
	scep_operation(h, req, ans);
answered:
	reply->status = (unsigned)ans->http_status;
	reply->content_type = ans->content_type;
	reply->body = ans->body;
	reply->len = ans->len;
	reply->error = ans->error;
	reply->priv = ans;
}

static enum metrics_op metrics_op_of(struct scep_http *h, const struct http_request *req)
{
	static const struct {
		const char *name;
		enum metrics_op op;
	} ops[] = {{"GetCACaps", METRICS_OP_GETCACAPS},
		   {"GetCACert", METRICS_OP_GETCACERT},
		   {"GetNextCACert", METRICS_OP_GETNEXTCACERT},
		   {"PKIOperation", METRICS_OP_PKIOPERATION}};
	const char *op;

	if (strcmp(req->url, "/healthz") == 0)
		return METRICS_OP_HEALTHZ;
	if (strcmp(req->url, "/crl") == 0 || strncmp(req->url, "/crl/", 5) == 0)
		return METRICS_OP_CRL;
	if ((path_under(req->url, h->scep_path) || path_under(req->url, "/cgi-bin/pkiclient.exe")) &&
	    (op = http_query_arg(req, "operation")))
		for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
			if (strcasecmp(op, ops[i].name) == 0)
				return ops[i].op;
	return METRICS_OP_OTHER;
}

/* Every request counted by operation and outcome; PKIOperations timed. */
static void route(void *cls, const struct http_request *req, struct http_reply *reply)
{
	enum metrics_op op = metrics_op_of(cls, req);
	const struct scep_answer *ans;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	route_request(cls, req, reply);
	if (op == METRICS_OP_PKIOPERATION) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		metrics_pkioperation_seconds((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
	ans = reply->priv;
	metrics_request(op, reply->status >= 400 || reply->error ? METRICS_FAILURE
			    : ans && ans->pending		 ? METRICS_PENDING
							 : METRICS_SUCCESS);
}

/* PKIOperation (RSA work and a database commit) runs on the worker pool;
 * GetCACaps, GetCACert, the CRL and /healthz are answered at once. */
static int defer(void *cls, const struct http_request *req)
{
	const char *op = http_query_arg(req, "operation");
	(void)cls;
	return op && strcasecmp(op, "PKIOperation") == 0;
}

static void cleanup(void *cls, struct http_reply *reply)
{
	struct scep_answer *ans = reply->priv;
	(void)cls;
	if (ans) {
		scep_answer_free(ans);
		free(ans);
	}
}

struct scep_http *scep_http_start(const struct mdmid_config *cfg, struct scep_svc *svc, char *err, size_t errlen)
{
	struct scep_http *h = calloc(1, sizeof *h);
	struct http_server_opts o = {
		.listen = cfg->listen,
		.workers = cfg->workers,
		.max_connections = cfg->max_connections,
		.idle_timeout_seconds = cfg->idle_timeout_seconds,
		.body_timeout_seconds = cfg->body_timeout_seconds,
		.max_body_bytes = cfg->max_body_bytes,
		.defer = defer,
		.trusted_proxies = &cfg->proxies,
	};

	if (!h || !(h->scep_path = strdup(cfg->scep_path))) {
		free(h);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (h->scep_path[0] != '/') {
		snprintf(err, errlen, "scep_path = %s: must start with /", cfg->scep_path);
		goto fail;
	}
	h->svc = svc;
	if (!(h->server = http_server_start(&o, route, cleanup, h, err, errlen)))
		goto fail;
	return h;
fail:
	free(h->scep_path);
	free(h);
	return NULL;
}

unsigned scep_http_port(const struct scep_http *h) { return http_server_port(h->server); }

void scep_http_stop(struct scep_http *h)
{
	if (!h)
		return;
	http_server_stop(h->server);
	free(h->scep_path);
	free(h);
}
