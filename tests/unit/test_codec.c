/*
 * test_codec.c - scep_msg_parse (untrusted pkiMessage in, verified request
 * out) and scep_rep_build (CertRep out), against the independent client
 * library in tests/support: every request is built the way a client builds
 * it (or damaged on purpose), every reply is checked without trusting the
 * server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "mdmid/ca.h"
#include "mdmid/err.h"
#include "mdmid/issue.h"
#include "mdmid/policy.h"
#include "mdmid/scep_msg.h"
#include "mdmid/scep_rep.h"
#include "scep_client.h"
#include "unit_util.h"

/* ---- fixtures (one group: generated once) ------------------------------- */

static struct {
	char dir[256];
	struct ca *ra;        /* CA + RA */
	struct ca *solo;      /* CA-only (--no-ra) */
	EVP_PKEY *key;        /* the requester's RSA-2048 key */
	EVP_PKEY *other;      /* an unrelated RSA-2048 key */
	EVP_PKEY *ec;         /* an EC P-256 key */
	X509 *other_cert;     /* self-signed for `other` */
	struct policy pol;    /* allow_single_des = false */
	struct policy pol_des;/* allow_single_des = true */
	OSSL_PROVIDER *legacy, *deflt;
} F;

static int group_setup(void **state)
{
	(void)state;
	if (!scep_oids_init() || !scepc_init())
		return -1;
	/* Single DES lives in the legacy provider; loading it unloads the implicit
	 * default one, so load that explicitly too (as `mdmid serve` does). */
	if (!(F.deflt = OSSL_PROVIDER_load(NULL, "default")) || !(F.legacy = OSSL_PROVIDER_load(NULL, "legacy")))
		return -1;
	if (!ut_mkdtemp(F.dir, sizeof F.dir, "codec"))
		return -1;
	if (!(F.ra = ut_make_ca(F.dir, "ra", false, 365)) || !(F.solo = ut_make_ca(F.dir, "solo", true, 365)))
		return -1;
	if (!(F.key = ut_rsa(2048)) || !(F.other = ut_rsa(2048)) || !(F.ec = ut_ec()))
		return -1;
	if (!(F.other_cert = scepc_self_signed(F.other, "someone else", EVP_sha256())))
		return -1;
	policy_init(&F.pol, 2048, false, true, true, 365, "secret");
	policy_init(&F.pol_des, 2048, true, true, true, 365, "secret");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	ca_free(F.ra);
	ca_free(F.solo);
	EVP_PKEY_free(F.key);
	EVP_PKEY_free(F.other);
	EVP_PKEY_free(F.ec);
	X509_free(F.other_cert);
	if (F.dir[0])
		ut_rm_rf(F.dir);
	OSSL_PROVIDER_unload(F.legacy);
	OSSL_PROVIDER_unload(F.deflt);
	return 0;
}

/* ---- helpers ------------------------------------------------------------- */

enum recips { TO_RESPONDER, TO_ALL, TO_CA, TO_OTHER, TO_FIVE };

/* The recipients stack (borrowed certificates): sk_X509_free it. */
static STACK_OF(X509) *recipients(const struct ca *ca, enum recips r)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	assert_non_null(sk);
	switch (r) {
	case TO_RESPONDER:
		assert_true(sk_X509_push(sk, ca_get0_responder_cert(ca)) > 0);
		break;
	case TO_ALL: /* what scepclient does without -ca-fingerprint: RA and CA */
		assert_true(sk_X509_push(sk, ca_get0_responder_cert(ca)) > 0);
		assert_true(sk_X509_push(sk, ca_get0_cert(ca)) > 0);
		break;
	case TO_CA:
		assert_true(sk_X509_push(sk, ca_get0_cert(ca)) > 0);
		break;
	case TO_OTHER:
		assert_true(sk_X509_push(sk, F.other_cert) > 0);
		break;
	case TO_FIVE: /* each recipientInfo costs the server an RSA decryption */
		for (int i = 0; i < 5; i++)
			assert_true(sk_X509_push(sk, ca_get0_responder_cert(ca)) > 0);
		break;
	}
	return sk;
}

struct built {
	unsigned char *der;
	size_t len;
	X509 *signer;
	struct scepc_req_info info;
};

static void build(struct scepc_req_opts *o, const struct ca *ca, enum recips r, struct built *b)
{
	STACK_OF(X509) *sk = recipients(ca, r);
	int ok;

	memset(b, 0, sizeof *b);
	if (!o->key)
		o->key = F.key;
	o->recipients = sk;
	ok = scepc_build_request(o, &b->der, &b->len, &b->signer, &b->info);
	if (!ok)
		ERR_print_errors_fp(stderr);
	o->recipients = NULL;
	sk_X509_free(sk);
	assert_int_equal(ok, 1);
	assert_non_null(b->der);
	assert_true(b->len > 100);
}

static void built_free(struct built *b)
{
	OPENSSL_free(b->der);
	X509_free(b->signer);
	memset(b, 0, sizeof *b);
}

