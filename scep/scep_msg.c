/* pkiMessage parsing and verification: bytes in, a verified request out. */
#include "mdmid/scep_msg.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#define SCEP_MAX_RECIPIENTS 4

/* The characters of an ASN.1 PrintableString (X.680 41.4). */
static int printable_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr(" '()+,-./:=?", c);
}

/* A signed attribute of the given NID with exactly one value of type. */
static ASN1_STRING *signed_attr(PKCS7_SIGNER_INFO *si, int nid, int type)
{
	ASN1_TYPE *t = PKCS7_get_signed_attribute(si, nid);
	if (!t || t->type != type)
		return NULL;
	return t->value.asn1_string;
}

/* Reads the attributes a FAILURE answer needs, and the messageType. */
static void read_header(PKCS7_SIGNER_INFO *si, struct scep_msg *msg)
{
	const struct scep_oids *o = scep_oids();
	ASN1_STRING *tid = signed_attr(si, o->transaction_id, V_ASN1_PRINTABLESTRING);
	ASN1_STRING *nonce = signed_attr(si, o->sender_nonce, V_ASN1_OCTET_STRING);
	ASN1_STRING *mt = signed_attr(si, o->message_type, V_ASN1_PRINTABLESTRING);
	int len;

	msg->message_type = -1;
	if (mt && (len = ASN1_STRING_length(mt)) > 0 && len <= 3) {
		const unsigned char *d = ASN1_STRING_get0_data(mt);
		int v = 0;
		for (int i = 0; i < len && v >= 0; i++)
			v = d[i] >= '0' && d[i] <= '9' ? v * 10 + (d[i] - '0') : -1;
		msg->message_type = v;
	}
	if (!tid || !nonce)
		return;
	len = ASN1_STRING_length(tid);
	if (len <= 0 || len > SCEP_TRANSACTION_ID_MAX)
		return;
	/* The PrintableString alphabet only (no quotes, no backslash): the ID
	 * goes into key="value" logs and the database. */
	for (int i = 0; i < len; i++) {
		unsigned char c = ASN1_STRING_get0_data(tid)[i];
		if (!c || !printable_char(c))
			return;
	}
	memcpy(msg->transaction_id, ASN1_STRING_get0_data(tid), (size_t)len);
	msg->transaction_id[len] = '\0';
	len = ASN1_STRING_length(nonce);
	if (len < 8 || len > SCEP_NONCE_MAX)
		return;
	memcpy(msg->sender_nonce, ASN1_STRING_get0_data(nonce), (size_t)len);
	msg->sender_nonce_len = (size_t)len;
	msg->answerable = true;
}

#ifdef MDMID_FUZZING
/* Fuzz builds only (tests/fuzz): a fuzzer cannot sign, so a signature that
 * does not verify is let through with the signed content as it stands. */
static int fuzzing_signed_content(PKCS7 *p7, BIO *out)
{
	ASN1_OCTET_STRING *os = p7->d.sign->contents->d.data;
	(void)BIO_reset(out);
	return os && BIO_write(out, ASN1_STRING_get0_data(os), ASN1_STRING_length(os)) == ASN1_STRING_length(os);
}

/* Fuzz builds only: a fuzzer cannot encrypt to the responder key, so the
 * encrypted content is read as the plaintext (and no RSA operation is done). */
static enum mdmid_err fuzzing_plaintext(PKCS7 *env, unsigned char **out, size_t *outlen)
{
	ASN1_OCTET_STRING *os = env->d.enveloped->enc_data->enc_data;
	int n = os ? ASN1_STRING_length(os) : 0;

	if (n <= 0 || !(*out = malloc((size_t)n)))
		return MDMID_ERR_DECRYPT;
	memcpy(*out, ASN1_STRING_get0_data(os), (size_t)n);
	*outlen = (size_t)n;
	return MDMID_OK;
}
#endif

/* Verifies the outer signature with the message's own signer certificate and
 * returns the signed content (the envelope's DER) in a memory BIO. */
static enum mdmid_err verify_outer(PKCS7 *p7, struct scep_msg *msg, BIO **content)
{
	STACK_OF(X509) *signers = PKCS7_get0_signers(p7, NULL, 0);
	BIO *out = BIO_new(BIO_s_mem());
	enum mdmid_err rc = MDMID_ERR_BAD_SIGNATURE;

