/* .mobileconfig with the CA payloads and a SCEP payload, built with libplist. */
#include "mdmid/profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <plist/plist.h>

#include "mdmid/challenge.h"
#include "mdmid/udid.h"

/* A name-based UUID: SHA-256 of the parts, formatted with the version (5)
 * and variant bits set, so the same device gets the same payload UUIDs. */
static void stable_uuid(const char *kind, const char *udid, const char *extra, char out[37])
{
	unsigned char h[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	memset(h, 0, sizeof h);
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, "mdmid-profile\n", 14) &&
	    EVP_DigestUpdate(ctx, kind, strlen(kind)) && EVP_DigestUpdate(ctx, "\n", 1) &&
	    EVP_DigestUpdate(ctx, udid, strlen(udid)) && EVP_DigestUpdate(ctx, "\n", 1) &&
	    EVP_DigestUpdate(ctx, extra, strlen(extra)))
		EVP_DigestFinal_ex(ctx, h, NULL);
	EVP_MD_CTX_free(ctx);
	h[6] = (unsigned char)((h[6] & 0x0f) | 0x50);
	h[8] = (unsigned char)((h[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X", h[0], h[1], h[2],
		 h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]);
}

/* The profile as XML in a malloc'd copy; libplist's buffer is wiped, since a
 * profile holds a challenge or a password. */
static enum mdmid_err render_xml(plist_t root, char **xml, size_t *len)
{
	char *text = NULL;
	uint32_t text_len = 0;
	enum mdmid_err rc = MDMID_ERR_INTERNAL;

	plist_to_xml(root, &text, &text_len);
	if (text && (*xml = malloc((size_t)text_len + 1))) {
		memcpy(*xml, text, text_len);
		(*xml)[text_len] = '\0';
		*len = text_len;
		rc = MDMID_OK;
	}
	if (text) {
		OPENSSL_cleanse(text, text_len);
		plist_to_xml_free(text);
	}
	return rc;
}

void profile_scep_uuid(const char *udid, char out[37]) { stable_uuid("scep", udid, "", out); }

static void set_str(plist_t dict, const char *key, const char *value)
{
	plist_dict_set_item(dict, key, plist_new_string(value));
}

/* The common keys of a payload dictionary. */
static plist_t payload(const char *type, const char *identifier, const char *uuid, const char *display)
{
	plist_t d = plist_new_dict();
	set_str(d, "PayloadType", type);
	set_str(d, "PayloadIdentifier", identifier);
	set_str(d, "PayloadUUID", uuid);
	plist_dict_set_item(d, "PayloadVersion", plist_new_uint(1));
	set_str(d, "PayloadDisplayName", display);
	return d;
}

/* A certificate payload: com.apple.security.root for a self-signed CA,
 * com.apple.security.pkcs1 for an intermediate. */
static int cert_payload(plist_t list, X509 *cert, const char *udid)
{
	unsigned char *der = NULL, fp[32];
	unsigned int fplen = sizeof fp;
	char hex[17], uuid[37], ident[64], cn[128] = "CA certificate";
	int len = i2d_X509(cert, &der);
	int root = X509_check_issued(cert, cert) == X509_V_OK;
	plist_t p;

	if (len <= 0 || !X509_digest(cert, EVP_sha256(), fp, &fplen)) {
		OPENSSL_free(der);
		return 0;
	}
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", fp[i]);
	X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
	stable_uuid("certificate", udid, hex, uuid);
	snprintf(ident, sizeof ident, "mdmid.ca.%s", hex);
	p = payload(root ? "com.apple.security.root" : "com.apple.security.pkcs1", ident, uuid, cn);
	plist_dict_set_item(p, "PayloadContent", plist_new_data((const char *)der, (uint64_t)len));
	set_str(p, "PayloadCertificateFileName", root ? "root.cer" : "intermediate.cer");
	plist_array_append_item(list, p);
	OPENSSL_free(der);
	return 1;
}

/* One RDN of Apple's Subject form: [[type, value]]. */
static plist_t rdn(const char *type, const char *value)
{
	plist_t pair = plist_new_array(), set = plist_new_array();
	plist_array_append_item(pair, plist_new_string(type));
	plist_array_append_item(pair, plist_new_string(value));
	plist_array_append_item(set, pair);
	return set;
}