/* Builds with o, parses with ca/pol, checks the error; msg stays for more checks. */
static enum mdmid_err build_parse(struct scepc_req_opts *o, const struct ca *ca, enum recips r,
				  const struct policy *pol, struct built *b, struct scep_msg *msg)
{
	build(o, ca, r, b);
	return scep_msg_parse(b->der, b->len, ca, pol, msg);
}

static void assert_err(enum mdmid_err got, enum mdmid_err want)
{
	if (got != want)
		fail_msg("got %s, want %s", mdmid_err_name(got), mdmid_err_name(want));
}

/* A fully accepted PKCSReq: every field as sent. */
static void assert_valid(const struct scep_msg *m, const struct built *b, int md_nid, int cipher_nid)
{
	assert_true(m->answerable);
	assert_int_equal(m->message_type, SCEP_MT_PKCSREQ);
	assert_string_equal(m->transaction_id, b->info.transaction_id);
	assert_int_equal(m->sender_nonce_len, sizeof b->info.sender_nonce);
	assert_memory_equal(m->sender_nonce, b->info.sender_nonce, sizeof b->info.sender_nonce);
	assert_int_equal(m->digest_nid, md_nid);
	assert_int_equal(m->cipher_nid, cipher_nid);
	assert_non_null(m->signer);
	assert_int_equal(X509_cmp(m->signer, b->signer), 0);
	assert_non_null(m->csr);
	/* The CSR's key is the signer's: it comes decoded once, in csr_key. */
	assert_non_null(m->csr_key);
	assert_int_equal(EVP_PKEY_eq(m->csr_key, F.key), 1);
	assert_int_equal(EVP_PKEY_eq(m->csr_key, X509_get0_pubkey(m->signer)), 1);
	assert_int_equal(X509_REQ_verify_ex(m->csr, F.key, NULL, NULL), 1);
}

/* One valid request in the given shape, parsed and checked. */
static void valid_case(const struct ca *ca, enum recips r, const EVP_CIPHER *cipher, const EVP_MD *md, int ber,
		       const struct policy *pol, int want_cipher, int want_md)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	enum mdmid_err rc;

	o.cipher = cipher;
	o.md = md;
	o.ber = ber;
	o.challenge = "secret";
	rc = build_parse(&o, ca, r, pol, &b, &m);
	assert_err(rc, MDMID_OK);
	assert_valid(&m, &b, want_md, want_cipher);
	scep_msg_clear(&m);
	built_free(&b);
}

/* ---- valid requests ------------------------------------------------------ */

static void pkcsreq_ra_aes128_sha256(void **state)
{
	(void)state;
	valid_case(F.ra, TO_RESPONDER, NULL, NULL, 0, &F.pol, NID_aes_128_cbc, NID_sha256);
}

static void pkcsreq_ra_and_ca_recipients(void **state)
{
	(void)state;
	valid_case(F.ra, TO_ALL, NULL, NULL, 0, &F.pol, NID_aes_128_cbc, NID_sha256);
}

static void pkcsreq_aes256(void **state)
{
	(void)state;
	valid_case(F.ra, TO_RESPONDER, EVP_aes_256_cbc(), NULL, 0, &F.pol, NID_aes_256_cbc, NID_sha256);
}

/* A CSR for another key than the signer's (a RenewalReq's new key, or a
 * mismatch the policy refuses): its key is decoded from the CSR itself. */
static void csr_key_not_the_signers(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	X509_REQ *csr = scepc_make_csr(F.other, "00008030-001A2D8A3C02802E", "secret");
	(void)state;

	assert_non_null(csr);
	o.csr = csr;
	assert_err(build_parse(&o, F.ra, TO_RESPONDER, &F.pol, &b, &m), MDMID_OK);
	assert_non_null(m.csr_key);
	assert_int_equal(EVP_PKEY_eq(m.csr_key, F.other), 1);
	assert_int_equal(EVP_PKEY_eq(m.csr_key, X509_get0_pubkey(m.signer)), 0);
	assert_err(policy_check_csr_with(&F.pol, m.csr, m.csr_key, X509_get0_pubkey(m.signer)),
		   MDMID_ERR_CSR_KEY_MISMATCH);
	assert_err(policy_check_csr_key_with(&F.pol, m.csr, m.csr_key), MDMID_OK);
	scep_msg_clear(&m);
	built_free(&b);
	X509_REQ_free(csr);
}

static void pkcsreq_3des(void **state)
{
	(void)state;
	valid_case(F.ra, TO_RESPONDER, EVP_des_ede3_cbc(), NULL, 0, &F.pol, NID_des_ede3_cbc, NID_sha256);
}

static void pkcsreq_sha1(void **state)
{
	(void)state;
	valid_case(F.ra, TO_RESPONDER, NULL, EVP_sha1(), 0, &F.pol, NID_aes_128_cbc, NID_sha1);
}

static void pkcsreq_sha512(void **state)
{
	(void)state;
	valid_case(F.ra, TO_RESPONDER, NULL, EVP_sha512(), 0, &F.pol, NID_aes_128_cbc, NID_sha512);
}

