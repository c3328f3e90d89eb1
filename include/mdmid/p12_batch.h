/*
 * PKCS#12 batch export (DESIGN.md flow 4): for each UDID, a key generated
 * here, a certificate issued under the usual rules, a committed row, and a
 * password-protected .p12 written atomically; a manifest for the MDM. An
 * interrupted batch is resumed by running it again: nothing lost, nothing
 * doubled (see p12_batch.c for the order of the steps and why).
 */
#ifndef MDMID_P12_BATCH_H
#define MDMID_P12_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mdmid/ca.h"
#include "mdmid/p12_build.h"
#include "mdmid/p12_udids.h"

struct p12_batch_opts {
	const char *out_dir;
	enum p12_profile profile;
	const char *key;                /* rsa2048 | rsa3072 | rsa4096 | ec-p256 | ec-p384 */
	unsigned jobs;                  /* worker threads, >= 1 */
	unsigned validity_days;
	bool mobileconfig;
	bool resume;                    /* insist on an existing batch */
	const struct ca *ca;
	int64_t issuer_id;              /* the CA's row in issuer */
	const char *conninfo, *db_password;
	const char *organization;       /* O of the subjects, and of profiles */
};

struct p12_batch_stats {
	size_t exported;                /* written by this run */
	size_t already;                 /* complete from an earlier run */
	size_t abandoned;               /* rows marked abandoned by this run */
	double seconds;
};

/* 1 when key names a supported key type. */
bool p12_key_supported(const char *key);

/*
 * Runs (or resumes) the batch for list into o->out_dir. Returns 0 when every
 * device is exported, 1 on a failure during the run (a rerun resumes), 2 when
 * the input or the directory is refused before anything was written; err
 * says why.
 */
int p12_batch_run(const struct p12_batch_opts *o, const struct udid_list *list, struct p12_batch_stats *stats,
		  char *err, size_t errlen);

#endif
