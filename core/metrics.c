/* Counters for /metrics (C11 atomics) and their Prometheus text rendering. */
#include "mdmid/metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef atomic_uint_fast64_t counter;

static const char *const op_names[METRICS_OP__MAX] = {"GetCACaps", "GetCACert", "GetNextCACert", "PKIOperation",
						       "crl",       "healthz",   "other"};
static const char *const outcome_names[METRICS_OUTCOME__MAX] = {"success", "failure", "pending"};
static const char *const method_names[] = {"scep", "scep-renewal", "pkcs12"};
#define NMETHODS (sizeof method_names / sizeof method_names[0])
/* Upper bounds of the PKIOperation latency buckets, in seconds (+Inf last). */
static const double bucket_le[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKETS (sizeof bucket_le / sizeof bucket_le[0])

static counter requests[METRICS_OP__MAX][METRICS_OUTCOME__MAX];
static counter issued[NMETHODS + 1]; /* the last: another method */
static counter refused[MDMID_ERR__MAX];
static counter latency_bucket[NBUCKETS + 1]; /* not cumulative; the last is +Inf */
static counter latency_count;
static counter latency_sum_us;
static counter db_errors;
static counter conn_opened, conn_closed;
static counter challenges_minted, challenges_consumed;
static atomic_int_fast64_t crl_this_update;

static void inc(counter *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }
static uint64_t get(counter *c) { return (uint64_t)atomic_load_explicit(c, memory_order_relaxed); }

void metrics_request(enum metrics_op op, enum metrics_outcome outcome)
{
	if ((unsigned)op < METRICS_OP__MAX && (unsigned)outcome < METRICS_OUTCOME__MAX)
		inc(&requests[op][outcome]);
}

void metrics_issued(const char *method)
{
	size_t i = 0;
	while (i < NMETHODS && (!method || strcmp(method, method_names[i]) != 0))
		i++;
	inc(&issued[i]);
}

void metrics_refused(enum mdmid_err e)
{
	if ((unsigned)e < MDMID_ERR__MAX && e != MDMID_OK)
		inc(&refused[e]);
}

void metrics_pkioperation_seconds(double s)
{
	size_t i = 0;
	if (s < 0)
		s = 0;
	while (i < NBUCKETS && s > bucket_le[i])
		i++;
	inc(&latency_bucket[i]);
	atomic_fetch_add_explicit(&latency_sum_us, (uint_fast64_t)(s * 1e6 + 0.5), memory_order_relaxed);
	inc(&latency_count);
}

void metrics_db_error(void) { inc(&db_errors); }
void metrics_connection_opened(void) { inc(&conn_opened); }
void metrics_connection_closed(void) { inc(&conn_closed); }
void metrics_challenge_minted(void) { inc(&challenges_minted); }
void metrics_challenge_consumed(void) { inc(&challenges_consumed); }

void metrics_crl_this_update(int64_t t) { atomic_store_explicit(&crl_this_update, t, memory_order_relaxed); }

/* A growing text buffer; a failed append marks it failed. */
struct buf {
	char *p;
	size_t len, cap;
	int failed;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t ncap = b->cap * 2 + (size_t)n;
			char *np = realloc(b->p, ncap);
			if (!np) {
				b->failed = 1;
				return;
			}
			b->p = np;
			b->cap = ncap;
		}
	}
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *metrics_render(size_t *len)
{
	struct buf b = {.cap = 16384};
	uint64_t cum = 0, opened, closed;
	int64_t tu;

	if (!(b.p = malloc(b.cap)))
		return NULL;
	b.p[0] = '\0';
	family(&b, "mdmid_requests_total", "counter", "Requests of the public listener by operation and outcome.");
	for (int o = 0; o < METRICS_OP__MAX; o++)
		for (int r = 0; r < METRICS_OUTCOME__MAX; r++)
			put(&b, "mdmid_requests_total{operation=\"%s\",outcome=\"%s\"} %llu\n", op_names[o], outcome_names[r],
			    (unsigned long long)get(&requests[o][r]));
	family(&b, "mdmid_issuances_total", "counter", "Certificate rows committed, by method.");
	for (size_t i = 0; i <= NMETHODS; i++)
		put(&b, "mdmid_issuances_total{method=\"%s\"} %llu\n", i < NMETHODS ? method_names[i] : "other",
		    (unsigned long long)get(&issued[i]));
	family(&b, "mdmid_refusals_total", "counter", "Requests refused, by the error that names the reason.");
	for (int e = 1; e < MDMID_ERR__MAX; e++)
		put(&b, "mdmid_refusals_total{reason=\"%s\"} %llu\n", mdmid_err_name((enum mdmid_err)e),
		    (unsigned long long)get(&refused[e]));
	family(&b, "mdmid_pkioperation_duration_seconds", "histogram", "Time to answer a PKIOperation.");
	for (size_t i = 0; i <= NBUCKETS; i++) {
		cum += get(&latency_bucket[i]);
		if (i < NBUCKETS)
			put(&b, "mdmid_pkioperation_duration_seconds_bucket{le=\"%g\"} %llu\n", bucket_le[i],
			    (unsigned long long)cum);
		else
			put(&b, "mdmid_pkioperation_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	}
	put(&b, "mdmid_pkioperation_duration_seconds_sum %.6f\n", (double)get(&latency_sum_us) / 1e6);
	/* The count is the +Inf bucket: the two never disagree in one scrape. */
	put(&b, "mdmid_pkioperation_duration_seconds_count %llu\n", (unsigned long long)cum);
	family(&b, "mdmid_database_errors_total", "counter",
	       "Database statements that failed or found no database.");
	put(&b, "mdmid_database_errors_total %llu\n", (unsigned long long)get(&db_errors));
	/* Closed first: open is never negative. */
	closed = get(&conn_closed);
	opened = get(&conn_opened);
	family(&b, "mdmid_connections_open", "gauge", "HTTP connections open now (both listeners).");
	put(&b, "mdmid_connections_open %llu\n", (unsigned long long)(opened >= closed ? opened - closed : 0));
	family(&b, "mdmid_connections_total", "counter", "HTTP connections accepted (both listeners).");
	put(&b, "mdmid_connections_total %llu\n", (unsigned long long)opened);
	family(&b, "mdmid_challenges_minted_total", "counter", "One-time challenges minted by this process.");
	put(&b, "mdmid_challenges_minted_total %llu\n", (unsigned long long)get(&challenges_minted));
	family(&b, "mdmid_challenges_consumed_total", "counter",
	       "One-time challenges consumed by a certificate or a held request.");
	put(&b, "mdmid_challenges_consumed_total %llu\n", (unsigned long long)get(&challenges_consumed));
	family(&b, "mdmid_crl_age_seconds", "gauge", "Seconds since the thisUpdate of the current CA's CRL.");
	tu = atomic_load_explicit(&crl_this_update, memory_order_relaxed);
	if (tu > 0)
		put(&b, "mdmid_crl_age_seconds %lld\n", (long long)((int64_t)time(NULL) - tu));
	else
		put(&b, "mdmid_crl_age_seconds NaN\n");
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
