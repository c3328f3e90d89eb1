/*
 * fuzz_get_query.c - GET PKIOperation: the query string (the input: what
 * follows '?' in the request line) and the base64 of its `message`.
 *
 * scep_http.c reads `operation` and `message` with http_query_arg, that is
 * libmicrohttpd's MHD_lookup_connection_value after libmicrohttpd split the
 * query: pairs at '&', key and value at the first '=', '+' turned into a
 * space, then %XX decoded (MHD_http_unescape) in both; a key matches without
 * regard to case. get_arg() does the same here (libmicrohttpd 0.9.75's
 * MHD_parse_arguments_), then the message goes to scep_b64_decode exactly as
 * scep_http.c hands it over (as a C string), and the result is compared
 * with an independent decoder and re-encoded.
 */
#include <strings.h>

#include <microhttpd.h>
#include <openssl/evp.h>

#include "fuzz.h"
#include "mdmid/scep_b64.h"

struct arg {
	const char *key, *value; /* value NULL: a key without '=' */
	size_t key_len;
};

static size_t unescape(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == '+')
			*p = ' ';
	return MHD_http_unescape(s);
}

/* Splits args in place into out (room for one more than the '&'s in args),
 * as libmicrohttpd does. */
static size_t split_args(char *args, struct arg *out)
{
	size_t n = 0;

	while (args && *args) {
		char *equals = strchr(args, '='), *amper = strchr(args, '&');
		if (amper)
			*amper++ = '\0';
		if (!equals || (amper && equals >= amper)) {
			out[n].key_len = unescape(args);
			out[n].key = args;
			out[n++].value = NULL;
		} else {
			*equals++ = '\0';
			out[n].key_len = unescape(args);
			out[n].key = args;
			(void)unescape(equals);
			out[n++].value = equals;
		}
		args = amper;
	}
	return n;
}

/* The first value of name (any case), as MHD_lookup_connection_value. */
static const char *get_arg(const struct arg *a, size_t n, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < n; i++)
		if (a[i].key_len == len && !strncasecmp(a[i].key, name, len))
			return a[i].value;
	return NULL;
}

/* An independent decoder of what scep_b64_decode promises to accept: both
 * alphabets, ' ' for '+', CR and LF ignored, padding optional but complete
 * when present. Returns the length, or -1. */
static long reference_decode(const char *in, size_t inlen, unsigned char *out)
{
	unsigned acc = 0;
	size_t bits = 0, chars = 0, pad = 0;
	long n = 0;

	for (size_t i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;
		if (c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad)
			return -1;
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+' || c == '-' || c == ' ')
			v = 62;
		else if (c == '/' || c == '_')
			v = 63;
		else
			return -1;
		chars++;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (chars % 4 == 1 || (pad && ((chars + pad) % 4 || pad > 2)) || chars == 0)
		return -1;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arg *args;
	char *query = malloc(size + 1);
	const char *op, *m;
	size_t n, len = 0;
	unsigned char *der;

	FUZZ_CHECK(query);
	/* The request line is a C string to libmicrohttpd: a NUL ends it. */
	memcpy(query, data, size);
	query[size] = '\0';
	n = 1;
	for (const char *p = query; (p = strchr(p, '&')); p++)
		n++;
	FUZZ_CHECK((args = calloc(n, sizeof *args)));
	n = split_args(query, args);
	op = get_arg(args, n, "operation");
	/* scep_http.c: only PKIOperation by GET reads the message. */
	if (!op || strcasecmp(op, "PKIOperation")) {
		free(args);
		free(query);
		return 0;
	}
	m = get_arg(args, n, "message");
	der = m ? scep_b64_decode(m, strlen(m), &len) : NULL;
	if (m) {
		unsigned char *ref = malloc(strlen(m) / 4 * 3 + 3);
		long rlen;
		FUZZ_CHECK(ref);
		rlen = reference_decode(m, strlen(m), ref);
		/* Both decoders agree on what is base64 and on what it says. */
		FUZZ_CHECK((rlen < 0) == !der);
		if (der)
			FUZZ_CHECK((size_t)rlen == len && !memcmp(der, ref, len));
		free(ref);
	}
	if (der) {
		/* Standard base64 of the result decodes to the same bytes. */
		char *b64 = malloc((len + 2) / 3 * 4 + 1);
		size_t again_len = 0;
		unsigned char *again;
		FUZZ_CHECK(len > 0 && b64);
		EVP_EncodeBlock((unsigned char *)b64, der, (int)len);
		again = scep_b64_decode(b64, strlen(b64), &again_len);
		FUZZ_CHECK(again && again_len == len && !memcmp(again, der, len));
		free(again);
		free(b64);
	}
	free(der);
	free(args);
	free(query);
	return 0;
}
