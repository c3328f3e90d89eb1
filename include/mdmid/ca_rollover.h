/*
 * CA rollover: `ca rollover` makes the next CA (and RA) in DIR/next with a
 * cross-certificate from the current CA; GetNextCACert hands it out while
 * devices still enroll under the current one; `ca activate` makes it the
 * issuing CA and keeps the old one in DIR/previous/<time>, still trusted for
 * renewals and Mdm-Signature.
 */
#ifndef MDMID_CA_ROLLOVER_H
#define MDMID_CA_ROLLOVER_H

#include <stddef.h>

#include "mdmid/ca.h"

/* Creates DIR/next. subject NULL: the current subject with its CN suffixed by
 * the year and month. Returns 0, or -1 with a message. */
int ca_rollover(const char *dir, const char *passphrase, const char *subject, unsigned bits, unsigned days,
		char *err, size_t errlen);

/* Moves the current CA to DIR/previous/<UTC time> and DIR/next into place.
 * Returns 0, or -1 with a message. */
int ca_activate(const char *dir, char *err, size_t errlen);

#endif
