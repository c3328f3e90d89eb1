/* Issuance policy checks. */
#include "mdmid/policy.h"

#include "mdmid/config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

void policy_init(struct policy *p, unsigned min_rsa_bits, bool allow_single_des, bool csr_subject, bool csr_san,
		 unsigned validity_days, const char *static_challenge)
{
	memset(p, 0, sizeof *p);
	p->min_rsa_bits = min_rsa_bits;
	p->allow_single_des = allow_single_des;
	p->csr_subject = csr_subject;
	p->csr_san = csr_san;
	p->validity_days = validity_days;
	if (static_challenge && *static_challenge) {
		p->has_static_challenge = EVP_Digest(static_challenge, strlen(static_challenge),
						     p->static_challenge_sha256, NULL, EVP_sha256(), NULL) == 1;
	}
	p->challenge_mode = p->has_static_challenge ? CHALLENGE_STATIC : CHALLENGE_DYNAMIC;
	p->udid_nid = NID_commonName;
	p->udid_san_type = -1;
	p->max_clock_skew = 86400;
}

enum mdmid_err policy_check_signing_time(const struct policy *p, const ASN1_TIME *t)
{
	int days, secs;
	long long diff;

	if (!t || !p->max_clock_skew)
		return MDMID_OK;
	/* The difference from now, whichever way it goes. */
	if (!ASN1_TIME_diff(&days, &secs, NULL, t))
		return MDMID_ERR_BAD_TIME;
	diff = (long long)days * 86400 + secs;
	if (diff < 0)
		diff = -diff;
	return diff > (long long)p->max_clock_skew ? MDMID_ERR_BAD_TIME : MDMID_OK;
}

int policy_set_binding(struct policy *p, const char *mode, const char *udid_field, char *err, size_t errlen)
{
	if (!strcmp(mode, "dynamic"))
		p->challenge_mode = CHALLENGE_DYNAMIC;
	else if (!strcmp(mode, "static"))
		p->challenge_mode = CHALLENGE_STATIC;
	else if (!strcmp(mode, "both"))
		p->challenge_mode = CHALLENGE_BOTH;
	else {
		snprintf(err, errlen, "challenge_mode = %s: expected dynamic, static or both", mode);
		return -1;
	}
	p->udid_nid = NID_undef;
	p->udid_san_type = -1;
	if (!strcasecmp(udid_field, "SAN:DNS"))
		p->udid_san_type = GEN_DNS;
	else if (!strcasecmp(udid_field, "SAN:URI"))
		p->udid_san_type = GEN_URI;
	else if (!strcasecmp(udid_field, "SAN:email"))
		p->udid_san_type = GEN_EMAIL;
	else if ((p->udid_nid = OBJ_txt2nid(udid_field)) == NID_undef) {
		snprintf(err, errlen, "static_udid_field = %s: expected a subject attribute (CN, serialNumber, ...) "
			 "or SAN:DNS, SAN:URI, SAN:email", udid_field);
		return -1;
	}
	return 0;
}

int policy_csr_udid(const struct policy *p, X509_REQ *csr, char out[UDID_MAX + 1])
{
	int rc = -1;

	if (p->udid_san_type < 0) {
		const X509_NAME *name = X509_REQ_get_subject_name(csr);
		/* Every entry of that attribute is tried: a subject may carry several. */
		for (int i = X509_NAME_get_index_by_NID(name, p->udid_nid, -1); i >= 0 && rc < 0;
		     i = X509_NAME_get_index_by_NID(name, p->udid_nid, i)) {
			const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
			char buf[UDID_MAX + 2];
			int len = ASN1_STRING_length(v);
			if (len <= 0 || len > UDID_MAX)
				continue;
			memcpy(buf, ASN1_STRING_get0_data(v), (size_t)len);
			buf[len] = '\0';
			if (strlen(buf) == (size_t)len && udid_canonical(buf, out) == 0)
				rc = 0;
		}
		return rc;
	}
	{
		STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
		GENERAL_NAMES *names = NULL;
		int idx = exts ? X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1) : -1;
		if (idx >= 0)
			names = X509V3_EXT_d2i(sk_X509_EXTENSION_value(exts, idx));
		for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && rc < 0; i++) {
			GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
			char buf[UDID_MAX + 2];
			int len;
			if (g->type != p->udid_san_type)
				continue;
			len = ASN1_STRING_length(g->d.ia5);
			if (len <= 0 || len > UDID_MAX)
				continue;
			memcpy(buf, ASN1_STRING_get0_data(g->d.ia5), (size_t)len);
			buf[len] = '\0';
			if (strlen(buf) == (size_t)len && udid_canonical(buf, out) == 0)
				rc = 0;
		}
		GENERAL_NAMES_free(names);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	return rc;
}

enum mdmid_err policy_check_digest(int md_nid)
{
	switch (md_nid) {
	case NID_sha1:
	case NID_sha224:
	case NID_sha256:
	case NID_sha384:
	case NID_sha512:
		return MDMID_OK;
	default:
		return MDMID_ERR_DIGEST_ALG;
	}
}

