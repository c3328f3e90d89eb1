/* The client's address behind a trusted reverse proxy: see client_addr.h. */
#include "mdmid/client_addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* A numeric IPv4 or IPv6 address (no zone, no brackets) into bytes. */
static int parse_ip(const char *text, int *family, unsigned char addr[16])
{
	if (inet_pton(AF_INET, text, addr) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, addr) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -1;
}

/* The next entry of a comma/space separated list, copied into buf (at most
 * buflen - 1 characters; a longer one is returned truncated and fails to
 * parse). Returns the position after it, or NULL at the end. */
static const char *next_item(const char *p, char *buf, size_t buflen, size_t *len)
{
	size_t n = 0;

	while (*p == ',' || isspace((unsigned char)*p))
		p++;
	if (!*p)
		return NULL;
	while (*p && *p != ',' && !isspace((unsigned char)*p)) {
		if (n + 1 < buflen)
			buf[n] = *p;
		n++;
		p++;
	}
	buf[n < buflen ? n : buflen - 1] = '\0';
	*len = n;
	return p;
}

int proxy_list_parse(const char *text, struct proxy_list *out, char *err, size_t errlen)
{
	char item[80];
	size_t len;
	const char *p = text ? text : "";

	memset(out, 0, sizeof *out);
	while ((p = next_item(p, item, sizeof item, &len))) {
		struct proxy_net net = {0};
		char *slash = strchr(item, '/');
		unsigned long prefix;
		char *end;

		if (len >= sizeof item) {
			snprintf(err, errlen, "trusted_proxies: an entry is too long");
			return -1;
		}
		if (slash)
			*slash = '\0';
		if (parse_ip(item, &net.family, net.addr) < 0) {
			snprintf(err, errlen, "trusted_proxies: %s is no numeric IPv4 or IPv6 address", item);
			return -1;
		}
		net.prefix = net.family == AF_INET ? 32 : 128;
		if (slash) {
			prefix = strtoul(slash + 1, &end, 10);
			if (!slash[1] || *end || !isdigit((unsigned char)slash[1]) || prefix > net.prefix) {
				snprintf(err, errlen, "trusted_proxies: %s/%s: the prefix length must be 0 to %u", item,
					 slash + 1, net.prefix);
				return -1;
			}
			net.prefix = (unsigned)prefix;
		}
		if (out->n == CLIENT_ADDR_MAX_PROXIES) {
			snprintf(err, errlen, "trusted_proxies: more than %d entries", CLIENT_ADDR_MAX_PROXIES);
			return -1;
		}
		out->nets[out->n++] = net;
	}
	return 0;
}

static bool in_net(const struct proxy_net *net, int family, const unsigned char addr[16])
{
	unsigned full = net->prefix / 8, rest = net->prefix % 8;

	if (family != net->family)
		return false;
	if (memcmp(addr, net->addr, full) != 0)
		return false;
	return rest == 0 || ((addr[full] ^ net->addr[full]) & (0xffu << (8 - rest)) & 0xffu) == 0;
}

static bool contains(const struct proxy_list *l, int family, const unsigned char addr[16])
{
	for (size_t i = 0; i < l->n; i++)
		if (in_net(&l->nets[i], family, addr))
			return true;
	return false;
}

bool proxy_list_contains(const struct proxy_list *l, const char *addr)
{
	unsigned char bytes[16];
	int family;

	return l && l->n && parse_ip(addr, &family, bytes) == 0 && contains(l, family, bytes);
}

bool client_addr_resolve(const struct proxy_list *l, const char *peer, const char *xff, char *out, size_t outlen)
{
	char found[CLIENT_ADDR_TEXT] = "";

	snprintf(out, outlen, "%s", peer);
	if (!xff || !proxy_list_contains(l, peer))
		return false;
	/* From the right: each hop was appended by the one after it, and only
	 * a trusted one's word counts. */
	for (size_t end = strlen(xff); end > 0;) {
		size_t start = end, len;
		char item[CLIENT_ADDR_TEXT];
		unsigned char bytes[16];
		int family;

		while (start > 0 && xff[start - 1] != ',')
			start--;
		len = end - start;
		end = start > 0 ? start - 1 : 0;
		while (len > 0 && isspace((unsigned char)xff[start]))
			start++, len--;
		while (len > 0 && isspace((unsigned char)xff[start + len - 1]))
			len--;
		if (len == 0 || len >= sizeof item)
			break;
		memcpy(item, xff + start, len);
		item[len] = '\0';
		if (parse_ip(item, &family, bytes) < 0)
			break;
		/* Its canonical text: what is logged and stored. */
		if (!inet_ntop(family, bytes, found, sizeof found))
			break;
		if (!contains(l, family, bytes))
			break;
		if (start == 0)
			break;
	}
	if (!found[0])
		return false;
	snprintf(out, outlen, "%s", found);
	return strcmp(found, peer) != 0;
}
