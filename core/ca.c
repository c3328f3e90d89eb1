/* The CA and RA key material: creation, loading, decryption and signing. */
#include "mdmid/ca.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "mdmid/fileutil.h"
#include "mdmid/x509util.h"

struct ca {
	X509 *cert;
	EVP_PKEY *key;
	STACK_OF(X509) *chain;     /* issuers above the CA, if any */
	X509 *ra_cert;             /* NULL in CA-only mode */
	EVP_PKEY *ra_key;
	unsigned char *getcacert;  /* the GetCACert body */
	size_t getcacert_len;
	const char *getcacert_type;
	STACK_OF(X509) *next;      /* rollover: the next RA and CA, from DIR/next */
	unsigned char *getnextcacert; /* their GetNextCACert body, signed by this CA */
	size_t getnextcacert_len;
	STACK_OF(X509) *previous;  /* CAs this one replaced, from DIR/previous/(each)/ca.pem */
	EVP_PKEY **previous_keys;  /* their keys, which keep signing their CRLs */
};

static void set_err(char *err, size_t errlen, const char *what, const char *path)
{
	unsigned long e = ERR_peek_last_error();
	char ssl[256] = "";
	if (e)
		ERR_error_string_n(e, ssl, sizeof ssl);
	snprintf(err, errlen, "%s%s%s%s%s", what, path ? " " : "", path ? path : "", e ? ": " : "", ssl);
	ERR_clear_error();
}

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* Writes PEM produced by a callback into path atomically with mode. */
static int write_pem(const char *path, mode_t mode, X509 *cert, EVP_PKEY *key, const char *pass)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int rc = -1;

	if (!b)
		return -1;
	if (cert && !PEM_write_bio_X509(b, cert))
		goto out;
	if (key && !PEM_write_bio_PrivateKey(b, key, pass ? EVP_aes_256_cbc() : NULL,
					     (const unsigned char *)pass, pass ? (int)strlen(pass) : 0, NULL, NULL))
		goto out;
	n = BIO_get_mem_data(b, &data);
	rc = file_write_atomic(path, data, (size_t)n, mode);
	if (key)
		OPENSSL_cleanse(data, (size_t)n);
out:
	BIO_free(b);
	return rc;
}

static X509 *make_cert(EVP_PKEY *key, X509_NAME *subject, X509 *issuer, EVP_PKEY *issuer_key,
		       unsigned days, const char *basic, const char *key_usage)
{
	X509 *x = X509_new();
	ASN1_INTEGER *serial = x509u_random_serial();

	if (!x || !serial || !X509_set_version(x, X509_VERSION_3) || !X509_set_serialNumber(x, serial) ||
	    !X509_set_subject_name(x, subject) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -300) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) || !X509_set_pubkey(x, key))
		goto fail;
	/* With no issuer the certificate is its own issuer for the AKI. */
	if (!x509u_add_ext(x, issuer ? issuer : x, NID_basic_constraints, basic) ||
	    !x509u_add_ext(x, issuer ? issuer : x, NID_key_usage, key_usage) ||
	    !x509u_add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash") ||
	    !x509u_add_ext(x, issuer ? issuer : x, NID_authority_key_identifier, "keyid:always"))
		goto fail;
	if (!X509_sign(x, issuer_key, EVP_sha256()))
		goto fail;
	ASN1_INTEGER_free(serial);
	return x;
fail:
	ASN1_INTEGER_free(serial);
	X509_free(x);
	return NULL;
}

/* The RA's subject: the CA's, with " SCEP RA" appended to its common name. */
static X509_NAME *ra_subject(X509_NAME *ca_name)
{
	X509_NAME *n = X509_NAME_dup(ca_name);
	int idx;
	char cn[256] = "mdmid";

	if (!n)
		return NULL;
	if ((idx = X509_NAME_get_index_by_NID(n, NID_commonName, -1)) >= 0) {
		X509_NAME_get_text_by_NID(n, NID_commonName, cn, sizeof cn - 16);
		X509_NAME_ENTRY_free(X509_NAME_delete_entry(n, idx));
	}
	strcat(cn, " SCEP RA");
	if (!X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8, (unsigned char *)cn, -1, -1, 0)) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