enum mdmid_err policy_check_cipher(const struct policy *p, int cipher_nid)
{
	switch (cipher_nid) {
	case NID_aes_128_cbc:
	case NID_aes_192_cbc:
	case NID_aes_256_cbc:
	case NID_des_ede3_cbc:
		return MDMID_OK;
	case NID_des_cbc:
		return p->allow_single_des ? MDMID_OK : MDMID_ERR_SINGLE_DES;
	default:
		return MDMID_ERR_CIPHER_ALG;
	}
}

enum mdmid_err policy_check_requester_key(EVP_PKEY *key)
{
	return key && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ? MDMID_OK : MDMID_ERR_REQUESTER_KEY_ALG;
}

enum mdmid_err policy_check_csr(const struct policy *p, X509_REQ *csr, EVP_PKEY *signer_key)
{
	return policy_check_csr_with(p, csr, X509_REQ_get0_pubkey(csr), signer_key);
}

enum mdmid_err policy_check_csr_with(const struct policy *p, X509_REQ *csr, EVP_PKEY *key, EVP_PKEY *signer_key)
{
	enum mdmid_err rc = policy_check_csr_key_with(p, csr, key);

	/* The signature first: a CSR that does not verify has no key to compare. */
	if (rc == MDMID_ERR_CSR_SIGNATURE)
		return rc;
	if (!signer_key || EVP_PKEY_eq(key, signer_key) != 1)
		return MDMID_ERR_CSR_KEY_MISMATCH;
	return rc;
}

enum mdmid_err policy_check_csr_key(const struct policy *p, X509_REQ *csr)
{
	return policy_check_csr_key_with(p, csr, X509_REQ_get0_pubkey(csr));
}

enum mdmid_err policy_check_csr_key_with(const struct policy *p, X509_REQ *csr, EVP_PKEY *key)
{
	/* The default library context: the CSR may have been parsed in one
	 * without providers (scep_msg.c). */
	if (!key || X509_REQ_verify_ex(csr, key, NULL, NULL) != 1) {
		ERR_clear_error();
		return MDMID_ERR_CSR_SIGNATURE;
	}
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
		return MDMID_ERR_KEY_ALG;
	if ((unsigned)EVP_PKEY_get_bits(key) < p->min_rsa_bits)
		return MDMID_ERR_KEY_TOO_SMALL;
	return MDMID_OK;
}

int policy_csr_challenge(X509_REQ *csr, char *buf, size_t buflen)
{
	int idx = X509_REQ_get_attr_by_NID(csr, NID_pkcs9_challengePassword, -1);
	X509_ATTRIBUTE *attr;
	ASN1_TYPE *t;
	int len;

	if (idx < 0 || !(attr = X509_REQ_get_attr(csr, idx)) || X509_ATTRIBUTE_count(attr) != 1 ||
	    !(t = X509_ATTRIBUTE_get0_type(attr, 0)))
		return -1;
	switch (t->type) {
	case V_ASN1_PRINTABLESTRING:
	case V_ASN1_UTF8STRING:
	case V_ASN1_IA5STRING:
	case V_ASN1_T61STRING:
		break;
	default:
		return -1;
	}
	len = ASN1_STRING_length(t->value.asn1_string);
	if (len < 0 || (size_t)len >= buflen)
		return -1;
	memcpy(buf, ASN1_STRING_get0_data(t->value.asn1_string), (size_t)len);
	buf[len] = '\0';
	/* An embedded NUL would make two different secrets compare equal as C strings. */
	if (strlen(buf) != (size_t)len)
		return -1;
	return len;
}

enum mdmid_err policy_check_static_challenge(const struct policy *p, X509_REQ *csr)
{
	char secret[256];
	unsigned char h[32];
	int len = policy_csr_challenge(csr, secret, sizeof secret);
	int ok;

	if (len < 0)
		return MDMID_ERR_CHALLENGE_MISSING;
	/* Hash both sides so the comparison time depends on neither length. */
	ok = EVP_Digest(secret, (size_t)len, h, NULL, EVP_sha256(), NULL) == 1;
	OPENSSL_cleanse(secret, sizeof secret);
	if (!ok)
		return MDMID_ERR_INTERNAL;
	ok = p->has_static_challenge && CRYPTO_memcmp(h, p->static_challenge_sha256, sizeof h) == 0;
	return ok ? MDMID_OK : MDMID_ERR_CHALLENGE_WRONG;
}

int policy_from_config(struct policy *p, const struct mdmid_config *cfg, const char *static_challenge, char *err,
		       size_t errlen)
{
	policy_init(p, cfg->min_rsa_bits, cfg->allow_single_des, cfg->csr_subject, cfg->csr_san, cfg->validity_days,
		    static_challenge);
	if (policy_set_binding(p, cfg->challenge_mode, cfg->static_udid_field, err, errlen) < 0)
		return -1;
	p->max_clock_skew = cfg->max_clock_skew_seconds;
	return 0;
}
