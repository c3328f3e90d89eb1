/* libmicrohttpd listener with size and time limits on every request. */
#include "mdmid/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "mdmid/log.h"

struct http_server {
	struct MHD_Daemon *daemon;
	http_route_fn route;
	http_cleanup_fn cleanup;
	http_precheck_fn precheck;
	void *cls;
	size_t max_body;
	unsigned body_timeout;
	unsigned port;
};

/* Per-request state, from the headers to the completion callback. */
struct req_state {
	unsigned char *buf;
	size_t len, cap;
	struct timespec start;
	bool too_large;        /* the body passed the limit: 413 at its end */
	size_t discarded;      /* bytes dropped since */
	bool answered;         /* a reply was queued before the body */
};

static double elapsed(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

static void peer_text(struct MHD_Connection *c, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(buf, len, "-");
	if (!ci || !ci->client_addr)
		return;
	if (ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr, buf,
			  (socklen_t)len);
	else if (ci->client_addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)ci->client_addr)->sin6_addr, buf,
			  (socklen_t)len);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, const struct http_reply *r)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(r->len, (void *)(uintptr_t)r->body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	if (r->content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	if (r->header_name && r->header_value)
		MHD_add_response_header(resp, r->header_name, r->header_value);
	ret = MHD_queue_response(c, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct http_reply r = {.status = status, .content_type = "text/plain", .body = text, .len = strlen(text)};
	return send_reply(c, &r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct req_state *st = *con_cls;
	char peer[INET6_ADDRSTRLEN + 1];
	(void)version;

	if (!st) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (!(st = calloc(1, sizeof *st)))
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &st->start);
		*con_cls = st;
		if (s->precheck) {
			struct http_request req = {.conn = c, .method = method, .url = url, .peer = peer};
			struct http_reply reply = {0};
			unsigned status;
			peer_text(c, peer, sizeof peer);
			if ((status = s->precheck(s->cls, &req, &reply)) != 0) {
				/* Refused before the body: it is never read. */
				enum MHD_Result ret;
				st->answered = true;
				reply.status = status;
				ret = send_reply(c, &reply);
				if (s->cleanup)
					s->cleanup(s->cls, &reply);
				return ret;
			}
		}
		/* A declared length over the limit is refused before any body is read. */
		if (cl) {
			char *end;
			unsigned long long n = strtoull(cl, &end, 10);
			if (end == cl || *end || n > s->max_body) {
				char path[256];
				peer_text(c, peer, sizeof peer);
				log_info("event=http outcome=failure error=body_too_large peer=%s method=%s path=\"%s\"", peer,
					 method, log_value(url, path, sizeof path));
				st->answered = true;
				return send_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
			}
		}
		return MHD_YES;
	}
	if (st->answered) {
		/* libmicrohttpd does not send a body it already answered; should
		 * any arrive, it is dropped. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		/* libmicrohttpd only times out idle connections: a sender trickling
		 * bytes is cut when the whole body takes longer than the deadline. */
		char path[256];
		if (elapsed(&st->start) > (double)s->body_timeout) {
			peer_text(c, peer, sizeof peer);
			log_info("event=http outcome=failure error=body_timeout peer=%s path=\"%s\"", peer,
				 log_value(url, path, sizeof path));
			return MHD_NO;
		}
		if (!st->too_large && st->len + *upload_data_size > s->max_body)
			st->too_large = true;
		if (st->too_large) {
			/* A body without a declared length (chunked) can only be answered
			 * at its end: a little over the limit is drained for a 413, a lot
			 * over it closes the connection. */
			st->discarded += *upload_data_size;
			if (st->discarded > 4 * s->max_body) {
				peer_text(c, peer, sizeof peer);
				log_info("event=http outcome=failure error=body_too_large peer=%s path=\"%s\" msg=\"closed\"",
					 peer, log_value(url, path, sizeof path));
				return MHD_NO;
			}
		}
		if (!st->too_large) {
			if (st->len + *upload_data_size > st->cap) {
				size_t ncap = st->cap ? st->cap : 8192;
				unsigned char *nb;
				while (ncap < st->len + *upload_data_size)
					ncap *= 2;
				if (!(nb = realloc(st->buf, ncap)))
					return MHD_NO;
				st->buf = nb;
				st->cap = ncap;
			}
			memcpy(st->buf + st->len, upload_data, *upload_data_size);
			st->len += *upload_data_size;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (st->too_large)
		return send_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
	{
		struct http_request req = {.conn = c, .method = method, .url = url, .body = st->buf, .body_len = st->len,
					   .peer = peer};
		struct http_reply reply = {0};
		enum MHD_Result ret;
		struct timespec t0;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		peer_text(c, peer, sizeof peer);
		s->route(s->cls, &req, &reply);
		ret = send_reply(c, &reply);
		char path[256];
		log_debug("event=http method=%s path=\"%s\" status=%u bytes_in=%zu bytes_out=%zu ms=%.2f peer=%s error=%s",
			  method, log_value(url, path, sizeof path), reply.status, st->len, reply.len, elapsed(&t0) * 1000.0, peer,
			  reply.error ? reply.error : "-");
		if (s->cleanup)
			s->cleanup(s->cls, &reply);
		return ret;
	}
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct req_state *st = *con_cls;
	(void)cls, (void)c, (void)toe;
	if (st) {
		free(st->buf);
		free(st);
		*con_cls = NULL;
	}
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;
	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	for (char *p = msg; *p; p++)
		if (*p == '"')
			*p = '\'';
	log_warn("event=httpd msg=\"%s\"", msg);
}

/* Parses host:port or [v6]:port into a socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen)
{
	char host[256];
	const char *colon, *port;
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	size_t hl;

	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':')
			return -1;
		hl = (size_t)(close - listen - 1);
		if (hl >= sizeof host)
			return -1;
		memcpy(host, listen + 1, hl);
		port = close + 2;
	} else {
		if (!(colon = strrchr(listen, ':')))
			return -1;
		hl = (size_t)(colon - listen);
		if (hl >= sizeof host)
			return -1;
		memcpy(host, listen, hl);
		port = colon + 1;
	}
	host[hl] = '\0';
	if (!*port || getaddrinfo(hl ? host : NULL, port, &hints, &ai) != 0)
		return -1;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sslen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

struct http_server *http_server_start(const struct http_server_opts *o, http_route_fn route, http_cleanup_fn cleanup,
				      void *cls, char *err, size_t errlen)
{
	struct http_server *s = calloc(1, sizeof *s);
	struct sockaddr_storage ss;
	socklen_t sslen;
	unsigned workers = o->workers;
	const union MHD_DaemonInfo *di;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (parse_listen(o->listen, &ss, &sslen) < 0) {
		snprintf(err, errlen, "listen = %s: expected host:port with a numeric address", o->listen);
		free(s);
		return NULL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		workers = n > 0 ? (unsigned)n : 1;
	}
	s->route = route;
	s->cleanup = cleanup;
	s->precheck = o->precheck;
	s->cls = cls;
	s->max_body = o->max_body_bytes;
	s->body_timeout = o->body_timeout_seconds;
	s->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, workers, MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout_seconds, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
	if (!s->daemon) {
		snprintf(err, errlen, "cannot listen on %s (address in use, or not permitted?)", o->listen);
		free(s);
		return NULL;
	}
	(void)sslen;
	di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : 0;
	return s;
}

unsigned http_server_port(const struct http_server *s) { return s->port; }

void http_server_stop(struct http_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon);
	free(s);
}

const char *http_query_arg(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}
