/*
 * What mdmid accepts: algorithms, keys, CSRs and the static challenge.
 * Pure checks, no I/O; each returns the specific error that names the reason.
 */
#ifndef MDMID_POLICY_H
#define MDMID_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

#include "mdmid/err.h"
#include "mdmid/udid.h"

enum challenge_mode {
	CHALLENGE_DYNAMIC = 1,          /* one-time challenges minted for a UDID */
	CHALLENGE_STATIC = 2,           /* one shared secret; the UDID comes from the CSR */
	CHALLENGE_BOTH = 3
};

struct policy {
	unsigned min_rsa_bits;
	bool allow_single_des;
	bool csr_subject;           /* copy the whole CSR subject (else only its CN) */
	bool csr_san;               /* copy the CSR's subjectAltName */
	unsigned validity_days;
	bool has_static_challenge;
	unsigned char static_challenge_sha256[32];
	enum challenge_mode challenge_mode;
	unsigned max_clock_skew;        /* signingTime tolerance, seconds; 0 = unchecked */
	int udid_nid;                   /* static mode: subject attribute holding the UDID, or */
	int udid_san_type;              /* ... GEN_DNS, GEN_URI or GEN_EMAIL of the SAN (-1: none) */
};

/* Fills p from the configured values; the challenge is kept only as a hash. */
void policy_init(struct policy *p, unsigned min_rsa_bits, bool allow_single_des, bool csr_subject, bool csr_san,
		 unsigned validity_days, const char *static_challenge);

/*
 * Sets the challenge mode ("dynamic", "static" or "both") and where static
 * mode finds the UDID: a subject attribute ("CN", "serialNumber", ...) or
 * "SAN:DNS", "SAN:URI", "SAN:email". Returns 0, or -1 with a message.
 * policy_init leaves static mode when a static challenge is given, else
 * dynamic, with the UDID in the CN.
 */
int policy_set_binding(struct policy *p, const char *mode, const char *udid_field, char *err, size_t errlen);

struct mdmid_config;
/*
 * The whole policy from a configuration: policy_init with its values and
 * static_challenge (NULL: none), policy_set_binding, max_clock_skew_seconds.
 * Returns 0, or -1 with a message naming the key at fault.
 */
int policy_from_config(struct policy *p, const struct mdmid_config *cfg, const char *static_challenge, char *err,
		       size_t errlen);

/* Static mode: the canonical UDID from the configured CSR field, or -1. */
int policy_csr_udid(const struct policy *p, X509_REQ *csr, char out[UDID_MAX + 1]);

/* A request's signingTime (when it has one) within max_clock_skew of now. */
enum mdmid_err policy_check_signing_time(const struct policy *p, const ASN1_TIME *signing_time);

/* The pkiMessage signer's digest (MD5 and unknown ones refused). */
enum mdmid_err policy_check_digest(int md_nid);
/* The request's content-encryption algorithm. */
enum mdmid_err policy_check_cipher(const struct policy *p, int cipher_nid);
/* The requester's key receives an RSA key-transport reply: it must be RSA. */
enum mdmid_err policy_check_requester_key(EVP_PKEY *key);
/* The CSR: its signature, that signer_key is its key, key type and size. */
enum mdmid_err policy_check_csr(const struct policy *p, X509_REQ *csr, EVP_PKEY *signer_key);
/* The CSR alone: its signature, key type and size (a RenewalReq is signed
 * by the old certificate's key, so its CSR may carry a new key). */
enum mdmid_err policy_check_csr_key(const struct policy *p, X509_REQ *csr);
/* The same with the CSR's public key given (a CSR parsed without decoding
 * its key: struct scep_msg's csr_key). */
enum mdmid_err policy_check_csr_with(const struct policy *p, X509_REQ *csr, EVP_PKEY *csr_key, EVP_PKEY *signer_key);
enum mdmid_err policy_check_csr_key_with(const struct policy *p, X509_REQ *csr, EVP_PKEY *csr_key);
/* The static challenge, compared as SHA-256 hashes in constant time. */
enum mdmid_err policy_check_static_challenge(const struct policy *p, X509_REQ *csr);

/*
 * The CSR's challengePassword as a NUL-terminated copy into buf; returns its
 * length, or -1 when absent or not a string that fits.
 */
int policy_csr_challenge(X509_REQ *csr, char *buf, size_t buflen);

#endif
