/*
 * test_policy.c - what mdmid accepts (policy.h) and what it puts into the
 * certificates it issues (issue.h): algorithm tables, CSR checks, the static
 * challenge, and issue_from_csr's extensions, names, serial and validity.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <time.h>

#include <openssl/x509v3.h>

#include "mdmid/ca.h"
#include "mdmid/err.h"
#include "mdmid/issue.h"
#include "mdmid/policy.h"
#include "mdmid/x509util.h"
#include "scep_client.h"
#include "unit_util.h"

static struct {
	char dir[256];
	struct ca *ca;     /* 365 days, CA-only (cheaper: one key) */
	struct ca *ca30;   /* 30 days */
	EVP_PKEY *k2048, *k2048b, *k1024, *ec;
	struct policy pol; /* 2048, no DES, csr_subject, csr_san, 100 days, "secret" */
} F;

static int group_setup(void **state)
{
	(void)state;
	if (!ut_mkdtemp(F.dir, sizeof F.dir, "policy"))
		return -1;
	if (!(F.ca = ut_make_ca(F.dir, "ca", true, 365)) || !(F.ca30 = ut_make_ca(F.dir, "ca30", true, 30)))
		return -1;
	if (!(F.k2048 = ut_rsa(2048)) || !(F.k2048b = ut_rsa(2048)) || !(F.k1024 = ut_rsa(1024)) || !(F.ec = ut_ec()))
		return -1;
	policy_init(&F.pol, 2048, false, true, true, 100, "secret");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	ca_free(F.ca);
	ca_free(F.ca30);
	EVP_PKEY_free(F.k2048);
	EVP_PKEY_free(F.k2048b);
	EVP_PKEY_free(F.k1024);
	EVP_PKEY_free(F.ec);
	if (F.dir[0])
		ut_rm_rf(F.dir);
	return 0;
}

/* cmocka's assert_in_range compares unsigned: no good for negative seconds. */
#define assert_between(v, lo, hi)                                                                 \
	do {                                                                                      \
		long v_ = (v);                                                                    \
		if (v_ < (long)(lo) || v_ > (long)(hi))                                           \
			fail_msg("%s = %ld, not in [%ld, %ld]", #v, v_, (long)(lo), (long)(hi));  \
	} while (0)

static void assert_err(enum mdmid_err got, enum mdmid_err want)
{
	if (got != want)
		fail_msg("got %s, want %s", mdmid_err_name(got), mdmid_err_name(want));
}

/* ---- algorithm tables ------------------------------------------------------ */

static void digest_table(void **state)
{
	const int ok[] = {NID_sha1, NID_sha224, NID_sha256, NID_sha384, NID_sha512};
	const int bad[] = {NID_md5, NID_md4, NID_md2, NID_md5_sha1, NID_sha3_256, NID_sha512_256, NID_ripemd160,
			   NID_undef, NID_sha256WithRSAEncryption, 99999};
	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		assert_err(policy_check_digest(ok[i]), MDMID_OK);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (policy_check_digest(bad[i]) != MDMID_ERR_DIGEST_ALG)
			fail_msg("digest %s accepted", OBJ_nid2sn(bad[i]));
	assert_int_equal(mdmid_err_info(MDMID_ERR_DIGEST_ALG)->fail_info, SCEP_FAIL_BAD_ALG);
}

static void cipher_table(void **state)
{
	const int ok[] = {NID_aes_128_cbc, NID_aes_192_cbc, NID_aes_256_cbc, NID_des_ede3_cbc};
	const int bad[] = {NID_rc2_cbc,     NID_aes_128_ecb, NID_aes_128_gcm,  NID_aes_256_ofb128,
			   NID_des_ede_cbc, NID_des_ecb,     NID_bf_cbc,       NID_undef,
			   NID_rc4,         NID_sha256,      NID_des_ede3_ecb, 99999};
	struct policy strict, legacy;
	(void)state;

	policy_init(&strict, 2048, false, true, true, 365, NULL);
	policy_init(&legacy, 2048, true, true, true, 365, NULL);
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		assert_err(policy_check_cipher(&strict, ok[i]), MDMID_OK);
		assert_err(policy_check_cipher(&legacy, ok[i]), MDMID_OK);
	}
	assert_err(policy_check_cipher(&strict, NID_des_cbc), MDMID_ERR_SINGLE_DES);
	assert_err(policy_check_cipher(&legacy, NID_des_cbc), MDMID_OK);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (policy_check_cipher(&strict, bad[i]) != MDMID_ERR_CIPHER_ALG ||
		    policy_check_cipher(&legacy, bad[i]) != MDMID_ERR_CIPHER_ALG)
			fail_msg("cipher %s accepted", OBJ_nid2sn(bad[i]));
	}
	assert_int_equal(mdmid_err_info(MDMID_ERR_SINGLE_DES)->fail_info, SCEP_FAIL_BAD_ALG);
	assert_int_equal(mdmid_err_info(MDMID_ERR_CIPHER_ALG)->fail_info, SCEP_FAIL_BAD_ALG);
}

