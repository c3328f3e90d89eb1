/*
 * PKCS#12 batch export.
 *
 * Each device goes through these steps, in this order:
 *   1. generate the key, issue the certificate, draw the password;
 *   2. commit the certificate row (and its event): no certificate exists
 *      anywhere without its row;
 *   3. write DIR/.mdmid-batch/<UDID>.line, the device's manifest row
 *      (temporary file, fsync, rename);
 *   4. write DIR/<UDID>.p12, then DIR/<UDID>.mobileconfig, the same way.
 * A device is complete when its line and its files exist. A rerun finishes
 * every incomplete device: it removes what an interrupted run left of it,
 * marks the rows of its lost keys abandoned, and exports it again; for a
 * complete device it marks abandoned any other issued row of the batch. So
 * after a kill -9 at any moment and a rerun there is exactly one .p12 per
 * UDID, exactly one issued row whose fingerprint is the file's, and the
 * manifest, rebuilt from the lines at the end, lists every device.
 */
#include "mdmid/p12_batch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "mdmid/fileutil.h"
#include "mdmid/issue.h"
#include "mdmid/log.h"
#include "mdmid/profile.h"
#include "mdmid/store.h"
#include "mdmid/x509util.h"

#define STATE_DIR ".mdmid-batch"
#define MANIFEST_HEADER "udid,file,serial,sha256,not_after,password\n"

struct batch {
	const struct p12_batch_opts *o;
	const struct udid_list *list;
	char id[33];                    /* the batch id, in every row */
	char state[4096];               /* DIR/.mdmid-batch */
	X509_NAME *org;                 /* O of the subjects */
	STACK_OF(X509) *chain;          /* CA and above, in every .p12 */
	atomic_size_t next;             /* the next list index to take */
	atomic_int failed;
	atomic_size_t exported, already, abandoned;
	pthread_mutex_t err_lock;
	char err[512];
};

/* ---- test hook: MDMID_CRASH_AT=point[:n] kills the process at a step ---- */

static char crash_point[32];
static long crash_after;
static atomic_long crash_count;

static void crash_init(void)
{
	const char *v = getenv("MDMID_CRASH_AT");
	const char *colon;
	size_t n;

	crash_point[0] = '\0';
	if (!v || !*v)
		return;
	colon = strchr(v, ':');
	n = colon ? (size_t)(colon - v) : strlen(v);
	if (n >= sizeof crash_point)
		return;
	memcpy(crash_point, v, n);
	crash_point[n] = '\0';
	crash_after = colon ? strtol(colon + 1, NULL, 10) : 1;
}

/* Dies like kill -9 the n-th time any worker reaches the named step. */
static void crashpoint(const char *name)
{
	if (crash_point[0] && !strcmp(crash_point, name) && atomic_fetch_add(&crash_count, 1) + 1 == crash_after)
		raise(SIGKILL);
}

/* ---- paths and small files ---- */

/* Records the first failure and stops every worker. */
static void fail(struct batch *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct batch *b, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&b->err_lock);
	if (!b->err[0]) {
		va_start(ap, fmt);
		vsnprintf(b->err, sizeof b->err, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&b->err_lock);
	atomic_store(&b->failed, 1);
}

static void path_of(char *buf, size_t len, const char *dir, const char *udid, const char *suffix)
{
	snprintf(buf, len, "%s/%s%s", dir, udid, suffix);
}