	*content = NULL;
	if (!out)
		goto out;
	if (!signers || sk_X509_num(signers) != 1)
		goto out;
	msg->signer = sk_X509_value(signers, 0);
	X509_up_ref(msg->signer);
	/* NOVERIFY: the requester's certificate is self-signed (or ours, for a
	 * renewal, checked elsewhere); here only the signature matters. */
	if (PKCS7_verify(p7, NULL, NULL, NULL, out, PKCS7_NOVERIFY | PKCS7_NOCHAIN | PKCS7_BINARY) != 1) {
#ifdef MDMID_FUZZING
		if (!fuzzing_signed_content(p7, out))
#endif
			goto out;
	}
	*content = out;
	out = NULL;
	rc = MDMID_OK;
out:
	BIO_free(out);
	sk_X509_free(signers);
	return rc;
}

/*
 * A library context with no provider but "null": parsing a CSR in it leaves
 * its public key undecoded. OpenSSL 3.0 decodes every SubjectPublicKeyInfo it
 * parses through a freshly built decoder chain, a sixth of an enrollment's
 * CPU time besides the RSA operations; a PKCSReq's CSR carries the key of the
 * certificate that signed the message, decoded already.
 */
static OSSL_LIB_CTX *nodecode_ctx;
static pthread_once_t nodecode_once = PTHREAD_ONCE_INIT;
static void nodecode_init(void)
{
	OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
	if (ctx && OSSL_PROVIDER_load(ctx, "null"))
		nodecode_ctx = ctx;
	else
		OSSL_LIB_CTX_free(ctx);
}

/*
 * Gives a certificate parsed in nodecode_ctx its RSA public key, read with
 * d2i_PublicKey (the RSAPublicKey structure, no decoder chain). Only when
 * the SubjectPublicKeyInfo that X509_set_pubkey writes back is byte for byte
 * the one parsed: nothing the certificate says changes.
 */
static bool attach_rsa_key(X509 *x)
{
	X509_PUBKEY *pub = X509_get_X509_PUBKEY(x);
	ASN1_OBJECT *alg = NULL;
	const unsigned char *bits, *p;
	unsigned char *before = NULL, *after = NULL;
	int blen, nbefore = pub ? i2d_X509_PUBKEY(pub, &before) : -1, nafter;
	EVP_PKEY *key = NULL;
	bool ok = false;

	if (nbefore <= 0 || !X509_PUBKEY_get0_param(&alg, &bits, &blen, NULL, pub) ||
	    OBJ_obj2nid(alg) != NID_rsaEncryption)
		goto out;
	p = bits;
	if (!(key = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, blen)) || p != bits + blen || !X509_set_pubkey(x, key))
		goto out;
	nafter = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &after);
	ok = nafter == nbefore && memcmp(before, after, (size_t)nbefore) == 0 && X509_get0_pubkey(x) == key;
out:
	EVP_PKEY_free(key);
	OPENSSL_free(before);
	OPENSSL_free(after);
	return ok;
}

/* A PKCSReq whose one signer certificate is in the message and has an RSA
 * key: its key attached (attach_rsa_key). */
static bool pkcsreq_signer_ready(PKCS7 *p7)
{
	STACK_OF(PKCS7_SIGNER_INFO) *sis = PKCS7_get_signer_info(p7);
	STACK_OF(X509) *signers;
	ASN1_STRING *mt;
	bool ok;

	if (!sis || sk_PKCS7_SIGNER_INFO_num(sis) != 1 || PKCS7_get_detached(p7) ||
	    !(mt = signed_attr(sk_PKCS7_SIGNER_INFO_value(sis, 0), scep_oids()->message_type, V_ASN1_PRINTABLESTRING)) ||
	    ASN1_STRING_length(mt) != 2 || memcmp(ASN1_STRING_get0_data(mt), "19", 2) != 0)
		return false;
	signers = PKCS7_get0_signers(p7, NULL, 0);
	ok = signers && sk_X509_num(signers) == 1 && attach_rsa_key(sk_X509_value(signers, 0));
	sk_X509_free(signers);
	return ok;
}

/*
 * The outer SignedData (BER, indefinite lengths included, as Apple sends).
 * OpenSSL 3.0 decodes the key of every certificate it parses through a
 * decoder chain built afresh, which costs more than the signature check; a
 * PKCSReq is parsed in nodecode_ctx and its signer's RSA key read directly.
 * Anything else (a RenewalReq, a poll, another key type) is parsed the
 * usual way.
 */
static PKCS7 *read_signed_data(const unsigned char *der, size_t len)
{
	const unsigned char *q = der;
	PKCS7 *p7;

	pthread_once(&nodecode_once, nodecode_init);
	if (nodecode_ctx) {
		p7 = (PKCS7 *)ASN1_item_d2i_ex(NULL, &q, (long)len, ASN1_ITEM_rptr(PKCS7), nodecode_ctx, NULL);
		if (p7 && q == der + len && PKCS7_type_is_signed(p7) && pkcsreq_signer_ready(p7))
			return p7;
		PKCS7_free(p7);
		ERR_clear_error();
		q = der;
	}
	p7 = d2i_PKCS7(NULL, &q, (long)len);
	if (p7 && q != der + len) {
		PKCS7_free(p7);
		p7 = NULL;
	}
	return p7;
}