static void requester_key(void **state)
{
	(void)state;
	assert_err(policy_check_requester_key(F.k2048), MDMID_OK);
	assert_err(policy_check_requester_key(F.k1024), MDMID_OK); /* the CSR check judges size */
	assert_err(policy_check_requester_key(F.ec), MDMID_ERR_REQUESTER_KEY_ALG);
	assert_err(policy_check_requester_key(NULL), MDMID_ERR_REQUESTER_KEY_ALG);
}

/* ---- CSR checks ------------------------------------------------------------ */

static void csr_rsa2048_ok(void **state)
{
	X509_REQ *csr = scepc_make_csr(F.k2048, "device", "secret");
	(void)state;
	assert_non_null(csr);
	assert_err(policy_check_csr(&F.pol, csr, F.k2048), MDMID_OK);
	X509_REQ_free(csr);
}

static void csr_rsa1024_too_small(void **state)
{
	X509_REQ *csr = scepc_make_csr(F.k1024, "old iphone", "secret");
	(void)state;
	assert_non_null(csr);
	assert_err(policy_check_csr(&F.pol, csr, F.k1024), MDMID_ERR_KEY_TOO_SMALL);
	/* Apple's default Keysize is 1024: the answer must be a clear badRequest. */
	assert_int_equal(mdmid_err_info(MDMID_ERR_KEY_TOO_SMALL)->fail_info, SCEP_FAIL_BAD_REQUEST);
	X509_REQ_free(csr);
}

static void csr_min_3072_refuses_2048(void **state)
{
	struct policy p;
	X509_REQ *csr = scepc_make_csr(F.k2048, "device", NULL);
	(void)state;
	assert_non_null(csr);
	policy_init(&p, 3072, false, true, true, 365, NULL);
	assert_err(policy_check_csr(&p, csr, F.k2048), MDMID_ERR_KEY_TOO_SMALL);
	policy_init(&p, 2048, false, true, true, 365, NULL);
	assert_err(policy_check_csr(&p, csr, F.k2048), MDMID_OK);
	policy_init(&p, 1024, false, true, true, 365, NULL);
	assert_err(policy_check_csr(&p, csr, F.k2048), MDMID_OK);
	X509_REQ_free(csr);
}

static void csr_ec_key(void **state)
{
	X509_REQ *csr = scepc_make_csr(F.ec, "ec device", NULL);
	(void)state;
	assert_non_null(csr);
	/* Signed by its own (EC) key: the key algorithm is what is refused. */
	assert_err(policy_check_csr(&F.pol, csr, F.ec), MDMID_ERR_KEY_ALG);
	/* Signed (the pkiMessage) by an RSA key: that key is not the CSR's. */
	assert_err(policy_check_csr(&F.pol, csr, F.k2048), MDMID_ERR_CSR_KEY_MISMATCH);
	X509_REQ_free(csr);
}

static void csr_key_mismatch(void **state)
{
	X509_REQ *csr = scepc_make_csr(F.k2048, "device", NULL);
	(void)state;
	assert_non_null(csr);
	assert_err(policy_check_csr(&F.pol, csr, F.k2048b), MDMID_ERR_CSR_KEY_MISMATCH);
	assert_err(policy_check_csr(&F.pol, csr, NULL), MDMID_ERR_CSR_KEY_MISMATCH);
	X509_REQ_free(csr);
}

