/*
 * scep_load: a SCEP enrollment load generator.
 *
 * It works in three phases, and only the middle one is timed:
 *   1. build N distinct PKCSReq messages (unique transaction IDs and subjects;
 *      requester keys drawn from a small pool, so key generation stays out of
 *      the measurement), on every core;
 *   2. send them over C concurrent keep-alive connections from one thread
 *      with epoll, each message exactly once, recording each latency; the
 *      client does nothing else then, so it takes little CPU from the server;
 *   3. check the replies: every reply's signature, status, nonces and
 *      transaction ID (public-key work only), the envelope of all of them or
 *      of a random sample (a private-key operation each: the certificate must
 *      carry the CSR's key and subject, serials must be unique), and, given a
 *      database, that the rows the run created equal the successes, with
 *      unique serials and the fingerprints of the certificates received.
 *
 * The server's CPU time and peak RSS come from /proc/<pid> (--server-pid).
 * Output: human-readable lines on stderr, and one `result key=value ...`
 * line on stdout for scripts. Exit 0 when every reply was a valid SUCCESS
 * (and the database agrees), 1 otherwise, 2 on bad usage.
 */
#define _GNU_SOURCE /* strcasestr */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <libpq-fe.h>

#include "scep_client.h"

struct opts {
	const char *host, *port, *path;
	long n, conns;
	int keys;
	const char *challenge;
	const char *cipher;    /* aes128, aes256, des3 */
	const char *md;        /* sha256, sha1 */
	double sample_pct;     /* envelope checks: 100 = all */
	long sample_min;
	const char *db;        /* conninfo; NULL: no SQL check */
	long server_pid;
	long db_pid;           /* PostgreSQL postmaster: its children's CPU is reported too */
	const char *label;
	const char *log_path;  /* client-side log of received certificates */
	int allow_partial;     /* connection errors are counted, not fatal */
	double timeout_s;      /* per request */
};

struct msg {
	unsigned char *der;
	size_t len;
	int key;
	unsigned char nonce[16];
	char tid[48];
	char cn[48];
	/* filled by the run */
	unsigned char *resp;
	size_t resp_len;
	int http_status;
	int error;             /* connection error or timeout */
	double latency_ms;
	/* filled by validation */
	int status;            /* pkiStatus, -1 unknown */
	int valid;             /* outer checks passed */
	int checked;           /* envelope checked */
	int cert_ok;           /* envelope decrypted, certificate matches */
	int echo;              /* the reply's senderNonce is ours echoed, not fresh */
	int cipher_nid, md_nid;
	char serial[48];
	unsigned char sha256[32];
};

struct pool_key {
	EVP_PKEY *key;
	X509 *cert;            /* self-signed signer certificate */
};

