/*
 * Revocation and CRLs: revoke by serial, issue the CA's CRL (CRL number from
 * PostgreSQL, nextUpdate crl_validity ahead), and hand out the latest one,
 * issuing a fresh one when none exists or half its life has passed.
 */
#ifndef MDMID_CRL_H
#define MDMID_CRL_H

#include <stddef.h>
#include <stdint.h>

#include "mdmid/ca.h"
#include "mdmid/err.h"
#include "mdmid/store.h"

struct crl_ctx {
	const struct ca *ca;
	int signer;                   /* -1: the CA; else the index of a CA it replaced */
	int64_t issuer_id;            /* that CA's row in issuer */
	unsigned validity_days;       /* nextUpdate - thisUpdate */
};

/* One context per CA whose certificates may be revoked: the current one
 * first, then each it replaced (their rows recorded in issuer). *out is
 * malloc'd. Returns 0, or -1 with a message. */
int crl_contexts(const struct ca *ca, struct store *st, unsigned validity_days, struct crl_ctx **out, size_t *n,
		 char *err, size_t errlen);

/* 1 when name is a reason code mdmid records (RFC 5280 section 5.3.1). */
int crl_reason_valid(const char *name);

/* Revokes the certificate and issues a new CRL of its CA, whichever of ctxs
 * that is (the revocation stands even if the CRL cannot be issued; the next
 * one lists it). */
enum mdmid_err crl_revoke(const struct crl_ctx *ctxs, size_t n, struct store *st, const char *serial,
			  const char *reason);

/* Issues a new CRL now. */
enum mdmid_err crl_issue(const struct crl_ctx *c, struct store *st, int64_t *number);

/* The latest CRL (DER, malloc'd), issuing one first when none exists or more
 * than half of its validity has passed. */
enum mdmid_err crl_current(const struct crl_ctx *c, struct store *st, unsigned char **der, size_t *len);

#endif
