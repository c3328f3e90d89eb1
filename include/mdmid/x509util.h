/* Small certificate helpers shared by the CA, the issuer and the SCEP codec. */
#ifndef MDMID_X509UTIL_H
#define MDMID_X509UTIL_H

#include <stddef.h>
#include <openssl/x509.h>

/* A random positive serial of 16 octets (the high bit clear, the next set, so
 * the DER INTEGER is exactly 16 octets). Returns NULL on failure; caller frees. */
ASN1_INTEGER *x509u_random_serial(void);

/* Lower-case hex of a serial's magnitude into buf (at least 2*20+1 bytes). */
int x509u_serial_hex(const ASN1_INTEGER *serial, char *buf, size_t buflen);

/* SHA-256 of the DER certificate / of its DER SubjectPublicKeyInfo. */
int x509u_sha256(const X509 *x, unsigned char out[32]);
int x509u_spki_sha256(const X509 *x, unsigned char out[32]);
/* SHA-256 of the SubjectPublicKeyInfo a certificate issued for req carries. */
int x509u_req_spki_sha256(X509_REQ *req, unsigned char out[32]);
/*
 * Sets dst to req's SubjectPublicKeyInfo, copied as algorithm and bits.
 * X509_set_pubkey() would encode the decoded key and decode it again, two
 * OpenSSL 3.0 encoder/decoder chains per call, the costliest step of an
 * enrollment after the RSA operations. dst gets no EVP_PKEY attached.
 * Returns 1 on success.
 */
int x509u_spki_copy(X509_PUBKEY *dst, X509_REQ *req);

/* Parses "/CN=a/O=b" (OpenSSL's -subj form, \/ escapes a slash) into a new name. */
X509_NAME *x509u_name_parse(const char *s);

/* A one-line RFC 2253 rendering of name into a new string; caller frees. */
char *x509u_name_oneline(const X509_NAME *name);

/* DER of a degenerate certs-only PKCS#7 SignedData with the given certs and
 * no eContent at all (absent, not empty). *der is OPENSSL_malloc'd. */
int x509u_degenerate_p7(STACK_OF(X509) *certs, unsigned char **der, size_t *len);

/* The same with one CRL instead of certificates (a GetCRL answer). */
int x509u_degenerate_p7_crl(X509_CRL *crl, unsigned char **der, size_t *len);

/* Adds one extension from its OpenSSL config text (e.g. "critical,CA:TRUE"). */
int x509u_add_ext(X509 *cert, X509 *issuer, int nid, const char *value);

void x509u_hex(const unsigned char *in, size_t len, char *out);

/* The subjectAltName as "DNS:a, email:b" (as openssl x509 -text prints it),
 * or NULL when there is none; caller frees. */
char *x509u_san_text(X509 *cert);

/* True when s is well-formed UTF-8 (no overlong forms or surrogates). */
int x509u_utf8_valid(const char *s);

#endif
