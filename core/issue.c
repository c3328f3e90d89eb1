/* Certificate issuance from a CSR. */
#include "mdmid/issue.h"

#include <stdbool.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mdmid/x509util.h"

#define BACKDATE_SECONDS 300

/* Only the CN of the CSR's subject, when the policy does not take the rest. */
static X509_NAME *subject_cn_only(const X509_NAME *from)
{
	X509_NAME *n = X509_NAME_new();
	int idx = X509_NAME_get_index_by_NID(from, NID_commonName, -1);

	if (!n)
		return NULL;
	if (idx >= 0 && X509_NAME_add_entry(n, X509_NAME_get_entry(from, idx), -1, 0))
		return n;
	X509_NAME_free(n);
	return NULL;
}

/* True for an IA5 name mdmid copies: printable ASCII, no space, no NUL. */
static int plain_ia5(const ASN1_IA5STRING *s)
{
	int len = ASN1_STRING_length(s);
	const unsigned char *d = ASN1_STRING_get0_data(s);
	if (len <= 0 || len > 255)
		return 0;
	for (int i = 0; i < len; i++)
		if (d[i] <= 0x20 || d[i] >= 0x7f)
			return 0;
	return 1;
}

/*
 * Copies the subjectAltName from the CSR's extensionRequest, if any. Only
 * DNS names, e-mail addresses and URIs in plain ASCII are copied; a SAN that
 * is empty or holds anything else (otherName, IP, NULs, 8-bit bytes) is
 * refused rather than copied blindly or silently trimmed.
 */
static enum mdmid_err copy_san(X509 *cert, X509_REQ *csr)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
	GENERAL_NAMES *names = NULL;
	enum mdmid_err rc = MDMID_OK;
	int idx;

	if (!exts)
		return MDMID_OK;
	idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
	if (idx >= 0) {
		rc = MDMID_ERR_SAN;
		names = X509V3_EXT_d2i(sk_X509_EXTENSION_value(exts, idx));
		if (!names || sk_GENERAL_NAME_num(names) == 0 || sk_GENERAL_NAME_num(names) > 16)
			goto out;
		for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
			GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
			if ((g->type != GEN_DNS && g->type != GEN_EMAIL && g->type != GEN_URI) || !plain_ia5(g->d.ia5))
				goto out;
		}
		/* Re-encoded from the parsed names, never copied as opaque bytes. */
		rc = X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_REPLACE) == 1 ? MDMID_OK
												: MDMID_ERR_ISSUE;
	}
out:
	GENERAL_NAMES_free(names);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

/*
 * Builds and signs a certificate for key with subject (taken over, freed
 * here) under mdmid's extensions; csr, when not NULL, is the request the
 * key came from: its SubjectPublicKeyInfo is copied as it is, and its
 * subjectAltName when the policy copies it (copy_san).
 */
static enum mdmid_err issue_build(const struct ca *ca, EVP_PKEY *key, X509_NAME *subject, unsigned validity_days,
				  X509_REQ *csr, bool copy_sans, X509 **out)
{
	X509 *x = X509_new(), *cacert = ca_get0_cert(ca);
	ASN1_INTEGER *serial = x509u_random_serial();
	enum mdmid_err rc = MDMID_ERR_ISSUE;
	/* RSA keys sign and encrypt; EC keys cannot encipher keys. */
	const char *ku = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ? "critical,digitalSignature,keyEncipherment"
								    : "critical,digitalSignature";

	*out = NULL;
	if (!x || !serial)
		goto out;
	/* The subject is recorded as text: it must render as valid UTF-8. */
	{
		char *text = x509u_name_oneline(subject);
		int ok = text && x509u_utf8_valid(text);
		free(text);
		if (!ok) {
			rc = MDMID_ERR_SUBJECT;
			goto out;
		}
	}
	if (!X509_set_version(x, X509_VERSION_3) || !X509_set_serialNumber(x, serial) ||
	    !X509_set_subject_name(x, subject) || !X509_set_issuer_name(x, X509_get_subject_name(cacert)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_SECONDS) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), (int)validity_days, 0, NULL) ||
	    !(csr ? x509u_spki_copy(X509_get_X509_PUBKEY(x), csr) : X509_set_pubkey(x, key)))
		goto out;
	/* A certificate must not outlive its issuer. */
	if (ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(cacert)) > 0 &&
	    !X509_set1_notAfter(x, X509_get0_notAfter(cacert)))
		goto out;
	if (!x509u_add_ext(x, cacert, NID_basic_constraints, "critical,CA:FALSE") ||
	    !x509u_add_ext(x, cacert, NID_key_usage, ku) ||
	    !x509u_add_ext(x, cacert, NID_ext_key_usage, "clientAuth") ||
	    !x509u_add_ext(x, cacert, NID_subject_key_identifier, "hash") ||
	    !x509u_add_ext(x, cacert, NID_authority_key_identifier, "keyid:always"))
		goto out;
	if (csr && copy_sans && (rc = copy_san(x, csr)) != MDMID_OK)
		goto out;
	if ((rc = ca_sign_cert(ca, x)) != MDMID_OK)
		goto out;
	*out = x;
	x = NULL;
out:
	ERR_clear_error();
	X509_free(x);
	ASN1_INTEGER_free(serial);
	X509_NAME_free(subject);
	return rc;
}

enum mdmid_err issue_from_csr(const struct ca *ca, const struct policy *p, X509_REQ *csr, X509 **out)
{
	return issue_from_csr_key(ca, p, csr, X509_REQ_get0_pubkey(csr), out);
}

enum mdmid_err issue_from_csr_key(const struct ca *ca, const struct policy *p, X509_REQ *csr, EVP_PKEY *csr_key,
				  X509 **out)
{
	const X509_NAME *csr_name = X509_REQ_get_subject_name(csr);
	X509_NAME *subject;

	*out = NULL;
	if (X509_NAME_entry_count(csr_name) == 0)
		return MDMID_ERR_SUBJECT;
	subject = p->csr_subject ? X509_NAME_dup(csr_name) : subject_cn_only(csr_name);
	if (!subject)
		return p->csr_subject ? MDMID_ERR_ISSUE : MDMID_ERR_SUBJECT;
	if (!csr_key) {
		X509_NAME_free(subject);
		return MDMID_ERR_ISSUE;
	}
	return issue_build(ca, csr_key, subject, p->validity_days, csr, p->csr_san, out);
}

enum mdmid_err issue_for_key(const struct ca *ca, EVP_PKEY *key, const X509_NAME *subject, unsigned validity_days,
			     X509 **out)
{
	X509_NAME *copy = X509_NAME_dup(subject);

	*out = NULL;
	if (!copy)
		return MDMID_ERR_NOMEM;
	return issue_build(ca, key, copy, validity_days, NULL, false, out);
}
