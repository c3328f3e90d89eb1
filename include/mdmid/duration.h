/* Durations on the command line: "90s", "30m", "1h", "30d", or plain seconds. */
#ifndef MDMID_DURATION_H
#define MDMID_DURATION_H

/* Returns 0 and the seconds in *out, or -1 for a malformed or huge value. */
int duration_parse(const char *s, unsigned long *out);

#endif