bool p12_key_supported(const char *key)
{
	static const char *const keys[] = {"rsa2048", "rsa3072", "rsa4096", "ec-p256", "ec-p384"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (!strcmp(key, keys[i]))
			return true;
	return false;
}

static EVP_PKEY *key_generate(const char *key)
{
	if (!strcmp(key, "rsa2048"))
		return EVP_RSA_gen(2048);
	if (!strcmp(key, "rsa3072"))
		return EVP_RSA_gen(3072);
	if (!strcmp(key, "rsa4096"))
		return EVP_RSA_gen(4096);
	if (!strcmp(key, "ec-p256"))
		return EVP_EC_gen("P-256");
	if (!strcmp(key, "ec-p384"))
		return EVP_EC_gen("P-384");
	return NULL;
}

/* The sha256 field (fourth) of a device's line, decoded; 1 on success. */
static int line_sha256(const char *path, unsigned char out[32])
{
	size_t len;
	unsigned char *text = file_read_all(path, 4096, &len);
	const char *p = (const char *)text;
	int ok = 0;

	if (!text)
		return 0;
	for (int field = 0; field < 3 && p; field++)
		if ((p = strchr(p, ',')))
			p++;
	if (p && strlen(p) > 64 && p[64] == ',') {
		ok = 1;
		for (int i = 0; i < 32 && ok; i++) {
			unsigned v;
			ok = sscanf(p + 2 * i, "%2x", &v) == 1;
			out[i] = (unsigned char)v;
		}
	}
	OPENSSL_cleanse(text, len);
	free(text);
	return ok;
}

/* ---- one device ---- */

static int write_secret(struct batch *b, const char *path, const void *data, size_t len)
{
	if (file_write_atomic(path, data, len, 0600) == 0)
		return 1;
	fail(b, "writing %s: %s", path, strerror(errno));
	return 0;
}

/* Steps 1 to 4 for one UDID; 1 on success. */
static int export_one(struct batch *b, struct store *st, const char *udid)
{
	const struct p12_batch_opts *o = b->o;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	X509_NAME *subject = NULL;
	unsigned char *p12 = NULL, fp[32];
	size_t p12_len = 0, xml_len = 0;
	char password[P12_PASSWORD_LEN + 1] = "", serial[41], sha[65], not_after[32], line[512], path[4200];
	char *xml = NULL;
	struct tm tm;
	enum mdmid_err rc;
	int ok = 0;

	if (!(key = key_generate(o->key))) {
		fail(b, "generating a %s key failed", o->key);
		goto out;
	}
	if (!(subject = X509_NAME_dup(b->org)) ||
	    !X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_ASC, (const unsigned char *)udid, -1, -1, 0) ||
	    (rc = issue_for_key(o->ca, key, subject, o->validity_days, &cert)) != MDMID_OK) {
		fail(b, "issuing the certificate for %s failed", udid);
		goto out;
	}
	if (!p12_password(password) ||
	    !p12_build(key, cert, b->chain, udid, password, o->profile, &p12, &p12_len)) {
		fail(b, "packing the .p12 for %s failed", udid);
		goto out;
	}
	if (!x509u_serial_hex(X509_get0_serialNumber(cert), serial, sizeof serial) || !x509u_sha256(cert, fp) ||
	    !ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm)) {
		fail(b, "reading the certificate for %s failed", udid);
		goto out;
	}
	x509u_hex(fp, sizeof fp, sha);
	strftime(not_after, sizeof not_after, "%Y-%m-%dT%H:%M:%SZ", &tm);
	{
		struct cert_record c = {
			.issuer_id = o->issuer_id,
			.cert = cert,
			.udid = udid,
			.method = "pkcs12",
			.batch = b->id,
		};
		struct event_record ev = {.kind = "pkcs12.issue", .message_type = -1, .detail = "issued"};
		if ((rc = store_cert_put(st, &c, &ev)) != MDMID_OK) {
			fail(b, "recording the certificate for %s: %s", udid, mdmid_err_text(rc));
			goto out;
		}
	}
	crashpoint("after_commit");
	snprintf(line, sizeof line, "%s,%s.p12,%s,%s,%s,%s\n", udid, udid, serial, sha, not_after, password);
	path_of(path, sizeof path, b->state, udid, ".line");
	if (!write_secret(b, path, line, strlen(line)))
		goto out;
	crashpoint("after_line");
	path_of(path, sizeof path, o->out_dir, udid, ".p12");
	if (!write_secret(b, path, p12, p12_len))
		goto out;
	crashpoint("after_p12");
	if (o->mobileconfig) {
		if (profile_pkcs12(o->ca, udid, p12, p12_len, password, o->organization, &xml, &xml_len) != MDMID_OK) {
			fail(b, "building the .mobileconfig for %s failed", udid);
			goto out;
		}
		path_of(path, sizeof path, o->out_dir, udid, ".mobileconfig");
		if (!write_secret(b, path, xml, xml_len))
			goto out;
	}
	log_debug("event=pkcs12.issue outcome=success udid=%s serial=%s batch=%s", udid, serial, b->id);
	ok = 1;
out:
	OPENSSL_cleanse(password, sizeof password);
	OPENSSL_cleanse(line, sizeof line);
	if (p12) {
		OPENSSL_cleanse(p12, p12_len);
		OPENSSL_free(p12);
	}
	if (xml) {
		OPENSSL_cleanse(xml, xml_len);
		free(xml);
	}
	X509_NAME_free(subject);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ok;
}

