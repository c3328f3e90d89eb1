/* Certificate helpers: serials, fingerprints, names, degenerate PKCS#7. */
#include "mdmid/x509util.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

ASN1_INTEGER *x509u_random_serial(void)
{
	unsigned char b[16];
	ASN1_INTEGER *serial = NULL;
	BIGNUM *bn = NULL;

	if (RAND_bytes(b, sizeof b) != 1)
		return NULL;
	b[0] = (unsigned char)((b[0] & 0x7f) | 0x40);
	if ((bn = BN_bin2bn(b, sizeof b, NULL)))
		serial = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	return serial;
}

void x509u_hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int x509u_serial_hex(const ASN1_INTEGER *serial, char *buf, size_t buflen)
{
	int len = ASN1_STRING_length(serial);
	const unsigned char *d = ASN1_STRING_get0_data(serial);

	if (len <= 0 || len > 20 || buflen < (size_t)len * 2 + 1)
		return 0;
	x509u_hex(d, (size_t)len, buf);
	return 1;
}

int x509u_sha256(const X509 *x, unsigned char out[32])
{
	unsigned int n = 32;
	return X509_digest(x, EVP_sha256(), out, &n) == 1 && n == 32;
}

int x509u_spki_sha256(const X509 *x, unsigned char out[32])
{
	unsigned char *der = NULL;
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	int ok = len > 0 && EVP_Digest(der, (size_t)len, out, NULL, EVP_sha256(), NULL) == 1;
	OPENSSL_free(der);
	return ok;
}

int x509u_spki_copy(X509_PUBKEY *dst, X509_REQ *req)
{
	const ASN1_OBJECT *obj;
	const unsigned char *bits;
	int blen, ptype;
	const void *pval;
	X509_ALGOR *alg;
	ASN1_OBJECT *obj_copy = NULL;
	void *pval_copy = NULL;
	unsigned char *bits_copy = NULL;

	if (!X509_PUBKEY_get0_param(NULL, &bits, &blen, &alg, X509_REQ_get_X509_PUBKEY(req)) || blen <= 0)
		return 0;
	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	if (!(obj_copy = OBJ_dup(obj)) || !(bits_copy = OPENSSL_memdup(bits, (size_t)blen)))
		goto fail;
	if (ptype == V_ASN1_OBJECT)
		pval_copy = OBJ_dup(pval);
	else if (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL)
		pval_copy = ASN1_STRING_dup(pval);
	if (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL && !pval_copy)
		goto fail;
	if (X509_PUBKEY_set0_param(dst, obj_copy, ptype, pval_copy, bits_copy, blen))
		return 1;
fail:
	ASN1_OBJECT_free(obj_copy);
	if (ptype == V_ASN1_OBJECT)
		ASN1_OBJECT_free(pval_copy);
	else
		ASN1_STRING_free(pval_copy);
	OPENSSL_free(bits_copy);
	return 0;
}

int x509u_req_spki_sha256(X509_REQ *req, unsigned char out[32])
{
	/* The SubjectPublicKeyInfo the certificate for req carries
	 * (x509u_spki_copy): the same bytes as the request's unless it encoded
	 * its BIT STRING oddly. No OpenSSL 3.0 encoder chain is built. */
	X509_PUBKEY *pk = X509_PUBKEY_new();
	unsigned char *der = NULL;
	int len = pk && x509u_spki_copy(pk, req) ? i2d_X509_PUBKEY(pk, &der) : -1;
	int ok = len > 0 && EVP_Digest(der, (size_t)len, out, NULL, EVP_sha256(), NULL) == 1;
	OPENSSL_free(der);
	X509_PUBKEY_free(pk);
	return ok;
}

X509_NAME *x509u_name_parse(const char *s)
{
	X509_NAME *name = X509_NAME_new();
	char *buf = NULL, *key, *val, *w;
	const char *p;

	if (!name || !s || *s != '/' || !(buf = malloc(strlen(s) + 1)))
		goto fail;
	p = s + 1;
	while (*p) {
		/* Copy one "key=value" component, unescaping "\/". */
		w = buf;
		while (*p && *p != '/') {
			if (*p == '\\' && p[1])
				p++;
			*w++ = *p++;
		}
		*w = '\0';
		if (*p == '/')
			p++;
		key = buf;
		if (!(val = strchr(buf, '=')) || val == key || !val[1])
			goto fail;
		*val++ = '\0';
		if (!X509_NAME_add_entry_by_txt(name, key, MBSTRING_UTF8, (unsigned char *)val, -1, -1, 0))
			goto fail;
	}
	if (X509_NAME_entry_count(name) == 0)
		goto fail;
	free(buf);
	return name;
fail:
	free(buf);
	X509_NAME_free(name);
	return NULL;
}

