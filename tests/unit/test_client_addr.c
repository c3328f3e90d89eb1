/* trusted_proxies: parsing the list, and whose X-Forwarded-For is believed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mdmid/client_addr.h"

static struct proxy_list list_of(const char *text)
{
	struct proxy_list l;
	char err[160];
	assert_int_equal(proxy_list_parse(text, &l, err, sizeof err), 0);
	return l;
}

static void lists_parse(void **state)
{
	struct proxy_list l;
	(void)state;

	l = list_of("");
	assert_int_equal(l.n, 0);
	l = list_of("127.0.0.1, ::1 10.0.0.0/8,fd00::/8");
	assert_int_equal(l.n, 4);
	assert_int_equal(l.nets[0].prefix, 32);
	assert_int_equal(l.nets[1].prefix, 128);
	assert_int_equal(l.nets[2].prefix, 8);
	assert_int_equal(l.nets[3].prefix, 8);
	assert_true(proxy_list_contains(&l, "127.0.0.1"));
	assert_false(proxy_list_contains(&l, "127.0.0.2"));
	assert_true(proxy_list_contains(&l, "10.255.1.2"));
	assert_false(proxy_list_contains(&l, "11.0.0.1"));
	assert_true(proxy_list_contains(&l, "::1"));
	assert_true(proxy_list_contains(&l, "fd12::5"));
	assert_false(proxy_list_contains(&l, "fe80::1"));
	assert_false(proxy_list_contains(&l, "not an address"));
	/* A prefix that is not a whole number of bytes. */
	l = list_of("192.168.4.0/22");
	assert_true(proxy_list_contains(&l, "192.168.7.255"));
	assert_false(proxy_list_contains(&l, "192.168.8.0"));
	assert_false(proxy_list_contains(&l, "192.168.3.255"));
	l = list_of("0.0.0.0/0");
	assert_true(proxy_list_contains(&l, "8.8.8.8"));
	assert_false(proxy_list_contains(&l, "::1"));
}

static void bad_lists_refused(void **state)
{
	static const char *const bad[] = {
		"localhost", "127.0.0.1/33", "::1/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/8/8", "1.2.3",
		"10.0.0.0/-1", "[::1]", "127.0.0.1:80",
		"1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5 1.1.1.6 1.1.1.7 1.1.1.8 1.1.1.9 1.1.1.10 1.1.1.11 1.1.1.12 "
		"1.1.1.13 1.1.1.14 1.1.1.15 1.1.1.16 1.1.1.17 1.1.1.18 1.1.1.19 1.1.1.20 1.1.1.21 1.1.1.22 1.1.1.23 "
		"1.1.1.24 1.1.1.25 1.1.1.26 1.1.1.27 1.1.1.28 1.1.1.29 1.1.1.30 1.1.1.31 1.1.1.32 1.1.1.33",
	};
	struct proxy_list l;
	char err[160];
	(void)state;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(proxy_list_parse(bad[i], &l, err, sizeof err), -1);
		assert_non_null(strstr(err, "trusted_proxies"));
	}
}

/* What client_addr_resolve makes of peer and header under list. */
static const char *resolve(const struct proxy_list *l, const char *peer, const char *xff)
{
	static char out[CLIENT_ADDR_TEXT];
	client_addr_resolve(l, peer, xff, out, sizeof out);
	return out;
}

static void forwarded_for(void **state)
{
	struct proxy_list none = list_of(""), front = list_of("127.0.0.1 10.0.0.0/8");
	char out[CLIENT_ADDR_TEXT];
	(void)state;

	/* No trusted proxy: the header is never read. */
	assert_string_equal(resolve(&none, "127.0.0.1", "203.0.113.9"), "127.0.0.1");
	/* A peer that is not a trusted proxy: its header is a claim, ignored. */
	assert_string_equal(resolve(&front, "198.51.100.7", "203.0.113.9"), "198.51.100.7");
	/* The trusted front names the client. */
	assert_true(client_addr_resolve(&front, "127.0.0.1", "203.0.113.9", out, sizeof out));
	assert_string_equal(out, "203.0.113.9");
	/* The client's own addition on the left is not believed: the rightmost
	 * address that is no trusted proxy is the client. */
	assert_string_equal(resolve(&front, "127.0.0.1", "1.2.3.4, 203.0.113.9"), "203.0.113.9");
	/* A chain of trusted proxies is walked through. */
	assert_string_equal(resolve(&front, "127.0.0.1", "203.0.113.9, 10.1.2.3"), "203.0.113.9");
	assert_string_equal(resolve(&front, "127.0.0.1", " 203.0.113.9 ,10.1.2.3 ,  10.9.9.9"), "203.0.113.9");
	/* Every hop trusted: the leftmost. */
	assert_string_equal(resolve(&front, "127.0.0.1", "10.0.0.5, 10.1.2.3"), "10.0.0.5");
	/* A malformed entry stops the walk: what the proxies vouched for stands. */
	assert_string_equal(resolve(&front, "127.0.0.1", "203.0.113.9, garbage, 10.1.2.3"), "10.1.2.3");
	assert_string_equal(resolve(&front, "127.0.0.1", "garbage"), "127.0.0.1");
	assert_string_equal(resolve(&front, "127.0.0.1", "203.0.113.9,"), "127.0.0.1");
	assert_string_equal(resolve(&front, "127.0.0.1", ""), "127.0.0.1");
	assert_string_equal(resolve(&front, "127.0.0.1", NULL), "127.0.0.1");
	assert_string_equal(resolve(&front, "127.0.0.1", "203.0.113.9:443"), "127.0.0.1");
	assert_string_equal(resolve(&front, "127.0.0.1", "unknown, 203.0.113.9"), "203.0.113.9");
	/* Over-long entries and quotes are malformed. */
	assert_string_equal(resolve(&front, "127.0.0.1", "\"203.0.113.9\""), "127.0.0.1");
	assert_string_equal(resolve(&front, "127.0.0.1",
				    "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee:ffff"),
			    "127.0.0.1");
	/* IPv6, written back in canonical form. */
	assert_string_equal(resolve(&front, "127.0.0.1", "2001:DB8:0:0::1"), "2001:db8::1");
	/* The peer's own address named: nothing changes. */
	assert_false(client_addr_resolve(&front, "127.0.0.1", "127.0.0.1", out, sizeof out));
	assert_string_equal(out, "127.0.0.1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lists_parse),
		cmocka_unit_test(bad_lists_refused),
		cmocka_unit_test(forwarded_for),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