static plist_t scep_content(const struct ca *ca, const struct profile_opts *o, const char *udid, const char *challenge)
{
	plist_t c = plist_new_dict(), subject = plist_new_array();
	const struct policy *p = o->policy;
	char field[80] = "CN";

	set_str(c, "URL", o->url);
	set_str(c, "Name", "mdmid");
	/* The UDID goes where static mode reads it; with one-time challenges the
	 * challenge binds it, and the CN names the device for people. */
	if (o->organization && *o->organization)
		plist_array_append_item(subject, rdn("O", o->organization));
	if (p->udid_san_type < 0 && p->udid_nid != NID_commonName) {
		if (OBJ_obj2txt(field, sizeof field, OBJ_nid2obj(p->udid_nid), 1) <= 0)
			snprintf(field, sizeof field, "CN");
		plist_array_append_item(subject, rdn("CN", udid));
	}
	plist_array_append_item(subject, rdn(field, udid));
	plist_dict_set_item(c, "Subject", subject);
	if (p->udid_san_type >= 0) {
		plist_t san = plist_new_dict();
		set_str(san, p->udid_san_type == GEN_DNS ? "dNSName"
			     : p->udid_san_type == GEN_URI ? "uniformResourceIdentifier"
							   : "rfc822Name",
			udid);
		plist_dict_set_item(c, "SubjectAltName", san);
	}
	set_str(c, "Challenge", challenge);
	plist_dict_set_item(c, "Keysize", plist_new_uint(o->key_size));
	set_str(c, "Key Type", "RSA");
	/* 1 signing + 4 encryption: digitalSignature and keyEncipherment. */
	plist_dict_set_item(c, "Key Usage", plist_new_uint(5));
	plist_dict_set_item(c, "Retries", plist_new_uint(3));
	plist_dict_set_item(c, "RetryDelay", plist_new_uint(10));
	if (strcmp(o->ca_fingerprint, "none") != 0) {
		unsigned char fp[32];
		unsigned int n = sizeof fp;
		const EVP_MD *md = strcmp(o->ca_fingerprint, "sha1") == 0 ? EVP_sha1() : EVP_sha256();
		if (X509_digest(ca_get0_cert(ca), md, fp, &n))
			plist_dict_set_item(c, "CAFingerprint", plist_new_data((const char *)fp, n));
	}
	return c;
}

enum mdmid_err profile_scep(const struct ca *ca, struct store *st, const struct profile_opts *o, const char *udid,
			    char **xml, size_t *len)
{
	char canon[UDID_MAX + 1], uuid[37], ident[96];
	struct challenge_minted m;
	STACK_OF(X509) *chain = ca_get0_chain(ca);
	plist_t root = NULL, content, scep;
	enum mdmid_err rc;

	*xml = NULL;
	if (udid_canonical(udid, canon) < 0)
		return MDMID_ERR_UDID_INVALID;
	if ((rc = challenge_mint(st, canon, NULL, o->challenge_ttl, false, &m)) != MDMID_OK)
		return rc;
	rc = MDMID_ERR_INTERNAL;
	stable_uuid("profile", canon, "", uuid);
	snprintf(ident, sizeof ident, "mdmid.identity.%s", canon);
	root = payload("Configuration", ident, uuid, "Device identity");
	set_str(root, "PayloadDescription", "The device identity certificate, enrolled over SCEP");
	set_str(root, "PayloadOrganization", o->organization && *o->organization ? o->organization : "mdmid");
	content = plist_new_array();
	/* The chain from the root down, then the SCEP payload. */
	for (int i = sk_X509_num(chain) - 1; i >= 0; i--)
		if (!cert_payload(content, sk_X509_value(chain, i), canon))
			goto out_content;
	if (!cert_payload(content, ca_get0_cert(ca), canon))
		goto out_content;
	profile_scep_uuid(canon, uuid);
	snprintf(ident, sizeof ident, "mdmid.scep.%s", canon);
	scep = payload("com.apple.security.scep", ident, uuid, "Device identity (SCEP)");
	plist_dict_set_item(scep, "PayloadContent", scep_content(ca, o, canon, m.secret));
	plist_array_append_item(content, scep);
	plist_dict_set_item(root, "PayloadContent", content);
	rc = render_xml(root, xml, len);
	goto out;
out_content:
	plist_free(content);
out:
	plist_free(root);
	OPENSSL_cleanse(m.secret, sizeof m.secret);
	return rc;
}

enum mdmid_err profile_pkcs12(const struct ca *ca, const char *udid, const unsigned char *p12, size_t p12_len,
			      const char *password, const char *organization, char **xml, size_t *len)
{
	STACK_OF(X509) *chain = ca_get0_chain(ca);
	char uuid[37], ident[96], file[UDID_MAX + 8];
	plist_t root, content, pkcs12;
	enum mdmid_err rc = MDMID_ERR_INTERNAL;

	*xml = NULL;
	stable_uuid("pkcs12-profile", udid, "", uuid);
	snprintf(ident, sizeof ident, "mdmid.identity-p12.%s", udid);
	root = payload("Configuration", ident, uuid, "Device identity");
	set_str(root, "PayloadDescription", "The device identity certificate and its key");
	set_str(root, "PayloadOrganization", organization && *organization ? organization : "mdmid");
	content = plist_new_array();
	plist_dict_set_item(root, "PayloadContent", content);
	for (int i = sk_X509_num(chain) - 1; i >= 0; i--)
		if (!cert_payload(content, sk_X509_value(chain, i), udid))
			goto out;
	if (!cert_payload(content, ca_get0_cert(ca), udid))
		goto out;
	stable_uuid("pkcs12", udid, "", uuid);
	snprintf(ident, sizeof ident, "mdmid.pkcs12.%s", udid);
	snprintf(file, sizeof file, "%s.p12", udid);
	pkcs12 = payload("com.apple.security.pkcs12", ident, uuid, "Device identity");
	plist_dict_set_item(pkcs12, "PayloadContent", plist_new_data((const char *)p12, p12_len));
	set_str(pkcs12, "Password", password);
	set_str(pkcs12, "PayloadCertificateFileName", file);
	plist_array_append_item(content, pkcs12);
	rc = render_xml(root, xml, len);
out:
	plist_free(root);
	return rc;
}
