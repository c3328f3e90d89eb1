/* UDID shapes and canonical case; durations on the command line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mdmid/duration.h"
#include "mdmid/udid.h"

static void udid_shapes_accepted(void **state)
{
	char out[UDID_MAX + 1];
	(void)state;

	/* 40 hex digits (older iOS), lower case stored upper case */
	assert_int_equal(udid_canonical("0123456789abcdef0123456789abcdef01234567", out), 0);
	assert_string_equal(out, "0123456789ABCDEF0123456789ABCDEF01234567");
	/* 8-16 (newer iOS) */
	assert_int_equal(udid_canonical("00008030-001a2d8a3c02802e", out), 0);
	assert_string_equal(out, "00008030-001A2D8A3C02802E");
	/* a UUID (Macs) */
	assert_int_equal(udid_canonical("b501649a-e9ba-4ac6-a4df-544796e0a572", out), 0);
	assert_string_equal(out, "B501649A-E9BA-4AC6-A4DF-544796E0A572");
}

static void udid_malformed_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"0123456789abcdef0123456789abcdef0123456",   /* 39 */
		"0123456789abcdef0123456789abcdef012345678", /* 41 */
		"0123456789abcdef0123456789abcdef0123456g",  /* not hex */
		"00008030001a2d8a3c02802e",                  /* 8-16 without the dash */
		"00008030-001a2d8a3c02802",                  /* 8-15 */
		"00008030--01a2d8a3c02802e",
		"b501649a-e9ba-4ac6-a4df-544796e0a57",       /* short last group */
		"b501649ae9ba-4ac6-a4df-544796e0a572-",
		"../../etc/passwd",
		" 00008030-001a2d8a3c02802e",
		"00008030-001a2d8a3c02802e\n",
	};
	char out[UDID_MAX + 1];
	(void)state;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (udid_canonical(bad[i], out) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(udid_canonical(NULL, out), -1);
}

static void durations(void **state)
{
	unsigned long s;
	(void)state;

	assert_int_equal(duration_parse("90", &s), 0);
	assert_int_equal(s, 90);
	assert_int_equal(duration_parse("90s", &s), 0);
	assert_int_equal(s, 90);
	assert_int_equal(duration_parse("30m", &s), 0);
	assert_int_equal(s, 1800);
	assert_int_equal(duration_parse("1h", &s), 0);
	assert_int_equal(s, 3600);
	assert_int_equal(duration_parse("30d", &s), 0);
	assert_int_equal(s, 30 * 86400);
	assert_int_equal(duration_parse("2w", &s), 0);
	assert_int_equal(s, 14 * 86400);
	assert_int_equal(duration_parse("", &s), -1);
	assert_int_equal(duration_parse("h", &s), -1);
	assert_int_equal(duration_parse("-1h", &s), -1);
	assert_int_equal(duration_parse("1hh", &s), -1);
	assert_int_equal(duration_parse("1y", &s), -1);
	assert_int_equal(duration_parse("99999999999999999999", &s), -1);
	assert_int_equal(duration_parse("100000d", &s), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(udid_shapes_accepted),
		cmocka_unit_test(udid_malformed_refused),
		cmocka_unit_test(durations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
