/*
 * The client's address behind a trusted reverse proxy (trusted_proxies).
 *
 * A TLS front such as deploy/nginx/mdmid.conf connects from its own address
 * and names the device's in X-Forwarded-For. That header is believed only
 * when the TCP peer is one of the configured proxies, and then read from the
 * right: the rightmost address that is not itself a trusted proxy is the
 * client (RFC 7239 section 5.2's reasoning; the left part is whatever the
 * client chose to send).
 */
#ifndef MDMID_CLIENT_ADDR_H
#define MDMID_CLIENT_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define CLIENT_ADDR_MAX_PROXIES 32
#define CLIENT_ADDR_TEXT 46 /* INET6_ADDRSTRLEN */

struct proxy_net {
	int family;               /* AF_INET or AF_INET6 */
	unsigned char addr[16];   /* network byte order */
	unsigned prefix;          /* bits */
};

struct proxy_list {
	size_t n;
	struct proxy_net nets[CLIENT_ADDR_MAX_PROXIES];
};

/*
 * Parses "127.0.0.1, ::1, 10.0.0.0/8" (commas and/or spaces; an address
 * without /N is a single host). "" is the empty list. On error, err names
 * the entry at fault and -1 is returned.
 */
int proxy_list_parse(const char *text, struct proxy_list *out, char *err, size_t errlen);

/* Whether the numeric address text (IPv4 or IPv6) is in the list. */
bool proxy_list_contains(const struct proxy_list *l, const char *addr);

/*
 * The client's address: peer itself unless peer is a trusted proxy and
 * xff (the X-Forwarded-For value, may be NULL) names addresses; then the
 * rightmost of them that is not a trusted proxy (or the leftmost, if all
 * are). A malformed entry stops the walk: what is right of it stands.
 * Writes the result (at most CLIENT_ADDR_TEXT bytes with the NUL) to out;
 * returns true when it differs from peer.
 */
bool client_addr_resolve(const struct proxy_list *l, const char *peer, const char *xff, char *out, size_t outlen);

#endif
