/*
 * Mdm-Signature verification (DESIGN.md flow 6): when a proxy strips the
 * client certificate, an MDM hands mdmid the body of a device's request and
 * its Mdm-Signature header (Base64 of a CMS detached SignedData over the
 * body) and learns whether a device identity mdmid issued signed it.
 */
#ifndef MDMID_MDMSIG_H
#define MDMID_MDMSIG_H

#include <stdbool.h>
#include <stddef.h>

#include "mdmid/ca.h"
#include "mdmid/err.h"
#include "mdmid/store.h"
#include "mdmid/udid.h"

struct mdmsig_verifier;

/* Trusts the CA (and its chain) of ca; borrowed, must outlive the verifier. */
struct mdmsig_verifier *mdmsig_verifier_new(const struct ca *ca);
void mdmsig_verifier_free(struct mdmsig_verifier *v);

struct mdmsig_result {
	bool valid;
	/* "ok", or why not: bad_header, not_signed_data, signature_mismatch,
	 * untrusted_signer, signer_expired, signer_not_yet_valid, wrong_usage,
	 * signing_time_outside_validity, unknown_certificate, revoked, abandoned */
	const char *reason;
	char serial[41];               /* "" when unknown */
	char sha256[65];               /* of the signer's certificate, "" when none */
	char udid[UDID_MAX + 1];       /* of the signer's row, "" when none */
	int body_udid_matches;         /* 1, 0, or -1: the body is no check-in plist with a UDID */
};

/*
 * Verifies header over body. MDMID_OK whenever a verdict was reached (valid
 * or not: see out->reason); a database error otherwise. st may be NULL: a
 * verdict that needs the signer's row is then unknown_certificate.
 */
enum mdmid_err mdmsig_verify(const struct mdmsig_verifier *v, struct store *st, const unsigned char *body, size_t len,
			     const char *header, struct mdmsig_result *out);

/* 1 or 0 when body is a property list (XML or binary) with a UDID string,
 * compared with udid (canonical); -1 otherwise. The body_udid_matches of a
 * verdict. */
int mdmsig_body_udid(const unsigned char *body, size_t len, const char *udid);

#endif
