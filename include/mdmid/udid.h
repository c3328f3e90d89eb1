/*
 * Apple device identifiers. Three shapes exist: 40 hex digits (older iOS
 * devices), 8 hex - 16 hex (newer iOS devices, e.g. 00008030-001A2D8A3C02802E)
 * and a UUID (Macs). mdmid stores them upper case.
 */
#ifndef MDMID_UDID_H
#define MDMID_UDID_H

#include <stddef.h>

#define UDID_MAX 40

/* Writes the canonical (upper-case) form of in to out (UDID_MAX + 1 bytes).
 * Returns 0, or -1 when in is no UDID of any of the three shapes. */
int udid_canonical(const char *in, char out[UDID_MAX + 1]);

#endif
