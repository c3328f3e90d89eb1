/*
 * unit_util.h - helpers shared by the cmocka unit tests. Header-only (static
 * inline): the Makefile links each tests/unit/test_*.c on its own with the
 * client library and libmdmid.a, so there is no shared object to put them in.
 * Include after <cmocka.h>.
 */
#ifndef MDMID_UNIT_UTIL_H
#define MDMID_UNIT_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "mdmid/ca.h"

/* A fresh private directory under /tmp; the caller's buffer gets the path. */
static inline int ut_mkdtemp(char *buf, size_t buflen, const char *tag)
{
	if (snprintf(buf, buflen, "/tmp/mdmid-unit-%s.XXXXXX", tag) >= (int)buflen)
		return 0;
	return mkdtemp(buf) != NULL;
}

/* rm -rf of a directory tree made by a test (no symlinks followed). */
static inline void ut_rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;

	if (lstat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	if ((d = opendir(path))) {
		while ((e = readdir(d))) {
			char sub[4096];
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) < (int)sizeof sub)
				ut_rm_rf(sub);
		}
		closedir(d);
	}
	rmdir(path);
}

/* Writes a whole file; returns 1 on success. */
static inline int ut_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return 0;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok;
}

/* Creates a CA (with an RA unless no_ra) in a new subdirectory of parent
 * and loads it. Returns the loaded CA, NULL on failure (message printed). */
static inline struct ca *ut_make_ca(const char *parent, const char *name, bool no_ra, unsigned days)
{
	char dir[1024], err[512];
	struct ca_init_opts o = {0};
	struct ca *ca = NULL;

	snprintf(dir, sizeof dir, "%s/%s", parent, name);
	o.dir = dir;
	o.subject = "/CN=mdmid unit CA/O=mdmid tests";
	o.bits = 2048;
	o.days = days;
	o.no_ra = no_ra;
	if (ca_init(&o, err, sizeof err) != 0) {
		fprintf(stderr, "ca_init %s: %s\n", dir, err);
		return NULL;
	}
	if (ca_load(dir, NULL, &ca, err, sizeof err) != 0) {
		fprintf(stderr, "ca_load %s: %s\n", dir, err);
		return NULL;
	}
	return ca;
}

static inline EVP_PKEY *ut_rsa(unsigned bits) { return EVP_RSA_gen(bits); }

static inline EVP_PKEY *ut_ec(void) { return EVP_EC_gen("P-256"); }

/*
 * A CSR for key with the given -subj style subject and, when exts is not
 * NULL, an extensionRequest built from "nid=value" pairs (NID_undef ends
 * the list). Signed with SHA-256. NULL on failure.
 */
struct ut_ext {
	int nid;
	const char *value;
};

static inline X509_REQ *ut_csr(EVP_PKEY *key, const char *subject, const struct ut_ext *exts)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *sk = NULL;
	X509V3_CTX ctx;
	int ok = 0;

	if (!req || !name)
		goto out;
	/* subject: "/K=v/K=v" or "" for an empty name */
	if (subject && *subject) {
		char buf[512], *p, *next;
		snprintf(buf, sizeof buf, "%s", subject + 1);
		for (p = buf; p && *p; p = next) {
			char *eq;
			next = strchr(p, '/');
			if (next)
				*next++ = '\0';
			if (!(eq = strchr(p, '=')))
				goto out;
			*eq = '\0';
			if (!X509_NAME_add_entry_by_txt(name, p, MBSTRING_UTF8, (unsigned char *)eq + 1, -1, -1, 0))
				goto out;
		}
	}
	if (!X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) || !X509_REQ_set_pubkey(req, key))
		goto out;
	if (exts) {
		if (!(sk = sk_X509_EXTENSION_new_null()))
			goto out;
		X509V3_set_ctx_nodb(&ctx);
		X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
		for (const struct ut_ext *e = exts; e->nid != NID_undef; e++) {
			X509_EXTENSION *x = X509V3_EXT_conf_nid(NULL, &ctx, e->nid, e->value);
			if (!x || !sk_X509_EXTENSION_push(sk, x)) {
				X509_EXTENSION_free(x);
				goto out;
			}
		}
		if (!X509_REQ_add_extensions(req, sk))
			goto out;
	}
	if (X509_REQ_sign(req, key, EVP_sha256()) <= 0)
		goto out;
	ok = 1;
out:
	sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free);
	X509_NAME_free(name);
	if (!ok) {
		ERR_print_errors_fp(stderr);
		X509_REQ_free(req);
		req = NULL;
	}
	return req;
}

/* Seconds from now to t (negative: in the past). */
/* A certificate as a device receives it: encoded and parsed again. The
 * certificates issue_from_csr() returns carry the CSR's key as bytes only
 * (see issue.h); parsing gives them a usable public key. Frees x. */
static inline X509 *ut_reparse(X509 *x)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int len = x ? i2d_X509(x, &der) : -1;
	X509 *y = NULL;
	if (len > 0) {
		p = der;
		y = d2i_X509(NULL, &p, len);
	}
	OPENSSL_free(der);
	X509_free(x);
	return y;
}

static inline long ut_seconds_from_now(const ASN1_TIME *t)
{
	int day = 0, sec = 0;
	if (!ASN1_TIME_diff(&day, &sec, NULL, t))
		return 0x7fffffffL;
	return (long)day * 86400L + sec;
}

#endif
