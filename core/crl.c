/* CRL issuance and freshness. */
#include "mdmid/crl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mdmid/log.h"
#include "mdmid/metrics.h"

static const struct {
	const char *name;
	int code;
} reasons[] = {
	{"unspecified", CRL_REASON_UNSPECIFIED},
	{"keyCompromise", CRL_REASON_KEY_COMPROMISE},
	{"cACompromise", CRL_REASON_CA_COMPROMISE},
	{"affiliationChanged", CRL_REASON_AFFILIATION_CHANGED},
	{"superseded", CRL_REASON_SUPERSEDED},
	{"cessationOfOperation", CRL_REASON_CESSATION_OF_OPERATION},
	{"certificateHold", CRL_REASON_CERTIFICATE_HOLD},
	{"privilegeWithdrawn", CRL_REASON_PRIVILEGE_WITHDRAWN},
	{"aACompromise", CRL_REASON_AA_COMPROMISE},
};

static int reason_code(const char *name)
{
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (!strcmp(reasons[i].name, name))
			return reasons[i].code;
	return -1;
}

int crl_reason_valid(const char *name) { return name && reason_code(name) >= 0; }

static ASN1_INTEGER *serial_from_hex(const char *hex)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *i = NULL;
	if (BN_hex2bn(&bn, hex) > 0)
		i = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	return i;
}

/* Builds and signs the CRL (the crl_sign_fn of store_crl_issue). */
static int sign_crl(void *cls, const struct revoked_entry *e, size_t n, int64_t number, unsigned char **der,
		    size_t *len, int64_t *this_update, int64_t *next_update)
{
	const struct crl_ctx *c = cls;
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *tu = NULL, *nu = NULL;
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	X509V3_CTX v3;
	X509_EXTENSION *aki = NULL;
	time_t now = time(NULL);
	int ok = 0, dlen;

	*der = NULL;
	*this_update = (int64_t)now;
	*next_update = (int64_t)now + (int64_t)c->validity_days * 86400;
	if (!crl || !num || !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !(tu = ASN1_TIME_set(NULL, (time_t)*this_update)) || !(nu = ASN1_TIME_set(NULL, (time_t)*next_update)) ||
	    !X509_CRL_set1_lastUpdate(crl, tu) || !X509_CRL_set1_nextUpdate(crl, nu) ||
	    !ASN1_INTEGER_set_int64(num, number) || !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0))
		goto out;
	X509V3_set_ctx(&v3, ca_get0_crl_issuer(c->ca, c->signer), NULL, NULL, crl, 0);
	if (!(aki = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier, "keyid:always")) ||
	    !X509_CRL_add_ext(crl, aki, -1))
		goto out;
	for (size_t i = 0; i < n; i++) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_INTEGER *serial = serial_from_hex(e[i].serial);
		ASN1_TIME *when = ASN1_TIME_set(NULL, (time_t)e[i].revoked_at);
		ASN1_ENUMERATED *reason = ASN1_ENUMERATED_new();
		int code = reason_code(e[i].reason);
		int added = r && serial && when && reason && X509_REVOKED_set_serialNumber(r, serial) &&
			    X509_REVOKED_set_revocationDate(r, when) &&
			    /* "unspecified" is expressed by leaving the reason out (RFC 5280). */
			    (code <= 0 || (ASN1_ENUMERATED_set(reason, code) &&
					   X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, 0))) &&
			    X509_CRL_add0_revoked(crl, r);
		ASN1_INTEGER_free(serial);
		ASN1_TIME_free(when);
		ASN1_ENUMERATED_free(reason);
		if (!added) {
			X509_REVOKED_free(r);
			goto out;
		}
	}
	X509_CRL_sort(crl);
	if (ca_sign_crl_as(c->ca, c->signer, crl) != MDMID_OK || (dlen = i2d_X509_CRL(crl, der)) <= 0)
		goto out;
	*len = (size_t)dlen;
	ok = 1;
out:
	ERR_clear_error();
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	X509_CRL_free(crl);
	return ok;
}

enum mdmid_err crl_issue(const struct crl_ctx *c, struct store *st, int64_t *number)
{
	enum mdmid_err rc = store_crl_issue(st, c->issuer_id, sign_crl, (void *)c, number);
	/* sign_crl dated it now. */
	if (rc == MDMID_OK && c->signer < 0)
		metrics_crl_this_update((int64_t)time(NULL));
	return rc;
}

enum mdmid_err crl_revoke(const struct crl_ctx *ctxs, size_t n, struct store *st, const char *serial,
			  const char *reason)
{
	int64_t number, issuer_id = 0;
	enum mdmid_err rc;

	if (!crl_reason_valid(reason))
		return MDMID_ERR_BAD_REASON;
	if ((rc = store_revoke(st, serial, reason, &issuer_id)) != MDMID_OK)
		return rc;
	log_info("event=revoke outcome=success serial=%s reason=%s", serial, reason);
	for (size_t i = 0; i < n; i++)
		if (ctxs[i].issuer_id == issuer_id) {
			if (crl_issue(&ctxs[i], st, &number) != MDMID_OK)
				log_warn("msg=\"revoked, but the new CRL could not be issued; the next one lists it\" serial=%s",
					 serial);
			return MDMID_OK;
		}
	log_warn("msg=\"revoked; its issuer is none of the configured CAs, so no CRL lists it\" serial=%s", serial);
	return MDMID_OK;
}

int crl_contexts(const struct ca *ca, struct store *st, unsigned validity_days, struct crl_ctx **out, size_t *n,
		 char *err, size_t errlen)
{
	STACK_OF(X509) *prev = ca_get0_previous(ca);
	size_t count = 1 + (size_t)sk_X509_num(prev);
	struct crl_ctx *c = calloc(count, sizeof *c);

	*out = NULL;
	*n = 0;
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		c[i] = (struct crl_ctx){.ca = ca, .signer = (int)i - 1, .validity_days = validity_days};
		if (store_issuer_put(st, ca_get0_crl_issuer(ca, (int)i - 1), "ca", &c[i].issuer_id, err, errlen) !=
		    MDMID_OK) {
			free(c);
			return -1;
		}
	}
	*out = c;
	*n = count;
	return 0;
}

enum mdmid_err crl_current(const struct crl_ctx *c, struct store *st, unsigned char **der, size_t *len)
{
	int64_t this_update = 0, next_update = 0, number = 0;
	enum mdmid_err rc = store_crl_latest(st, c->issuer_id, der, len, &this_update, &next_update, &number);

	if (rc != MDMID_OK)
		return rc;
	if (*der && c->signer < 0)
		metrics_crl_this_update(this_update);
	/* Fresh enough: less than half of its life has passed. */
	if (*der && (int64_t)time(NULL) < this_update + (next_update - this_update) / 2)
		return MDMID_OK;
	free(*der);
	*der = NULL;
	if ((rc = crl_issue(c, st, &number)) != MDMID_OK)
		return rc;
	return store_crl_latest(st, c->issuer_id, der, len, &this_update, &next_update, &number);
}
