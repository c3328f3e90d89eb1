/*
 * The HTTP listener (libmicrohttpd): worker threads, connection limits, an
 * inactivity timeout, a body size limit and a whole-body deadline. Requests
 * are handed to a route function with the complete body, on the network
 * thread, or (defer) on a pool of worker threads fed by one FIFO queue while
 * the connection is suspended: slow requests (crypto, a database commit)
 * then never hold up the connections that share a network thread, and are
 * served in arrival order.
 */
#ifndef MDMID_HTTP_SERVER_H
#define MDMID_HTTP_SERVER_H

#include <stddef.h>

struct proxy_list;

struct MHD_Connection;
struct http_server;
struct http_kv;

struct http_request {
	struct MHD_Connection *conn;  /* NULL on a worker thread: use the accessors below */
	const char *method;
	const char *url;              /* the path, without the query */
	const unsigned char *body;
	size_t body_len;
	const char *peer;             /* textual client address */
	const struct http_kv *kv;     /* private: query and headers copied for a worker */
	size_t nkv;
};

struct http_reply {
	unsigned status;
	const char *content_type;
	const void *body;             /* copied by the server */
	size_t len;
	const char *error;            /* for the access log, or NULL */
	const char *header_name;      /* one extra response header, or NULL */
	const char *header_value;
	void *priv;                   /* the route's, handed to cleanup */
};

/* Called once the headers are in, before any body is read: returns 0 to go
 * on, or an HTTP status (401, 404, ...) to answer at once with reply's body. */
typedef unsigned (*http_precheck_fn)(void *cls, const struct http_request *req, struct http_reply *reply);

/* Whether req (headers and body in) goes to the worker pool rather than
 * being answered on the network thread. */
typedef int (*http_defer_fn)(void *cls, const struct http_request *req);

/* Fills reply for req; the route may keep data alive through cleanup. */
typedef void (*http_route_fn)(void *cls, const struct http_request *req, struct http_reply *reply);
/* Called after the reply was queued: frees what the route allocated. */
typedef void (*http_cleanup_fn)(void *cls, struct http_reply *reply);

struct http_server_opts {
	const char *listen;           /* host:port, [v6]:port; port 0 = any */
	unsigned workers;             /* 0 = one per core: network threads, or with defer the
	                                 worker pool, behind one network thread */
	unsigned max_connections;
	unsigned idle_timeout_seconds;
	unsigned body_timeout_seconds;
	size_t max_body_bytes;
	http_precheck_fn precheck;    /* optional */
	http_defer_fn defer;          /* optional: requests it accepts run on the worker pool */
	const struct proxy_list *trusted_proxies; /* optional: X-Forwarded-For from these counts */
};

struct http_server *http_server_start(const struct http_server_opts *o, http_route_fn route, http_cleanup_fn cleanup,
				      void *cls, char *err, size_t errlen);
unsigned http_server_port(const struct http_server *s);
void http_server_stop(struct http_server *s);

/* The value of a query argument (unescaped by libmicrohttpd), or NULL. */
const char *http_query_arg(const struct http_request *req, const char *name);
/* The value of a request header (case-insensitive name), or NULL. */
const char *http_header(const struct http_request *req, const char *name);

#endif
