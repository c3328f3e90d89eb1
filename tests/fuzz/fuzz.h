/*
 * fuzz.h - shared by the fuzz harnesses (tests/fuzz/fuzz_*.c). Each harness
 * is one LLVMFuzzerTestOneInput, linked either with libFuzzer (clang,
 * `make fuzz`, build-fuzz/) or with replay_main.c (the normal build, `make
 * check`: every seed and regression input is replayed). Header-only.
 */
#ifndef MDMID_FUZZ_H
#define MDMID_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "mdmid/ca.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property every input must keep: a failure is a crash for the fuzzer. */
#define FUZZ_CHECK(cond)                                                                                     \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed\n", __FILE__, __LINE__, #cond);       \
			abort();                                                                             \
		}                                                                                            \
	} while (0)

/* Set-up that cannot fail quietly: the harness would test nothing. */
#define FUZZ_SETUP(cond)                                                                                     \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			fprintf(stderr, "%s:%d: set-up failed: %s\n", __FILE__, __LINE__, #cond);           \
			ERR_print_errors_fp(stderr);                                                         \
			exit(2);                                                                             \
		}                                                                                            \
	} while (0)

#include <dirent.h>
#include <unistd.h>

/* A fresh CA (and RA unless no_ra), created in a temporary directory that is
 * removed again once it is loaded: it lives in memory only. */
static inline struct ca *fuzz_make_ca(bool no_ra)
{
	char dir[64] = "/tmp/mdmid-fuzz-ca.XXXXXX", err[512];
	struct ca_init_opts o = {0};
	struct ca *ca = NULL;
	DIR *d;
	struct dirent *e;

	if (!mkdtemp(dir))
		return NULL;
	o.dir = dir;
	o.subject = "/CN=mdmid fuzz CA/O=mdmid tests";
	o.bits = 2048;
	o.days = 3650;
	o.no_ra = no_ra;
	o.force = true;
	if (ca_init(&o, err, sizeof err) != 0 || ca_load(dir, NULL, &ca, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz CA in %s: %s\n", dir, err);
		ca = NULL;
	}
	if ((d = opendir(dir))) {
		while ((e = readdir(d))) {
			char path[512];
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
			    snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
				unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
	return ca;
}

#endif