/* Brings one UDID to the complete state; 1 on success. */
static int device(struct batch *b, struct store *st, const char *udid)
{
	char line[4200], p12[4200], mc[4200];
	unsigned char fp[32];
	unsigned n = 0;
	enum mdmid_err rc;

	path_of(line, sizeof line, b->state, udid, ".line");
	path_of(p12, sizeof p12, b->o->out_dir, udid, ".p12");
	path_of(mc, sizeof mc, b->o->out_dir, udid, ".mobileconfig");
	if (line_sha256(line, fp) && access(p12, F_OK) == 0 && (!b->o->mobileconfig || access(mc, F_OK) == 0)) {
		bool has = false;
		/* Complete only if this database holds the file's issued row. */
		if ((rc = store_batch_has(st, b->id, udid, fp, &has)) != MDMID_OK) {
			fail(b, "looking up %s: %s", udid, mdmid_err_text(rc));
			return 0;
		}
		if (!has)
			goto redo;
		/* Complete: only rows of lost keys (other fingerprints) remain to mark. */
		if ((rc = store_batch_abandon(st, b->id, udid, fp, &n)) != MDMID_OK) {
			fail(b, "marking rows of %s: %s", udid, mdmid_err_text(rc));
			return 0;
		}
		atomic_fetch_add(&b->abandoned, n);
		atomic_fetch_add(&b->already, 1);
		return 1;
	}
redo:
	/* Incomplete: what is left of it goes, its keys are lost. */
	if ((unlink(p12) < 0 && errno != ENOENT) || (unlink(mc) < 0 && errno != ENOENT) ||
	    (unlink(line) < 0 && errno != ENOENT)) {
		fail(b, "removing the partial files of %s: %s", udid, strerror(errno));
		return 0;
	}
	if ((rc = store_batch_abandon(st, b->id, udid, NULL, &n)) != MDMID_OK) {
		fail(b, "marking rows of %s: %s", udid, mdmid_err_text(rc));
		return 0;
	}
	atomic_fetch_add(&b->abandoned, n);
	if (!export_one(b, st, udid))
		return 0;
	atomic_fetch_add(&b->exported, 1);
	return 1;
}

static void *worker(void *arg)
{
	struct batch *b = arg;
	struct store *st = store_new(b->o->conninfo, b->o->db_password);

	if (!st) {
		fail(b, "out of memory");
		return NULL;
	}
	while (!atomic_load(&b->failed)) {
		size_t i = atomic_fetch_add(&b->next, 1);
		if (i >= b->list->n)
			break;
		if (!device(b, st, b->list->udid[i]))
			break;
	}
	store_free(st);
	return NULL;
}

/* ---- the directory ---- */

/* Temporary files an interrupted run left (name.XXXXXX beside name). */
static int is_leftover(const char *name)
{
	const char *dot = strrchr(name, '.');
	static const char *const kinds[] = {".p12.", ".mobileconfig.", ".line.", "manifest.csv.", "batch."};
	if (!dot || strlen(dot + 1) != 6)
		return 0;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		const char *k = strstr(name, kinds[i]);
		if (k && k + strlen(kinds[i]) == dot + 1)
			return 1;
	}
	return 0;
}

static int remove_leftovers(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4200];

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (is_leftover(e->d_name)) {
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			unlink(path);
		}
	closedir(d);
	return 0;
}

/* 1 when dir holds anything but the state directory (and leftovers). */
static int has_foreign_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int foreign = 0;

	if (!d)
		return 1;
	while ((e = readdir(d)) && !foreign)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, STATE_DIR))
			foreign = 1;
	closedir(d);
	return foreign;
}

/* The marker: what the batch is, so that a rerun resumes it and only it,
 * with the same options, the same CA and the same organization. */
static void marker_text(const struct batch *b, const char *list_sha, char *buf, size_t len)
{
	const struct p12_batch_opts *o = b->o;
	unsigned char fp[32];
	char ca[65] = "";

	if (x509u_sha256(ca_get0_cert(o->ca), fp))
		x509u_hex(fp, sizeof fp, ca);
	snprintf(buf, len,
		 "id=%s\nlist_sha256=%s\nprofile=%s\nkey=%s\nvalidity_days=%u\nmobileconfig=%d\nca_sha256=%s\n"
		 "organization=%s\n",
		 b->id, list_sha, o->profile == P12_LEGACY ? "legacy" : "modern", o->key, o->validity_days,
		 o->mobileconfig, ca, o->organization ? o->organization : "");
}

