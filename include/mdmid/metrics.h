/*
 * Process-wide counters for /metrics, in the Prometheus text format. Every
 * hook is a relaxed C11 atomic operation: callable from any thread, no lock,
 * no allocation. Rendering reads each counter once (a sample may be a moment
 * behind another; each is exact).
 */
#ifndef MDMID_METRICS_H
#define MDMID_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "mdmid/err.h"

/* Requests of the public listener, by operation ... */
enum metrics_op {
	METRICS_OP_GETCACAPS,
	METRICS_OP_GETCACERT,
	METRICS_OP_GETNEXTCACERT,
	METRICS_OP_PKIOPERATION,
	METRICS_OP_CRL,
	METRICS_OP_HEALTHZ,
	METRICS_OP_OTHER,          /* unknown path, operation or method */
	METRICS_OP__MAX
};

/* ... and outcome: a PKIOperation answered with a FAILURE CertRep, or any
 * HTTP error, is a failure; PENDING is pending. */
enum metrics_outcome { METRICS_SUCCESS, METRICS_FAILURE, METRICS_PENDING, METRICS_OUTCOME__MAX };

void metrics_request(enum metrics_op op, enum metrics_outcome outcome);
/* A certificate row committed, by method ("scep", "scep-renewal", "pkcs12"). */
void metrics_issued(const char *method);
/* A request refused, by the error that names the reason. */
void metrics_refused(enum mdmid_err e);
/* The time one PKIOperation took, from the body in to the answer ready. */
void metrics_pkioperation_seconds(double seconds);
/* A statement that failed (MDMID_ERR_DB) or found no database. */
void metrics_db_error(void);
/* HTTP connections opened and closed (both listeners). */
void metrics_connection_opened(void);
void metrics_connection_closed(void);
void metrics_challenge_minted(void);
void metrics_challenge_consumed(void);
/* thisUpdate (Unix time) of the current CA's latest CRL. */
void metrics_crl_this_update(int64_t this_update);

/* The text exposition (format 0.0.4), malloc'd; NULL when out of memory. */
char *metrics_render(size_t *len);

#endif
