/* PKCS#12 packing with the two encryption profiles Apple devices need. */
#include "mdmid/p12_build.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>

/* Iterations for both the key derivation and the MAC: OpenSSL's default. */
#define P12_ITER PKCS12_DEFAULT_ITER

int p12_profile_parse(const char *name)
{
	if (!strcmp(name, "legacy"))
		return P12_LEGACY;
	if (!strcmp(name, "modern"))
		return P12_MODERN;
	return -1;
}

int p12_build(EVP_PKEY *key, X509 *cert, STACK_OF(X509) *chain, const char *name, const char *password,
	      enum p12_profile profile, unsigned char **der, size_t *len)
{
	PKCS12 *p12 = NULL;
	int nid = profile == P12_LEGACY ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC : NID_aes_256_cbc;
	int n, ok = 0;

	*der = NULL;
	if (!password || !*password)
		return 0;
	/* mac_iter -1: no MAC yet. OpenSSL 3.0 would add a SHA-256 MAC, which
	 * older Apple systems cannot check; the MAC is set explicitly below. */
	p12 = PKCS12_create((char *)password, (char *)name, key, cert, chain, nid, nid, P12_ITER, -1, 0);
	if (!p12)
		goto out;
	if (!PKCS12_set_mac(p12, password, -1, NULL, 0, P12_ITER, profile == P12_LEGACY ? EVP_sha1() : EVP_sha256()))
		goto out;
	if ((n = i2d_PKCS12(p12, der)) <= 0)
		goto out;
	*len = (size_t)n;
	ok = 1;
out:
	ERR_clear_error();
	PKCS12_free(p12);
	return ok;
}

int p12_password(char buf[P12_PASSWORD_LEN + 1])
{
	static const char alphabet[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz";
	const unsigned n = sizeof alphabet - 1; /* 56 */
	size_t i = 0;

	while (i < P12_PASSWORD_LEN) {
		unsigned char r[32];
		if (RAND_priv_bytes(r, sizeof r) != 1)
			return 0;
		/* Rejection sampling: only bytes below 224 (4 * 56), so every
		 * character is equally likely. */
		for (size_t j = 0; j < sizeof r && i < P12_PASSWORD_LEN; j++)
			if (r[j] < 4 * n)
				buf[i++] = alphabet[r[j] % n];
		OPENSSL_cleanse(r, sizeof r);
	}
	buf[i] = '\0';
	return 1;
}
