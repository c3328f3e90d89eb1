/*
 * The CA and its RA: the only module that holds private keys. The CA key
 * signs certificates; the responder key (the RA's, or the CA's in CA-only
 * mode) decrypts requests and signs CertReps. Callers never see a key.
 */
#ifndef MDMID_CA_H
#define MDMID_CA_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "mdmid/err.h"

struct ca;

struct ca_init_opts {
	const char *dir;          /* ca.pem, ca.key, and ra.pem, ra.key unless no_ra */
	const char *subject;      /* "/CN=.../O=..." */
	unsigned bits;            /* RSA modulus size, >= 2048 */
	unsigned days;            /* validity of the CA and the RA */
	bool no_ra;               /* one certificate with all four key usages */
	bool force;               /* replace existing files */
	const char *passphrase;   /* encrypt the keys (AES-256) when set */
};

/* Creates the CA (and RA) files. Returns 0, or -1 with a message in err. */
int ca_init(const struct ca_init_opts *opts, char *err, size_t errlen);

struct ca_import_opts {
	const char *dir;          /* where ca.pem (the certificate, then its chain), ca.key go */
	const char *cert;         /* PEM: the CA certificate (further certificates: its chain) */
	const char *key;          /* PEM: its private key */
	const char *chain;        /* PEM, or NULL: the issuers above it, up to the root */
	const char *passphrase;   /* reads an encrypted key; encrypts the written keys when set */
	bool no_ra;               /* CA-only: the CA needs digitalSignature and keyEncipherment */
	unsigned ra_bits;         /* the RA key made for it (RSA) */
	unsigned ra_days;         /* the RA's validity, never past the CA's notAfter */
	bool force;               /* replace existing files */
};

/*
 * Imports an existing CA, root or intermediate: checks that the key is the
 * certificate's, that it is a CA with keyCertSign within its validity, and
 * that the chain goes up from it, each certificate issued by the next; writes
 * ca.key (0600) and ca.pem (the certificate and its chain: GetCACert then
 * answers the RA, the CA and the chain), and, unless no_ra, a new RA signed
 * by the imported CA. Returns 0, or -1 with a message in err; *warning gets
 * a note (a chain that ends below a root) or "".
 */
int ca_import(const struct ca_import_opts *opts, char *warning, size_t warnlen, char *err, size_t errlen);

/* Loads and checks the files of dir. Returns 0, or -1 with a message in err. */
int ca_load(const char *dir, const char *passphrase, struct ca **out, char *err, size_t errlen);
void ca_free(struct ca *ca);

X509 *ca_get0_cert(const struct ca *ca);
/* The certificate that signs CertReps and receives requests (RA or CA). */
X509 *ca_get0_responder_cert(const struct ca *ca);
bool ca_has_ra(const struct ca *ca);
/* Certificates above the CA (for an intermediate CA); may be empty. */
STACK_OF(X509) *ca_get0_chain(const struct ca *ca);

/* A rollover in progress (DIR/next): its GetNextCACert answer. */
bool ca_has_next(const struct ca *ca);
void ca_get0_getnextcacert(const struct ca *ca, const unsigned char **body, size_t *len);
/* CAs this one replaced (DIR/previous): their certificates stay trusted for
 * renewals and Mdm-Signature. */
STACK_OF(X509) *ca_get0_previous(const struct ca *ca);
/* A certificate for next's name and key signed by this CA (a cross-certificate). */
X509 *ca_cross_certify(const struct ca *ca, X509 *next, unsigned days);

/* The GetCACert answer, built once at load. */
void ca_get0_getcacert(const struct ca *ca, const unsigned char **body, size_t *len, const char **content_type);

/*
 * Decrypts an EnvelopedData addressed to the responder. Every failure gives
 * MDMID_ERR_DECRYPT. No recipient certificate is named, so OpenSSL tries
 * every recipient and falls back to a random content key when none decrypts:
 * a bad RSA padding becomes garbage content rather than a distinct error, and
 * the responder key is no Bleichenbacher oracle. *out is malloc'd.
 */
enum mdmid_err ca_decrypt_envelope(const struct ca *ca, PKCS7 *env, unsigned char **out, size_t *outlen);

/* Adds the responder as signer of a partial SignedData (PKCS7_PARTIAL). */
PKCS7_SIGNER_INFO *ca_responder_add_signer(const struct ca *ca, PKCS7 *p7, const EVP_MD *md, int flags);

/* Sets the issuer name and signs crl with the CA key (SHA-256). */
enum mdmid_err ca_sign_crl(const struct ca *ca, X509_CRL *crl);
/* The same for a CA this one replaced (which = its index in ca_get0_previous;
 * -1 = this CA): a replaced CA keeps signing the CRL of its certificates. */
enum mdmid_err ca_sign_crl_as(const struct ca *ca, int which, X509_CRL *crl);
X509 *ca_get0_crl_issuer(const struct ca *ca, int which);

/* Sets the issuer name and signs cert with the CA key (SHA-256). */
enum mdmid_err ca_sign_cert(const struct ca *ca, X509 *cert);

#endif
