/* The UDID list parser and the PKCS#12 encryption profiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <openssl/pkcs12.h>

#include "mdmid/issue.h"
#include "mdmid/p12_build.h"
#include "mdmid/p12_udids.h"
#include "unit_util.h"

static struct {
	char dir[256];
	struct ca *ca;
	EVP_PKEY *key;
	X509 *cert;
	unsigned reports;
	char last_what[16];
	unsigned last_line;
} F;

static int group_setup(void **state)
{
	X509_NAME *n = X509_NAME_new();
	(void)state;
	if (ut_mkdtemp(F.dir, sizeof F.dir, "p12") < 0 || !(F.ca = ut_make_ca(F.dir, "ca", true, 365)) ||
	    !(F.key = EVP_EC_gen("P-256")) || !n ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"dev", -1, -1, 0) ||
	    issue_for_key(F.ca, F.key, n, 30, &F.cert) != MDMID_OK)
		return -1;
	X509_NAME_free(n);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	X509_free(F.cert);
	EVP_PKEY_free(F.key);
	ca_free(F.ca);
	if (F.dir[0])
		ut_rm_rf(F.dir);
	return 0;
}

static void report(void *cls, unsigned line, const char *what, const char *value)
{
	(void)cls, (void)value;
	F.reports++;
	F.last_line = line;
	snprintf(F.last_what, sizeof F.last_what, "%s", what);
}

static void list_formats(void **state)
{
	static const char text[] = "# devices\r\n"
				   "UDID,name,room\r\n"
				   "00008030-001a2d8a3c02802e,ipad 1,12\r\n"
				   "\r\n"
				   "  \"0123456789abcdef0123456789abcdef01234567\" ,ipad 2\n"
				   "B501649A-E9BA-4AC6-A4DF-544796E0A572\n"
				   "00008030-001A2D8A3C02802E,again\n";
	struct udid_list l;
	(void)state;

	F.reports = 0;
	assert_int_equal(udid_list_parse(text, strlen(text), &l, report, NULL), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.udid[0], "00008030-001A2D8A3C02802E");
	assert_string_equal(l.udid[1], "0123456789ABCDEF0123456789ABCDEF01234567");
	assert_string_equal(l.udid[2], "B501649A-E9BA-4AC6-A4DF-544796E0A572");
	assert_int_equal(l.duplicates, 1);
	assert_int_equal(l.malformed, 0);
	assert_int_equal(F.reports, 1);
	assert_string_equal(F.last_what, "duplicate");
	assert_int_equal(F.last_line, 7);
	udid_list_free(&l);
}

static void list_malformed(void **state)
{
	static const char text[] = "00008030-001A2D8A3C02802E\n../../etc/passwd\nudid\n"
				   "0123456789abcdef0123456789abcdef01234567890123456789\n";
	struct udid_list l;
	(void)state;

	F.reports = 0;
	assert_int_equal(udid_list_parse(text, strlen(text), &l, report, NULL), 0);
	assert_int_equal(l.n, 1);
	/* a "udid" header is only a header on the first line that counts */
	assert_int_equal(l.malformed, 3);
	assert_int_equal(F.reports, 3);
	assert_string_equal(F.last_what, "malformed");
	udid_list_free(&l);
}

static void list_large(void **state)
{
	size_t n = 20000, len = 0;
	char *text = malloc(n * 42 + 1);
	struct udid_list l;
	(void)state;

	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "%040zX\n", i % 15000);
	assert_int_equal(udid_list_parse(text, len, &l, NULL, NULL), 0);
	assert_int_equal(l.n, 15000);
	assert_int_equal(l.duplicates, 5000);
	udid_list_free(&l);
	free(text);
}

