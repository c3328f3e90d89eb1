/*
 * Enrollment profiles: a .mobileconfig (built with libplist) that holds the
 * CA certificate payloads and a com.apple.security.scep payload with a fresh
 * one-time challenge bound to the device's UDID.
 */
#ifndef MDMID_PROFILE_H
#define MDMID_PROFILE_H

#include <stddef.h>

#include "mdmid/ca.h"
#include "mdmid/err.h"
#include "mdmid/policy.h"
#include "mdmid/store.h"

struct profile_opts {
	const char *url;              /* the SCEP URL devices reach */
	const char *organization;     /* O of the requested subject */
	const char *ca_fingerprint;   /* none | sha1 | sha256 */
	unsigned key_size;
	unsigned challenge_ttl;
	const struct policy *policy;  /* where the UDID goes (static_udid_field) */
};

/*
 * Mints a challenge for udid and renders the profile as XML. PayloadUUIDs
 * are derived from the UDID, so the same device always gets the same ones
 * (an MDM payload's IdentityCertificateUUID can name the SCEP payload: see
 * profile_scep_uuid). *xml is malloc'd; it holds a secret: wipe and free.
 */
enum mdmid_err profile_scep(const struct ca *ca, struct store *st, const struct profile_opts *o, const char *udid,
			    char **xml, size_t *len);

/*
 * A .mobileconfig for a legacy device: the CA payloads and a
 * com.apple.security.pkcs12 payload with the .p12 and its Password. *xml is
 * malloc'd and holds a secret: wipe and free.
 */
enum mdmid_err profile_pkcs12(const struct ca *ca, const char *udid, const unsigned char *p12, size_t p12_len,
			      const char *password, const char *organization, char **xml, size_t *len);

/* The stable PayloadUUID of the SCEP payload for a canonical UDID (37 bytes). */
void profile_scep_uuid(const char *udid, char out[37]);

#endif
