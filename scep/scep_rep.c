/* CertRep: a SignedData by the responder around the enveloped certificate. */
#include "mdmid/scep_rep.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>

#include "mdmid/policy.h"
#include "mdmid/scep_msg.h"
#include "mdmid/x509util.h"

/* Adds a string- or octet-valued signed attribute; the bytes are copied, so
 * no ownership is in question on any failure path. Returns 1 on success. */
static int add_attr(PKCS7_SIGNER_INFO *si, int nid, int type, const void *data, size_t len)
{
	return X509at_add1_attr_by_NID(&si->auth_attr, nid, type, data, (int)len) != NULL;
}

static int add_number_attr(PKCS7_SIGNER_INFO *si, int nid, int value)
{
	char buf[12];
	int n = snprintf(buf, sizeof buf, "%d", value);
	return add_attr(si, nid, V_ASN1_PRINTABLESTRING, buf, (size_t)n);
}

/* The EnvelopedData of the degenerate SignedData holding the certificate. */
static int envelope_cert(const struct scep_rep *rep, unsigned char **der, int *len)
{
	STACK_OF(X509) *one = sk_X509_new_null(), *recips = sk_X509_new_null();
	unsigned char *inner = NULL;
	size_t inner_len = 0;
	BIO *in = NULL;
	PKCS7 *env = NULL;
	int cipher_nid = rep->cipher_nid, ok = 0;
	const EVP_CIPHER *cipher;

	/* Never answer in single DES; unknown or unset means AES-128. */
	if (cipher_nid == NID_des_cbc)
		cipher_nid = NID_des_ede3_cbc;
	if (cipher_nid != NID_des_ede3_cbc && cipher_nid != NID_aes_128_cbc && cipher_nid != NID_aes_192_cbc &&
	    cipher_nid != NID_aes_256_cbc)
		cipher_nid = NID_aes_128_cbc;
	cipher = EVP_get_cipherbynid(cipher_nid);
	/* Only the issued certificate: with the CA in it, DER set ordering can
	 * put the CA first and Apple's client then rejects the reply. */
	if (!one || !recips || !cipher || (rep->issued && !sk_X509_push(one, rep->issued)) ||
	    !sk_X509_push(recips, rep->recipient) ||
	    !(rep->crl ? x509u_degenerate_p7_crl(rep->crl, &inner, &inner_len)
		       : x509u_degenerate_p7(one, &inner, &inner_len)) ||
	    !(in = BIO_new_mem_buf(inner, (int)inner_len)) ||
	    !(env = PKCS7_encrypt(recips, in, cipher, PKCS7_BINARY)))
		goto out;
	*der = NULL;
	if ((*len = i2d_PKCS7(env, der)) <= 0)
		goto out;
	ok = 1;
out:
	sk_X509_free(one);
	sk_X509_free(recips);
	OPENSSL_free(inner);
	BIO_free(in);
	PKCS7_free(env);
	return ok;
}

enum mdmid_err scep_rep_build(const struct ca *ca, const struct scep_rep *rep, unsigned char **der, size_t *len)
{
	const struct scep_oids *o = scep_oids();
	const int flags = PKCS7_BINARY | PKCS7_PARTIAL | PKCS7_NOSMIMECAP;
	unsigned char nonce[16], *env = NULL;
	int env_len = 0, n;
	PKCS7 *p7 = NULL;
	PKCS7_SIGNER_INFO *si;
	BIO *content = NULL;
	const EVP_MD *md;
	enum mdmid_err rc = MDMID_ERR_INTERNAL;

	*der = NULL;
	md = EVP_get_digestbynid(policy_check_digest(rep->digest_nid) == MDMID_OK ? rep->digest_nid : NID_sha256);
	if (!md || RAND_bytes(nonce, sizeof nonce) != 1)
		goto out;
	if (rep->pki_status == SCEP_STATUS_SUCCESS && !envelope_cert(rep, &env, &env_len))
		goto out;
	if (!(p7 = PKCS7_sign(NULL, NULL, NULL, NULL, flags)) || !(si = ca_responder_add_signer(ca, p7, md, flags)))
		goto out;
	if (!add_attr(si, o->transaction_id, V_ASN1_PRINTABLESTRING, rep->transaction_id, strlen(rep->transaction_id)) ||
	    !add_number_attr(si, o->message_type, SCEP_MT_CERTREP) ||
	    !add_number_attr(si, o->pki_status, rep->pki_status) ||
	    !add_attr(si, o->sender_nonce, V_ASN1_OCTET_STRING, nonce, sizeof nonce) ||
	    !add_attr(si, o->recipient_nonce, V_ASN1_OCTET_STRING, rep->recipient_nonce, rep->recipient_nonce_len))
		goto out;
	if (rep->pki_status == SCEP_STATUS_FAILURE) {
		if (!add_number_attr(si, o->fail_info, rep->fail_info) ||
		    (rep->fail_info_text && !add_attr(si, o->fail_info_text, V_ASN1_UTF8STRING, rep->fail_info_text,
						      strlen(rep->fail_info_text))))
			goto out;
	}
	if (env) {
		content = BIO_new_mem_buf(env, env_len);
	} else {
		/* No pkcsPKIEnvelope: the content is absent (detached), not empty. */
		PKCS7_set_detached(p7, 1);
		content = BIO_new(BIO_s_mem());
	}
	if (!content || !PKCS7_final(p7, content, flags))
		goto out;
	if ((n = i2d_PKCS7(p7, der)) <= 0)
		goto out;
	*len = (size_t)n;
	rc = MDMID_OK;
out:
	ERR_clear_error();
	OPENSSL_free(env);
	BIO_free(content);
	PKCS7_free(p7);
	return rc;
}