/* The algorithm of the n-th authsafe's encrypted content, or of its shrouded key bag. */
static void bag_algs(PKCS12 *p12, const char *pass, int *cert_alg, int *key_alg)
{
	STACK_OF(PKCS7) *safes = PKCS12_unpack_authsafes(p12);
	*cert_alg = *key_alg = NID_undef;
	assert_non_null(safes);
	for (int i = 0; i < sk_PKCS7_num(safes); i++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, i);
		STACK_OF(PKCS12_SAFEBAG) *bags;
		if (PKCS7_type_is_encrypted(p7)) {
			*cert_alg = OBJ_obj2nid(p7->d.encrypted->enc_data->algorithm->algorithm);
			bags = PKCS12_unpack_p7encdata(p7, pass, -1);
		} else {
			bags = PKCS12_unpack_p7data(p7);
		}
		assert_non_null(bags);
		for (int j = 0; j < sk_PKCS12_SAFEBAG_num(bags); j++) {
			PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, j);
			if (PKCS12_SAFEBAG_get_nid(bag) == NID_pkcs8ShroudedKeyBag) {
				const X509_ALGOR *alg;
				X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag), &alg, NULL);
				*key_alg = OBJ_obj2nid(alg->algorithm);
			}
		}
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	sk_PKCS7_pop_free(safes, PKCS7_free);
}

static void profile_case(enum p12_profile profile, int want_bag, int want_mac)
{
	char pass[P12_PASSWORD_LEN + 1];
	unsigned char *der = NULL;
	const unsigned char *q;
	size_t len = 0;
	PKCS12 *p12;
	const X509_ALGOR *macalg;
	const ASN1_OBJECT *macobj;
	int cert_alg, key_alg;
	EVP_PKEY *k = NULL;
	X509 *c = NULL;
	STACK_OF(X509) *ca = NULL;

	assert_int_equal(p12_password(pass), 1);
	assert_int_equal(p12_build(F.key, F.cert, NULL, "dev", pass, profile, &der, &len), 1);
	q = der;
	assert_non_null(p12 = d2i_PKCS12(NULL, &q, (long)len));
	assert_int_equal(PKCS12_verify_mac(p12, pass, -1), 1);
	PKCS12_get0_mac(NULL, &macalg, NULL, NULL, p12);
	X509_ALGOR_get0(&macobj, NULL, NULL, macalg);
	assert_int_equal(OBJ_obj2nid(macobj), want_mac);
	bag_algs(p12, pass, &cert_alg, &key_alg);
	assert_int_equal(cert_alg, want_bag);
	assert_int_equal(key_alg, want_bag);
	assert_int_equal(PKCS12_parse(p12, pass, &k, &c, &ca), 1);
	assert_int_equal(EVP_PKEY_eq(k, F.key), 1);
	assert_int_equal(X509_cmp(c, F.cert), 0);
	EVP_PKEY_free(k);
	X509_free(c);
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
	OPENSSL_free(der);
}

static void legacy_profile(void **state)
{
	(void)state;
	profile_case(P12_LEGACY, NID_pbe_WithSHA1And3_Key_TripleDES_CBC, NID_sha1);
}

static void modern_profile(void **state)
{
	(void)state;
	/* PBES2 names the scheme; AES-256-CBC and PBKDF2 sit inside it. */
	profile_case(P12_MODERN, NID_pbes2, NID_sha256);
}

static void empty_password_refused(void **state)
{
	unsigned char *der = NULL;
	size_t len;
	(void)state;
	assert_int_equal(p12_build(F.key, F.cert, NULL, "dev", "", P12_LEGACY, &der, &len), 0);
	assert_null(der);
}

static void passwords(void **state)
{
	char a[P12_PASSWORD_LEN + 1], b[P12_PASSWORD_LEN + 1];
	(void)state;
	assert_int_equal(p12_password(a), 1);
	assert_int_equal(p12_password(b), 1);
	assert_int_equal(strlen(a), 24);
	assert_string_not_equal(a, b);
	for (size_t i = 0; i < 24; i++)
		assert_null(strchr("01OIl", a[i]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(list_formats),
		cmocka_unit_test(list_malformed),
		cmocka_unit_test(list_large),
		cmocka_unit_test(legacy_profile),
		cmocka_unit_test(modern_profile),
		cmocka_unit_test(empty_password_refused),
		cmocka_unit_test(passwords),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
