/* Files written whole or not at all. */
#ifndef MDMID_FILEUTIL_H
#define MDMID_FILEUTIL_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Writes data to a temporary file beside path with the given mode, fsyncs it,
 * renames it over path and fsyncs the directory, so a crash leaves either the
 * old file or the new one. Returns 0, or -1 with errno set.
 */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Reads a whole file into a malloc'd buffer (NUL-terminated), at most max bytes. */
unsigned char *file_read_all(const char *path, size_t max, size_t *len);

#endif
