/*
 * test_b64.c - scep_b64_decode, the lenient base64 of GET PKIOperation's
 * `message` parameter: standard base64 (Apple, '+' possibly turned into a
 * space by the HTTP library), base64url without padding (scepclient), line
 * breaks ignored, everything else refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "mdmid/scep_b64.h"
#include "unit_util.h"

static int group_setup(void **state)
{
	(void)state;
	return 0;
}

/* Decodes a C string and checks the result against want/wantlen. */
static void decodes_to(const char *in, const void *want, size_t wantlen)
{
	size_t outlen = (size_t)-1;
	unsigned char *out = scep_b64_decode(in, strlen(in), &outlen);

	if (!out)
		fail_msg("\"%s\" refused", in);
	if (outlen != wantlen)
		fail_msg("\"%s\": %zu bytes, want %zu", in, outlen, wantlen);
	assert_memory_equal(out, want, wantlen);
	free(out);
}

static void refused(const char *in, size_t len)
{
	size_t outlen = 12345;
	unsigned char *out = scep_b64_decode(in, len, &outlen);
	if (out) {
		free(out);
		fail_msg("\"%.*s\" (%zu bytes) accepted", (int)len, in, len);
	}
}

static void standard(void **state)
{
	(void)state;
	decodes_to("TWFu", "Man", 3);
	decodes_to("TWE=", "Ma", 2);
	decodes_to("TQ==", "M", 1);
	decodes_to("TWFueSBoYW5kcyBtYWtlIGxpZ2h0IHdvcmsu", "Many hands make light work.", 27);
	decodes_to("+/8=", "\xfb\xff", 2);
	decodes_to("AAAA", "\0\0\0", 3);
	decodes_to("////", "\xff\xff\xff", 3);
}

static void base64url_without_padding(void **state)
{
	(void)state;
	decodes_to("-_8", "\xfb\xff", 2);
	decodes_to("-_8=", "\xfb\xff", 2); /* url alphabet, padded */
	decodes_to("TWE", "Ma", 2);
	decodes_to("TQ", "M", 1);
	decodes_to("TWFu", "Man", 3);
	decodes_to("__-_", "\xff\xff\xbf", 3);
	/* standard alphabet without padding (some clients strip '=') */
	decodes_to("+/8", "\xfb\xff", 2);
}

static void plus_as_space(void **state)
{
	(void)state;
	/* "+/8=" after an HTTP library turned '+' into ' ' */
	decodes_to(" /8=", "\xfb\xff", 2);
	decodes_to("  8=", "\xfb\xef", 2);
	decodes_to("++++", "\xfb\xef\xbe", 3);
	decodes_to("    ", "\xfb\xef\xbe", 3);
}

static void line_breaks_ignored(void **state)
{
	(void)state;
	decodes_to("TW\r\nFu", "Man", 3);
	decodes_to("TWFu\n", "Man", 3);
	decodes_to("\r\nT\nW\nE\n=\r\n", "Ma", 2);
	decodes_to("TQ=\r\n=", "M", 1);
	decodes_to("TWFueSBoYW5kcyBtYWtl\r\nIGxpZ2h0IHdvcmsu\r\n", "Many hands make light work.", 27);
}

static void invalid_refused(void **state)
{
	const char *bad[] = {
		"TW!u", "TW.u", "TWFu\t", "TW%2B", "TWF\x80", "T\"Fu", /* characters outside both alphabets */
		"TWFu=",                                            /* padding after a full quantum */
		"TWE=x", "TQ==TQ==", "TQ=A",                        /* data after padding */
		"TQ===", "T===", "====", "=",                       /* too much or only padding */
		"TQ=",                                              /* padding short of a quantum */
		"TWFuT", "T", "TWFuTWFuT",                          /* length 1 mod 4 */
		"\r\n", "\n\n\n",                                   /* nothing but line breaks */
	};
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		refused(bad[i], strlen(bad[i]));
	/* An embedded NUL is not skipped. */
	refused("TW\0u", 4);
}

static void empty_refused(void **state)
{
	(void)state;
	refused("", 0);
	refused("TWFu", 0); /* length governs, not the NUL */
}

static void length_is_respected(void **state)
{
	size_t outlen = 0;
	unsigned char *out;
	(void)state;

	/* Only inlen bytes are read: the rest of the buffer does not matter. */
	out = scep_b64_decode("TWFu!!!!", 4, &outlen);
	assert_non_null(out);
	assert_int_equal(outlen, 3);
	assert_memory_equal(out, "Man", 3);
	free(out);
}

/* url alphabet, no padding */
static char *to_url(const char *std)
{
	char *s = strdup(std);
	size_t n;
	assert_non_null(s);
	for (char *p = s; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	n = strlen(s);
	while (n > 0 && s[n - 1] == '=')
		s[--n] = '\0';
	return s;
}

/* '+' turned into ' ', and CRLF every 64 characters */
static char *to_mangled(const char *std)
{
	size_t n = strlen(std);
	char *s = malloc(n + n / 32 + 3), *w = s;
	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		if (i && i % 64 == 0) {
			*w++ = '\r';
			*w++ = '\n';
		}
		*w++ = std[i] == '+' ? ' ' : std[i];
	}
	*w = '\0';
	return s;
}

static void round_trip_random(void **state)
{
	unsigned char data[300];
	char enc[4 * (sizeof data + 2) / 3 + 1];
	(void)state;

	for (size_t len = 1; len <= sizeof data; len++) {
		char *url, *mangled;
		int n;

		assert_int_equal(RAND_bytes(data, (int)len), 1);
		n = EVP_EncodeBlock((unsigned char *)enc, data, (int)len);
		assert_int_equal((size_t)n, 4 * ((len + 2) / 3));
		decodes_to(enc, data, len);
		url = to_url(enc);
		decodes_to(url, data, len);
		mangled = to_mangled(enc);
		decodes_to(mangled, data, len);
		free(url);
		free(mangled);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(standard),
		cmocka_unit_test(base64url_without_padding),
		cmocka_unit_test(plus_as_space),
		cmocka_unit_test(line_breaks_ignored),
		cmocka_unit_test(invalid_refused),
		cmocka_unit_test(empty_refused),
		cmocka_unit_test(length_is_respected),
		cmocka_unit_test(round_trip_random),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