static void pkcsreq_ber_indefinite(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	(void)state;

	o.ber = 1;
	assert_err(build_parse(&o, F.ra, TO_RESPONDER, &F.pol, &b, &m), MDMID_OK);
	/* The fixture really is BER: a SEQUENCE with an indefinite length. */
	assert_int_equal(b.der[0], 0x30);
	assert_int_equal(b.der[1], 0x80);
	/* ... ending in end-of-contents octets */
	assert_int_equal(b.der[b.len - 1], 0x00);
	assert_int_equal(b.der[b.len - 2], 0x00);
	assert_valid(&m, &b, NID_sha256, NID_aes_128_cbc);
	scep_msg_clear(&m);
	built_free(&b);
}

static void pkcsreq_ber_corrupt_signature(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	(void)state;

	o.ber = 1;
	o.corrupt = SCEPC_CORRUPT_SIGNATURE;
	assert_err(build_parse(&o, F.ra, TO_RESPONDER, &F.pol, &b, &m), MDMID_ERR_BAD_SIGNATURE);
	assert_int_equal(b.der[1], 0x80);
	assert_true(m.answerable);
	scep_msg_clear(&m);
	built_free(&b);
}

static void pkcsreq_ber_corrupt_envelope(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	(void)state;

	o.ber = 1;
	o.corrupt = SCEPC_CORRUPT_ENVELOPE;
	assert_err(build_parse(&o, F.ra, TO_RESPONDER, &F.pol, &b, &m), MDMID_ERR_DECRYPT);
	assert_int_equal(b.der[1], 0x80);
	assert_true(m.answerable);
	assert_null(m.csr);
	scep_msg_clear(&m);
	built_free(&b);
}

static void pkcsreq_ca_only_mode(void **state)
{
	(void)state;
	assert_false(ca_has_ra(F.solo));
	assert_ptr_equal(ca_get0_responder_cert(F.solo), ca_get0_cert(F.solo));
	valid_case(F.solo, TO_CA, NULL, NULL, 0, &F.pol, NID_aes_128_cbc, NID_sha256);
	valid_case(F.solo, TO_CA, NULL, NULL, 1, &F.pol, NID_aes_128_cbc, NID_sha256);
}

static void pkcsreq_ra_mode_refuses_ca_only_envelope(void **state)
{
	/* In RA mode the CA key never decrypts: an envelope to the CA alone fails. */
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	(void)state;

	assert_err(build_parse(&o, F.ra, TO_CA, &F.pol, &b, &m), MDMID_ERR_DECRYPT);
	assert_true(m.answerable);
	scep_msg_clear(&m);
	built_free(&b);
}

/* ---- undecodable input: HTTP 400, no CertRep ------------------------------ */

/* More recipientInfos than any client sends: refused before any RSA work. */
static void too_many_recipients_refused(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	(void)state;

	assert_err(build_parse(&o, F.ra, TO_FIVE, &F.pol, &b, &m), MDMID_ERR_DECRYPT);
	assert_true(m.answerable);
	scep_msg_clear(&m);
	built_free(&b);
}

/* A transactionID outside the PrintableString alphabet (a quote here, which
 * could forge key="value" log fields) is not answerable: HTTP 400. */
static void transaction_id_outside_printablestring(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	(void)state;

	o.transaction_id = "x\" peer=10.9.9.9 outcome=success fake=\"";
	assert_err(build_parse(&o, F.ra, TO_RESPONDER, &F.pol, &b, &m), MDMID_ERR_MSG_ATTRS);
	assert_false(m.answerable);
	scep_msg_clear(&m);
	built_free(&b);
	o.transaction_id = "ekslD9qUln7ll120V0ONpabqCJc=";  /* base64, as scepclient sends */
	assert_err(build_parse(&o, F.ra, TO_RESPONDER, &F.pol, &b, &m), MDMID_OK);
	assert_string_equal(m.transaction_id, "ekslD9qUln7ll120V0ONpabqCJc=");
	scep_msg_clear(&m);
	built_free(&b);
}

static void garbage_is_decode_error(void **state)
{
	unsigned char junk[512];
	struct scep_msg m;
	(void)state;

	assert_int_equal(RAND_bytes(junk, sizeof junk), 1);
	junk[0] = 0x04; /* an OCTET STRING, certainly not a ContentInfo */
	assert_err(scep_msg_parse(junk, sizeof junk, F.ra, &F.pol, &m), MDMID_ERR_MSG_DECODE);
	assert_false(m.answerable);
	assert_null(m.csr);
	assert_null(m.signer);
	scep_msg_clear(&m);

	static const unsigned char text[] = "not a pkiMessage";
	assert_err(scep_msg_parse(text, sizeof text - 1, F.ra, &F.pol, &m), MDMID_ERR_MSG_DECODE);
	assert_false(m.answerable);
	scep_msg_clear(&m);

	assert_err(scep_msg_parse(text, 0, F.ra, &F.pol, &m), MDMID_ERR_MSG_DECODE);
	assert_false(m.answerable);
	scep_msg_clear(&m);
}

