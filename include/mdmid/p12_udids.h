/* The UDID list of a PKCS#12 batch: bytes in, canonical UDIDs out, no I/O. */
#ifndef MDMID_P12_UDIDS_H
#define MDMID_P12_UDIDS_H

#include <stddef.h>

#include "mdmid/udid.h"

struct udid_list {
	char (*udid)[UDID_MAX + 1];   /* canonical, in file order, each once */
	size_t n;
	size_t duplicates;            /* lines dropped as repeats */
	size_t malformed;             /* lines refused */
};

/* Called for each line that is dropped or refused: what is "duplicate" or
 * "malformed"; value is the line's first column (shortened, printable). */
typedef void (*udid_list_report_fn)(void *cls, unsigned line, const char *what, const char *value);

/*
 * Parses one UDID per line, or a CSV whose first column is the UDID, with or
 * without a "udid" header; '#' comments and blank lines are ignored, CR LF
 * accepted, a quoted first column unquoted. Returns 0 (malformed lines are
 * counted and reported, not fatal here), or -1 when out of memory.
 */
int udid_list_parse(const char *buf, size_t len, struct udid_list *out, udid_list_report_fn report, void *cls);
void udid_list_free(struct udid_list *l);

#endif
