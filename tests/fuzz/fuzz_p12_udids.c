/*
 * fuzz_p12_udids.c - the UDID list of a PKCS#12 batch export
 * (udid_list_parse): one UDID per line or a CSV, comments, a header, CR LF,
 * quotes. What it returns is canonical and unique, what it reports is short
 * and printable, and every line is counted at most once.
 */
#include "fuzz.h"
#include "mdmid/p12_udids.h"

struct reports {
	size_t duplicates, malformed;
	unsigned last_line;
};

static void report(void *cls, unsigned line, const char *what, const char *value)
{
	struct reports *r = cls;
	size_t n = strlen(value);

	FUZZ_CHECK(line > r->last_line);
	r->last_line = line;
	if (!strcmp(what, "duplicate"))
		r->duplicates++;
	else if (!strcmp(what, "malformed"))
		r->malformed++;
	else
		FUZZ_CHECK(!"an unknown report");
	/* Shortened and printable: it goes into a terminal or a log. */
	FUZZ_CHECK(n <= UDID_MAX + 7);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(value[i] >= 0x20 && value[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct udid_list l;
	struct reports r = {0};
	size_t lines = 1;
	char canon[UDID_MAX + 1];

	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	FUZZ_CHECK(udid_list_parse((const char *)data, size, &l, report, &r) == 0);
	FUZZ_CHECK(r.duplicates == l.duplicates && r.malformed == l.malformed);
	FUZZ_CHECK(l.n + l.duplicates + l.malformed <= lines);
	for (size_t i = 0; i < l.n; i++) {
		FUZZ_CHECK(udid_canonical(l.udid[i], canon) == 0 && !strcmp(canon, l.udid[i]));
		/* Quadratic, but inputs are small. */
		for (size_t j = 0; j < i && l.n <= 512; j++)
			FUZZ_CHECK(strcmp(l.udid[i], l.udid[j]) != 0);
	}
	udid_list_free(&l);
	return 0;
}
