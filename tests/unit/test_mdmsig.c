/*
 * Mdm-Signature verdicts that are reached before any database look-up:
 * a garbage header, a signature over other bytes, a foreign signer, and a
 * signing-time outside the signer's validity (which openssl cms cannot
 * produce, so the integration test cannot cover it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <openssl/evp.h>
#include <openssl/pkcs7.h>

#include "mdmid/issue.h"
#include "mdmid/mdmsig.h"
#include "unit_util.h"

static struct {
	char dir[256];
	struct ca *ca, *foreign;
	struct policy pol;
	EVP_PKEY *key;
	X509 *cert, *foreign_cert;
	struct mdmsig_verifier *v;
} F;

static X509 *issue_for(struct ca *ca, EVP_PKEY *key)
{
	X509_REQ *csr = ut_csr(key, "/CN=00008030-001A2D8A3C02802E", NULL);
	X509 *x = NULL;
	assert_non_null(csr);
	assert_int_equal(issue_from_csr(ca, &F.pol, csr, &x), MDMID_OK);
	X509_REQ_free(csr);
	return ut_reparse(x);
}

static int group_setup(void **state)
{
	(void)state;
	if (ut_mkdtemp(F.dir, sizeof F.dir, "mdmsig") < 0)
		return -1;
	policy_init(&F.pol, 2048, false, true, true, 365, NULL);
	if (!(F.ca = ut_make_ca(F.dir, "ca", true, 365)) || !(F.foreign = ut_make_ca(F.dir, "foreign", true, 365)) ||
	    !(F.key = ut_rsa(2048)) || !(F.v = mdmsig_verifier_new(F.ca)))
		return -1;
	F.cert = issue_for(F.ca, F.key);
	F.foreign_cert = issue_for(F.foreign, F.key);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	mdmsig_verifier_free(F.v);
	X509_free(F.cert);
	X509_free(F.foreign_cert);
	EVP_PKEY_free(F.key);
	ca_free(F.ca);
	ca_free(F.foreign);
	if (F.dir[0])
		ut_rm_rf(F.dir);
	return 0;
}

/* Base64 of a detached SignedData over body by cert/F.key; signing_time, when
 * not NULL, replaces the signingTime attribute ("YYMMDDHHMMSSZ"). */
static char *sign(const char *body, X509 *cert, const char *signing_time)
{
	BIO *in = BIO_new_mem_buf(body, (int)strlen(body));
	const int flags = PKCS7_DETACHED | PKCS7_BINARY | PKCS7_PARTIAL;
	PKCS7 *p7 = PKCS7_sign(NULL, NULL, NULL, in, flags);
	PKCS7_SIGNER_INFO *si;
	unsigned char *der = NULL;
	char *b64;
	int len;

	assert_non_null(p7);
	assert_non_null(si = PKCS7_sign_add_signer(p7, cert, F.key, EVP_sha256(), flags));
	if (signing_time) {
		ASN1_UTCTIME *t = ASN1_UTCTIME_new();
		assert_true(ASN1_UTCTIME_set_string(t, signing_time));
		assert_true(PKCS7_add_signed_attribute(si, NID_pkcs9_signingTime, V_ASN1_UTCTIME, t));
	}
	assert_int_equal(PKCS7_final(p7, in, flags), 1);
	assert_true((len = i2d_PKCS7(p7, &der)) > 0);
	b64 = malloc((size_t)len * 2 + 4);
	EVP_EncodeBlock((unsigned char *)b64, der, len);
	OPENSSL_free(der);
	PKCS7_free(p7);
	BIO_free(in);
	return b64;
}

static void verdict(const char *body, const char *header, const char *reason)
{
	struct mdmsig_result r;
	/* No store: each of these is decided before the row is looked up. */
	assert_int_equal(mdmsig_verify(F.v, NULL, (const unsigned char *)body, strlen(body), header, &r), MDMID_OK);
	assert_false(r.valid);
	assert_string_equal(r.reason, reason);
}

static void garbage_header(void **state)
{
	(void)state;
	verdict("body", "!!!", "bad_header");
	verdict("body", "bm90IGEgc2lnbmF0dXJl", "bad_header");
	verdict("body", "", "bad_header");
}

static void other_body(void **state)
{
	char *h = sign("the body as signed", F.cert, NULL);
	(void)state;
	verdict("the body as changed", h, "signature_mismatch");
	free(h);
}

static void foreign_signer(void **state)
{
	char *h = sign("body", F.foreign_cert, NULL);
	(void)state;
	verdict("body", h, "untrusted_signer");
	free(h);
}

static void signing_time_outside_validity(void **state)
{
	char *h = sign("body", F.cert, "000101000000Z");
	(void)state;
	verdict("body", h, "signing_time_outside_validity");
	free(h);
}

/* The body's UDID (body_udid_matches); a string with a NUL inside once made
 * libplist abort the process (tests/fuzz/regressions/mdmsig). */
static void body_udid(void **state)
{
	static const char head[] = "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>UDID</key><string>";
	static const char tail[] = "</string></dict></plist>";
	const char *udid = "00008030-001A2D8A3C02802E";
	char body[256];
	size_t n;

	(void)state;
	n = (size_t)snprintf(body, sizeof body, "%s00008030-001a2d8a3c02802e%s", head, tail);
	assert_int_equal(mdmsig_body_udid((const unsigned char *)body, n, udid), 1);
	assert_int_equal(mdmsig_body_udid((const unsigned char *)body, n, "00008030-001A2D8A3C02802F"), 0);
	n = (size_t)snprintf(body, sizeof body, "%s00008030-001A2D8A3C02802E#x%s", head, tail);
	body[strlen(head) + 25] = '\0';
	assert_int_equal(mdmsig_body_udid((const unsigned char *)body, n, udid), 0);
	assert_int_equal(mdmsig_body_udid((const unsigned char *)"not a plist", 11, udid), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(garbage_header),
		cmocka_unit_test(other_body),
		cmocka_unit_test(foreign_signer),
		cmocka_unit_test(signing_time_outside_validity),
		cmocka_unit_test(body_udid),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
