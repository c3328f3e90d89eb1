/* Minting and resolving challenges. */
#include "mdmid/challenge.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "mdmid/metrics.h"
#include "mdmid/x509util.h"

static void base64url(const unsigned char *in, size_t len, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	for (size_t i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		out[o++] = a[v >> 6 & 63];
		out[o++] = a[v & 63];
	}
	out[o] = '\0';
}

enum mdmid_err challenge_mint(struct store *st, const char *udid, const char *subject, unsigned ttl_seconds,
			      bool require_approval, struct challenge_minted *out)
{
	unsigned char raw[CHALLENGE_SECRET_LEN / 4 * 3], h[32];
	char canon[UDID_MAX + 1];
	enum mdmid_err rc;

	memset(out, 0, sizeof *out);
	if (udid_canonical(udid, canon) < 0)
		return MDMID_ERR_UDID_INVALID;
	if (RAND_priv_bytes(raw, sizeof raw) != 1)
		return MDMID_ERR_INTERNAL;
	base64url(raw, sizeof raw, out->secret);
	OPENSSL_cleanse(raw, sizeof raw);
	if (EVP_Digest(out->secret, strlen(out->secret), h, NULL, EVP_sha256(), NULL) != 1) {
		OPENSSL_cleanse(out->secret, sizeof out->secret);
		return MDMID_ERR_INTERNAL;
	}
	rc = store_challenge_put(st, h, canon, subject, ttl_seconds, require_approval, &out->id, out->expires_at,
				 sizeof out->expires_at);
	if (rc != MDMID_OK)
		OPENSSL_cleanse(out->secret, sizeof out->secret);
	else
		metrics_challenge_minted();
	return rc;
}

/* The CSR subject in the form challenges are bound to. */
static int subject_matches(X509_REQ *csr, const char *want)
{
	char *have = x509u_name_oneline(X509_REQ_get_subject_name(csr));
	int ok = have && strcmp(have, want) == 0;
	free(have);
	return ok;
}

enum mdmid_err challenge_resolve(struct store *st, const struct policy *p, X509_REQ *csr, struct binding *b)
{
	char secret[256];
	unsigned char h[32];
	int len = policy_csr_challenge(csr, secret, sizeof secret);
	enum mdmid_err rc;

	memset(b, 0, sizeof *b);
	if (len < 0)
		return MDMID_ERR_CHALLENGE_MISSING;
	if (EVP_Digest(secret, (size_t)len, h, NULL, EVP_sha256(), NULL) != 1) {
		OPENSSL_cleanse(secret, sizeof secret);
		return MDMID_ERR_INTERNAL;
	}
	OPENSSL_cleanse(secret, sizeof secret);
	if (p->challenge_mode & CHALLENGE_DYNAMIC) {
		struct challenge_row row;
		/* The look-up is by hash: an index probe, no secret comparison. */
		if ((rc = store_challenge_find(st, h, &row)) != MDMID_OK)
			return rc;
		if (row.found) {
			/* The UDID is known even for a refusal: the event row names it. */
			memcpy(b->udid, row.udid, sizeof b->udid);
			if (row.consumed)
				rc = MDMID_ERR_CHALLENGE_CONSUMED;
			else if (row.expired)
				rc = MDMID_ERR_CHALLENGE_EXPIRED;
			else if (row.subject && !subject_matches(csr, row.subject))
				rc = MDMID_ERR_CHALLENGE_SUBJECT;
			else {
				b->challenge_id = row.id;
				b->require_approval = row.require_approval;
				memcpy(b->secret_sha256, h, sizeof h);
			}
			/* A CSR that names a UDID where static mode would read it must
			 * name this one: an MDM reading the CN must not be misled. */
			if (rc == MDMID_OK) {
				char named[UDID_MAX + 1];
				if (policy_csr_udid(p, csr, named) == 0 && strcmp(named, row.udid) != 0)
					rc = MDMID_ERR_UDID_MISMATCH;
			}
			store_challenge_row_clear(&row);
			return rc;
		}
	}
	if (p->challenge_mode & CHALLENGE_STATIC) {
		rc = policy_check_static_challenge(p, csr);
		if (rc == MDMID_OK)
			return policy_csr_udid(p, csr, b->udid) == 0 ? MDMID_OK : MDMID_ERR_UDID_MISSING;
		if (p->challenge_mode == CHALLENGE_STATIC)
			return rc;
	}
	return MDMID_ERR_CHALLENGE_UNKNOWN;
}