static void truncated_is_decode_error(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	(void)state;

	build(&o, F.ra, TO_RESPONDER, &b);
	assert_err(scep_msg_parse(b.der, b.len - 10, F.ra, &F.pol, &m), MDMID_ERR_MSG_DECODE);
	assert_false(m.answerable);
	scep_msg_clear(&m);
	assert_err(scep_msg_parse(b.der, b.len - 1, F.ra, &F.pol, &m), MDMID_ERR_MSG_DECODE);
	assert_false(m.answerable);
	scep_msg_clear(&m);
	built_free(&b);
}

static void trailing_garbage_is_decode_error(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	unsigned char *buf;
	(void)state;

	build(&o, F.ra, TO_RESPONDER, &b);
	buf = malloc(b.len + 3);
	assert_non_null(buf);
	memcpy(buf, b.der, b.len);
	memcpy(buf + b.len, "XYZ", 3);
	assert_err(scep_msg_parse(buf, b.len + 3, F.ra, &F.pol, &m), MDMID_ERR_MSG_DECODE);
	assert_false(m.answerable);
	scep_msg_clear(&m);
	/* A lone zero byte after it (half an end-of-contents) as well. */
	buf[b.len] = 0;
	assert_err(scep_msg_parse(buf, b.len + 1, F.ra, &F.pol, &m), MDMID_ERR_MSG_DECODE);
	scep_msg_clear(&m);
	/* The same bytes without the tail still parse: the tail was the reason. */
	assert_err(scep_msg_parse(buf, b.len, F.ra, &F.pol, &m), MDMID_OK);
	scep_msg_clear(&m);
	free(buf);
	built_free(&b);
}

/*
 * Deletes one SCEP attribute (none for NID_undef) from a built request and
 * signs the attributes again with the requester key, so the message is valid but for the missing
 * attribute. Returns the new DER (OPENSSL_free).
 */
static unsigned char *without_attr(const struct built *b, int nid, size_t *len)
{
	const unsigned char *p = b->der;
	PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)b->len);
	PKCS7_SIGNER_INFO *si;
	unsigned char *out = NULL;
	int idx, n;

	assert_non_null(p7);
	si = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(p7), 0);
	assert_non_null(si);
	if (nid != NID_undef) {
		idx = X509at_get_attr_by_NID(si->auth_attr, nid, -1);
		assert_true(idx >= 0);
		X509_ATTRIBUTE_free(X509at_delete_attr(si->auth_attr, idx));
		assert_true(X509at_get_attr_by_NID(si->auth_attr, nid, -1) < 0);
	}
	assert_int_equal(EVP_PKEY_up_ref(F.key), 1);
	si->pkey = F.key; /* freed with si */
	assert_int_equal(PKCS7_SIGNER_INFO_sign(si), 1);
	n = i2d_PKCS7(p7, &out);
	assert_true(n > 0);
	*len = (size_t)n;
	PKCS7_free(p7);
	return out;
}

static void missing_transaction_id_or_nonce(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	unsigned char *der;
	size_t len;
	const int nids[] = {scepc_nid(SCEPC_ATTR_TRANSACTION_ID), scepc_nid(SCEPC_ATTR_SENDER_NONCE)};
	(void)state;

	build(&o, F.ra, TO_RESPONDER, &b);
	/* Control: the re-signing alone changes nothing. */
	der = without_attr(&b, NID_undef, &len);
	assert_err(scep_msg_parse(der, len, F.ra, &F.pol, &m), MDMID_OK);
	scep_msg_clear(&m);
	OPENSSL_free(der);
	for (size_t i = 0; i < 2; i++) {
		der = without_attr(&b, nids[i], &len);
		assert_err(scep_msg_parse(der, len, F.ra, &F.pol, &m), MDMID_ERR_MSG_ATTRS);
		assert_false(m.answerable);
		scep_msg_clear(&m);
		OPENSSL_free(der);
	}
	built_free(&b);

	/* An empty transactionID is no transactionID. */
	o.transaction_id = "";
	assert_err(build_parse(&o, F.ra, TO_RESPONDER, &F.pol, &b, &m), MDMID_ERR_MSG_ATTRS);
	assert_false(m.answerable);
	scep_msg_clear(&m);
	built_free(&b);
}

/* ---- signature failures: answerable ---------------------------------------- */

static void corrupt_signature(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	(void)state;

	o.corrupt = SCEPC_CORRUPT_SIGNATURE;
	assert_err(build_parse(&o, F.ra, TO_RESPONDER, &F.pol, &b, &m), MDMID_ERR_BAD_SIGNATURE);
	assert_true(m.answerable);
	assert_string_equal(m.transaction_id, b.info.transaction_id);
	assert_memory_equal(m.sender_nonce, b.info.sender_nonce, 16);
	assert_null(m.csr);
	scep_msg_clear(&m);
	built_free(&b);
}

static void corrupt_content_after_signing(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	(void)state;

	o.corrupt = SCEPC_CORRUPT_CONTENT_AFTER_SIGNING;
	assert_err(build_parse(&o, F.ra, TO_RESPONDER, &F.pol, &b, &m), MDMID_ERR_BAD_SIGNATURE);
	assert_true(m.answerable);
	assert_null(m.csr);
	scep_msg_clear(&m);
	built_free(&b);
}