/* A copy of csr with one DER byte flipped at off (from the end if negative). */
static X509_REQ *tampered(X509_REQ *csr, long off)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int n = i2d_X509_REQ(csr, &der);
	X509_REQ *out;

	assert_true(n > 0);
	if (off < 0)
		off += n;
	assert_true(off >= 0 && off < n);
	der[off] ^= 0x01;
	p = der;
	out = d2i_X509_REQ(NULL, &p, n);
	OPENSSL_free(der);
	assert_non_null(out);
	return out;
}

static void csr_tampered_signature(void **state)
{
	X509_REQ *csr = scepc_make_csr(F.k2048, "device-ABCDEF", "secret");
	unsigned char *der = NULL;
	int n = i2d_X509_REQ(csr, &der);
	const char *cn = "device-ABCDEF";
	long cn_off = -1;
	X509_REQ *t;
	(void)state;

	assert_true(n > 0);
	for (long i = 0; i + (long)strlen(cn) <= n && cn_off < 0; i++)
		if (!memcmp(der + i, cn, strlen(cn)))
			cn_off = i;
	OPENSSL_free(der);
	assert_true(cn_off > 0);

	/* The signature value's last byte. */
	t = tampered(csr, -1);
	assert_err(policy_check_csr(&F.pol, t, F.k2048), MDMID_ERR_CSR_SIGNATURE);
	X509_REQ_free(t);
	/* The signed subject (CN "device-ABCDEF" -> "device-ABCDEG"). */
	t = tampered(csr, cn_off + (long)strlen(cn) - 1);
	assert_err(policy_check_csr(&F.pol, t, F.k2048), MDMID_ERR_CSR_SIGNATURE);
	X509_REQ_free(t);
	/* The untampered CSR passes: the flips were the reason. */
	assert_err(policy_check_csr(&F.pol, csr, F.k2048), MDMID_OK);
	X509_REQ_free(csr);
}

/* ---- static challenge ------------------------------------------------------- */

/* A CSR with a challengePassword of exactly these bytes (of the given type). */
static X509_REQ *csr_with_challenge_bytes(const void *bytes, int len, int type)
{
	X509_REQ *csr = ut_csr(F.k2048, "/CN=device", NULL);
	assert_non_null(csr);
	assert_int_equal(X509_REQ_add1_attr_by_NID(csr, NID_pkcs9_challengePassword, type, bytes, len), 1);
	assert_true(X509_REQ_sign(csr, F.k2048, EVP_sha256()) > 0);
	return csr;
}

static void challenge_right(void **state)
{
	X509_REQ *csr = scepc_make_csr(F.k2048, "device", "secret");
	X509_REQ *utf8 = csr_with_challenge_bytes("secret", 6, V_ASN1_UTF8STRING);
	char buf[64];
	(void)state;
	assert_err(policy_check_static_challenge(&F.pol, csr), MDMID_OK);
	assert_err(policy_check_static_challenge(&F.pol, utf8), MDMID_OK);
	assert_int_equal(policy_csr_challenge(csr, buf, sizeof buf), 6);
	assert_string_equal(buf, "secret");
	X509_REQ_free(csr);
	X509_REQ_free(utf8);
}

static void challenge_wrong(void **state)
{
	const char *wrong[] = {"Secret", "secre", "secretx", "secret ", " secret", "x"};
	(void)state;
	for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		X509_REQ *csr = scepc_make_csr(F.k2048, "device", wrong[i]);
		assert_non_null(csr);
		if (policy_check_static_challenge(&F.pol, csr) != MDMID_ERR_CHALLENGE_WRONG)
			fail_msg("challenge \"%s\" not refused as wrong", wrong[i]);
		X509_REQ_free(csr);
	}
}

static void challenge_missing(void **state)
{
	X509_REQ *csr = scepc_make_csr(F.k2048, "device", NULL);
	char buf[64];
	(void)state;
	assert_non_null(csr);
	assert_err(policy_check_static_challenge(&F.pol, csr), MDMID_ERR_CHALLENGE_MISSING);
	assert_int_equal(policy_csr_challenge(csr, buf, sizeof buf), -1);
	X509_REQ_free(csr);
}

