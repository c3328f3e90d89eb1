/*
 * fuzz_forwarded_for.c - trusted_proxies and X-Forwarded-For
 * (core/client_addr.c): the first line of the input is the trusted_proxies
 * value as the configuration gives it, the rest the X-Forwarded-For header
 * as a proxy passes it on. A list is accepted with at most
 * CLIENT_ADDR_MAX_PROXIES entries or refused with a message naming the key;
 * the client address is the peer unless the peer is trusted, and is then a
 * numeric address, never longer than CLIENT_ADDR_TEXT.
 */
#include <arpa/inet.h>

#include "fuzz.h"
#include "mdmid/client_addr.h"

static void check_resolve(const struct proxy_list *l, const char *peer, const char *xff)
{
	char out[CLIENT_ADDR_TEXT];
	unsigned char bytes[16];
	bool changed = client_addr_resolve(l, peer, xff, out, sizeof out);

	FUZZ_CHECK(memchr(out, '\0', sizeof out) != NULL);
	FUZZ_CHECK(changed == (strcmp(out, peer) != 0));
	if (!proxy_list_contains(l, peer))
		FUZZ_CHECK(!changed);
	if (changed)
		FUZZ_CHECK(inet_pton(AF_INET, out, bytes) == 1 || inet_pton(AF_INET6, out, bytes) == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const peers[] = {"127.0.0.1", "::1", "10.1.2.3", "192.0.2.1"};
	char *text = malloc(size + 1), *nl, err[256] = "";
	const char *xff = NULL;
	struct proxy_list l, none;

	FUZZ_SETUP(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	if ((nl = strchr(text, '\n'))) {
		*nl = '\0';
		xff = nl + 1;
	}
	FUZZ_CHECK(proxy_list_parse("", &none, err, sizeof err) == 0 && none.n == 0);
	if (proxy_list_parse(text, &l, err, sizeof err) == 0) {
		FUZZ_CHECK(l.n <= CLIENT_ADDR_MAX_PROXIES);
		for (size_t i = 0; i < l.n; i++)
			FUZZ_CHECK(l.nets[i].prefix <= (l.nets[i].family == AF_INET ? 32u : 128u));
	} else {
		FUZZ_CHECK(strncmp(err, "trusted_proxies", 15) == 0);
		l = none;
	}
	for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++) {
		check_resolve(&l, peers[i], xff);
		check_resolve(&none, peers[i], xff);
	}
	free(text);
	return 0;
}