static void signer_key_not_signer_cert(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	X509 *self = scepc_self_signed(F.key, "requester", EVP_sha256());
	(void)state;

	assert_non_null(self);
	o.signer_cert = self;
	o.signer_key = F.other;
	assert_err(build_parse(&o, F.ra, TO_RESPONDER, &F.pol, &b, &m), MDMID_ERR_BAD_SIGNATURE);
	assert_true(m.answerable);
	assert_null(m.csr);
	scep_msg_clear(&m);
	built_free(&b);
	X509_free(self);
}

/* ---- decryption failures: one answer for all ------------------------------- */

static void decrypt_failures_are_indistinguishable(void **state)
{
	struct {
		const char *what;
		int corrupt;
		enum recips to;
		const struct ca *ca;
	} cases[] = {
		{"corrupt envelope (RSA padding)", SCEPC_CORRUPT_ENVELOPE, TO_RESPONDER, F.ra},
		{"corrupt envelope, RA+CA", SCEPC_CORRUPT_ENVELOPE, TO_ALL, F.ra},
		{"corrupt envelope, CA-only", SCEPC_CORRUPT_ENVELOPE, TO_CA, F.solo},
		{"corrupt ciphertext", SCEPC_CORRUPT_CIPHERTEXT, TO_RESPONDER, F.ra},
		{"corrupt ciphertext, CA-only", SCEPC_CORRUPT_CIPHERTEXT, TO_CA, F.solo},
		{"encrypted to another certificate", SCEPC_CORRUPT_NONE, TO_OTHER, F.ra},
		{"encrypted to another certificate, CA-only", SCEPC_CORRUPT_NONE, TO_OTHER, F.solo},
	};
	const struct mdmid_err_info *first = NULL;
	(void)state;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct scepc_req_opts o = {0};
		struct built b;
		struct scep_msg m;
		enum mdmid_err rc;
		const struct mdmid_err_info *info;

		o.corrupt = cases[i].corrupt;
		rc = build_parse(&o, cases[i].ca, cases[i].to, &F.pol, &b, &m);
		if (rc != MDMID_ERR_DECRYPT)
			fail_msg("%s: got %s, want decrypt", cases[i].what, mdmid_err_name(rc));
		assert_true(m.answerable);
		assert_null(m.csr);
		info = mdmid_err_info(rc);
		if (!first)
			first = info;
		/* Same failInfo and the same text, whatever went wrong. */
		assert_int_equal(info->fail_info, first->fail_info);
		assert_string_equal(info->text, first->text);
		assert_int_equal(info->http_status, first->http_status);
		scep_msg_clear(&m);
		built_free(&b);
	}
	assert_int_equal(first->fail_info, SCEP_FAIL_BAD_MESSAGE_CHECK);
}

/* ---- algorithm and type refusals ------------------------------------------- */

static void single_des_refused_by_default(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	(void)state;

	o.cipher = EVP_des_cbc();
	assert_non_null(o.cipher);
	assert_err(build_parse(&o, F.ra, TO_RESPONDER, &F.pol, &b, &m), MDMID_ERR_SINGLE_DES);
	assert_true(m.answerable);
	assert_int_equal(m.cipher_nid, NID_des_cbc);
	assert_null(m.csr);
	assert_int_equal(mdmid_err_info(MDMID_ERR_SINGLE_DES)->fail_info, SCEP_FAIL_BAD_ALG);
	scep_msg_clear(&m);
	built_free(&b);
}

static void single_des_allowed_when_configured(void **state)
{
	(void)state;
	valid_case(F.ra, TO_RESPONDER, EVP_des_cbc(), EVP_sha1(), 0, &F.pol_des, NID_des_cbc, NID_sha1);
}

static void md5_digest_refused(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	(void)state;

	o.md = EVP_md5();
	assert_err(build_parse(&o, F.ra, TO_RESPONDER, &F.pol, &b, &m), MDMID_ERR_DIGEST_ALG);
	assert_true(m.answerable);
	assert_int_equal(m.digest_nid, NID_md5);
	assert_null(m.csr);
	scep_msg_clear(&m);
	built_free(&b);
}

/* A CertPoll carries IssuerAndSubject, not a CSR: it parses, for the
 * service to find the request it polls. */
static void message_type_certpoll_parsed(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	(void)state;

	o.message_type = SCEPC_MSG_CERTPOLL;
	assert_err(build_parse(&o, F.ra, TO_RESPONDER, &F.pol, &b, &m), MDMID_OK);
	assert_true(m.answerable);
	assert_int_equal(m.message_type, 20);
	assert_true(m.poll);
	assert_null(m.csr);
	scep_msg_clear(&m);
	built_free(&b);
}

/* A message type SCEP does not define is refused. */
static void message_type_unknown_refused(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	(void)state;

	o.message_type = 18;
	o.content = (const unsigned char *)"\x30\x00";
	o.content_len = 2;
	assert_err(build_parse(&o, F.ra, TO_RESPONDER, &F.pol, &b, &m), MDMID_ERR_MSG_TYPE);
	assert_true(m.answerable);
	assert_null(m.csr);
	scep_msg_clear(&m);
	built_free(&b);
}