char *x509u_name_oneline(const X509_NAME *name)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL, *data;
	long n;

	if (!b)
		return NULL;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		n = BIO_get_mem_data(b, &data);
		if (n >= 0 && (out = malloc((size_t)n + 1))) {
			memcpy(out, data, (size_t)n);
			out[n] = '\0';
		}
	}
	BIO_free(b);
	return out;
}

int x509u_degenerate_p7(STACK_OF(X509) *certs, unsigned char **der, size_t *len)
{
	PKCS7 *p7 = PKCS7_new();
	int n, ok = 0;

	*der = NULL;
	if (!p7 || !PKCS7_set_type(p7, NID_pkcs7_signed))
		goto out;
	/* Content type id-data with the content itself absent: a detached,
	 * certs-only SignedData, as RFC 8894 section 3.4 asks. */
	p7->d.sign->contents->type = OBJ_nid2obj(NID_pkcs7_data);
	for (int i = 0; i < sk_X509_num(certs); i++)
		if (!PKCS7_add_certificate(p7, sk_X509_value(certs, i)))
			goto out;
	if ((n = i2d_PKCS7(p7, der)) <= 0)
		goto out;
	*len = (size_t)n;
	ok = 1;
out:
	PKCS7_free(p7);
	return ok;
}

int x509u_degenerate_p7_crl(X509_CRL *crl, unsigned char **der, size_t *len)
{
	PKCS7 *p7 = PKCS7_new();
	int n, ok = 0;

	*der = NULL;
	if (!p7 || !PKCS7_set_type(p7, NID_pkcs7_signed))
		goto out;
	p7->d.sign->contents->type = OBJ_nid2obj(NID_pkcs7_data);
	if (!PKCS7_add_crl(p7, crl) || (n = i2d_PKCS7(p7, der)) <= 0)
		goto out;
	*len = (size_t)n;
	ok = 1;
out:
	PKCS7_free(p7);
	return ok;
}

int x509u_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	if (!(ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)))
		return 0;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

char *x509u_san_text(X509 *cert)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	STACK_OF(CONF_VALUE) *vals = NULL;
	BIO *b = NULL;
	char *out = NULL, *data;
	long n;

	if (!gens)
		return NULL;
	if (!(vals = i2v_GENERAL_NAMES(NULL, gens, NULL)) || !(b = BIO_new(BIO_s_mem())))
		goto out;
	for (int i = 0; i < sk_CONF_VALUE_num(vals); i++) {
		CONF_VALUE *v = sk_CONF_VALUE_value(vals, i);
		BIO_printf(b, "%s%s:%s", i ? ", " : "", v->name, v->value);
	}
	n = BIO_get_mem_data(b, &data);
	if (n >= 0 && (out = malloc((size_t)n + 1))) {
		if (n > 0)
			memcpy(out, data, (size_t)n);
		out[n] = '\0';
	}
out:
	sk_CONF_VALUE_pop_free(vals, X509V3_conf_free);
	BIO_free(b);
	GENERAL_NAMES_free(gens);
	return out;
}

int x509u_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		int n;
		unsigned cp;
		if (*p < 0x80) {
			p++;
			continue;
		} else if ((*p & 0xe0) == 0xc0) {
			n = 1, cp = *p & 0x1f;
		} else if ((*p & 0xf0) == 0xe0) {
			n = 2, cp = *p & 0x0f;
		} else if ((*p & 0xf8) == 0xf0) {
			n = 3, cp = *p & 0x07;
		} else {
			return 0;
		}
		p++;
		for (int i = 0; i < n; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (*p & 0x3f);
		}
		/* Overlong forms, surrogates and values past U+10FFFF. */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
	}
	return 1;
}