static bool same_spki(X509_PUBKEY *a, X509_PUBKEY *b)
{
	unsigned char *da = NULL, *db = NULL;
	int la = i2d_X509_PUBKEY(a, &da), lb = i2d_X509_PUBKEY(b, &db);
	bool same = la > 0 && la == lb && memcmp(da, db, (size_t)la) == 0;
	OPENSSL_free(da);
	OPENSSL_free(db);
	return same;
}

/* The CSR and its key (msg->csr_key): the signer's when the CSR's
 * SubjectPublicKeyInfo is byte for byte the signer certificate's, else
 * decoded from the CSR. The CSR must be the whole plaintext. */
static bool read_csr(struct scep_msg *msg, const unsigned char *der, size_t len)
{
	const unsigned char *q = der;
	X509_REQ *csr = NULL;

	pthread_once(&nodecode_once, nodecode_init);
	if (nodecode_ctx && msg->signer) {
		csr = (X509_REQ *)ASN1_item_d2i_ex(NULL, &q, (long)len, ASN1_ITEM_rptr(X509_REQ), nodecode_ctx, NULL);
		if (csr && q == der + len && same_spki(X509_REQ_get_X509_PUBKEY(csr), X509_get_X509_PUBKEY(msg->signer)) &&
		    (msg->csr_key = X509_get0_pubkey(msg->signer)) && EVP_PKEY_up_ref(msg->csr_key)) {
			msg->csr = csr;
			return true;
		}
		msg->csr_key = NULL;
		X509_REQ_free(csr);
		ERR_clear_error();
		q = der;
	}
	/* Another key (a RenewalReq's new one, or a mismatch the policy will
	 * name): parsed the usual way. */
	csr = d2i_X509_REQ(NULL, &q, (long)len);
	if (!csr || q != der + len || !(msg->csr_key = X509_REQ_get0_pubkey(csr)) || !EVP_PKEY_up_ref(msg->csr_key)) {
		msg->csr_key = NULL;
		X509_REQ_free(csr);
		return false;
	}
	msg->csr = csr;
	return true;
}

/* Decrypts the pkcsPKIEnvelope and reads the CSR. Every failure from here on
 * is MDMID_ERR_DECRYPT: which step failed must not be observable. */
static enum mdmid_err open_envelope(const unsigned char *der, size_t len, const struct ca *ca, const struct policy *p,
				    struct scep_msg *msg)
{
	const unsigned char *q = der;
	PKCS7 *env = d2i_PKCS7(NULL, &q, (long)len);
	unsigned char *plain = NULL;
	size_t plain_len = 0;
	enum mdmid_err rc = MDMID_ERR_DECRYPT;

	if (!env || q != der + len || !PKCS7_type_is_enveloped(env) || !env->d.enveloped ||
	    !env->d.enveloped->enc_data || !env->d.enveloped->enc_data->algorithm)
		goto out;
	/* Every recipientInfo costs an RSA private-key operation (none is
	 * skipped: that is the padding-oracle defence): a client encrypts to the
	 * RA and the CA at most, so more than a few is an attack on CPU. */
	if (sk_PKCS7_RECIP_INFO_num(env->d.enveloped->recipientinfo) < 1 ||
	    sk_PKCS7_RECIP_INFO_num(env->d.enveloped->recipientinfo) > SCEP_MAX_RECIPIENTS)
		goto out;
	/* The algorithm is checked before any decryption is attempted. */
	msg->cipher_nid = OBJ_obj2nid(env->d.enveloped->enc_data->algorithm->algorithm);
	if ((rc = policy_check_cipher(p, msg->cipher_nid)) != MDMID_OK)
		goto out;
	rc = MDMID_ERR_DECRYPT;
#ifdef MDMID_FUZZING
	(void)ca;
	if (fuzzing_plaintext(env, &plain, &plain_len) != MDMID_OK)
		goto out;
#else
	if (ca_decrypt_envelope(ca, env, &plain, &plain_len) != MDMID_OK)
		goto out;
#endif
	q = plain;
	if (msg->message_type == SCEP_MT_CERTPOLL) {
		/* IssuerAndSubject: SEQUENCE { issuer Name, subject Name }. The
		 * request itself is found by transactionID and signer key. */
		long seqlen;
		int tag, xclass;
		X509_NAME *a = NULL, *b = NULL;
		if (ASN1_get_object(&q, &seqlen, &tag, &xclass, (long)plain_len) & 0x80 || tag != V_ASN1_SEQUENCE ||
		    q + seqlen != plain + plain_len || !(a = d2i_X509_NAME(NULL, &q, seqlen)) ||
		    !(b = d2i_X509_NAME(NULL, &q, (long)(plain + plain_len - q))) || q != plain + plain_len) {
			X509_NAME_free(a);
			X509_NAME_free(b);
			goto out;
		}
		X509_NAME_free(a);
		X509_NAME_free(b);
		msg->poll = true;
	} else if (msg->message_type == SCEP_MT_GETCERT || msg->message_type == SCEP_MT_GETCRL) {
		/* IssuerAndSerialNumber of the certificate (or whose CRL) is wanted. */
		msg->ias = d2i_PKCS7_ISSUER_AND_SERIAL(NULL, &q, (long)plain_len);
		if (!msg->ias || q != plain + plain_len) {
			PKCS7_ISSUER_AND_SERIAL_free(msg->ias);
			msg->ias = NULL;
			goto out;
		}
	} else if (!read_csr(msg, q, plain_len)) {
		goto out;
	}
	rc = MDMID_OK;
out:
	if (plain) {
		OPENSSL_cleanse(plain, plain_len);
		free(plain);
	}
	PKCS7_free(env);
	ERR_clear_error();
	return rc;
}