static void message_type_certrep_refused(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	X509_REQ *csr = scepc_make_csr(F.key, "x", NULL);
	unsigned char *csr_der = NULL;
	int n = i2d_X509_REQ(csr, &csr_der);
	(void)state;

	/* A CertRep-typed message whose envelope holds a perfectly good CSR. */
	assert_true(n > 0);
	o.message_type = SCEPC_MSG_CERTREP;
	o.content = csr_der;
	o.content_len = (size_t)n;
	assert_err(build_parse(&o, F.ra, TO_RESPONDER, &F.pol, &b, &m), MDMID_ERR_MSG_TYPE);
	assert_true(m.answerable);
	assert_int_equal(m.message_type, 3);
	assert_null(m.csr);
	scep_msg_clear(&m);
	built_free(&b);
	OPENSSL_free(csr_der);
	X509_REQ_free(csr);
}

static void ec_requester_refused(void **state)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	(void)state;

	o.key = F.ec;
	assert_err(build_parse(&o, F.ra, TO_RESPONDER, &F.pol, &b, &m), MDMID_ERR_REQUESTER_KEY_ALG);
	assert_true(m.answerable);
	assert_non_null(m.signer);
	assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(m.signer)), EVP_PKEY_EC);
	assert_null(m.csr);
	assert_int_equal(mdmid_err_info(MDMID_ERR_REQUESTER_KEY_ALG)->fail_info, SCEP_FAIL_BAD_ALG);
	scep_msg_clear(&m);
	built_free(&b);
}

/* ---- CertRep -------------------------------------------------------------- */

/* Parses a valid request, issues, builds the SUCCESS CertRep and checks it. */
static void success_reply(const struct ca *ca, enum recips to, const EVP_CIPHER *cipher, const EVP_MD *md,
			  const struct policy *pol, int want_cipher, int want_md)
{
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	struct scep_rep rep = {0};
	struct scepc_rep got;
	X509 *issued = NULL;
	unsigned char *der = NULL;
	size_t len = 0;

	o.cipher = cipher;
	o.md = md;
	assert_err(build_parse(&o, ca, to, pol, &b, &m), MDMID_OK);
	assert_err(issue_from_csr_key(ca, pol, m.csr, m.csr_key, &issued), MDMID_OK);
	rep.pki_status = SCEP_STATUS_SUCCESS;
	rep.transaction_id = m.transaction_id;
	rep.recipient_nonce = m.sender_nonce;
	rep.recipient_nonce_len = m.sender_nonce_len;
	rep.digest_nid = m.digest_nid;
	rep.cipher_nid = m.cipher_nid;
	rep.recipient = m.signer;
	rep.issued = issued;
	assert_err(scep_rep_build(ca, &rep, &der, &len), MDMID_OK);
	assert_non_null(der);

	assert_int_equal(scepc_parse_reply(der, len, ca_get0_responder_cert(ca), F.key, b.signer, &got), 1);
	assert_int_equal(got.signature_ok, 1);
	assert_int_equal(got.attr_type_errors, 0);
	assert_int_equal(got.message_type, SCEPC_MSG_CERTREP);
	assert_int_equal(got.pki_status, SCEPC_STATUS_SUCCESS);
	assert_int_equal(got.fail_info, -1);
	assert_null(got.fail_info_text);
	assert_non_null(got.transaction_id);
	assert_string_equal(got.transaction_id, b.info.transaction_id);
	assert_int_equal(got.recipient_nonce_len, 16);
	assert_memory_equal(got.recipient_nonce, b.info.sender_nonce, 16);
	assert_true(got.sender_nonce_len >= 8);
	assert_false(got.sender_nonce_len == 16 && !memcmp(got.sender_nonce, b.info.sender_nonce, 16));
	assert_int_equal(got.digest_nid, want_md);
	assert_int_equal(got.has_econtent, 1);
	assert_int_equal(got.cipher_nid, want_cipher);
	assert_int_equal(got.decrypt_ok, 1);
	assert_int_equal(got.inner_has_econtent, 0);
	assert_non_null(got.inner_certs);
	assert_int_equal(sk_X509_num(got.inner_certs), 1);
	assert_non_null(got.issued);
	assert_int_equal(X509_cmp(got.issued, issued), 0);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(got.issued), F.key), 1);
	assert_int_equal(X509_verify(got.issued, X509_get0_pubkey(ca_get0_cert(ca))), 1);
	scepc_rep_free(&got);

	/* Not signed by anyone else: the CA key in RA mode, an unrelated cert. */
	if (ca_has_ra(ca)) {
		assert_int_equal(scepc_parse_reply(der, len, ca_get0_cert(ca), NULL, NULL, &got), 1);
		assert_int_equal(got.signature_ok, 0);
		scepc_rep_free(&got);
	}
	assert_int_equal(scepc_parse_reply(der, len, F.other_cert, NULL, NULL, &got), 1);
	assert_int_equal(got.signature_ok, 0);
	scepc_rep_free(&got);

	OPENSSL_free(der);
	X509_free(issued);
	scep_msg_clear(&m);
	built_free(&b);
}

