/*
 * One-time challenges: minted for a UDID, stored as a hash, consumed by the
 * PKCSReq that presents them (in the statement that records the certificate,
 * see store_cert_put). And the binding of a request to its UDID under the
 * configured challenge mode.
 */
#ifndef MDMID_CHALLENGE_H
#define MDMID_CHALLENGE_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "mdmid/err.h"
#include "mdmid/policy.h"
#include "mdmid/store.h"
#include "mdmid/udid.h"

/* 24 random bytes, base64url without padding: 192 bits, 32 characters. */
#define CHALLENGE_SECRET_LEN 32

struct challenge_minted {
	char secret[CHALLENGE_SECRET_LEN + 1];   /* shown once, never stored */
	char expires_at[40];                     /* ISO 8601, UTC */
	int64_t id;
};

/* Mints a challenge for udid (any case; invalid: MDMID_ERR_UDID_INVALID),
 * optionally bound to an expected CSR subject (RFC 2253 form). The caller
 * must OPENSSL_cleanse out->secret once it is handed over. */
enum mdmid_err challenge_mint(struct store *st, const char *udid, const char *subject, unsigned ttl_seconds,
			      bool require_approval, struct challenge_minted *out);

struct binding {
	int64_t challenge_id;                    /* 0: static challenge */
	unsigned char secret_sha256[32];         /* of the one-time challenge */
	char udid[UDID_MAX + 1];
	bool require_approval;                   /* the challenge holds its request */
};

/*
 * Resolves the CSR's challengePassword under the policy's mode: a one-time
 * challenge (unknown, expired, consumed, or for another subject: each its own
 * error), or the static secret with the UDID read from the configured CSR
 * field. Does not consume anything.
 */
enum mdmid_err challenge_resolve(struct store *st, const struct policy *p, X509_REQ *csr, struct binding *b);

#endif