static void list_digest(const struct udid_list *l, char out[65])
{
	unsigned char h[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	memset(h, 0, sizeof h);
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		for (size_t i = 0; i < l->n; i++)
			if (!EVP_DigestUpdate(ctx, l->udid[i], strlen(l->udid[i])) || !EVP_DigestUpdate(ctx, "\n", 1))
				break;
		EVP_DigestFinal_ex(ctx, h, NULL);
	}
	EVP_MD_CTX_free(ctx);
	x509u_hex(h, sizeof h, out);
}

/*
 * Opens the batch in the output directory, holding its lock: a new one, or
 * the one an earlier run of the same list and options left. The lock is
 * taken before the marker is read or written, so two runs started together
 * cannot both make a batch. Returns 0 (with *lock_fd), 1 when another run
 * holds the lock, or 2 with err set.
 */
static int open_batch(struct batch *b, const char *list_sha, int *lock_fd, char *err, size_t errlen)
{
	const struct p12_batch_opts *o = b->o;
	char marker[4200], lock_path[4200], want[1024], *have = NULL;
	size_t have_len = 0;
	unsigned char raw[16];
	int fresh;

	if (mkdir(o->out_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", o->out_dir, strerror(errno));
		return 2;
	}
	if (access(o->out_dir, W_OK | X_OK) < 0) {
		snprintf(err, errlen, "%s is not writable: %s", o->out_dir, strerror(errno));
		return 2;
	}
	snprintf(b->state, sizeof b->state, "%s/%s", o->out_dir, STATE_DIR);
	snprintf(marker, sizeof marker, "%s/batch", b->state);
	snprintf(lock_path, sizeof lock_path, "%s/lock", b->state);
	fresh = access(b->state, F_OK) != 0;
	if (fresh && o->resume) {
		snprintf(err, errlen, "--resume: %s holds no batch to resume", o->out_dir);
		return 2;
	}
	if (fresh && has_foreign_files(o->out_dir)) {
		snprintf(err, errlen, "%s holds files that are not an mdmid batch: use an empty or new directory",
			 o->out_dir);
		return 2;
	}
	if (mkdir(b->state, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", b->state, strerror(errno));
		return 2;
	}
	if ((*lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", lock_path, strerror(errno));
		return 2;
	}
	if (flock(*lock_fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "another export is running in %s", o->out_dir);
		return 1;
	}
	if ((have = (char *)file_read_all(marker, 4096, &have_len))) {
		/* Same list and options: resume it. */
		const char *id = strncmp(have, "id=", 3) ? NULL : have + 3;
		if (!id || strcspn(id, "\n") != 32) {
			snprintf(err, errlen, "%s: not an mdmid batch marker", marker);
			free(have);
			return 2;
		}
		memcpy(b->id, id, 32);
		b->id[32] = '\0';
		marker_text(b, list_sha, want, sizeof want);
		if (!strstr(have, list_sha)) {
			snprintf(err, errlen, "%s holds another batch (made from another UDID list): use a new directory",
				 o->out_dir);
			free(have);
			return 2;
		}
		if (strcmp(have, want) != 0) {
			snprintf(err, errlen,
				 "%s holds this batch with other options, another CA or another organization (see %s): "
				 "rerun it as it was started",
				 o->out_dir, marker);
			free(have);
			return 2;
		}
		free(have);
		return 0;
	}
	if (o->resume) {
		snprintf(err, errlen, "--resume: %s holds no batch to resume", o->out_dir);
		return 2;
	}
	if (RAND_bytes(raw, sizeof raw) != 1) {
		snprintf(err, errlen, "no random bytes for the batch id");
		return 2;
	}
	x509u_hex(raw, sizeof raw, b->id);
	b->id[32] = '\0';
	marker_text(b, list_sha, want, sizeof want);
	if (file_write_atomic(marker, want, strlen(want), 0600) < 0) {
		snprintf(err, errlen, "writing %s: %s", marker, strerror(errno));
		return 2;
	}
	return 0;
}

/* The manifest from the devices' lines, in list order. */
static int write_manifest(struct batch *b, char *err, size_t errlen)
{
	size_t cap = 4096 + b->list->n * 200, len = 0;
	char *buf = malloc(cap), path[4200];
	int rc = 1;

	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return 1;
	}
	len = (size_t)snprintf(buf, cap, "%s", MANIFEST_HEADER);
	for (size_t i = 0; i < b->list->n; i++) {
		size_t n;
		unsigned char *line;
		path_of(path, sizeof path, b->state, b->list->udid[i], ".line");
		if (!(line = file_read_all(path, 1024, &n))) {
			snprintf(err, errlen, "%s: missing (rerun the export)", path);
			goto out;
		}
		if (len + n + 1 > cap) {
			char *nb;
			cap = (len + n + 1) * 2;
			if (!(nb = realloc(buf, cap))) {
				free(line);
				snprintf(err, errlen, "out of memory");
				goto out;
			}
			buf = nb;
		}
		memcpy(buf + len, line, n);
		len += n;
		OPENSSL_cleanse(line, n);
		free(line);
	}
	snprintf(path, sizeof path, "%s/manifest.csv", b->o->out_dir);
	if (file_write_atomic(path, buf, len, 0600) < 0) {
		snprintf(err, errlen, "writing %s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

int p12_batch_run(const struct p12_batch_opts *o, const struct udid_list *list, struct p12_batch_stats *stats,
		  char *err, size_t errlen)
{
	struct batch b;
	struct store *st = NULL;
	pthread_t *threads = NULL;
	unsigned started = 0;
	char list_sha[65];
	struct timespec t0, t1;
	int rc = 2, lock_fd = -1;

	memset(&b, 0, sizeof b);
	memset(stats, 0, sizeof *stats);
	b.o = o;
	b.list = list;
	pthread_mutex_init(&b.err_lock, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	crash_init();
	list_digest(list, list_sha);
	/* The database first: a run that cannot record anything writes nothing. */
	if (!(st = store_new(o->conninfo, o->db_password)) || store_connect(st, err, errlen) != MDMID_OK) {
		if (!st)
			snprintf(err, errlen, "out of memory");
		rc = 1;
		goto out;
	}
	if ((rc = open_batch(&b, list_sha, &lock_fd, err, errlen)) != 0)
		goto out;
	rc = 1;
	if (remove_leftovers(o->out_dir) < 0 || remove_leftovers(b.state) < 0) {
		snprintf(err, errlen, "cannot read %s: %s", o->out_dir, strerror(errno));
		goto out;
	}
	if (!(b.org = X509_NAME_new()) ||
	    !X509_NAME_add_entry_by_NID(b.org, NID_organizationName, MBSTRING_UTF8,
					(const unsigned char *)(o->organization && *o->organization ? o->organization
												    : "mdmid"),
					-1, -1, 0) ||
	    /* Encoded once here: X509_NAME_dup in the workers would otherwise
	     * each write the cached encoding into this shared name. */
	    i2d_X509_NAME(b.org, NULL) <= 0 ||
	    !(b.chain = sk_X509_new_null()) || !sk_X509_push(b.chain, ca_get0_cert(o->ca))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(ca_get0_chain(o->ca)); i++)
		sk_X509_push(b.chain, sk_X509_value(ca_get0_chain(o->ca), i));
	store_free(st);
	st = NULL;
	if (!(threads = calloc(o->jobs, sizeof *threads))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (; started < o->jobs; started++)
		if (pthread_create(&threads[started], NULL, worker, &b) != 0)
			break;
	if (started == 0) {
		snprintf(err, errlen, "cannot start worker threads");
		goto out;
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	stats->exported = atomic_load(&b.exported);
	stats->already = atomic_load(&b.already);
	stats->abandoned = atomic_load(&b.abandoned);
	if (atomic_load(&b.failed)) {
		snprintf(err, errlen, "%s (rerun the same command to resume)", b.err);
		goto out;
	}
	crashpoint("before_manifest");
	if (write_manifest(&b, err, errlen) != 0)
		goto out;
	rc = 0;
out:
	clock_gettime(CLOCK_MONOTONIC, &t1);
	stats->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	free(threads);
	store_free(st);
	if (lock_fd >= 0)
		close(lock_fd);
	X509_NAME_free(b.org);
	sk_X509_free(b.chain);
	pthread_mutex_destroy(&b.err_lock);
	return rc;
}
