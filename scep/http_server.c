/* libmicrohttpd listener with size and time limits on every request. */
#include "mdmid/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "mdmid/client_addr.h"
#include "mdmid/log.h"
#include "mdmid/metrics.h"

/* Query arguments and headers copied out of a connection, so that a worker
 * thread never calls into libmicrohttpd for a suspended connection. */
struct http_kv {
	enum MHD_ValueKind kind;
	char *key, *value;
};

/* A request handed to the worker pool: its connection is suspended until
 * the reply is ready. Owned by the request's req_state. */
struct job {
	struct job *next;
	struct MHD_Connection *conn;
	char *method, *url;
	char peer[INET6_ADDRSTRLEN + 1];
	struct http_kv *kv;
	size_t nkv, kv_cap;
	const unsigned char *body; /* the req_state's: it outlives the job's processing */
	size_t body_len;
	struct http_reply reply;
	struct timespec t0;
	bool done;             /* reply filled: the connection was resumed */
};

struct http_server {
	struct MHD_Daemon *daemon;
	http_route_fn route;
	http_cleanup_fn cleanup;
	http_precheck_fn precheck;
	http_defer_fn defer;
	void *cls;
	size_t max_body;
	unsigned body_timeout;
	unsigned port;
	struct proxy_list proxies; /* trusted_proxies: whose X-Forwarded-For counts */
	/* The worker pool (defer set): a FIFO of jobs, served in arrival order
	 * so that no connection waits behind a busy thread's backlog. */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job *head, *tail;
	bool stopping;
	pthread_t *threads;
	unsigned nthreads;
};

/* Per-request state, from the headers to the completion callback. */
struct req_state {
	unsigned char *buf;
	size_t len, cap;
	struct timespec start;
	bool too_large;        /* the body passed the limit: 413 at its end */
	size_t discarded;      /* bytes dropped since */
	bool answered;         /* a reply was queued before the body */
	struct job *job;       /* handed to the worker pool */
};

static double elapsed(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/* Keeps the last X-Forwarded-For header: a proxy that adds its own line
 * (rather than replacing the client's) puts it last. */
static enum MHD_Result last_xff(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	if (key && value && !strcasecmp(key, "X-Forwarded-For"))
		*(const char **)cls = value;
	return MHD_YES;
}

/* The client's address: the TCP peer's, or behind a trusted proxy the one
 * it names in X-Forwarded-For (client_addr.h). */
static void peer_text(const struct http_server *s, struct MHD_Connection *c, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char direct[INET6_ADDRSTRLEN + 1] = "-";
	const char *xff = NULL;

	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr, direct,
			  sizeof direct);
	else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)ci->client_addr)->sin6_addr, direct,
			  sizeof direct);
	snprintf(buf, len, "%s", direct);
	if (!s->proxies.n)
		return;
	MHD_get_connection_values(c, MHD_HEADER_KIND, last_xff, &xff);
	client_addr_resolve(&s->proxies, direct, xff, buf, len);
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

static void access_log(const char *method, const char *url, const struct http_reply *reply, size_t bytes_in,
		       const struct timespec *t0, const char *peer)
{
	char path[256];
	log_debug("event=http method=%s path=\"%s\" status=%u bytes_in=%zu bytes_out=%zu ms=%.2f peer=%s error=%s",
		  method, log_value(url, path, sizeof path), reply->status, bytes_in, reply->len, elapsed(t0) * 1000.0, peer,
		  reply->error ? reply->error : "-");
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->nkv; i++) {
		free(j->kv[i].key);
		free(j->kv[i].value);
	}
	free(j->kv);
	free(j->method);
	free(j->url);
	free(j);
}

static enum MHD_Result copy_kv(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct job *j = cls;
	if (j->nkv == j->kv_cap) {
		size_t cap = j->kv_cap ? 2 * j->kv_cap : 8;
		struct http_kv *kv = realloc(j->kv, cap * sizeof *kv);
		if (!kv)
			return MHD_NO;
		j->kv = kv;
		j->kv_cap = cap;
	}
	j->kv[j->nkv].kind = kind;
	j->kv[j->nkv].key = strdup(key ? key : "");
	j->kv[j->nkv].value = value ? strdup(value) : NULL;
	if (!j->kv[j->nkv].key || (value && !j->kv[j->nkv].value)) {
		free(j->kv[j->nkv].key);
		free(j->kv[j->nkv].value);
		return MHD_NO;
	}
	j->nkv++;
	return MHD_YES;
}

/* Suspends the connection and queues the request for a worker; the reply
 * is sent when the worker resumes it (on_request, st->job). */
static enum MHD_Result defer_request(struct http_server *s, struct MHD_Connection *c, struct req_state *st,
				     const struct http_request *req, const struct timespec *t0)
{
	struct job *j = calloc(1, sizeof *j);
	int n;

	if (!j || !(j->method = strdup(req->method)) || !(j->url = strdup(req->url)))
		goto fail;
	snprintf(j->peer, sizeof j->peer, "%s", req->peer);
	n = MHD_get_connection_values(c, MHD_HEADER_KIND, copy_kv, j);
	if (n < 0 || (size_t)n != j->nkv)
		goto fail;
	n = MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, copy_kv, j);
	if (n < 0 || j->nkv < (size_t)n)
		goto fail;
	j->conn = c;
	j->t0 = *t0;
	j->body = st->buf;
	j->body_len = st->len;
	pthread_mutex_lock(&s->lock);
	if (s->stopping) {
		pthread_mutex_unlock(&s->lock);
		job_free(j);
		return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n");
	}
	st->job = j;
	MHD_suspend_connection(c);
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	return MHD_YES;
fail:
	job_free(j);
	return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
}

