/* Lenient base64 for GET PKIOperation: both alphabets, '+' lost as space. */
#include "mdmid/scep_b64.h"

#include <stdlib.h>

#include <openssl/evp.h>

unsigned char *scep_b64_decode(const char *in, size_t inlen, size_t *outlen)
{
	unsigned char *norm = NULL, *out = NULL;
	size_t n = 0, pad = 0;
	int dec;

	if (inlen == 0 || inlen > (1u << 24) || !(norm = malloc(inlen + 4)))
		return NULL;
	for (size_t i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '\r' || c == '\n')
			continue;
		if (pad && c != '=')
			goto fail; /* data after padding */
		if (c == ' ' || c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (c == '=')
			pad++;
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
			   c == '/'))
			goto fail;
		norm[n++] = c;
	}
	if (pad > 2 || (pad && n % 4))
		goto fail;
	/* Restore the padding base64url leaves out. */
	if (!pad) {
		if (n % 4 == 1)
			goto fail;
		while (n % 4) {
			norm[n++] = '=';
			pad++;
		}
	}
	if (n == 0 || !(out = malloc(n / 4 * 3)))
		goto fail;
	dec = EVP_DecodeBlock(out, norm, (int)n);
	if (dec < 0 || (size_t)dec < pad)
		goto fail;
	*outlen = (size_t)dec - pad;
	free(norm);
	return out;
fail:
	free(norm);
	free(out);
	return NULL;
}