static void challenge_none_configured(void **state)
{
	struct policy none, empty;
	X509_REQ *csr = scepc_make_csr(F.k2048, "device", "secret");
	X509_REQ *blank = csr_with_challenge_bytes("", 0, V_ASN1_PRINTABLESTRING);
	(void)state;

	policy_init(&none, 2048, false, true, true, 365, NULL);
	policy_init(&empty, 2048, false, true, true, 365, "");
	assert_false(none.has_static_challenge);
	assert_false(empty.has_static_challenge);
	/* No configured challenge accepts nothing, not even the empty one. */
	assert_err(policy_check_static_challenge(&none, csr), MDMID_ERR_CHALLENGE_WRONG);
	assert_err(policy_check_static_challenge(&empty, csr), MDMID_ERR_CHALLENGE_WRONG);
	assert_err(policy_check_static_challenge(&none, blank), MDMID_ERR_CHALLENGE_WRONG);
	assert_err(policy_check_static_challenge(&empty, blank), MDMID_ERR_CHALLENGE_WRONG);
	assert_err(policy_check_static_challenge(&F.pol, blank), MDMID_ERR_CHALLENGE_WRONG);
	X509_REQ_free(csr);
	X509_REQ_free(blank);
}

static void challenge_embedded_nul_refused(void **state)
{
	static const char nul[] = "secret\0junk";
	X509_REQ *csr = csr_with_challenge_bytes(nul, (int)sizeof nul - 1, V_ASN1_UTF8STRING);
	char buf[64];
	(void)state;
	/* "secret\0junk" must not pass as "secret". */
	assert_int_equal(policy_csr_challenge(csr, buf, sizeof buf), -1);
	assert_err(policy_check_static_challenge(&F.pol, csr), MDMID_ERR_CHALLENGE_MISSING);
	X509_REQ_free(csr);
}

static void challenge_odd_encodings(void **state)
{
	/* An OCTET STRING challenge is not a string type; one too long for the
	 * buffer is refused rather than truncated. */
	X509_REQ *octets = csr_with_challenge_bytes("secret", 6, V_ASN1_OCTET_STRING);
	char longer[300];
	X509_REQ *big;
	char buf[8];
	(void)state;

	memset(longer, 'a', sizeof longer);
	big = csr_with_challenge_bytes(longer, (int)sizeof longer, V_ASN1_UTF8STRING);
	assert_err(policy_check_static_challenge(&F.pol, octets), MDMID_ERR_CHALLENGE_MISSING);
	assert_err(policy_check_static_challenge(&F.pol, big), MDMID_ERR_CHALLENGE_MISSING);
	/* "secret" needs 7 bytes with its NUL. */
	X509_REQ *csr = scepc_make_csr(F.k2048, "device", "secret");
	assert_int_equal(policy_csr_challenge(csr, buf, 6), -1);
	assert_int_equal(policy_csr_challenge(csr, buf, 7), 6);
	X509_REQ_free(csr);
	X509_REQ_free(octets);
	X509_REQ_free(big);
}

/* ---- issue_from_csr --------------------------------------------------------- */

static const struct ut_ext greedy_exts[] = {
	{NID_basic_constraints, "critical,CA:TRUE"},
	{NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
	{NID_ext_key_usage, "serverAuth,codeSigning"},
	{NID_subject_alt_name, "DNS:device.example.com,email:dev@example.com"},
	{NID_netscape_comment, "copied?"},
	{NID_undef, NULL},
};

static X509 *issue(const struct ca *ca, const struct policy *p, X509_REQ *csr)
{
	X509 *x = NULL;
	assert_err(issue_from_csr(ca, p, csr, &x), MDMID_OK);
	assert_non_null(x);
	/* The issued key is the CSR's, byte for byte. */
	{
		unsigned char *a = NULL, *b = NULL;
		int alen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &a);
		int blen = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(csr), &b);
		assert_true(alen > 0);
		assert_int_equal(alen, blen);
		assert_memory_equal(a, b, (size_t)alen);
		OPENSSL_free(a);
		OPENSSL_free(b);
	}
	assert_non_null(x = ut_reparse(x));
	return x;
}

