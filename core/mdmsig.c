/* Mdm-Signature: Base64 CMS detached SignedData over a device's request body. */
#include "mdmid/mdmsig.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>
#include <plist/plist.h>

#include "mdmid/x509util.h"

#ifdef MDMID_FUZZING
/* Fuzz builds only (tests/fuzz): a fuzzer cannot sign, so a signature that
 * does not verify is let through to reach the checks behind it. */
#define FUZZING_IGNORES_SIGNATURE 1
#else
#define FUZZING_IGNORES_SIGNATURE 0
#endif

struct mdmsig_verifier {
	X509_STORE *trust;
};

struct mdmsig_verifier *mdmsig_verifier_new(const struct ca *ca)
{
	struct mdmsig_verifier *v = calloc(1, sizeof *v);
	STACK_OF(X509) *chain = ca_get0_chain(ca);

	if (!v || !(v->trust = X509_STORE_new()) || !X509_STORE_add_cert(v->trust, ca_get0_cert(ca)))
		goto fail;
	for (int i = 0; i < sk_X509_num(chain); i++)
		if (!X509_STORE_add_cert(v->trust, sk_X509_value(chain, i)))
			goto fail;
	/* Identities from a CA that a rollover replaced stay valid until they expire. */
	for (int i = 0; i < sk_X509_num(ca_get0_previous(ca)); i++)
		if (!X509_STORE_add_cert(v->trust, sk_X509_value(ca_get0_previous(ca), i)))
			goto fail;
	return v;
fail:
	mdmsig_verifier_free(v);
	return NULL;
}

void mdmsig_verifier_free(struct mdmsig_verifier *v)
{
	if (!v)
		return;
	X509_STORE_free(v->trust);
	free(v);
}

/* Base64 with optional whitespace; NULL for anything else. */
static unsigned char *b64_decode(const char *in, size_t *outlen)
{
	size_t n = strlen(in), j = 0;
	char *clean = malloc(n + 1);
	unsigned char *out = NULL;
	int dec, pad = 0;

	if (!clean || n == 0 || n > (1u << 20))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		clean[j++] = c;
	}
	if (j == 0 || j % 4)
		goto fail;
	pad = (clean[j - 1] == '=') + (clean[j - 2] == '=');
	if (!(out = malloc(j / 4 * 3)) || (dec = EVP_DecodeBlock(out, (unsigned char *)clean, (int)j)) < pad)
		goto fail;
	*outlen = (size_t)dec - (size_t)pad;
	free(clean);
	return out;
fail:
	free(clean);
	free(out);
	return NULL;
}

/* Whether every digest algorithm of the SignedData can be fetched. OpenSSL
 * 3.0's PKCS7_verify leaks its copy of the detached content when one cannot
 * (PKCS7_dataInit fails): such a header is refused before it is called
 * (tests/fuzz/regressions/mdmsig). */
static int digests_fetchable(PKCS7 *p7)
{
	STACK_OF(X509_ALGOR) *algs = p7->d.sign->md_algs;

	for (int i = 0; i < sk_X509_ALGOR_num(algs); i++) {
		const X509_ALGOR *a = sk_X509_ALGOR_value(algs, i);
		EVP_MD *md = EVP_MD_fetch(NULL, OBJ_nid2sn(OBJ_obj2nid(a->algorithm)), NULL);
		if (!md)
			return 0;
		EVP_MD_free(md);
	}
	return 1;
}

/* The chain verdict for the signer as a reason, or NULL when it is trusted. */
static const char *chain_reason(const struct mdmsig_verifier *v, X509 *signer, STACK_OF(X509) *untrusted)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	const char *reason = "untrusted_signer";
	int ok;

	if (!ctx || !X509_STORE_CTX_init(ctx, v->trust, signer, untrusted)) {
		X509_STORE_CTX_free(ctx);
		return "untrusted_signer";
	}
	/* A device identity is a TLS client certificate: clientAuth. */
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	ok = X509_verify_cert(ctx) == 1;
	if (!ok) {
		switch (X509_STORE_CTX_get_error(ctx)) {
		case X509_V_ERR_CERT_HAS_EXPIRED: reason = "signer_expired"; break;
		case X509_V_ERR_CERT_NOT_YET_VALID: reason = "signer_not_yet_valid"; break;
		case X509_V_ERR_INVALID_PURPOSE: reason = "wrong_usage"; break;
		default: reason = "untrusted_signer"; break;
		}
	}
	X509_STORE_CTX_free(ctx);
	return ok ? NULL : reason;
}

/* A signing-time attribute, when there is one, within the signer's validity. */
static int signing_time_ok(PKCS7_SIGNER_INFO *si, X509 *signer)
{
	ASN1_TYPE *t = PKCS7_get_signed_attribute(si, NID_pkcs9_signingTime);
	const ASN1_TIME *st;

	if (!t)
		return 1;
	if (t->type != V_ASN1_UTCTIME && t->type != V_ASN1_GENERALIZEDTIME)
		return 0;
	st = t->value.asn1_string;
	return ASN1_TIME_compare(st, X509_get0_notBefore(signer)) >= 0 &&
	       ASN1_TIME_compare(st, X509_get0_notAfter(signer)) <= 0;
}

/* Check-in bodies are small, shallow dictionaries. libplist 2.2 parses
 * recursively with no depth limit, so a deeply nested body (which a device
 * can sign) would overflow the stack: XML is parsed only when its nesting
 * stays shallow, binary only when it is small enough to be shallow. */