static void certrep_success_ra(void **state)
{
	(void)state;
	success_reply(F.ra, TO_RESPONDER, NULL, NULL, &F.pol, NID_aes_128_cbc, NID_sha256);
}

static void certrep_success_ca_only(void **state)
{
	(void)state;
	success_reply(F.solo, TO_CA, NULL, NULL, &F.pol, NID_aes_128_cbc, NID_sha256);
}

static void certrep_success_follows_request_algs(void **state)
{
	(void)state;
	success_reply(F.ra, TO_ALL, EVP_aes_256_cbc(), EVP_sha512(), &F.pol, NID_aes_256_cbc, NID_sha512);
	success_reply(F.ra, TO_RESPONDER, EVP_des_ede3_cbc(), EVP_sha1(), &F.pol, NID_des_ede3_cbc, NID_sha1);
}

static void certrep_success_des_request_gets_3des(void **state)
{
	(void)state;
	success_reply(F.ra, TO_RESPONDER, EVP_des_cbc(), EVP_sha1(), &F.pol_des, NID_des_ede3_cbc, NID_sha1);
}

static void certrep_sender_nonce_fresh_each_time(void **state)
{
	unsigned char req_nonce[16] = "0123456789abcdef";
	struct scep_rep rep = {0};
	struct scepc_rep a, b;
	unsigned char *d1 = NULL, *d2 = NULL;
	size_t l1 = 0, l2 = 0;
	(void)state;

	rep.pki_status = SCEP_STATUS_PENDING;
	rep.transaction_id = "tx-1";
	rep.recipient_nonce = req_nonce;
	rep.recipient_nonce_len = sizeof req_nonce;
	rep.digest_nid = NID_sha256;
	assert_err(scep_rep_build(F.ra, &rep, &d1, &l1), MDMID_OK);
	assert_err(scep_rep_build(F.ra, &rep, &d2, &l2), MDMID_OK);
	assert_int_equal(scepc_parse_reply(d1, l1, ca_get0_responder_cert(F.ra), NULL, NULL, &a), 1);
	assert_int_equal(scepc_parse_reply(d2, l2, ca_get0_responder_cert(F.ra), NULL, NULL, &b), 1);
	assert_int_equal(a.signature_ok, 1);
	assert_int_equal(a.pki_status, SCEPC_STATUS_PENDING);
	assert_int_equal(a.fail_info, -1);
	assert_int_equal(a.has_econtent, 0);
	assert_int_equal(a.sender_nonce_len, b.sender_nonce_len);
	assert_true(a.sender_nonce_len >= 8);
	assert_memory_not_equal(a.sender_nonce, b.sender_nonce, a.sender_nonce_len);
	assert_memory_not_equal(a.sender_nonce, req_nonce, sizeof req_nonce);
	assert_memory_equal(a.recipient_nonce, req_nonce, sizeof req_nonce);
	scepc_rep_free(&a);
	scepc_rep_free(&b);
	OPENSSL_free(d1);
	OPENSSL_free(d2);
}

static void failure_reply(const struct ca *ca, int fail_info, const char *text, int req_md, int want_md)
{
	unsigned char req_nonce[16];
	struct scep_rep rep = {0};
	struct scepc_rep got;
	unsigned char *der = NULL;
	size_t len = 0;

	assert_int_equal(RAND_bytes(req_nonce, sizeof req_nonce), 1);
	rep.pki_status = SCEP_STATUS_FAILURE;
	rep.fail_info = fail_info;
	rep.fail_info_text = text;
	rep.transaction_id = "ABCDEF0123";
	rep.recipient_nonce = req_nonce;
	rep.recipient_nonce_len = sizeof req_nonce;
	rep.digest_nid = req_md;
	rep.cipher_nid = NID_aes_128_cbc;
	assert_err(scep_rep_build(ca, &rep, &der, &len), MDMID_OK);

	assert_int_equal(scepc_parse_reply(der, len, ca_get0_responder_cert(ca), F.key, NULL, &got), 1);
	assert_int_equal(got.signature_ok, 1);
	assert_int_equal(got.attr_type_errors, 0);
	assert_int_equal(got.message_type, SCEPC_MSG_CERTREP);
	assert_int_equal(got.pki_status, SCEPC_STATUS_FAILURE);
	assert_int_equal(got.fail_info, fail_info);
	if (text) {
		assert_non_null(got.fail_info_text);
		assert_string_equal(got.fail_info_text, text);
	} else {
		assert_null(got.fail_info_text);
	}
	assert_string_equal(got.transaction_id, "ABCDEF0123");
	assert_int_equal(got.recipient_nonce_len, sizeof req_nonce);
	assert_memory_equal(got.recipient_nonce, req_nonce, sizeof req_nonce);
	assert_true(got.sender_nonce_len >= 8);
	assert_int_equal(got.digest_nid, want_md);
	assert_int_equal(got.has_econtent, 0);
	assert_int_equal(got.cipher_nid, NID_undef);
	assert_null(got.inner_certs);
	assert_null(got.issued);
	scepc_rep_free(&got);
	OPENSSL_free(der);
}