static void issue_ignores_requested_extensions(void **state)
{
	X509_REQ *csr = ut_csr(F.k2048, "/CN=dev1/O=Device Corp/OU=fleet", greedy_exts);
	X509 *x;
	BASIC_CONSTRAINTS *bc;
	EXTENDED_KEY_USAGE *eku;
	int crit = -1;
	(void)state;

	assert_non_null(csr);
	x = issue(F.ca, &F.pol, csr);
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	/* basicConstraints CA:FALSE, critical */
	bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(crit, 1);
	assert_int_equal(bc->ca, 0);
	assert_null(bc->pathlen);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_check_ca(x), 0);
	/* keyUsage exactly digitalSignature + keyEncipherment, critical */
	assert_true(X509_get_extension_flags(x) & EXFLAG_KUSAGE);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
	assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(x, X509_get_ext_by_NID(x, NID_key_usage, -1))), 1);
	/* extendedKeyUsage exactly clientAuth */
	eku = X509_get_ext_d2i(x, NID_ext_key_usage, &crit, NULL);
	assert_non_null(eku);
	assert_int_equal(sk_ASN1_OBJECT_num(eku), 1);
	assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)), NID_client_auth);
	EXTENDED_KEY_USAGE_free(eku);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_CLIENT);
	/* Each extension once, and nothing else from the CSR. */
	const int want[] = {NID_basic_constraints, NID_key_usage, NID_ext_key_usage, NID_subject_key_identifier,
			    NID_authority_key_identifier, NID_subject_alt_name};
	assert_int_equal(X509_get_ext_count(x), 6);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		int idx = X509_get_ext_by_NID(x, want[i], -1);
		assert_true(idx >= 0);
		assert_true(X509_get_ext_by_NID(x, want[i], idx) < 0);
	}
	assert_true(X509_get_ext_by_NID(x, NID_netscape_comment, -1) < 0);
	X509_free(x);
	X509_REQ_free(csr);
}

static void issue_copies_san_when_allowed(void **state)
{
	X509_REQ *csr = ut_csr(F.k2048, "/CN=dev1/O=Device Corp", greedy_exts);
	struct policy nosan;
	X509 *x;
	char *san;
	(void)state;

	assert_non_null(csr);
	x = issue(F.ca, &F.pol, csr);
	san = x509u_san_text(x);
	assert_non_null(san);
	assert_string_equal(san, "DNS:device.example.com, email:dev@example.com");
	free(san);
	X509_free(x);

	policy_init(&nosan, 2048, false, true, false, 100, NULL);
	x = issue(F.ca, &nosan, csr);
	assert_true(X509_get_ext_by_NID(x, NID_subject_alt_name, -1) < 0);
	assert_null(x509u_san_text(x));
	assert_int_equal(X509_get_ext_count(x), 5);
	X509_free(x);
	X509_REQ_free(csr);
}

/* A CSR for F.k2048 whose extensionRequest holds this subjectAltName DER. */
static X509_REQ *csr_with_san_der(const unsigned char *der, int len)
{
	X509_REQ *csr = ut_csr(F.k2048, "/CN=dev1", NULL);
	STACK_OF(X509_EXTENSION) *sk = sk_X509_EXTENSION_new_null();
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;

	assert_non_null(csr);
	assert_true(os && ASN1_OCTET_STRING_set(os, der, len));
	assert_non_null(ext = X509_EXTENSION_create_by_NID(NULL, NID_subject_alt_name, 0, os));
	assert_true(sk_X509_EXTENSION_push(sk, ext) > 0);
	assert_int_equal(X509_REQ_add_extensions(csr, sk), 1);
	assert_true(X509_REQ_sign(csr, F.k2048, EVP_sha256()) > 0);
	sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free);
	ASN1_OCTET_STRING_free(os);
	return csr;
}

/* SANs mdmid does not copy blindly: empty, IP, otherName, a NUL or 8-bit
 * byte in a DNS name. Each is refused with MDMID_ERR_SAN, nothing issued. */
