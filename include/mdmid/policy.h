/*
 * What mdmid accepts: algorithms, keys, CSRs and the static challenge.
 * Pure checks, no I/O; each returns the specific error that names the reason.
 */
#ifndef MDMID_POLICY_H
#define MDMID_POLICY_H

#include <stdbool.h>

#include <openssl/x509.h>

#include "mdmid/err.h"

struct policy {
	unsigned min_rsa_bits;
	bool allow_single_des;
	bool csr_subject;           /* copy the whole CSR subject (else only its CN) */
	bool csr_san;               /* copy the CSR's subjectAltName */
	unsigned validity_days;
	bool has_static_challenge;
	unsigned char static_challenge_sha256[32];
};

/* Fills p from the configured values; the challenge is kept only as a hash. */
void policy_init(struct policy *p, unsigned min_rsa_bits, bool allow_single_des, bool csr_subject, bool csr_san,
		 unsigned validity_days, const char *static_challenge);

/* The pkiMessage signer's digest (MD5 and unknown ones refused). */
enum mdmid_err policy_check_digest(int md_nid);
/* The request's content-encryption algorithm. */
enum mdmid_err policy_check_cipher(const struct policy *p, int cipher_nid);
/* The requester's key receives an RSA key-transport reply: it must be RSA. */
enum mdmid_err policy_check_requester_key(EVP_PKEY *key);
/* The CSR: its signature, that signer_key is its key, key type and size. */
enum mdmid_err policy_check_csr(const struct policy *p, X509_REQ *csr, EVP_PKEY *signer_key);
/* The static challenge, compared as SHA-256 hashes in constant time. */
enum mdmid_err policy_check_static_challenge(const struct policy *p, X509_REQ *csr);

/*
 * The CSR's challengePassword as a NUL-terminated copy into buf; returns its
 * length, or -1 when absent or not a string that fits.
 */
int policy_csr_challenge(X509_REQ *csr, char *buf, size_t buflen);

#endif
