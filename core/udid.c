/* UDID validation and canonical case. */
#include "mdmid/udid.h"

#include <ctype.h>
#include <string.h>

/* Each shape as the lengths of its hex groups between dashes. */
static const struct {
	int groups;
	int len[5];
} shapes[] = {
	{1, {40}},               /* iOS up to the iPhone XS */
	{2, {8, 16}},            /* iOS since the iPhone XS: ECID-based */
	{5, {8, 4, 4, 4, 12}},   /* macOS: the hardware UUID */
};

int udid_canonical(const char *in, char out[UDID_MAX + 1])
{
	size_t n = in ? strlen(in) : 0;

	if (n == 0 || n > UDID_MAX)
		return -1;
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		const char *p = in;
		int g, ok = 1;
		for (g = 0; g < shapes[s].groups && ok; g++) {
			for (int i = 0; i < shapes[s].len[g]; i++, p++)
				if (!isxdigit((unsigned char)*p)) {
					ok = 0;
					break;
				}
			if (ok && g + 1 < shapes[s].groups) {
				if (*p != '-')
					ok = 0;
				else
					p++;
			}
		}
		if (ok && *p == '\0') {
			for (size_t i = 0; i <= n; i++)
				out[i] = (char)toupper((unsigned char)in[i]);
			return 0;
		}
	}
	return -1;
}