static void certrep_failure(void **state)
{
	(void)state;
	failure_reply(F.ra, SCEP_FAIL_BAD_REQUEST, "the challengePassword is not valid", NID_sha256, NID_sha256);
	failure_reply(F.ra, SCEP_FAIL_BAD_ALG, NULL, NID_sha512, NID_sha512);
	failure_reply(F.solo, SCEP_FAIL_BAD_MESSAGE_CHECK, "caf\xc3\xa9", NID_sha1, NID_sha1);
	/* An unusable request digest (MD5) is answered with SHA-256. */
	failure_reply(F.ra, SCEP_FAIL_BAD_ALG, mdmid_err_text(MDMID_ERR_DIGEST_ALG), NID_md5, NID_sha256);
}

static void certrep_failure_for_refused_request(void **state)
{
	/* End to end: a refused request's error becomes the FAILURE reply. */
	struct scepc_req_opts o = {0};
	struct built b;
	struct scep_msg m;
	struct scep_rep rep = {0};
	struct scepc_rep got;
	unsigned char *der = NULL;
	size_t len = 0;
	const struct mdmid_err_info *info;
	enum mdmid_err rc;
	(void)state;

	o.corrupt = SCEPC_CORRUPT_ENVELOPE;
	o.md = EVP_sha512();
	rc = build_parse(&o, F.ra, TO_RESPONDER, &F.pol, &b, &m);
	assert_err(rc, MDMID_ERR_DECRYPT);
	assert_true(m.answerable);
	info = mdmid_err_info(rc);
	rep.pki_status = SCEP_STATUS_FAILURE;
	rep.fail_info = info->fail_info;
	rep.fail_info_text = info->text;
	rep.transaction_id = m.transaction_id;
	rep.recipient_nonce = m.sender_nonce;
	rep.recipient_nonce_len = m.sender_nonce_len;
	rep.digest_nid = m.digest_nid;
	rep.cipher_nid = m.cipher_nid;
	assert_err(scep_rep_build(F.ra, &rep, &der, &len), MDMID_OK);
	assert_int_equal(scepc_parse_reply(der, len, ca_get0_responder_cert(F.ra), NULL, NULL, &got), 1);
	assert_int_equal(got.signature_ok, 1);
	assert_int_equal(got.pki_status, SCEPC_STATUS_FAILURE);
	assert_int_equal(got.fail_info, SCEPC_FAIL_BADMESSAGECHECK);
	assert_string_equal(got.fail_info_text, info->text);
	assert_string_equal(got.transaction_id, b.info.transaction_id);
	assert_memory_equal(got.recipient_nonce, b.info.sender_nonce, 16);
	assert_int_equal(got.digest_nid, NID_sha512);
	assert_int_equal(got.has_econtent, 0);
	scepc_rep_free(&got);
	OPENSSL_free(der);
	scep_msg_clear(&m);
	built_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pkcsreq_ra_aes128_sha256),
		cmocka_unit_test(pkcsreq_ra_and_ca_recipients),
		cmocka_unit_test(pkcsreq_aes256),
		cmocka_unit_test(csr_key_not_the_signers),
		cmocka_unit_test(pkcsreq_3des),
		cmocka_unit_test(pkcsreq_sha1),
		cmocka_unit_test(pkcsreq_sha512),
		cmocka_unit_test(pkcsreq_ber_indefinite),
		cmocka_unit_test(pkcsreq_ber_corrupt_signature),
		cmocka_unit_test(pkcsreq_ber_corrupt_envelope),
		cmocka_unit_test(pkcsreq_ca_only_mode),
		cmocka_unit_test(pkcsreq_ra_mode_refuses_ca_only_envelope),
		cmocka_unit_test(too_many_recipients_refused),
		cmocka_unit_test(transaction_id_outside_printablestring),
		cmocka_unit_test(garbage_is_decode_error),
		cmocka_unit_test(truncated_is_decode_error),
		cmocka_unit_test(trailing_garbage_is_decode_error),
		cmocka_unit_test(missing_transaction_id_or_nonce),
		cmocka_unit_test(corrupt_signature),
		cmocka_unit_test(corrupt_content_after_signing),
		cmocka_unit_test(signer_key_not_signer_cert),
		cmocka_unit_test(decrypt_failures_are_indistinguishable),
		cmocka_unit_test(single_des_refused_by_default),
		cmocka_unit_test(single_des_allowed_when_configured),
		cmocka_unit_test(md5_digest_refused),
		cmocka_unit_test(message_type_certpoll_parsed),
		cmocka_unit_test(message_type_unknown_refused),
		cmocka_unit_test(message_type_certrep_refused),
		cmocka_unit_test(ec_requester_refused),
		cmocka_unit_test(certrep_success_ra),
		cmocka_unit_test(certrep_success_ca_only),
		cmocka_unit_test(certrep_success_follows_request_algs),
		cmocka_unit_test(certrep_success_des_request_gets_3des),
		cmocka_unit_test(certrep_sender_nonce_fresh_each_time),
		cmocka_unit_test(certrep_failure),
		cmocka_unit_test(certrep_failure_for_refused_request),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
