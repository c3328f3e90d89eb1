/* Parsing of human durations. */
#include "mdmid/duration.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

int duration_parse(const char *s, unsigned long *out)
{
	char *end;
	unsigned long v, mult = 1;

	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case '\0': case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	case 'w': mult = 7 * 86400; break;
	default: return -1;
	}
	if (*end && end[1])
		return -1;
	/* Ten years is plenty for anything mdmid measures. */
	if (v > 10ul * 366 * 86400 / mult)
		return -1;
	*out = v * mult;
	return 0;
}