static struct opts O = {
	.host = "127.0.0.1", .port = "8080", .path = "/scep", .n = 1000, .conns = 8, .keys = 16,
	.cipher = "aes256", .md = "sha256", .sample_pct = 10, .sample_min = 200, .timeout_s = 30,
};
static struct msg *M;
static struct pool_key *K;
static STACK_OF(X509) *CAS, *RCPT;
static X509 *RESPONDER;
static char RUN_ID[17];

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("scep_load: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int nthreads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/* ---- HTTP over plain sockets ---- */

static int connect_server(void)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int fd, one = 1;
	if (getaddrinfo(O.host, O.port, &hints, &ai) != 0)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* An HTTP response read incrementally: status, headers, then a body of
 * Content-Length bytes or chunked. */
struct resp_parser {
	unsigned char *buf;
	size_t len, cap;
	size_t hdr_end;        /* 0 until the blank line is seen */
	int status;
	long content_length;   /* -1 unknown */
	int chunked, close_after;
	unsigned char *body;   /* decoded body, malloc'd */
	size_t body_len;
};

static void rp_reset(struct resp_parser *p)
{
	free(p->buf);
	free(p->body);
	memset(p, 0, sizeof *p);
	p->content_length = -1;
}

static void rp_append(struct resp_parser *p, const void *data, size_t n)
{
	if (p->len + n > p->cap) {
		size_t cap = p->cap ? p->cap : 16384;
		while (cap < p->len + n)
			cap *= 2;
		if (!(p->buf = realloc(p->buf, cap)))
			die("out of memory");
		p->cap = cap;
	}
	memcpy(p->buf + p->len, data, n);
	p->len += n;
}

static const char *find_crlf2(const unsigned char *b, size_t n)
{
	for (size_t i = 0; i + 3 < n; i++)
		if (b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n')
			return (const char *)b + i;
	return NULL;
}

static void rp_headers(struct resp_parser *p)
{
	char *h = strndup((const char *)p->buf, p->hdr_end);
	char *save = NULL, *line;
	if (!h)
		die("out of memory");
	line = strtok_r(h, "\r\n", &save);
	if (line && sscanf(line, "HTTP/%*d.%*d %d", &p->status) != 1)
		p->status = -1;
	if (line && strncmp(line, "HTTP/1.0", 8) == 0)
		p->close_after = 1;
	while ((line = strtok_r(NULL, "\r\n", &save))) {
		if (!strncasecmp(line, "Content-Length:", 15))
			p->content_length = strtol(line + 15, NULL, 10);
		else if (!strncasecmp(line, "Transfer-Encoding:", 18) && strcasestr(line, "chunked"))
			p->chunked = 1;
		else if (!strncasecmp(line, "Connection:", 11) && strcasestr(line, "close"))
			p->close_after = 1;
	}
	free(h);
}

/* 1: complete, 0: need more, -1: malformed. */
static int rp_complete(struct resp_parser *p)
{
	if (!p->hdr_end) {
		const char *e = find_crlf2(p->buf, p->len);
		if (!e)
			return p->len > 65536 ? -1 : 0;
		p->hdr_end = (size_t)(e - (const char *)p->buf) + 4;
		rp_headers(p);
	}
	if (p->chunked) {
		/* Decode from the start each time: replies are small. */
		size_t off = p->hdr_end, out = 0;
		unsigned char *body = malloc(p->len + 1);
		if (!body)
			die("out of memory");
		for (;;) {
			const char *nl = memchr(p->buf + off, '\n', p->len - off);
			unsigned long sz;
			if (!nl) {
				free(body);
				return 0;
			}
			sz = strtoul((const char *)p->buf + off, NULL, 16);
			off = (size_t)(nl - (const char *)p->buf) + 1;
			if (sz == 0) {
				/* trailers end with an empty line */
				if (p->len - off < 2) {
					free(body);
					return 0;
				}
				break;
			}
			if (p->len - off < sz + 2) {
				free(body);
				return 0;
			}
			memcpy(body + out, p->buf + off, sz);
			out += sz;
			off += sz + 2;
		}
		free(p->body);
		p->body = body;
		p->body_len = out;
		return 1;
	}
	if (p->content_length < 0)
		return -1; /* close-delimited bodies are not supported */
	if (p->len - p->hdr_end < (size_t)p->content_length)
		return 0;
	free(p->body);
	if (!(p->body = malloc((size_t)p->content_length + 1)))
		die("out of memory");
	memcpy(p->body, p->buf + p->hdr_end, (size_t)p->content_length);
	p->body_len = (size_t)p->content_length;
	return 1;
}

/* A blocking GET, for GetCACert. */
static unsigned char *http_get(const char *query, size_t *len, int *status)
{
	struct resp_parser p;
	char req[512];
	int fd = connect_server(), r = 0;
	memset(&p, 0, sizeof p);
	rp_reset(&p);
	if (fd < 0)
		die("cannot connect to %s:%s", O.host, O.port);
	snprintf(req, sizeof req, "GET %s?%s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n", O.path, query, O.host,
		 O.port);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		die("write: %s", strerror(errno));
	while (r == 0) {
		unsigned char b[8192];
		ssize_t k = read(fd, b, sizeof b);
		if (k <= 0)
			die("GET %s: connection closed early", query);
		rp_append(&p, b, (size_t)k);
		r = rp_complete(&p);
	}
	close(fd);
	if (r < 0)
		die("GET %s: malformed response", query);
	*status = p.status;
	*len = p.body_len;
	{
		unsigned char *body = p.body;
		p.body = NULL;
		rp_reset(&p);
		return body;
	}
}

/* ---- phase 1: keys and messages ---- */

struct range {
	long from, to;
	int err;
};

static void *gen_keys(void *arg)
{
	struct range *r = arg;
	for (long i = r->from; i < r->to; i++) {
		K[i].key = EVP_RSA_gen(2048);
		if (!K[i].key || !(K[i].cert = scepc_self_signed(K[i].key, "scep_load requester", EVP_sha256())))
			r->err = 1;
	}
	return NULL;
}

static const EVP_CIPHER *pick_cipher(void)
{
	if (!strcmp(O.cipher, "aes128"))
		return EVP_aes_128_cbc();
	if (!strcmp(O.cipher, "aes256"))
		return EVP_aes_256_cbc();
	if (!strcmp(O.cipher, "des3"))
		return EVP_des_ede3_cbc();
	die("--cipher: aes128, aes256 or des3");
	return NULL;
}

static const EVP_MD *pick_md(void)
{
	if (!strcmp(O.md, "sha256"))
		return EVP_sha256();
	if (!strcmp(O.md, "sha1"))
		return EVP_sha1();
	if (!strcmp(O.md, "sha512"))
		return EVP_sha512();
	die("--md: sha1, sha256 or sha512");
	return NULL;
}

static void *gen_msgs(void *arg)
{
	struct range *r = arg;
	const EVP_CIPHER *cipher = pick_cipher();
	const EVP_MD *md = pick_md();
	for (long i = r->from; i < r->to; i++) {
		struct msg *m = &M[i];
		struct scepc_req_opts o;
		struct scepc_req_info info;
		X509 *signer = NULL;
		memset(&o, 0, sizeof o);
		m->key = (int)(i % O.keys);
		/* The run ID keeps subjects and transaction IDs unique across runs. */
		snprintf(m->cn, sizeof m->cn, "%.8s-%08lX%08lX", RUN_ID, (unsigned long)(i >> 32) & 0xffffffffUL,
			 (unsigned long)i & 0xffffffffUL);
		snprintf(m->tid, sizeof m->tid, "load-%s-%ld", RUN_ID, i);
		o.message_type = SCEPC_MSG_PKCSREQ;
		o.key = K[m->key].key;
		o.signer_cert = K[m->key].cert;
		o.subject_cn = m->cn;
		o.challenge = O.challenge;
		o.recipients = RCPT;
		o.cipher = cipher;
		o.md = md;
		o.transaction_id = m->tid;
		if (!scepc_build_request(&o, &m->der, &m->len, &signer, &info)) {
			r->err = 1;
			return NULL;
		}
		X509_free(signer);
		memcpy(m->nonce, info.sender_nonce, sizeof m->nonce);
	}
	return NULL;
}

static void run_parallel(void *(*fn)(void *), long total, const char *what)
{
	int t = nthreads();
	pthread_t th[64];
	struct range r[64];
	if (t > 64)
		t = 64;
	if (total < t)
		t = (int)(total > 0 ? total : 1);
	for (int i = 0; i < t; i++) {
		r[i].from = total * i / t;
		r[i].to = total * (i + 1) / t;
		r[i].err = 0;
		if (pthread_create(&th[i], NULL, fn, &r[i]) != 0)
			die("pthread_create");
	}
	for (int i = 0; i < t; i++) {
		pthread_join(th[i], NULL);
		if (r[i].err)
			die("%s failed", what);
	}
}

/* ---- phase 2: the timed run ---- */

struct conn {
	int fd;
	long cur;              /* message index in flight, -1 idle */
	size_t sent;
	char head[512];
	size_t head_len;
	double start;
	struct resp_parser rp;
};

static long next_msg, done_msgs, conn_errors;

static void conn_open(struct conn *c, int ep)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	double t0 = now_s();
	/* With --allow-errors a server that is down (killed, restarting) is
	 * waited for, up to the request timeout: the message is not lost. */
	while ((c->fd = connect_server()) < 0 && O.allow_partial && now_s() - t0 < O.timeout_s) {
		struct timespec pause = {.tv_nsec = 20 * 1000 * 1000};
		nanosleep(&pause, NULL);
	}
	if (c->fd < 0)
		die("cannot connect to %s:%s: %s", O.host, O.port, strerror(errno));
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void conn_close(struct conn *c, int ep)
{
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
}

/* Takes the next message, or leaves the connection idle. */
static void conn_start(struct conn *c, int ep)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	if (next_msg >= O.n) {
		c->cur = -1;
		conn_close(c, ep);
		return;
	}
	if (c->fd < 0)
		conn_open(c, ep);
	else
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->cur = next_msg++;
	c->sent = 0;
	c->head_len = (size_t)snprintf(c->head, sizeof c->head,
				       "POST %s?operation=PKIOperation HTTP/1.1\r\nHost: %s:%s\r\n"
				       "Content-Type: application/x-pki-message\r\nContent-Length: %zu\r\n\r\n",
				       O.path, O.host, O.port, M[c->cur].len);
	rp_reset(&c->rp);
	c->start = now_s();
}

static void conn_fail(struct conn *c, int ep, const char *why)
{
	struct msg *m = &M[c->cur];
	if (!O.allow_partial)
		die("request %ld: %s", c->cur, why);
	m->error = 1;
	m->latency_ms = (now_s() - c->start) * 1000.0;
	conn_errors++;
	done_msgs++;
	conn_close(c, ep);
	conn_start(c, ep);
}

static void conn_io(struct conn *c, int ep, uint32_t events)
{
	struct msg *m = &M[c->cur];
	if (events & EPOLLOUT) {
		size_t total = c->head_len + m->len;
		while (c->sent < total) {
			const void *p = c->sent < c->head_len ? (const void *)(c->head + c->sent)
							      : (const void *)(m->der + (c->sent - c->head_len));
			size_t n = c->sent < c->head_len ? c->head_len - c->sent : total - c->sent;
			ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
			if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (k <= 0) {
				conn_fail(c, ep, "send failed");
				return;
			}
			c->sent += (size_t)k;
		}
		if (c->sent == total) {
			struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		}
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (;;) {
			unsigned char b[16384];
			ssize_t k = recv(c->fd, b, sizeof b, 0);
			int r;
			if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			if (k <= 0) {
				conn_fail(c, ep, k == 0 ? "connection closed by the server" : strerror(errno));
				return;
			}
			rp_append(&c->rp, b, (size_t)k);
			r = rp_complete(&c->rp);
			if (r < 0) {
				conn_fail(c, ep, "malformed HTTP response");
				return;
			}
			if (r == 1) {
				int close_after = c->rp.close_after;
				m->latency_ms = (now_s() - c->start) * 1000.0;
				m->http_status = c->rp.status;
				m->resp = c->rp.body;
				m->resp_len = c->rp.body_len;
				c->rp.body = NULL;
				done_msgs++;
				if (O.log_path == NULL) {
					/* nothing to log while timed */
				}
				if (close_after)
					conn_close(c, ep);
				conn_start(c, ep);
				return;
			}
		}
	}
}

static void run(double *elapsed)
{
	int ep = epoll_create1(0);
	struct conn *cs = calloc((size_t)O.conns, sizeof *cs);
	double t0;
	if (ep < 0 || !cs)
		die("epoll_create1 or calloc failed");
	t0 = now_s();
	for (long i = 0; i < O.conns; i++) {
		cs[i].fd = -1;
		memset(&cs[i].rp, 0, sizeof cs[i].rp);
		conn_start(&cs[i], ep);
	}
	while (done_msgs < O.n) {
		struct epoll_event evs[256];
		int k = epoll_wait(ep, evs, 256, 1000);
		if (k < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < k; i++)
			conn_io(evs[i].data.ptr, ep, evs[i].events);
		/* Per-request deadline: a hung server must not hang the benchmark. */
		if (k == 0 || (done_msgs & 255) == 0) {
			double t = now_s();
			for (long i = 0; i < O.conns; i++)
				if (cs[i].cur >= 0 && cs[i].fd >= 0 && t - cs[i].start > O.timeout_s)
					conn_fail(&cs[i], ep, "timed out");
		}
	}
	*elapsed = now_s() - t0;
	for (long i = 0; i < O.conns; i++) {
		conn_close(&cs[i], ep);
		rp_reset(&cs[i].rp);
	}
	free(cs);
	close(ep);
}

/* ---- phase 3: validation ---- */

static void *validate(void *arg)
{
	struct range *r = arg;
	for (long i = r->from; i < r->to; i++) {
		struct msg *m = &M[i];
		struct scepc_rep rep;
		m->status = -1;
		if (m->error || m->http_status != 200 || !m->resp)
			continue;
		/* The envelope is opened only for the sample: `checked` was set
		 * before the threads started. */
		scepc_parse_reply(m->resp, m->resp_len, RESPONDER, m->checked ? K[m->key].key : NULL,
				  m->checked ? K[m->key].cert : NULL, &rep);
		m->status = rep.pki_status;
		m->cipher_nid = rep.cipher_nid;
		m->md_nid = rep.digest_nid;
		m->echo = rep.sender_nonce_len == sizeof m->nonce && !memcmp(rep.sender_nonce, m->nonce, sizeof m->nonce);
		m->valid = rep.signature_ok && rep.message_type == SCEPC_MSG_CERTREP && rep.attr_type_errors == 0 &&
			   rep.transaction_id && !strcmp(rep.transaction_id, m->tid) &&
			   rep.recipient_nonce_len == sizeof m->nonce &&
			   !memcmp(rep.recipient_nonce, m->nonce, sizeof m->nonce) && rep.sender_nonce_len > 0;
		if (m->checked && rep.issued) {
			char cn[64] = "";
			unsigned char *der = NULL;
			int dlen;
			BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(rep.issued), NULL);
			char *hex = bn ? BN_bn2hex(bn) : NULL;
			X509_NAME_get_text_by_NID(X509_get_subject_name(rep.issued), NID_commonName, cn, sizeof cn);
			/* scepc_parse_reply only reports a certificate whose key is the
			 * requester's; the subject ties it to this very message. */
			m->cert_ok = rep.decrypt_ok && !strcmp(cn, m->cn) && hex && strlen(hex) < sizeof m->serial;
			if (hex) {
				for (char *p = hex; *p; p++)
					*p = (char)tolower((unsigned char)*p);
				snprintf(m->serial, sizeof m->serial, "%s", hex);
			}
			if ((dlen = i2d_X509(rep.issued, &der)) > 0)
				EVP_Digest(der, (size_t)dlen, m->sha256, NULL, EVP_sha256(), NULL);
			else
				m->cert_ok = 0;
			OPENSSL_free(der);
			OPENSSL_free(hex);
			BN_free(bn);
		}
		scepc_rep_free(&rep);
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static double pct(const double *sorted, long n, double p)
{
	long i;
	if (n == 0)
		return 0;
	i = (long)(p / 100.0 * (double)n + 0.999999) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return sorted[i];
}

/* ---- /proc ---- */

static int proc_cpu(long pid, double *cpu_s)
{
	char path[64], buf[2048], *p;
	FILE *f;
	unsigned long ut, st;
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	if (!fgets(buf, sizeof buf, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	/* Fields after the command name, which may contain spaces. */
	if (!(p = strrchr(buf, ')')))
		return -1;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	*cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

static long proc_kib(long pid, const char *field)
{
	char path[64], line[256];
	FILE *f;
	long v = -1;
	size_t fl = strlen(field);
	snprintf(path, sizeof path, "/proc/%ld/status", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, field, fl) && line[fl] == ':')
			v = strtol(line + fl + 1, NULL, 10);
	fclose(f);
	return v;
}

/* CPU time of every child of ppid, by pid, into (pids, cpu); returns how many. */
static long children_cpu(long ppid, long *pids, double *cpu, long max)
{
	long n = 0;
	FILE *f;
	char path[64], buf[2048];
	/* /proc/<ppid>/task/<ppid>/children lists the direct children. */
	snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", ppid, ppid);
	if (!(f = fopen(path, "r")))
		return 0;
	if (fgets(buf, sizeof buf, f)) {
		char *save = NULL;
		for (char *t = strtok_r(buf, " \n", &save); t && n < max; t = strtok_r(NULL, " \n", &save)) {
			pids[n] = atol(t);
			if (proc_cpu(pids[n], &cpu[n]) == 0)
				n++;
		}
	}
	fclose(f);
	return n;
}

static long db_pids0[512];
static double db_cpu0[512];
static long db_n0;

static void db_cpu_start(void)
{
	if (O.db_pid)
		db_n0 = children_cpu(O.db_pid, db_pids0, db_cpu0, 512);
}

/* CPU seconds PostgreSQL's processes spent since db_cpu_start, -1 without --db-pid. */
static double db_cpu_since(void)
{
	long pids[512];
	double cpu[512], total = 0;
	long n;
	if (!O.db_pid)
		return -1;
	n = children_cpu(O.db_pid, pids, cpu, 512);
	for (long i = 0; i < n; i++) {
		double before = 0;
		for (long j = 0; j < db_n0; j++)
			if (db_pids0[j] == pids[i])
				before = db_cpu0[j];
		total += cpu[i] - before;
	}
	return total;
}

/* ---- the SQL cross-check ---- */

struct dbcheck {
	long rows, distinct_serials, fp_match, fp_mismatch, fp_missing;
	int ok;
};

static int db_check(long successes, struct dbcheck *d)
{
	PGconn *c = PQconnectdb(O.db);
	PGresult *r;
	char like[64];
	const char *params[1] = {like};
	memset(d, 0, sizeof *d);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "scep_load: database: %s", PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	snprintf(like, sizeof like, "load-%s-%%", RUN_ID);
	r = PQexecParams(c,
			 "SELECT count(*), count(DISTINCT serial) FROM certificate WHERE transaction_id LIKE $1",
			 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "scep_load: database: %s", PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
		return -1;
	}
	d->rows = atol(PQgetvalue(r, 0, 0));
	d->distinct_serials = atol(PQgetvalue(r, 0, 1));
	PQclear(r);
	/* Fingerprints of the certificates received, row by row. */
	r = PQexecParams(c,
			 "SELECT transaction_id, serial, encode(sha256, 'hex') FROM certificate "
			 "WHERE transaction_id LIKE $1",
			 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		for (int i = 0; i < PQntuples(r); i++) {
			const char *tid = PQgetvalue(r, i, 0);
			const char *dash = strrchr(tid, '-');
			long idx = dash ? strtol(dash + 1, NULL, 10) : -1;
			if (idx < 0 || idx >= O.n)
				continue;
			struct msg *m = &M[idx];
			if (!m->checked || !m->cert_ok)
				continue;
			char hex[65];
			for (int j = 0; j < 32; j++)
				snprintf(hex + 2 * j, 3, "%02x", m->sha256[j]);
			if (!strcmp(hex, PQgetvalue(r, i, 2)) && !strcmp(m->serial, PQgetvalue(r, i, 1)))
				d->fp_match++;
			else
				d->fp_mismatch++;
		}
	}
	PQclear(r);
	PQfinish(c);
	for (long i = 0; i < O.n; i++)
		if (M[i].checked && M[i].cert_ok)
			d->fp_missing++;
	d->fp_missing -= d->fp_match + d->fp_mismatch;
	d->ok = d->rows == successes && d->distinct_serials == d->rows && d->fp_mismatch == 0 && d->fp_missing == 0;
	return 0;
}

/* ---- main ---- */

static void usage(void)
{
	fputs("usage: scep_load --url http://HOST:PORT/PATH [-n N] [-c C] [--challenge X] [--keys K]\n"
	      "                 [--cipher aes128|aes256|des3] [--md sha256|sha1] [--sample PCT] [--sample-min N]\n"
	      "                 [--db CONNINFO] [--server-pid PID] [--db-pid POSTMASTER_PID] [--label TEXT] [--log FILE] [--allow-errors]\n"
	      "                 [--timeout SECONDS]\n"
	      "Sends N PKCSReqs over C keep-alive connections and checks the replies; see the top of\n"
	      "tests/bench/scep_load.c. The challenge may also come from SCEP_LOAD_CHALLENGE.\n",
	      stderr);
	exit(2);
}

static void parse_url(const char *url)
{
	static char host[256], port[16], path[256];
	const char *p, *slash, *colon;
	if (strncmp(url, "http://", 7) != 0)
		usage();
	p = url + 7;
	slash = strchr(p, '/');
	snprintf(path, sizeof path, "%s", slash ? slash : "/scep");
	colon = memchr(p, ':', slash ? (size_t)(slash - p) : strlen(p));
	if (colon) {
		snprintf(host, sizeof host, "%.*s", (int)(colon - p), p);
		snprintf(port, sizeof port, "%.*s", (int)((slash ? slash : p + strlen(p)) - colon - 1), colon + 1);
	} else {
		snprintf(host, sizeof host, "%.*s", (int)(slash ? (size_t)(slash - p) : strlen(p)), p);
		snprintf(port, sizeof port, "80");
	}
	O.host = host, O.port = port, O.path = path;
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && v && ++i)
		if (ARG("--url"))
			parse_url(v);
		else if (ARG("-n"))
			O.n = atol(v);
		else if (ARG("-c"))
			O.conns = atol(v);
		else if (ARG("--challenge"))
			O.challenge = v;
		else if (ARG("--keys"))
			O.keys = atoi(v);
		else if (ARG("--cipher"))
			O.cipher = v;
		else if (ARG("--md"))
			O.md = v;
		else if (ARG("--sample"))
			O.sample_pct = atof(v);
		else if (ARG("--sample-min"))
			O.sample_min = atol(v);
		else if (ARG("--db"))
			O.db = v;
		else if (ARG("--server-pid"))
			O.server_pid = atol(v);
		else if (ARG("--db-pid"))
			O.db_pid = atol(v);
		else if (ARG("--label"))
			O.label = v;
		else if (ARG("--log"))
			O.log_path = v;
		else if (ARG("--timeout"))
			O.timeout_s = atof(v);
		else if (!strcmp(a, "--allow-errors"))
			O.allow_partial = 1;
		else
			usage();
#undef ARG
	}
	if (!O.challenge)
		O.challenge = getenv("SCEP_LOAD_CHALLENGE");
	if (O.n < 1 || O.conns < 1 || O.conns > 10000 || O.keys < 1 || O.keys > 1024 || O.sample_pct < 0 ||
	    O.sample_pct > 100)
		usage();
	if (O.conns > O.n)
		O.conns = O.n;
}

/* The client-side log: one line per certificate received (transaction ID,
 * serial when checked), for comparing with the table after a crash. */
static void write_log(void)
{
	FILE *f;
	if (!O.log_path)
		return;
	if (!(f = fopen(O.log_path, "w")))
		die("%s: %s", O.log_path, strerror(errno));
	for (long i = 0; i < O.n; i++)
		if (M[i].status == SCEPC_STATUS_SUCCESS && M[i].valid)
			fprintf(f, "%s %s\n", M[i].tid, M[i].cert_ok ? M[i].serial : "-");
	fclose(f);
}

int main(int argc, char **argv)
{
	OSSL_PROVIDER *legacy = NULL, *deflt = NULL;
	unsigned char rid[8], *cabody;
	size_t calen;
	int status;
	double gen_s, elapsed, cpu0 = 0, cpu1 = 0, t0, db_cpu;
	long echoes = 0, http_503 = 0, http_other = 0, odd_status = 0;
	int reply_cipher = NID_undef, reply_md = NID_undef;
	long http_ok = 0, successes = 0, failures = 0, pendings = 0, invalid = 0, checked = 0, cert_ok = 0, dup = 0;
	double *lat;
	long nlat = 0;
	struct dbcheck dbc = {0};
	int have_db = 0, exit_code = 0;

	parse_args(argc, argv);
	if (!scepc_init())
		die("scepc_init");
	/* Peers may answer with single DES: reading such replies needs the
	 * legacy provider. */
	deflt = OSSL_PROVIDER_load(NULL, "default");
	legacy = OSSL_PROVIDER_load(NULL, "legacy");
	if (RAND_bytes(rid, sizeof rid) != 1)
		die("RAND_bytes");
	for (int i = 0; i < 8; i++)
		snprintf(RUN_ID + 2 * i, 3, "%02X", rid[i]);

	cabody = http_get("operation=GetCACert", &calen, &status);
	if (status != 200 || !(CAS = scepc_parse_cacert(cabody, calen)))
		die("GetCACert: HTTP %d, no certificate", status);
	free(cabody);
	RESPONDER = scepc_pick_ra(CAS);
	RCPT = sk_X509_new_null();
	if (!RCPT || !sk_X509_push(RCPT, RESPONDER))
		die("out of memory");

	t0 = now_s();
	if (!(K = calloc((size_t)O.keys, sizeof *K)) || !(M = calloc((size_t)O.n, sizeof *M)))
		die("out of memory");
	run_parallel(gen_keys, O.keys, "key generation");
	run_parallel(gen_msgs, O.n, "building the requests");
	gen_s = now_s() - t0;
	fprintf(stderr, "scep_load: %ld requests built in %.1f s (%d RSA-2048 keys, %s, %s), run %s\n", O.n, gen_s, O.keys,
		O.cipher, O.md, RUN_ID);

	if (O.server_pid && proc_cpu(O.server_pid, &cpu0) < 0)
		die("/proc/%ld: no such process", O.server_pid);
	db_cpu_start();
	run(&elapsed);
	if (O.server_pid && proc_cpu(O.server_pid, &cpu1) < 0)
		cpu1 = cpu0 = -1;
	db_cpu = db_cpu_since();

	/* The sample whose envelopes are opened. */
	{
		long want = (long)((double)O.n * O.sample_pct / 100.0 + 0.5);
		if (want < O.sample_min)
			want = O.sample_min;
		/* Selection sampling (Knuth's algorithm S): exactly `want` messages,
		 * each equally likely. */
		for (long i = 0, picked = 0; i < O.n && picked < want; i++) {
			unsigned r;
			if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
				die("RAND_bytes");
			if ((double)r / 4294967296.0 * (double)(O.n - i) < (double)(want - picked)) {
				M[i].checked = 1;
				picked++;
			}
		}
	}
	run_parallel(validate, O.n, "validation");

	if (!(lat = malloc((size_t)O.n * sizeof *lat)))
		die("out of memory");
	{
		char **serials = malloc((size_t)O.n * sizeof *serials);
		long ns = 0;
		if (!serials)
			die("out of memory");
		for (long i = 0; i < O.n; i++) {
			struct msg *m = &M[i];
			lat[nlat++] = m->latency_ms;
			if (m->http_status == 200)
				http_ok++;
			else if (m->http_status == 503)
				http_503++;
			else if (!m->error)
				http_other++;
			if (!m->error && m->http_status == 200 && !m->valid)
				invalid++;
			if (m->valid && m->status == SCEPC_STATUS_SUCCESS) {
				successes++;
				/* What the server answered with: the first success tells. */
				if (reply_md == NID_undef) {
					reply_cipher = m->cipher_nid;
					reply_md = m->md_nid;
				}
			} else if (m->valid && m->status == SCEPC_STATUS_FAILURE) {
				failures++;
			} else if (m->valid && m->status == SCEPC_STATUS_PENDING) {
				pendings++;
			} else if (m->valid) {
				odd_status++;
			}
			if (m->valid && m->echo)
				echoes++;
			if (m->checked && m->valid && m->status == SCEPC_STATUS_SUCCESS) {
				checked++;
				if (m->cert_ok) {
					cert_ok++;
					serials[ns++] = m->serial;
				}
			}
		}
		qsort(serials, (size_t)ns, sizeof *serials, cmp_str);
		for (long i = 1; i < ns; i++)
			if (!strcmp(serials[i], serials[i - 1]))
				dup++;
		free(serials);
	}
	qsort(lat, (size_t)nlat, sizeof *lat, cmp_double);
	if (O.db) {
		if (db_check(successes, &dbc) == 0)
			have_db = 1;
		else
			exit_code = 1;
	}
	write_log();

	{
		double rate = (double)successes / elapsed;
		long hwm = O.server_pid ? proc_kib(O.server_pid, "VmHWM") : -1;
		long rss = O.server_pid ? proc_kib(O.server_pid, "VmRSS") : -1;
		double cpu = O.server_pid && cpu1 >= 0 ? cpu1 - cpu0 : -1;
		fprintf(stderr,
			"scep_load: %s%s%ld requests, C=%ld, %.2f s: %ld HTTP 200 (%ld HTTP 503, %ld other), %ld SUCCESS, "
			"%ld FAILURE, %ld PENDING, %ld invalid, %ld connection errors\n",
			O.label ? O.label : "", O.label ? ": " : "", O.n, O.conns, elapsed, http_ok, http_503, http_other,
			successes, failures,
			pendings, invalid, conn_errors);
		fprintf(stderr, "scep_load: %.1f enrollments/s; latency ms p50 %.2f p90 %.2f p99 %.2f max %.2f\n", rate,
			pct(lat, nlat, 50), pct(lat, nlat, 90), pct(lat, nlat, 99), pct(lat, nlat, 100));
		fprintf(stderr,
			"scep_load: envelopes opened %ld, certificate matches CSR %ld, duplicate serials %ld; replies in %s "
			"with %s, %ld with our nonce echoed as their senderNonce\n",
			checked, cert_ok, dup, reply_cipher != NID_undef ? OBJ_nid2sn(reply_cipher) : "-",
			reply_md != NID_undef ? OBJ_nid2sn(reply_md) : "-", echoes);
		if (O.server_pid)
			fprintf(stderr, "scep_load: server CPU %.2f s (%.2f ms per request), peak RSS %ld KiB, RSS %ld KiB\n",
				cpu, cpu * 1000.0 / (double)O.n, hwm, rss);
		if (O.db_pid)
			fprintf(stderr, "scep_load: PostgreSQL CPU %.2f s (%.2f ms per request)\n", db_cpu,
				db_cpu * 1000.0 / (double)O.n);
		if (have_db)
			fprintf(stderr,
				"scep_load: database: %ld rows for this run, %ld distinct serials, fingerprints: %ld match, "
				"%ld differ, %ld missing: %s\n",
				dbc.rows, dbc.distinct_serials, dbc.fp_match, dbc.fp_mismatch, dbc.fp_missing,
				dbc.ok ? "OK" : "MISMATCH");
		printf("result label=%s n=%ld c=%ld seconds=%.3f http_ok=%ld http_503=%ld http_other=%ld success=%ld failure=%ld pending=%ld odd_status=%ld invalid=%ld "
		       "conn_errors=%ld rate=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f checked=%ld cert_ok=%ld "
		       "dup_serials=%ld reply_cipher=%s reply_md=%s nonce_echoes=%ld server_cpu_s=%.2f db_cpu_s=%.2f server_hwm_kib=%ld db_rows=%ld db_distinct=%ld db_ok=%s\n",
		       O.label ? O.label : "-", O.n, O.conns, elapsed, http_ok, http_503, http_other, successes, failures, pendings, odd_status, invalid,
		       conn_errors, rate, pct(lat, nlat, 50), pct(lat, nlat, 90), pct(lat, nlat, 99), pct(lat, nlat, 100),
		       checked, cert_ok, dup, reply_cipher != NID_undef ? OBJ_nid2sn(reply_cipher) : "-",
		       reply_md != NID_undef ? OBJ_nid2sn(reply_md) : "-", echoes, cpu, db_cpu, hwm, have_db ? dbc.rows : -1, have_db ? dbc.distinct_serials : -1,
		       have_db ? (dbc.ok ? "yes" : "no") : "-");
		fflush(stdout);
		if (successes != O.n || invalid || dup || cert_ok != checked || (have_db && !dbc.ok))
			exit_code = 1;
	}

	for (long i = 0; i < O.n; i++) {
		OPENSSL_free(M[i].der);
		free(M[i].resp);
	}
	for (int i = 0; i < O.keys; i++) {
		EVP_PKEY_free(K[i].key);
		X509_free(K[i].cert);
	}
	free(M);
	free(K);
	free(lat);
	sk_X509_free(RCPT);
	sk_X509_pop_free(CAS, X509_free);
	OSSL_PROVIDER_unload(legacy);
	OSSL_PROVIDER_unload(deflt);
	return exit_code;
}