static void issue_refuses_unsafe_san(void **state)
{
	static const struct ut_ext ip[] = {{NID_subject_alt_name, "IP:10.0.0.1"}, {NID_undef, NULL}};
	static const struct ut_ext upn[] = {
		{NID_subject_alt_name, "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:admin@example.com"}, {NID_undef, NULL}};
	static const unsigned char empty[] = {0x30, 0x00};
	/* SEQUENCE { [2] "a\0.b" } and SEQUENCE { [2] "a\xff" } */
	static const unsigned char nul[] = {0x30, 0x07, 0x82, 0x05, 'a', 0x00, '.', 'b', 'c'};
	static const unsigned char high[] = {0x30, 0x04, 0x82, 0x02, 'a', 0xff};
	X509_REQ *csrs[5];
	X509 *x = NULL;
	(void)state;

	csrs[0] = ut_csr(F.k2048, "/CN=dev1", ip);
	csrs[1] = ut_csr(F.k2048, "/CN=dev1", upn);
	csrs[2] = csr_with_san_der(empty, sizeof empty);
	csrs[3] = csr_with_san_der(nul, sizeof nul);
	csrs[4] = csr_with_san_der(high, sizeof high);
	for (int i = 0; i < 5; i++) {
		assert_non_null(csrs[i]);
		assert_int_equal(issue_from_csr(F.ca, &F.pol, csrs[i], &x), MDMID_ERR_SAN);
		assert_null(x);
		X509_REQ_free(csrs[i]);
	}
}

static void issue_subject_policy(void **state)
{
	X509_REQ *csr = ut_csr(F.k2048, "/O=Device Corp/CN=dev1/OU=fleet", NULL);
	X509_REQ *nocn = ut_csr(F.k2048, "/O=Device Corp/OU=fleet", NULL);
	X509_REQ *empty = ut_csr(F.k2048, "", NULL);
	struct policy cn_only;
	X509 *x;
	char cn[64];
	(void)state;

	assert_non_null(csr);
	assert_non_null(nocn);
	assert_non_null(empty);
	/* csr_subject true: the whole subject */
	x = issue(F.ca, &F.pol, csr);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), X509_REQ_get_subject_name(csr)), 0);
	X509_free(x);
	/* csr_subject false: only the CN */
	policy_init(&cn_only, 2048, false, false, true, 100, NULL);
	x = issue(F.ca, &cn_only, csr);
	assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(x)), 1);
	assert_int_equal(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn), 4);
	assert_string_equal(cn, "dev1");
	X509_free(x);
	/* ... and a subject without a CN is refused then; an empty one always. */
	x = (X509 *)1;
	assert_err(issue_from_csr(F.ca, &cn_only, nocn, &x), MDMID_ERR_SUBJECT);
	assert_null(x);
	assert_err(issue_from_csr(F.ca, &F.pol, empty, &x), MDMID_ERR_SUBJECT);
	assert_null(x);
	assert_err(issue_from_csr(F.ca, &cn_only, empty, &x), MDMID_ERR_SUBJECT);
	assert_null(x);
	X509_REQ_free(csr);
	X509_REQ_free(nocn);
	X509_REQ_free(empty);
}

static void issue_serial(void **state)
{
	X509_REQ *csr = scepc_make_csr(F.k2048, "dev", NULL);
	X509 *a, *b;
	const ASN1_INTEGER *sa, *sb;
	(void)state;

	a = issue(F.ca, &F.pol, csr);
	b = issue(F.ca, &F.pol, csr);
	sa = X509_get0_serialNumber(a);
	sb = X509_get0_serialNumber(b);
	assert_int_equal(ASN1_STRING_type(sa), V_ASN1_INTEGER); /* not V_ASN1_NEG_INTEGER */
	assert_int_equal(ASN1_STRING_length(sa), 16);
	assert_int_equal(ASN1_STRING_get0_data(sa)[0] & 0x80, 0);
	assert_true(ASN1_STRING_get0_data(sa)[0] != 0); /* 16 octets of magnitude, no padding */
	assert_int_equal(ASN1_STRING_length(sb), 16);
	assert_int_not_equal(ASN1_INTEGER_cmp(sa, sb), 0);
	/* The DER INTEGER is exactly 16 content octets: 02 10 ... */
	{
		unsigned char *der = NULL;
		int n = i2d_ASN1_INTEGER((ASN1_INTEGER *)sa, &der);
		assert_int_equal(n, 18);
		assert_int_equal(der[0], 0x02);
		assert_int_equal(der[1], 0x10);
		OPENSSL_free(der);
	}
	X509_free(a);
	X509_free(b);
	X509_REQ_free(csr);
}

