/* CA rollover: the next CA beside the current one, then the switch. */
#include "mdmid/ca_rollover.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "mdmid/fileutil.h"
#include "mdmid/x509util.h"

static const char *const files[] = {"ca.pem", "ca.key", "ra.pem", "ra.key"};

/* The current subject in -subj form with " <year>-<month>" after its CN. */
static int next_subject(X509 *cur, char *buf, size_t len)
{
	X509_NAME *n = X509_get_subject_name(cur);
	char stamp[16];
	size_t used = 0;
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m", &tm);
	buf[0] = '\0';
	for (int i = 0; i < X509_NAME_entry_count(n); i++) {
		X509_NAME_ENTRY *e = X509_NAME_get_entry(n, i);
		int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
		unsigned char *utf8 = NULL;
		int l = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
		int w;
		if (l < 0)
			return -1;
		w = snprintf(buf + used, len - used, "/%s=%s%s%s", OBJ_nid2sn(nid), utf8, nid == NID_commonName ? " " : "",
			     nid == NID_commonName ? stamp : "");
		OPENSSL_free(utf8);
		if (w < 0 || (size_t)w >= len - used)
			return -1;
		used += (size_t)w;
	}
	return used ? 0 : -1;
}

int ca_rollover(const char *dir, const char *passphrase, const char *subject, unsigned bits, unsigned days,
		char *err, size_t errlen)
{
	char next[4096], path[4200], subj[1024];
	struct ca *cur = NULL, *nca = NULL;
	struct ca_init_opts o = {0};
	X509 *cross = NULL;
	BIO *b = NULL;
	char *data;
	long n;
	int rc = -1;

	snprintf(next, sizeof next, "%s/next", dir);
	if (ca_load(dir, passphrase, &cur, err, errlen) < 0)
		return -1;
	if (access(next, F_OK) == 0) {
		snprintf(err, errlen, "%s exists: a rollover is in progress (mdmid ca activate finishes it)", next);
		goto out;
	}
	if (!subject) {
		if (next_subject(ca_get0_cert(cur), subj, sizeof subj) < 0) {
			snprintf(err, errlen, "cannot derive the next CA's subject: give --subject");
			goto out;
		}
		subject = subj;
	}
	o = (struct ca_init_opts){.dir = next, .subject = subject, .bits = bits, .days = days,
				  .no_ra = !ca_has_ra(cur), .passphrase = passphrase};
	if (ca_init(&o, err, errlen) < 0 || ca_load(next, passphrase, &nca, err, errlen) < 0)
		goto out;
	/* The cross-certificate: the next CA's key, certified by the current. */
	if (!(cross = ca_cross_certify(cur, ca_get0_cert(nca), days)) || !(b = BIO_new(BIO_s_mem())) ||
	    !PEM_write_bio_X509(b, cross)) {
		snprintf(err, errlen, "cross-certifying the next CA failed");
		goto out;
	}
	n = BIO_get_mem_data(b, &data);
	snprintf(path, sizeof path, "%s/cross.pem", next);
	if (file_write_atomic(path, data, (size_t)n, 0644) < 0) {
		snprintf(err, errlen, "writing %s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	BIO_free(b);
	X509_free(cross);
	ca_free(nca);
	ca_free(cur);
	return rc;
}

int ca_activate(const char *dir, char *err, size_t errlen)
{
	char next[4096], prev[4200], stamp[32], from[4400], to[4400], marker[4200];
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;

	snprintf(next, sizeof next, "%s/next", dir);
	snprintf(marker, sizeof marker, "%s/activating", next);
	if (access(next, F_OK) != 0) {
		snprintf(err, errlen, "%s holds no next CA: run mdmid ca rollover first", next);
		return -1;
	}
	/* next/activating names the previous/ directory of a switch in progress,
	 * so that running activate again after a crash finishes it. */
	if ((f = fopen(marker, "r"))) {
		if (!fgets(stamp, sizeof stamp, f))
			stamp[0] = '\0';
		fclose(f);
		stamp[strcspn(stamp, "\n")] = '\0';
	} else {
		snprintf(from, sizeof from, "%s/ca.pem", next);
		if (access(from, F_OK) != 0) {
			snprintf(err, errlen, "%s holds no next CA: run mdmid ca rollover first", next);
			return -1;
		}
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
		if (file_write_atomic(marker, stamp, strlen(stamp), 0600) < 0) {
			snprintf(err, errlen, "writing %s: %s", marker, strerror(errno));
			return -1;
		}
	}
	if (!stamp[0]) {
		snprintf(err, errlen, "%s is empty: remove it and run activate again", marker);
		return -1;
	}
	snprintf(prev, sizeof prev, "%s/previous", dir);
	if (mkdir(prev, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", prev, strerror(errno));
		return -1;
	}
	snprintf(prev, sizeof prev, "%s/previous/%s", dir, stamp);
	if (mkdir(prev, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", prev, strerror(errno));
		return -1;
	}
	/* The current files go first, so that a crash halfway leaves DIR
	 * without a CA (refused at start-up) rather than with a mixed one;
	 * a file already moved is skipped when this runs again. */
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(from, sizeof from, "%s/%s", next, files[i]);
		snprintf(to, sizeof to, "%s/%s", prev, files[i]);
		if (access(from, F_OK) != 0)
			continue; /* moved into place already: the current one left before */
		snprintf(from, sizeof from, "%s/%s", dir, files[i]);
		if (rename(from, to) < 0 && errno != ENOENT) {
			snprintf(err, errlen, "moving %s: %s", from, strerror(errno));
			return -1;
		}
	}
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(from, sizeof from, "%s/%s", next, files[i]);
		snprintf(to, sizeof to, "%s/%s", dir, files[i]);
		if (rename(from, to) < 0 && errno != ENOENT) {
			snprintf(err, errlen, "moving %s: %s", from, strerror(errno));
			return -1;
		}
	}
	snprintf(from, sizeof from, "%s/cross.pem", next);
	snprintf(to, sizeof to, "%s/cross.pem", prev);
	if ((rename(from, to) < 0 && errno != ENOENT) || unlink(marker) < 0 || rmdir(next) < 0) {
		snprintf(err, errlen, "finishing in %s: %s", next, strerror(errno));
		return -1;
	}
	return 0;
}
