/* Parsing the UDID list of a batch export. */
#include "mdmid/p12_udids.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Open-addressing set of the UDIDs seen so far, for duplicates in O(1). */
struct seen {
	size_t *slot; /* index + 1 into the list; 0 = empty */
	size_t cap;
};

static size_t hash(const char *s)
{
	size_t h = 1469598103934665603u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

/* Returns 1 when u is new (and records it as index i), 0 when seen, -1 OOM. */
static int seen_add(struct seen *s, const struct udid_list *l, const char *u, size_t i)
{
	size_t h;
	if ((l->n + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64, *ns = calloc(ncap, sizeof *ns);
		if (!ns)
			return -1;
		for (size_t k = 0; k < s->cap; k++)
			if (s->slot[k]) {
				size_t j = hash(l->udid[s->slot[k] - 1]) & (ncap - 1);
				while (ns[j])
					j = (j + 1) & (ncap - 1);
				ns[j] = s->slot[k];
			}
		free(s->slot);
		s->slot = ns;
		s->cap = ncap;
	}
	for (h = hash(u) & (s->cap - 1); s->slot[h]; h = (h + 1) & (s->cap - 1))
		if (!strcmp(l->udid[s->slot[h] - 1], u))
			return 0;
	s->slot[h] = i + 1;
	return 1;
}

/* The first column of a line, trimmed and unquoted, into buf. */
static void first_column(const char *line, size_t len, char *buf, size_t buflen)
{
	size_t a = 0, b, n;
	const char *comma = memchr(line, ',', len);

	b = comma ? (size_t)(comma - line) : len;
	while (a < b && (line[a] == ' ' || line[a] == '\t'))
		a++;
	while (b > a && (line[b - 1] == ' ' || line[b - 1] == '\t' || line[b - 1] == '\r'))
		b--;
	if (b - a >= 2 && line[a] == '"' && line[b - 1] == '"')
		a++, b--;
	n = b - a < buflen - 1 ? b - a : buflen - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)line[a + i];
		buf[i] = (char)(c < 0x20 || c > 0x7e ? '?' : c);
	}
	buf[n] = '\0';
	/* A value longer than any UDID is malformed whatever its start. */
	if (b - a > n)
		buf[n > 0 ? n - 1 : 0] = '?';
}

int udid_list_parse(const char *buf, size_t len, struct udid_list *out, udid_list_report_fn report, void *cls)
{
	struct seen seen = {0};
	size_t cap = 0, pos = 0;
	unsigned lineno = 0;
	int header_possible = 1;

	memset(out, 0, sizeof *out);
	while (pos < len) {
		const char *line = buf + pos, *nl = memchr(line, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - line) : len - pos;
		char col[UDID_MAX + 8], canon[UDID_MAX + 1];
		size_t k = 0;

		pos += l + (nl ? 1 : 0);
		lineno++;
		while (k < l && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
			k++;
		if (k == l || line[k] == '#')
			continue;
		first_column(line, l, col, sizeof col);
		if (header_possible && !strcasecmp(col, "udid")) {
			header_possible = 0;
			continue;
		}
		header_possible = 0;
		if (udid_canonical(col, canon) < 0) {
			out->malformed++;
			if (report)
				report(cls, lineno, "malformed", col);
			continue;
		}
		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			void *nu = realloc(out->udid, ncap * sizeof *out->udid);
			if (!nu)
				goto oom;
			out->udid = nu;
			cap = ncap;
		}
		memcpy(out->udid[out->n], canon, sizeof canon);
		switch (seen_add(&seen, out, canon, out->n)) {
		case 1:
			out->n++;
			break;
		case 0:
			out->duplicates++;
			if (report)
				report(cls, lineno, "duplicate", canon);
			break;
		default:
			goto oom;
		}
	}
	free(seen.slot);
	return 0;
oom:
	free(seen.slot);
	udid_list_free(out);
	return -1;
}

void udid_list_free(struct udid_list *l)
{
	free(l->udid);
	memset(l, 0, sizeof *l);
}