static void issue_validity(void **state)
{
	X509_REQ *csr = scepc_make_csr(F.k2048, "dev", NULL);
	X509 *x;
	long nb, na;
	(void)state;

	x = issue(F.ca, &F.pol, csr);
	nb = ut_seconds_from_now(X509_get0_notBefore(x));
	na = ut_seconds_from_now(X509_get0_notAfter(x));
	/* Backdated five minutes (a few seconds of slack for a slow run). */
	assert_between(nb, -300 - 5, -300 + 1);
	/* validity_days (100) from now, well inside the CA's 365 days */
	assert_between(na, 100L * 86400 - 5, 100L * 86400 + 1);
	assert_true(ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca_get0_cert(F.ca))) < 0);
	X509_free(x);
	X509_REQ_free(csr);
}

static void issue_capped_at_ca_expiry(void **state)
{
	X509_REQ *csr = scepc_make_csr(F.k2048, "dev", NULL);
	struct policy year;
	X509 *x;
	X509 *cacert = ca_get0_cert(F.ca30);
	long na;
	(void)state;

	policy_init(&year, 2048, false, true, true, 365, NULL);
	x = issue(F.ca30, &year, csr);
	/* Asked for 365 days under a 30-day CA: ends exactly when the CA does. */
	assert_int_equal(ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(cacert)), 0);
	na = ut_seconds_from_now(X509_get0_notAfter(x));
	assert_between(na, 30L * 86400 - 60, 30L * 86400 + 1);
	assert_between(ut_seconds_from_now(X509_get0_notBefore(x)), -305, -299);
	/* It still chains: X509_verify_cert against the CA as trust anchor. */
	{
		X509_STORE *st = X509_STORE_new();
		X509_STORE_CTX *ctx = X509_STORE_CTX_new();
		assert_non_null(st);
		assert_non_null(ctx);
		assert_int_equal(X509_STORE_add_cert(st, cacert), 1);
		assert_int_equal(X509_STORE_CTX_init(ctx, st, x, NULL), 1);
		X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
		assert_int_equal(X509_verify_cert(ctx), 1);
		X509_STORE_CTX_free(ctx);
		X509_STORE_free(st);
	}
	X509_free(x);
	X509_REQ_free(csr);
}

static void issue_issuer_and_signature(void **state)
{
	X509_REQ *csr = scepc_make_csr(F.k2048, "dev", NULL);
	X509 *x, *cacert = ca_get0_cert(F.ca);
	(void)state;

	x = issue(F.ca, &F.pol, csr);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(cacert)), 0);
	assert_int_equal(X509_check_issued(cacert, x), X509_V_OK); /* names and AKI/SKI */
	assert_int_equal(X509_verify(x, X509_get0_pubkey(cacert)), 1);
	/* ... and only with the CA key */
	assert_true(X509_verify(x, X509_get0_pubkey(ca_get0_cert(F.ca30))) <= 0);
	assert_true(X509_verify(x, F.k2048) <= 0);
	ERR_clear_error();
	assert_int_equal(X509_get_signature_nid(x), NID_sha256WithRSAEncryption);
	/* The certified key is the CSR's. */
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), F.k2048), 1);
	X509_free(x);
	X509_REQ_free(csr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(digest_table),
		cmocka_unit_test(cipher_table),
		cmocka_unit_test(requester_key),
		cmocka_unit_test(csr_rsa2048_ok),
		cmocka_unit_test(csr_rsa1024_too_small),
		cmocka_unit_test(csr_min_3072_refuses_2048),
		cmocka_unit_test(csr_ec_key),
		cmocka_unit_test(csr_key_mismatch),
		cmocka_unit_test(csr_tampered_signature),
		cmocka_unit_test(challenge_right),
		cmocka_unit_test(challenge_wrong),
		cmocka_unit_test(challenge_missing),
		cmocka_unit_test(challenge_none_configured),
		cmocka_unit_test(challenge_embedded_nul_refused),
		cmocka_unit_test(challenge_odd_encodings),
		cmocka_unit_test(issue_ignores_requested_extensions),
		cmocka_unit_test(issue_copies_san_when_allowed),
		cmocka_unit_test(issue_refuses_unsafe_san),
		cmocka_unit_test(issue_subject_policy),
		cmocka_unit_test(issue_serial),
		cmocka_unit_test(issue_validity),
		cmocka_unit_test(issue_capped_at_ca_expiry),
		cmocka_unit_test(issue_issuer_and_signature),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
