/*
 * The SCEP service: operations in, answers out, with the issuance core and
 * the store behind it. No HTTP here: the transport (scep_http.c) hands over
 * bytes and gets back a status, a content type and a body.
 */
#ifndef MDMID_SCEP_SVC_H
#define MDMID_SCEP_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mdmid/ca.h"
#include "mdmid/config.h"
#include "mdmid/policy.h"

struct scep_svc;

struct scep_answer {
	int http_status;
	const char *content_type;
	unsigned char *body;        /* malloc'd unless body_static */
	size_t len;
	bool body_static;
	const char *error;          /* the mdmid_err name, for the access log */
	bool pending;               /* a PENDING CertRep (for the metrics) */
};

struct dbpool;

/*
 * Records the issuers in the database and prepares the static answers. ca
 * and db are borrowed and must outlive the service. Returns NULL with a
 * message in err.
 */
struct scep_svc *scep_svc_new(const struct mdmid_config *cfg, const struct ca *ca, struct dbpool *db, char *err,
			      size_t errlen);
void scep_svc_free(struct scep_svc *svc);
/*
 * SIGHUP: builds the settings requests read from cfg, the way scep_svc_new
 * does, and publishes them at once, safely while requests run (each request
 * keeps the version it started with). Only these keys of cfg are read:
 * min_rsa_bits, allow_single_des, csr_subject, csr_san, validity_days,
 * max_clock_skew_seconds, challenge_mode, static_udid_field,
 * retransmission_window_seconds, require_approval and the static challenge.
 * Returns 0, or -1 with a message in err and nothing changed.
 */
int scep_svc_reload(struct scep_svc *svc, const struct mdmid_config *cfg, char *err, size_t errlen);

void scep_svc_getcacaps(struct scep_svc *svc, struct scep_answer *ans);
void scep_svc_getcacert(struct scep_svc *svc, struct scep_answer *ans);
/* The next CA during a rollover (404 without one). */
void scep_svc_getnextcacert(struct scep_svc *svc, struct scep_answer *ans);
/* The latest CRL in DER (issued first when none is fresh): GET /crl. */
void scep_svc_crl(struct scep_svc *svc, struct scep_answer *ans);
/* The CRL of the CA whose certificate has this SHA-256 (hex): this one or one
 * it replaced: GET /crl/<sha256>. 404 for another. */
void scep_svc_crl_of(struct scep_svc *svc, const char *ca_sha256, struct scep_answer *ans);
/* A pkiMessage from peer (textual address, may be NULL). */
void scep_svc_pkioperation(struct scep_svc *svc, const unsigned char *msg, size_t len, const char *peer,
			   struct scep_answer *ans);
/* Records a request refused before it reached the codec (bad base64 and such). */
void scep_svc_refused(struct scep_svc *svc, enum mdmid_err e, const char *peer, struct scep_answer *ans);
void scep_answer_free(struct scep_answer *ans);

#endif
