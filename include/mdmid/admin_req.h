/*
 * The admin API's JSON request bodies (admin_http.c): bytes in, checked
 * values out, no I/O. Each parser fills its request, or says what to answer
 * instead (the HTTP status, the error name and the message of the JSON error
 * reply). Apart from admin_http.c so that the parsing can be fuzzed without a
 * listener or a database (tests/fuzz/fuzz_admin_json.c).
 */
#ifndef MDMID_ADMIN_REQ_H
#define MDMID_ADMIN_REQ_H

#include <stdbool.h>
#include <stddef.h>

#include "mdmid/err.h"
#include "mdmid/scep_msg.h"
#include "mdmid/udid.h"

/* Why a body was refused: the admin API answers {"error", "message"}. */
struct admin_refusal {
	unsigned status;
	const char *error;
	const char *message;  /* a constant, or buf */
	char buf[256];
};

/* POST /v1/challenges {"udid", "ttl_seconds"?, "subject"?, "require_approval"?} */
struct admin_challenge_req {
	char udid[UDID_MAX + 1];   /* canonical */
	unsigned ttl_seconds;      /* default_ttl when absent */
	char *subject;             /* malloc'd; NULL when absent or null */
	bool require_approval;
};
int admin_parse_challenge(const unsigned char *body, size_t len, unsigned default_ttl, struct admin_challenge_req *out,
			  struct admin_refusal *why);
void admin_challenge_req_clear(struct admin_challenge_req *r);

/* POST /v1/identity/check {"udid", "certificate": PEM | "sha256": HEX} */
struct admin_identity_req {
	char udid[UDID_MAX + 1];   /* canonical */
	unsigned char sha256[32];  /* of the certificate */
};
int admin_parse_identity_check(const unsigned char *body, size_t len, struct admin_identity_req *out,
			       struct admin_refusal *why);

/* POST /v1/revoke {"serial", "reason"?} */
struct admin_revoke_req {
	char serial[41];           /* lower-case hex */
	char reason[32];           /* a CRL reason name (crl_reason_valid) */
};
int admin_parse_revoke(const unsigned char *body, size_t len, struct admin_revoke_req *out,
		       struct admin_refusal *why);

/* POST /v1/requests/approve or /deny {"transaction_id"} */
struct admin_decide_req {
	char transaction_id[SCEP_TRANSACTION_ID_MAX + 1];
};
int admin_parse_decide(const unsigned char *body, size_t len, struct admin_decide_req *out, struct admin_refusal *why);

/* Each parser returns 0, or -1 with why filled in. */

#endif
