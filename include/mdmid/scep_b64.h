/* Base64 of the GET PKIOperation `message` parameter. */
#ifndef MDMID_SCEP_B64_H
#define MDMID_SCEP_B64_H

#include <stddef.h>

/*
 * Decodes standard base64 or base64url, with or without padding, ignoring
 * CR and LF. A space is read as '+': a raw '+' in a query string arrives as
 * a space once the HTTP library has unescaped it. Returns a malloc'd buffer
 * and its length, or NULL for invalid input.
 */
unsigned char *scep_b64_decode(const char *in, size_t inlen, size_t *outlen);

#endif