enum mdmid_err scep_msg_parse(const unsigned char *der, size_t len, const struct ca *ca, const struct policy *p,
			      struct scep_msg *msg)
{
	PKCS7 *p7 = NULL;
	PKCS7_SIGNER_INFO *si;
	STACK_OF(PKCS7_SIGNER_INFO) *sis;
	BIO *content = NULL;
	char *data;
	long n;
	enum mdmid_err rc = MDMID_ERR_MSG_DECODE;

	memset(msg, 0, sizeof *msg);
	msg->message_type = -1;
	msg->digest_nid = NID_undef;
	msg->cipher_nid = NID_undef;
	if (len == 0 || len > (1u << 24))
		goto out;
	if (!(p7 = read_signed_data(der, len)))
		goto out;
	if (!PKCS7_type_is_signed(p7) || !p7->d.sign || PKCS7_get_detached(p7) ||
	    !PKCS7_type_is_data(p7->d.sign->contents))
		goto out;
	sis = PKCS7_get_signer_info(p7);
	if (!sis || sk_PKCS7_SIGNER_INFO_num(sis) != 1)
		goto out;
	si = sk_PKCS7_SIGNER_INFO_value(sis, 0);
	read_header(si, msg);
	if (!msg->answerable) {
		rc = MDMID_ERR_MSG_ATTRS;
		goto out;
	}
	msg->digest_nid = OBJ_obj2nid(si->digest_alg->algorithm);
	if ((rc = policy_check_digest(msg->digest_nid)) != MDMID_OK)
		goto out;
	if ((rc = verify_outer(p7, msg, &content)) != MDMID_OK)
		goto out;
	{
		/* A signingTime far from the server clock: badTime (RFC 8894 3.2.1.4.5). */
		ASN1_TYPE *st = PKCS7_get_signed_attribute(si, NID_pkcs9_signingTime);
		if (st && st->type != V_ASN1_UTCTIME && st->type != V_ASN1_GENERALIZEDTIME) {
			rc = MDMID_ERR_BAD_TIME;
			goto out;
		}
		if ((rc = policy_check_signing_time(p, st ? st->value.asn1_string : NULL)) != MDMID_OK)
			goto out;
	}
	if ((rc = policy_check_requester_key(X509_get0_pubkey(msg->signer))) != MDMID_OK)
		goto out;
	if (msg->message_type != SCEP_MT_PKCSREQ && msg->message_type != SCEP_MT_RENEWALREQ &&
	    msg->message_type != SCEP_MT_GETCERT && msg->message_type != SCEP_MT_GETCRL &&
	    msg->message_type != SCEP_MT_CERTPOLL) {
		rc = MDMID_ERR_MSG_TYPE;
		goto out;
	}
	n = BIO_get_mem_data(content, &data);
	rc = open_envelope((const unsigned char *)data, n > 0 ? (size_t)n : 0, ca, p, msg);
out:
	BIO_free(content);
	PKCS7_free(p7);
	ERR_clear_error();
	return rc;
}

void scep_msg_clear(struct scep_msg *msg)
{
	X509_free(msg->signer);
	X509_REQ_free(msg->csr);
	EVP_PKEY_free(msg->csr_key);
	PKCS7_ISSUER_AND_SERIAL_free(msg->ias);
	msg->signer = NULL;
	msg->csr = NULL;
	msg->csr_key = NULL;
	msg->ias = NULL;
}
