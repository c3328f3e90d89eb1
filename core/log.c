/* key=value log lines on stderr. */
#include "mdmid/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* SIGHUP changes it while other threads log. */
static atomic_int log_min = LOG_LEVEL_INFO;
static const char *const level_names[LOG_LEVEL__MAX] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
	if (level < LOG_LEVEL__MAX)
		atomic_store_explicit(&log_min, (int)level, memory_order_relaxed);
}

int log_level_parse(const char *name)
{
	for (int i = 0; i < LOG_LEVEL__MAX; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

void log_write(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	char ts[32];
	struct timespec now;
	struct tm tm;
	va_list ap;
	int n;

	if ((int)level < atomic_load_explicit(&log_min, memory_order_relaxed) || level >= LOG_LEVEL__MAX)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof line, "ts=%s.%03ldZ level=%s ", ts, now.tv_nsec / 1000000L, level_names[level]);
	if (n < 0 || (size_t)n >= sizeof line)
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	/* Values may come from requests: keep them on one line. */
	for (char *p = line + n; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	/* One write per line so concurrent threads do not interleave. */
	fprintf(stderr, "%s\n", line);
}

const char *log_value(const char *in, char *buf, size_t len)
{
	size_t i = 0;
	if (!len)
		return "";
	for (; in && in[i] && i + 1 < len; i++) {
		unsigned char c = (unsigned char)in[i];
		buf[i] = (c < 0x20 || c == 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
	}
	buf[i] = '\0';
	return buf;
}