/* A worker: takes the oldest job, runs the route, resumes its connection.
 * At shutdown the queue is drained first. */
static void *worker_main(void *arg)
{
	struct http_server *s = arg;

	for (;;) {
		struct job *j;
		pthread_mutex_lock(&s->lock);
		while (!s->head && !s->stopping)
			pthread_cond_wait(&s->wake, &s->lock);
		if (!(j = s->head)) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		s->head = j->next;
		if (!s->head)
			s->tail = NULL;
		pthread_mutex_unlock(&s->lock);
		{
			struct http_request req = {.conn = NULL, .method = j->method, .url = j->url, .body = j->body,
						   .body_len = j->body_len, .peer = j->peer, .kv = j->kv, .nkv = j->nkv};
			s->route(s->cls, &req, &j->reply);
		}
		pthread_mutex_lock(&s->lock);
		j->done = true;
		pthread_mutex_unlock(&s->lock);
		MHD_resume_connection(j->conn);
	}
	return NULL;
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
			peer_text(s, c, peer, sizeof peer);
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
				peer_text(s, c, peer, sizeof peer);
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
			peer_text(s, c, peer, sizeof peer);
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
				peer_text(s, c, peer, sizeof peer);
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
	if (st->job) {
		/* Called again after a worker resumed the connection. */
		enum MHD_Result ret;
		if (!st->job->done) /* resumed by the shutdown without a reply */
			return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n");
		ret = send_reply(c, &st->job->reply);
		access_log(st->job->method, st->job->url, &st->job->reply, st->len, &st->job->t0, st->job->peer);
		if (s->cleanup)
			s->cleanup(s->cls, &st->job->reply);
		memset(&st->job->reply, 0, sizeof st->job->reply);
		return ret;
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
		peer_text(s, c, peer, sizeof peer);
		if (s->defer && s->defer(s->cls, &req))
			return defer_request(s, c, st, &req, &t0);
		s->route(s->cls, &req, &reply);
		ret = send_reply(c, &reply);
		access_log(method, url, &reply, st->len, &t0, peer);
		if (s->cleanup)
			s->cleanup(s->cls, &reply);
		return ret;
	}
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct req_state *st = *con_cls;
	(void)c, (void)toe;
	if (st) {
		/* A reply a worker made that was never sent (the daemon stopped). */
		if (st->job && st->job->done && s->cleanup && (st->job->reply.status || st->job->reply.priv))
			s->cleanup(s->cls, &st->job->reply);
		job_free(st->job);
		free(st->buf);
		free(st);
		*con_cls = NULL;
	}
}

/* Open connections for /metrics. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	(void)cls, (void)c, (void)socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		metrics_connection_opened();
	else if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
		metrics_connection_closed();
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

static void stop_workers(struct http_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	free(s->threads);
	s->threads = NULL;
	s->nthreads = 0;
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
	s->defer = o->defer;
	if (o->trusted_proxies)
		s->proxies = *o->trusted_proxies;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	if (s->defer) {
		/* One thread does the network I/O for every connection; the work
		 * runs on `workers` threads from one FIFO queue. */
		flags |= MHD_ALLOW_SUSPEND_RESUME;
		if (!(s->threads = calloc(workers, sizeof *s->threads))) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		for (; s->nthreads < workers; s->nthreads++)
			if (pthread_create(&s->threads[s->nthreads], NULL, worker_main, s) != 0) {
				snprintf(err, errlen, "cannot start worker threads");
				goto fail;
			}
	}
	s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
				     s->defer ? 1u : workers, MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
				     MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout_seconds, MHD_OPTION_NOTIFY_COMPLETED,
				     on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_END);
	if (!s->daemon) {
		snprintf(err, errlen, "cannot listen on %s (address in use, or not permitted?)", o->listen);
		goto fail;
	}
	(void)sslen;
	di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : 0;
	return s;
fail:
	stop_workers(s);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}

unsigned http_server_port(const struct http_server *s) { return s->port; }

void http_server_stop(struct http_server *s)
{
	if (!s)
		return;
	/* The workers finish the queued requests and resume their connections;
	 * then the daemon closes every connection. */
	stop_workers(s);
	MHD_stop_daemon(s->daemon);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const char *kv_lookup(const struct http_request *req, enum MHD_ValueKind kind, const char *name, bool nocase)
{
	for (size_t i = 0; i < req->nkv; i++)
		if (req->kv[i].kind == kind && (nocase ? !strcasecmp(req->kv[i].key, name) : !strcmp(req->kv[i].key, name)))
			return req->kv[i].value;
	return NULL;
}

const char *http_query_arg(const struct http_request *req, const char *name)
{
	return req->conn ? MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name)
			 : kv_lookup(req, MHD_GET_ARGUMENT_KIND, name, false);
}

const char *http_header(const struct http_request *req, const char *name)
{
	return req->conn ? MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name)
			 : kv_lookup(req, MHD_HEADER_KIND, name, true);
}
