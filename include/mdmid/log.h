/*
 * One key=value line per event on stderr, ready for journald. Callers format
 * the pairs; the writer adds ts= and level= and replaces control characters
 * so that untrusted values (transaction IDs, subjects) cannot forge lines.
 * Never pass a secret.
 */
#ifndef MDMID_LOG_H
#define MDMID_LOG_H

#include <stddef.h>

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR, LOG_LEVEL__MAX };

void log_set_level(enum log_level level);
/* Returns -1 for an unknown name. */
int log_level_parse(const char *name);
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies an untrusted value for use inside key="..." with quotes,
 * backslashes and control characters replaced; returns buf. */
const char *log_value(const char *in, char *buf, size_t len);

#define log_debug(...) log_write(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