static int write_certs(const char *path, X509 *cert, STACK_OF(X509) *chain)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int rc = -1;

	if (!b || !PEM_write_bio_X509(b, cert))
		goto out;
	for (int i = 0; i < sk_X509_num(chain); i++)
		if (!PEM_write_bio_X509(b, sk_X509_value(chain, i)))
			goto out;
	n = BIO_get_mem_data(b, &data);
	rc = file_write_atomic(path, data, (size_t)n, 0644);
out:
	BIO_free(b);
	return rc;
}

/* Writes a CA directory: the keys first, so that a certificate on disk
 * always has its key beside it; ca.pem gets cert and its chain. Without an
 * RA, one left by an earlier init or import is removed. Returns 0 or -1 with
 * err set. */
static int write_ca_files(const char *dir, const char *ca_pem, const char *ca_key, const char *ra_pem,
			  const char *ra_key, X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key, X509 *rcert,
			  EVP_PKEY *rkey, const char *passphrase, char *err, size_t errlen)
{
	if (write_pem(ca_key, 0600, NULL, key, passphrase) < 0 ||
	    (rcert && write_pem(ra_key, 0600, NULL, rkey, passphrase) < 0) || write_certs(ca_pem, cert, chain) < 0 ||
	    (rcert && write_pem(ra_pem, 0644, rcert, NULL, NULL) < 0)) {
		snprintf(err, errlen, "writing into %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!rcert && ((unlink(ra_pem) < 0 && errno != ENOENT) || (unlink(ra_key) < 0 && errno != ENOENT))) {
		snprintf(err, errlen, "removing the old RA from %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int ca_init(const struct ca_init_opts *o, char *err, size_t errlen)
{
	char *ca_pem = path_join(o->dir, "ca.pem"), *ca_key = path_join(o->dir, "ca.key");
	char *ra_pem = path_join(o->dir, "ra.pem"), *ra_key = path_join(o->dir, "ra.key");
	EVP_PKEY *key = NULL, *rkey = NULL;
	X509 *cert = NULL, *rcert = NULL;
	X509_NAME *name = NULL, *rname = NULL;
	int rc = -1;

	if (!ca_pem || !ca_key || !ra_pem || !ra_key) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (o->bits < 2048 || o->bits > 16384) {
		snprintf(err, errlen, "key size %u: must be between 2048 and 16384 bits", o->bits);
		goto out;
	}
	if (o->days == 0) {
		snprintf(err, errlen, "validity must be at least one day");
		goto out;
	}
	if (!(name = x509u_name_parse(o->subject))) {
		snprintf(err, errlen, "subject \"%s\": expected /KEY=value/... with known keys", o->subject);
		goto out;
	}
	if (!o->force && (access(ca_pem, F_OK) == 0 || access(ca_key, F_OK) == 0)) {
		snprintf(err, errlen, "%s already exists (use --force to replace it)", ca_pem);
		goto out;
	}
	if (mkdir(o->dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", o->dir, strerror(errno));
		goto out;
	}
	if (!(key = EVP_RSA_gen(o->bits))) {
		set_err(err, errlen, "generating the CA key", NULL);
		goto out;
	}
	cert = make_cert(key, name, NULL, key, o->days, "critical,CA:TRUE",
			 o->no_ra ? "critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment"
				  : "critical,keyCertSign,cRLSign");
	if (!cert) {
		set_err(err, errlen, "making the CA certificate", NULL);
		goto out;
	}
	if (!o->no_ra) {
		if (!(rkey = EVP_RSA_gen(o->bits)) || !(rname = ra_subject(name)) ||
		    !(rcert = make_cert(rkey, rname, cert, key, o->days, "critical,CA:FALSE",
					"critical,digitalSignature,keyEncipherment"))) {
			set_err(err, errlen, "making the RA certificate", NULL);
			goto out;
		}
	}
	if (write_ca_files(o->dir, ca_pem, ca_key, ra_pem, ra_key, cert, NULL, key, rcert, rkey, o->passphrase, err,
			   errlen) < 0)
		goto out;
	rc = 0;
out:
	free(ca_pem), free(ca_key), free(ra_pem), free(ra_key);
	EVP_PKEY_free(key), EVP_PKEY_free(rkey);
	X509_free(cert), X509_free(rcert);
	X509_NAME_free(name), X509_NAME_free(rname);
	return rc;
}

static int pem_pass_cb(char *buf, int size, int rwflag, void *u);
static X509 *load_certs(const char *path, STACK_OF(X509) *chain, char *err, size_t errlen);
static int has_key_usage(X509 *x, uint32_t bits);
static int within_validity(X509 *x, const char *path, char *err, size_t errlen);

/* Writes cert and then chain as PEM into path atomically (0644). */

int ca_import(const struct ca_import_opts *o, char *warning, size_t warnlen, char *err, size_t errlen)
{
	char *ca_pem = path_join(o->dir, "ca.pem"), *ca_key = path_join(o->dir, "ca.key");
	char *ra_pem = path_join(o->dir, "ra.pem"), *ra_key = path_join(o->dir, "ra.key");
	STACK_OF(X509) *chain = sk_X509_new_null();
	EVP_PKEY *key = NULL, *rkey = NULL;
	X509 *cert = NULL, *rcert = NULL, *top;
	X509_NAME *rname = NULL;
	FILE *f = NULL;
	int rc = -1;

	if (warnlen)
		warning[0] = '\0';
	if (!ca_pem || !ca_key || !ra_pem || !ra_key || !chain) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (!(cert = load_certs(o->cert, chain, err, errlen)))
		goto out;
	if (o->chain) {
		/* The chain file's certificates, in its order, after those that
		 * followed the CA certificate in its own file. */
		STACK_OF(X509) *more = sk_X509_new_null();
		X509 *first = more ? load_certs(o->chain, more, err, errlen) : NULL;
		int ok = first && sk_X509_push(chain, first);
		if (!ok)
			X509_free(first);
		while (more && sk_X509_num(more) > 0) {
			X509 *x = sk_X509_shift(more);
			if (!ok || !sk_X509_push(chain, x)) {
				X509_free(x);
				ok = 0;
			}
		}
		sk_X509_free(more);
		if (!ok) {
			if (first == NULL && more)
				goto out; /* err says why */
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	if (!(f = fopen(o->key, "r"))) {
		snprintf(err, errlen, "%s: %s", o->key, strerror(errno));
		goto out;
	}
	key = PEM_read_PrivateKey(f, NULL, pem_pass_cb, (void *)o->passphrase);
	fclose(f);
	if (!key) {
		set_err(err, errlen, "reading the private key (encrypted keys need ca_key_passphrase)", o->key);
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "%s: the key is not the key of the certificate %s", o->key, o->cert);
		goto out;
	}
	if (!(X509_get_extension_flags(cert) & EXFLAG_CA) || !has_key_usage(cert, KU_KEY_CERT_SIGN)) {
		snprintf(err, errlen, "%s: not a CA certificate (basicConstraints CA:TRUE) with keyUsage keyCertSign",
			 o->cert);
		goto out;
	}
	if (!within_validity(cert, o->cert, err, errlen))
		goto out;
	if (o->no_ra && !has_key_usage(cert, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT)) {
		snprintf(err, errlen, "%s: without an RA the CA needs keyUsage digitalSignature and keyEncipherment", o->cert);
		goto out;
	}
	if (o->no_ra && EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "%s: without an RA the CA key must be RSA (it decrypts SCEP requests)", o->key);
		goto out;
	}
	/* The chain goes up: each certificate issued (and signed) by the next. */
	top = cert;
	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *up = sk_X509_value(chain, i);
		if (X509_check_issued(up, top) != X509_V_OK || X509_verify(top, X509_get0_pubkey(up)) != 1) {
			char *name = x509u_name_oneline(X509_get_subject_name(top));
			ERR_clear_error();
			snprintf(err, errlen, "the chain is not in order: \"%s\" is not signed by certificate %d of the chain",
				 name ? name : "?", i + 1);
			free(name);
			goto out;
		}
		if (!(X509_get_extension_flags(up) & EXFLAG_CA)) {
			snprintf(err, errlen, "certificate %d of the chain is no CA certificate", i + 1);
			goto out;
		}
		top = up;
	}
	if (X509_check_issued(top, top) != X509_V_OK && warnlen)
		snprintf(warning, warnlen, "the chain ends below a root (its last certificate is not self-signed): "
					   "devices need the root from elsewhere");
	if (!o->force && (access(ca_pem, F_OK) == 0 || access(ca_key, F_OK) == 0)) {
		snprintf(err, errlen, "%s already exists (use --force to replace it)", ca_pem);
		goto out;
	}
	if (mkdir(o->dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", o->dir, strerror(errno));
		goto out;
	}
	if (!o->no_ra) {
		/* Not past the CA's notAfter. */
		int days = 0, secs = 0;
		unsigned ra_days = o->ra_days;
		if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)) && days >= 0 && (unsigned)days < ra_days)
			ra_days = (unsigned)days > 0 ? (unsigned)days : 1;
		if (o->ra_bits < 2048 || o->ra_bits > 16384) {
			snprintf(err, errlen, "RA key size %u: must be between 2048 and 16384 bits", o->ra_bits);
			goto out;
		}
		if (!(rkey = EVP_RSA_gen(o->ra_bits)) || !(rname = ra_subject(X509_get_subject_name(cert))) ||
		    !(rcert = make_cert(rkey, rname, cert, key, ra_days, "critical,CA:FALSE",
					"critical,digitalSignature,keyEncipherment"))) {
			set_err(err, errlen, "making the RA certificate", NULL);
			goto out;
		}
	}
	if (write_ca_files(o->dir, ca_pem, ca_key, ra_pem, ra_key, cert, chain, key, rcert, rkey, o->passphrase, err,
			   errlen) < 0)
		goto out;
	rc = 0;
out:
	free(ca_pem), free(ca_key), free(ra_pem), free(ra_key);
	EVP_PKEY_free(key), EVP_PKEY_free(rkey);
	X509_free(cert), X509_free(rcert);
	X509_NAME_free(rname);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

static int pem_pass_cb(char *buf, int size, int rwflag, void *u)
{
	const char *pass = u;
	size_t n;
	(void)rwflag;
	if (!pass)
		return 0;
	n = strlen(pass);
	if (n > (size_t)size)
		return -1;
	memcpy(buf, pass, n);
	return (int)n;
}

static EVP_PKEY *load_key(const char *path, const char *pass, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;
	struct stat st;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	/* A private key other users can read (or write) is refused, not used:
	 * whoever could read it can issue identities. */
	if (fstat(fileno(f), &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		fclose(f);
		return NULL;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen,
			 "%s: the private key is accessible by group or others (mode %04o); refusing to use it: "
			 "chmod 600 %s",
			 path, (unsigned)(st.st_mode & 07777), path);
		fclose(f);
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, pem_pass_cb, (void *)pass);
	fclose(f);
	if (!k)
		set_err(err, errlen, "reading the private key", path);
	return k;
}

/* Reads the first certificate of path; any further ones go to chain. */
static X509 *load_certs(const char *path, STACK_OF(X509) *chain, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	X509 *first, *x;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	first = PEM_read_X509(f, NULL, NULL, NULL);
	while (first && chain && (x = PEM_read_X509(f, NULL, NULL, NULL)))
		sk_X509_push(chain, x);
	fclose(f);
	ERR_clear_error(); /* the end of the file reads as an error */
	if (!first)
		snprintf(err, errlen, "%s: no PEM certificate", path);
	return first;
}

static int has_key_usage(X509 *x, uint32_t bits)
{
	return (X509_get_extension_flags(x) & EXFLAG_KUSAGE) && (X509_get_key_usage(x) & bits) == bits;
}

/* A CA or RA outside its validity cannot issue: say so at start-up. */
static int within_validity(X509 *x, const char *path, char *err, size_t errlen)
{
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
		snprintf(err, errlen, "%s: the certificate is not valid yet", path);
		return 0;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		snprintf(err, errlen, "%s: the certificate has expired", path);
		return 0;
	}
	return 1;
}

static int build_getcacert(struct ca *ca)
{
	STACK_OF(X509) *certs;
	int n, ok = 0;

	if (!ca->ra_cert && sk_X509_num(ca->chain) == 0) {
		unsigned char *der = NULL;
		if ((n = i2d_X509(ca->cert, &der)) <= 0)
			return 0;
		ca->getcacert = der;
		ca->getcacert_len = (size_t)n;
		ca->getcacert_type = "application/x-x509-ca-cert";
		return 1;
	}
	/* RA first, then the CA and its chain up to the root. */
	if (!(certs = sk_X509_new_null()))
		return 0;
	if ((ca->ra_cert && !sk_X509_push(certs, ca->ra_cert)) || !sk_X509_push(certs, ca->cert))
		goto out;
	for (int i = 0; i < sk_X509_num(ca->chain); i++)
		if (!sk_X509_push(certs, sk_X509_value(ca->chain, i)))
			goto out;
	ok = x509u_degenerate_p7(certs, &ca->getcacert, &ca->getcacert_len);
	ca->getcacert_type = "application/x-x509-ca-ra-cert";
out:
	sk_X509_free(certs);
	return ok;
}

/*
 * GetNextCACert (RFC 8894 section 4.7): a SignedData by the current CA whose
 * content is a degenerate certs-only SignedData of the next CA (and RA).
 */
static int build_getnextcacert(struct ca *ca)
{
	unsigned char *inner = NULL;
	size_t inner_len = 0;
	BIO *in = NULL;
	PKCS7 *p7 = NULL;
	int n, ok = 0;

	if (!x509u_degenerate_p7(ca->next, &inner, &inner_len) || !(in = BIO_new_mem_buf(inner, (int)inner_len)) ||
	    !(p7 = PKCS7_sign(ca->cert, ca->key, NULL, in, PKCS7_BINARY | PKCS7_NOSMIMECAP)) ||
	    (n = i2d_PKCS7(p7, &ca->getnextcacert)) <= 0)
		goto out;
	ca->getnextcacert_len = (size_t)n;
	ok = 1;
out:
	ERR_clear_error();
	PKCS7_free(p7);
	BIO_free(in);
	OPENSSL_free(inner);
	return ok;
}

/* DIR/next (a rollover in progress) and DIR/previous/(each) (replaced CAs). */
static int load_rollover(struct ca *ca, const char *dir, const char *pass, char *err, size_t errlen)
{
	char path[4096];
	X509 *x;
	DIR *d;
	struct dirent *e;

	if (!(ca->previous = sk_X509_new_null())) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(path, sizeof path, "%s/next/ca.pem", dir);
	if (access(path, F_OK) == 0) {
		if (!(ca->next = sk_X509_new_null())) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		snprintf(path, sizeof path, "%s/next/ra.pem", dir);
		if (access(path, F_OK) == 0) {
			if (!(x = load_certs(path, NULL, err, errlen)) || !sk_X509_push(ca->next, x)) {
				X509_free(x);
				return -1;
			}
		}
		snprintf(path, sizeof path, "%s/next/ca.pem", dir);
		if (!(x = load_certs(path, NULL, err, errlen)) || !sk_X509_push(ca->next, x)) {
			X509_free(x);
			return -1;
		}
		if (!build_getnextcacert(ca)) {
			set_err(err, errlen, "encoding the GetNextCACert answer", NULL);
			return -1;
		}
	}
	snprintf(path, sizeof path, "%s/previous", dir);
	if (!(d = opendir(path)))
		return 0;
	while ((e = readdir(d))) {
		char pem[4400];
		if (e->d_name[0] == '.')
			continue;
		char key[4400];
		EVP_PKEY *k, **keys;
		snprintf(pem, sizeof pem, "%s/%s/ca.pem", path, e->d_name);
		snprintf(key, sizeof key, "%s/%s/ca.key", path, e->d_name);
		if (access(pem, F_OK) != 0 || access(key, F_OK) != 0)
			continue;
		if (!(x = load_certs(pem, NULL, err, errlen)) || !(k = load_key(key, pass, err, errlen))) {
			X509_free(x);
			closedir(d);
			return -1;
		}
		keys = realloc(ca->previous_keys, (size_t)(sk_X509_num(ca->previous) + 1) * sizeof *keys);
		if (!keys || !sk_X509_push(ca->previous, x)) {
			if (keys)
				ca->previous_keys = keys;
			X509_free(x);
			EVP_PKEY_free(k);
			closedir(d);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		ca->previous_keys = keys;
		keys[sk_X509_num(ca->previous) - 1] = k;
	}
	closedir(d);
	return 0;
}

int ca_load(const char *dir, const char *pass, struct ca **out, char *err, size_t errlen)
{
	char *ca_pem = path_join(dir, "ca.pem"), *ca_key = path_join(dir, "ca.key");
	char *ra_pem = path_join(dir, "ra.pem"), *ra_key = path_join(dir, "ra.key");
	struct ca *ca = calloc(1, sizeof *ca);
	int rc = -1;

	*out = NULL;
	if (!ca || !ca_pem || !ca_key || !ra_pem || !ra_key || !(ca->chain = sk_X509_new_null())) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (!(ca->cert = load_certs(ca_pem, ca->chain, err, errlen)) || !(ca->key = load_key(ca_key, pass, err, errlen)))
		goto out;
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		set_err(err, errlen, "the CA key does not match", ca_pem);
		goto out;
	}
	if (!within_validity(ca->cert, ca_pem, err, errlen))
		goto out;
	if (!(X509_get_extension_flags(ca->cert) & EXFLAG_CA) || !has_key_usage(ca->cert, KU_KEY_CERT_SIGN)) {
		snprintf(err, errlen, "%s: not a CA certificate with keyCertSign", ca_pem);
		goto out;
	}
	if (access(ra_pem, F_OK) == 0) {
		if (!(ca->ra_cert = load_certs(ra_pem, NULL, err, errlen)) ||
		    !(ca->ra_key = load_key(ra_key, pass, err, errlen)))
			goto out;
		if (X509_check_private_key(ca->ra_cert, ca->ra_key) != 1) {
			set_err(err, errlen, "the RA key does not match", ra_pem);
			goto out;
		}
		if (!within_validity(ca->ra_cert, ra_pem, err, errlen))
			goto out;
		if (X509_check_issued(ca->cert, ca->ra_cert) != X509_V_OK) {
			snprintf(err, errlen, "%s: the RA certificate was not issued by the CA", ra_pem);
			goto out;
		}
		if (!has_key_usage(ca->ra_cert, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT)) {
			snprintf(err, errlen, "%s: the RA needs keyUsage digitalSignature and keyEncipherment", ra_pem);
			goto out;
		}
	} else if (!has_key_usage(ca->cert, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT)) {
		snprintf(err, errlen, "%s: without an RA the CA needs keyUsage digitalSignature and keyEncipherment",
			 ca_pem);
		goto out;
	}
	if (EVP_PKEY_get_base_id(ca_get0_responder_cert(ca) == ca->cert ? ca->key : ca->ra_key) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "the SCEP responder key must be RSA");
		goto out;
	}
	if (!build_getcacert(ca)) {
		set_err(err, errlen, "encoding the GetCACert answer", NULL);
		goto out;
	}
	if (load_rollover(ca, dir, pass, err, errlen) < 0)
		goto out;
	*out = ca;
	ca = NULL;
	rc = 0;
out:
	free(ca_pem), free(ca_key), free(ra_pem), free(ra_key);
	ca_free(ca);
	return rc;
}

void ca_free(struct ca *ca)
{
	if (!ca)
		return;
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	sk_X509_pop_free(ca->chain, X509_free);
	X509_free(ca->ra_cert);
	EVP_PKEY_free(ca->ra_key);
	OPENSSL_free(ca->getcacert);
	sk_X509_pop_free(ca->next, X509_free);
	OPENSSL_free(ca->getnextcacert);
	for (int i = 0; ca->previous_keys && i < sk_X509_num(ca->previous); i++)
		EVP_PKEY_free(ca->previous_keys[i]);
	free(ca->previous_keys);
	sk_X509_pop_free(ca->previous, X509_free);
	free(ca);
}

X509 *ca_get0_cert(const struct ca *ca) { return ca->cert; }
bool ca_has_next(const struct ca *ca) { return ca->next != NULL; }
STACK_OF(X509) *ca_get0_previous(const struct ca *ca) { return ca->previous; }

void ca_get0_getnextcacert(const struct ca *ca, const unsigned char **body, size_t *len)
{
	*body = ca->getnextcacert;
	*len = ca->getnextcacert_len;
}

X509 *ca_cross_certify(const struct ca *ca, X509 *next, unsigned days)
{
	/* The next CA's name and key, certified by this CA: devices and relying
	 * parties that trust only this CA can reach the next one. */
	return make_cert(X509_get0_pubkey(next), X509_get_subject_name(next), ca->cert, ca->key, days,
			 "critical,CA:TRUE", "critical,keyCertSign,cRLSign");
}
X509 *ca_get0_responder_cert(const struct ca *ca) { return ca->ra_cert ? ca->ra_cert : ca->cert; }
bool ca_has_ra(const struct ca *ca) { return ca->ra_cert != NULL; }
STACK_OF(X509) *ca_get0_chain(const struct ca *ca) { return ca->chain; }

static EVP_PKEY *responder_key(const struct ca *ca) { return ca->ra_cert ? ca->ra_key : ca->key; }

void ca_get0_getcacert(const struct ca *ca, const unsigned char **body, size_t *len, const char **content_type)
{
	*body = ca->getcacert;
	*len = ca->getcacert_len;
	*content_type = ca->getcacert_type;
}

enum mdmid_err ca_decrypt_envelope(const struct ca *ca, PKCS7 *env, unsigned char **out, size_t *outlen)
{
	BIO *bio = NULL;
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;
	enum mdmid_err rc = MDMID_ERR_DECRYPT;

	*out = NULL;
	/* pcert NULL: try every recipient, random key when none matches. */
	if (!(bio = PKCS7_dataDecode(env, responder_key(ca), NULL, NULL)))
		goto out;
	for (;;) {
		int n;
		if (cap - len < 4096) {
			unsigned char *nb;
			/* An envelope never decrypts to more bytes than it holds. */
			if (cap > 1u << 20 || !(nb = realloc(buf, cap + 8192)))
				goto out;
			buf = nb;
			cap += 8192;
		}
		n = BIO_read(bio, buf + len, (int)(cap - len));
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		/* End of data, or a padding error from the cipher BIO. */
		if (!BIO_get_cipher_status(bio))
			goto out;
		break;
	}
	if (len == 0)
		goto out;
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = MDMID_OK;
out:
	if (buf) {
		OPENSSL_cleanse(buf, cap);
		free(buf);
	}
	BIO_free_all(bio);
	ERR_clear_error();
	return rc;
}

PKCS7_SIGNER_INFO *ca_responder_add_signer(const struct ca *ca, PKCS7 *p7, const EVP_MD *md, int flags)
{
	return PKCS7_sign_add_signer(p7, ca_get0_responder_cert(ca), responder_key(ca), md, flags);
}

enum mdmid_err ca_sign_cert(const struct ca *ca, X509 *cert)
{
	if (!X509_set_issuer_name(cert, X509_get_subject_name(ca->cert)))
		return MDMID_ERR_ISSUE;
	if (X509_sign(cert, ca->key, EVP_sha256()) <= 0) {
		ERR_clear_error();
		return MDMID_ERR_ISSUE;
	}
	return MDMID_OK;
}

enum mdmid_err ca_sign_crl(const struct ca *ca, X509_CRL *crl) { return ca_sign_crl_as(ca, -1, crl); }

X509 *ca_get0_crl_issuer(const struct ca *ca, int which)
{
	return which < 0 ? ca->cert : sk_X509_value(ca->previous, which);
}

enum mdmid_err ca_sign_crl_as(const struct ca *ca, int which, X509_CRL *crl)
{
	X509 *cert = ca_get0_crl_issuer(ca, which);
	EVP_PKEY *key = which < 0 ? ca->key : ca->previous_keys[which];

	if (!cert || !X509_CRL_set_issuer_name(crl, X509_get_subject_name(cert)))
		return MDMID_ERR_ISSUE;
	if (X509_CRL_sign(crl, key, EVP_sha256()) <= 0) {
		ERR_clear_error();
		return MDMID_ERR_ISSUE;
	}
	return MDMID_OK;
}
