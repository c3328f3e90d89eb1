/* A PKCS#12 of a key, its certificate and the chain: bytes out, no I/O. */
#ifndef MDMID_P12_BUILD_H
#define MDMID_P12_BUILD_H

#include <stddef.h>

#include <openssl/x509.h>

enum p12_profile {
	/* PBE-SHA1-3DES for the key bag and the certificate bag, SHA-1 MAC: what
	 * older macOS and iOS Security frameworks import. */
	P12_LEGACY,
	/* PBES2 AES-256-CBC with PBKDF2-HMAC-SHA256, SHA-256 MAC. */
	P12_MODERN
};

/* "legacy" or "modern"; -1 for anything else. */
int p12_profile_parse(const char *name);

/*
 * Packs key, cert and chain (the CA and above; may be NULL) under password
 * (non-empty: recent macOS refuses empty ones) with the friendly name.
 * *der is OPENSSL_malloc'd. Returns 1 on success.
 */
int p12_build(EVP_PKEY *key, X509 *cert, STACK_OF(X509) *chain, const char *name, const char *password,
	      enum p12_profile profile, unsigned char **der, size_t *len);

/* A random password of 24 characters from an alphabet without look-alikes
 * (no 0/O, 1/l/I): 24 of 56, about 139 bits. buf must hold 25 bytes. Returns 1. */
#define P12_PASSWORD_LEN 24
int p12_password(char buf[P12_PASSWORD_LEN + 1]);

#endif