#define PLIST_MAX_DEPTH 32
#define PLIST_MAX_BINARY 8192

static int xml_shallow(const unsigned char *p, size_t len)
{
	int depth = 0;
	for (size_t i = 0; i + 1 < len; i++) {
		if (p[i] != '<')
			continue;
		if (p[i + 1] == '/') {
			if ((i + 7 <= len && !memcmp(p + i, "</dict>", 7)) || (i + 8 <= len && !memcmp(p + i, "</array>", 8)))
				depth--;
		} else if ((i + 6 <= len && !memcmp(p + i, "<dict>", 6)) || (i + 7 <= len && !memcmp(p + i, "<array>", 7))) {
			if (++depth > PLIST_MAX_DEPTH)
				return 0;
		}
	}
	return 1;
}

int mdmsig_body_udid(const unsigned char *body, size_t len, const char *udid)
{
	plist_t root = NULL, node;
	const char *value;
	char canon[UDID_MAX + 1];
	uint64_t vlen = 0;
	int rc = -1;

	if (len == 0 || len > (1u << 20))
		return -1;
	if (len >= 6 && !memcmp(body, "bplist", 6)) {
		if (len > PLIST_MAX_BINARY)
			return -1;
	} else if (!xml_shallow(body, len)) {
		return -1;
	}
	plist_from_memory((const char *)body, (uint32_t)len, &root);
	if (root && plist_get_node_type(root) == PLIST_DICT && (node = plist_dict_get_item(root, "UDID")) &&
	    plist_get_node_type(node) == PLIST_STRING) {
		/* Not plist_get_string_val: libplist 2.2 asserts, and so aborts the
		 * process, when the string has a NUL inside (tests/fuzz/regressions/mdmsig). */
		if ((value = plist_get_string_ptr(node, &vlen)))
			rc = vlen == strlen(value) && udid_canonical(value, canon) == 0 && udid[0] && strcmp(canon, udid) == 0;
	}
	plist_free(root);
	return rc;
}

enum mdmid_err mdmsig_verify(const struct mdmsig_verifier *v, struct store *st, const unsigned char *body, size_t len,
			     const char *header, struct mdmsig_result *out)
{
	unsigned char *der = NULL, fp[32];
	const unsigned char *q;
	size_t der_len = 0;
	PKCS7 *p7 = NULL;
	STACK_OF(X509) *signers = NULL;
	STACK_OF(PKCS7_SIGNER_INFO) *sis;
	X509 *signer;
	BIO *in = NULL;
	struct cert_row row;
	const char *why;
	enum mdmid_err rc = MDMID_OK;

	memset(out, 0, sizeof *out);
	out->body_udid_matches = -1;
	out->reason = "bad_header";
	if (!(der = b64_decode(header, &der_len)))
		goto out;
	q = der;
	/* BER accepted: devices may send indefinite lengths. */
	if (!(p7 = d2i_PKCS7(NULL, &q, (long)der_len)) || q != der + der_len)
		goto out;
	out->reason = "not_signed_data";
	if (!PKCS7_type_is_signed(p7) || !(sis = PKCS7_get_signer_info(p7)) || sk_PKCS7_SIGNER_INFO_num(sis) != 1 ||
	    !(signers = PKCS7_get0_signers(p7, NULL, 0)) || sk_X509_num(signers) != 1)
		goto out;
	signer = sk_X509_value(signers, 0);
	if (!x509u_sha256(signer, fp)) {
		rc = MDMID_ERR_INTERNAL;
		goto out;
	}
	x509u_hex(fp, sizeof fp, out->sha256);
	/* The signature over the body as received (the content is detached). */
	out->reason = "signature_mismatch";
	if (!digests_fetchable(p7) || !(in = BIO_new_mem_buf(len ? body : (const unsigned char *)"", (int)len)) ||
	    (PKCS7_verify(p7, NULL, NULL, in, NULL, PKCS7_NOVERIFY | PKCS7_NOCHAIN | PKCS7_BINARY) != 1 &&
	     !FUZZING_IGNORES_SIGNATURE))
		goto out;
	if ((why = chain_reason(v, signer, p7->d.sign->cert))) {
		out->reason = why;
		goto out;
	}
	out->reason = "signing_time_outside_validity";
	if (!signing_time_ok(sk_PKCS7_SIGNER_INFO_value(sis, 0), signer))
		goto out;
	/* No store (unit tests, the fuzzer): the verdict stops before the look-up. */
	if (!st) {
		out->reason = "unknown_certificate";
		goto out;
	}
	if ((rc = store_cert_find(st, fp, &row)) != MDMID_OK)
		goto out;
	out->reason = "unknown_certificate";
	if (!row.found)
		goto out;
	memcpy(out->serial, row.serial, sizeof out->serial);
	memcpy(out->udid, row.udid, sizeof out->udid);
	out->body_udid_matches = mdmsig_body_udid(body, len, row.udid);
	if (strcmp(row.status, "issued") != 0) {
		out->reason = strcmp(row.status, "revoked") == 0 ? "revoked" : "abandoned";
		goto out;
	}
	out->valid = true;
	out->reason = "ok";
out:
	ERR_clear_error();
	BIO_free(in);
	sk_X509_free(signers);
	PKCS7_free(p7);
	free(der);
	return rc;
}
