/*
 * scep_client.c - client side of SCEP pkiMessages, for mdmid's tests.
 * See scep_client.h for the contract. Every function has one exit path
 * (label out); every OpenSSL return value is checked.
 */
#include "scep_client.h"

#include <limits.h>
#include <string.h>
#include <time.h>
#include <threads.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

/* Errors of our own go on the OpenSSL queue, so callers have one place to look. */
#define SCEPC_ERR(msg) ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT, "scepc: %s", (msg))

/* ---- OIDs ---------------------------------------------------------------- */

static const struct {
    const char *oid, *sn, *ln;
} scepc_oids[SCEPC_ATTR_COUNT] = {
    [SCEPC_ATTR_MESSAGE_TYPE] = {"2.16.840.1.113733.1.9.2", "messageType", "SCEP messageType"},
    [SCEPC_ATTR_PKI_STATUS] = {"2.16.840.1.113733.1.9.3", "pkiStatus", "SCEP pkiStatus"},
    [SCEPC_ATTR_FAIL_INFO] = {"2.16.840.1.113733.1.9.4", "failInfo", "SCEP failInfo"},
    [SCEPC_ATTR_SENDER_NONCE] = {"2.16.840.1.113733.1.9.5", "senderNonce", "SCEP senderNonce"},
    [SCEPC_ATTR_RECIPIENT_NONCE] = {"2.16.840.1.113733.1.9.6", "recipientNonce",
                                    "SCEP recipientNonce"},
    [SCEPC_ATTR_TRANSACTION_ID] = {"2.16.840.1.113733.1.9.7", "transactionID",
                                   "SCEP transactionID"},
    [SCEPC_ATTR_FAIL_INFO_TEXT] = {"1.3.6.1.5.5.7.24.1", "failInfoText", "SCEP failInfoText"},
};

static int scepc_nids[SCEPC_ATTR_COUNT];
static int scepc_init_ok;
static once_flag scepc_once = ONCE_FLAG_INIT;

static void scepc_init_once(void)
{
    int ok = 0;

    for (int i = 0; i < SCEPC_ATTR_COUNT; i++) {
        /* The server may have registered the OID already (unit tests link both
           sides): reuse its NID rather than fail on a duplicate name. */
        int nid;

        ERR_set_mark(); /* a miss of txt2nid is not an error worth reporting */
        nid = OBJ_txt2nid(scepc_oids[i].oid);
        ERR_pop_to_mark();
        if (nid == NID_undef)
            nid = OBJ_create(scepc_oids[i].oid, scepc_oids[i].sn, scepc_oids[i].ln);
        if (nid == NID_undef)
            goto out;
        scepc_nids[i] = nid;
    }
    ok = 1;
out:
    scepc_init_ok = ok;
}

int scepc_init(void)
{
    call_once(&scepc_once, scepc_init_once);
    return scepc_init_ok;
}

int scepc_nid(enum scepc_attr which)
{
    if ((int)which < 0 || which >= SCEPC_ATTR_COUNT || !scepc_init_ok)
        return NID_undef;
    return scepc_nids[which];
}

/* ---- small helpers ------------------------------------------------------- */

char *scepc_hex(const unsigned char *buf, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char *s = NULL;

    if (len > (SIZE_MAX - 1) / 2)
        goto out;
    s = OPENSSL_malloc(2 * len + 1);
    if (s == NULL)
        goto out;
    for (size_t i = 0; i < len; i++) {
        s[2 * i] = digits[buf[i] >> 4];
        s[2 * i + 1] = digits[buf[i] & 0x0f];
    }
    s[2 * len] = '\0';
out:
    return s;
}

char *scepc_transaction_id(EVP_PKEY *key)
{
    unsigned char *spki = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char *hex = NULL;
    int n;

    if (key == NULL) {
        SCEPC_ERR("no key for the transaction ID");
        goto out;
    }
    n = i2d_PUBKEY(key, &spki);
    if (n <= 0)
        goto out;
    if (!EVP_Digest(spki, (size_t)n, md, &mdlen, EVP_sha256(), NULL))
        goto out;
    hex = scepc_hex(md, mdlen);
out:
    OPENSSL_free(spki);
    return hex;
}

/* Serialises p7 as DER, or with indefinite lengths where the PKCS7 template allows (NDEF). */
static int encode_p7(PKCS7 *p7, int ndef, unsigned char **der, size_t *len)
{
    unsigned char *buf = NULL;
    int n, ok = 0;

    n = ndef ? i2d_PKCS7_NDEF(p7, &buf) : i2d_PKCS7(p7, &buf);
    if (n <= 0)
        goto out;
    *der = buf;
    *len = (size_t)n;
    buf = NULL;
    ok = 1;
out:
    OPENSSL_free(buf);
    return ok;
}

/* Streams p7 with OpenSSL's BER encoder: content from `in` in chunked constructed OCTET STRINGs. */
static int encode_p7_stream(PKCS7 *p7, BIO *in, int flags, unsigned char **der, size_t *len)
{
    BIO *mem = NULL;
    char *data = NULL;
    long n;
    int ok = 0;

    mem = BIO_new(BIO_s_mem());
    if (mem == NULL)
        goto out;
    if (!i2d_PKCS7_bio_stream(mem, p7, in, flags | PKCS7_STREAM))
        goto out;
    n = BIO_get_mem_data(mem, &data);
    if (n <= 0 || data == NULL)
        goto out;
    *der = OPENSSL_memdup(data, (size_t)n);
    if (*der == NULL)
        goto out;
    *len = (size_t)n;
    ok = 1;
out:
    BIO_free(mem);
    return ok;
}

static BIO *mem_in(const unsigned char *data, size_t len)
{
    /* BIO_new_mem_buf takes an int; refuse rather than truncate. */
    if (len > INT_MAX) {
        SCEPC_ERR("content too large");
        return NULL;
    }
    return BIO_new_mem_buf(len ? data : (const unsigned char *)"", (int)len);
}

/* ---- certificates, CSRs ---------------------------------------------------- */

static int set_cn(X509_NAME *name, const char *cn)
{
    return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
                                      -1, 0);
}

X509 *scepc_self_signed(EVP_PKEY *key, const char *cn, const EVP_MD *md)
{
    X509 *x = NULL, *ret = NULL;
    BIGNUM *bn = NULL;
    X509_EXTENSION *ku = NULL;
    X509V3_CTX ctx;

    if (key == NULL) {
        SCEPC_ERR("self-signed cert needs a key");
        goto out;
    }
    x = X509_new();
    bn = BN_new();
    if (x == NULL || bn == NULL)
        goto out;
    if (!X509_set_version(x, X509_VERSION_3))
        goto out;
    /* Random positive serial: two self-signed certs of one test never collide. */
    if (!BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY))
        goto out;
    if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
        goto out;
    if (!set_cn(X509_get_subject_name(x), cn ? cn : "scepc test"))
        goto out;
    if (!X509_set_issuer_name(x, X509_get_subject_name(x)))
        goto out;
    /* An hour back: the server's clock may lag ours. */
    if (X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL)
        goto out;
    if (!X509_set_pubkey(x, key))
        goto out;
    /* The reply is encrypted to this certificate: say that it may be. */
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ku = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    if (ku == NULL || !X509_add_ext(x, ku, -1))
        goto out;
    if (!X509_sign(x, key, md ? md : EVP_sha256()))
        goto out;
    ret = x;
    x = NULL;
out:
    X509_EXTENSION_free(ku);
    BN_free(bn);
    X509_free(x);
    return ret;
}

X509_REQ *scepc_make_csr(EVP_PKEY *key, const char *cn, const char *challenge)
{
    X509_REQ *req = NULL, *ret = NULL;
    X509_NAME *name = NULL;

    if (key == NULL) {
        SCEPC_ERR("CSR needs a key");
        goto out;
    }
    req = X509_REQ_new();
    name = X509_NAME_new();
    if (req == NULL || name == NULL)
        goto out;
    if (!X509_REQ_set_version(req, X509_REQ_VERSION_1))
        goto out;
    if (!set_cn(name, cn ? cn : "scepc test") || !X509_REQ_set_subject_name(req, name))
        goto out;
    if (!X509_REQ_set_pubkey(req, key))
        goto out;
    /* MBSTRING lets the attribute's string table pick PrintableString when it can, as
       clients do. */
    if (challenge != NULL &&
        !X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, MBSTRING_UTF8,
                                   (const unsigned char *)challenge, -1))
        goto out;
    if (X509_REQ_sign(req, key, EVP_sha256()) <= 0)
        goto out;
    ret = req;
    req = NULL;
out:
    X509_NAME_free(name);
    X509_REQ_free(req);
    return ret;
}

STACK_OF(X509) *scepc_parse_cacert(const unsigned char *body, size_t len)
{
    STACK_OF(X509) *certs = NULL, *ret = NULL;
    X509 *x = NULL;
    PKCS7 *p7 = NULL;
    BIO *bio = NULL;
    const unsigned char *p;

    if (body == NULL || len == 0 || len > LONG_MAX)
        goto out;
    certs = sk_X509_new_null();
    if (certs == NULL)
        goto out;
    /* Failed attempts below are expected: keep them off the caller's error queue. */
    ERR_set_mark();
    if (len > 10 && memcmp(body, "-----BEGIN", 10) == 0) {
        bio = mem_in(body, len);
        if (bio == NULL)
            goto pop;
        while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            if (!sk_X509_push(certs, x))
                goto pop;
            x = NULL;
        }
        if (sk_X509_num(certs) == 0) {
            if (BIO_reset(bio) != 1)
                goto pop;
            p7 = PEM_read_bio_PKCS7(bio, NULL, NULL, NULL);
        }
    } else {
        p = body;
        x = d2i_X509(NULL, &p, (long)len);
        if (x != NULL && p == body + len) {
            if (!sk_X509_push(certs, x))
                goto pop;
            x = NULL;
        } else {
            p = body;
            p7 = d2i_PKCS7(NULL, &p, (long)len);
        }
    }
    if (p7 != NULL && PKCS7_type_is_signed(p7) && p7->d.sign != NULL) {
        STACK_OF(X509) *in = p7->d.sign->cert;
        for (int i = 0; i < sk_X509_num(in); i++) {
            X509 *c = sk_X509_value(in, i);
            if (!X509_up_ref(c))
                goto pop;
            if (!sk_X509_push(certs, c)) {
                X509_free(c);
                goto pop;
            }
        }
    }
    if (sk_X509_num(certs) > 0) {
        ret = certs;
        certs = NULL;
    }
pop:
    ERR_pop_to_mark();
out:
    if (ret == NULL)
        SCEPC_ERR("no certificate in the GetCACert body");
    X509_free(x);
    PKCS7_free(p7);
    BIO_free(bio);
    sk_X509_pop_free(certs, X509_free);
    return ret;
}

X509 *scepc_pick_ra(STACK_OF(X509) *certs)
{
    for (int i = 0; i < sk_X509_num(certs); i++) {
        X509 *c = sk_X509_value(certs, i);
        /* Only an explicit keyUsage counts: without one, every usage is "allowed". */
        if ((X509_get_extension_flags(c) & EXFLAG_KUSAGE) &&
            (X509_get_key_usage(c) & KU_KEY_ENCIPHERMENT) && X509_check_ca(c) == 0)
            return c;
    }
    return sk_X509_num(certs) > 0 ? sk_X509_value(certs, 0) : NULL;
}

X509 *scepc_pick_ca(STACK_OF(X509) *certs)
{
    X509 *ra = scepc_pick_ra(certs);

    for (int i = 0; ra != NULL && i < sk_X509_num(certs); i++) {
        X509 *c = sk_X509_value(certs, i);
        if (c != ra && X509_check_ca(c) && X509_check_issued(c, ra) == X509_V_OK)
            return c;
    }
    for (int i = 0; i < sk_X509_num(certs); i++) {
        if (X509_check_ca(sk_X509_value(certs, i)))
            return sk_X509_value(certs, i);
    }
    return ra;
}

int scepc_build_degenerate(STACK_OF(X509) *certs, unsigned char **der, size_t *len)
{
    PKCS7 *p7 = NULL;
    int ok = 0;

    p7 = PKCS7_new();
    if (p7 == NULL)
        goto out;
    if (!PKCS7_set_type(p7, NID_pkcs7_signed))
        goto out;
    /* content_new makes an empty eContent; set_detached drops it: SCEP wants none at all. */
    if (!PKCS7_content_new(p7, NID_pkcs7_data))
        goto out;
    PKCS7_set_detached(p7, 1);
    for (int i = 0; i < sk_X509_num(certs); i++) {
        if (!PKCS7_add_certificate(p7, sk_X509_value(certs, i)))
            goto out;
    }
    ok = encode_p7(p7, 0, der, len);
out:
    PKCS7_free(p7);
    return ok;
}

/* ---- building a pkiMessage ------------------------------------------------- */

/* IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name } (CertPoll). */
static int issuer_and_subject(const X509_NAME *issuer, const X509_NAME *subject,
                              unsigned char **der, size_t *len)
{
    unsigned char *a = NULL, *b = NULL, *buf = NULL, *p;
    int alen, blen, total, ok = 0;

    alen = i2d_X509_NAME(issuer, &a);
    blen = i2d_X509_NAME(subject, &b);
    if (alen <= 0 || blen <= 0 || alen > INT_MAX / 2 || blen > INT_MAX / 2)
        goto out;
    total = ASN1_object_size(1, alen + blen, V_ASN1_SEQUENCE);
    if (total <= 0)
        goto out;
    buf = OPENSSL_malloc((size_t)total);
    if (buf == NULL)
        goto out;
    p = buf;
    ASN1_put_object(&p, 1, alen + blen, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    memcpy(p, a, (size_t)alen);
    memcpy(p + alen, b, (size_t)blen);
    *der = buf;
    *len = (size_t)total;
    buf = NULL;
    ok = 1;
out:
    OPENSSL_free(a);
    OPENSSL_free(b);
    OPENSSL_free(buf);
    return ok;
}

/* IssuerAndSerialNumber (GetCert, GetCRL). */
static int issuer_and_serial(const X509_NAME *issuer, const ASN1_INTEGER *serial,
                             unsigned char **der, size_t *len)
{
    PKCS7_ISSUER_AND_SERIAL *ias = NULL;
    unsigned char *buf = NULL;
    int n, ok = 0;

    ias = PKCS7_ISSUER_AND_SERIAL_new();
    if (ias == NULL)
        goto out;
    if (!X509_NAME_set(&ias->issuer, issuer))
        goto out;
    ASN1_INTEGER_free(ias->serial);
    ias->serial = ASN1_INTEGER_dup(serial);
    if (ias->serial == NULL)
        goto out;
    n = i2d_PKCS7_ISSUER_AND_SERIAL(ias, &buf);
    if (n <= 0)
        goto out;
    *der = buf;
    *len = (size_t)n;
    buf = NULL;
    ok = 1;
out:
    OPENSSL_free(buf);
    PKCS7_ISSUER_AND_SERIAL_free(ias);
    return ok;
}

/* messageData of the request type: CSR, IssuerAndSubject or IssuerAndSerialNumber. */
static int message_data(const struct scepc_req_opts *o, int type, X509_REQ *csr,
                        unsigned char **der, size_t *len)
{
    X509 *issuer = o->issuer_cert;
    unsigned char *buf = NULL;
    int n, ok = 0;

    if (o->content != NULL) {
        /* malloc(0) may return NULL; keep one spare byte so "empty" is not "failed". */
        *der = OPENSSL_zalloc(o->content_len + 1);
        if (*der != NULL)
            memcpy(*der, o->content, o->content_len);
        *len = o->content_len;
        ok = *der != NULL;
        goto out;
    }
    if (type == SCEPC_MSG_PKCSREQ || type == SCEPC_MSG_RENEWALREQ) {
        n = i2d_X509_REQ(csr, &buf);
        if (n <= 0)
            goto out;
        *der = buf;
        *len = (size_t)n;
        buf = NULL;
        ok = 1;
        goto out;
    }
    if (issuer == NULL)
        issuer = scepc_pick_ca(o->recipients);
    if (issuer == NULL) {
        SCEPC_ERR("no issuer certificate for the messageData");
        goto out;
    }
    if (type == SCEPC_MSG_CERTPOLL) {
        ok = issuer_and_subject(X509_get_subject_name(issuer), X509_REQ_get_subject_name(csr),
                                der, len);
    } else if (type == SCEPC_MSG_GETCERT || type == SCEPC_MSG_GETCRL) {
        if (o->serial == NULL) {
            SCEPC_ERR("GetCert/GetCRL need a serial");
            goto out;
        }
        ok = issuer_and_serial(X509_get_subject_name(issuer), o->serial, der, len);
    } else {
        SCEPC_ERR("no default messageData for this message type: give content");
    }
out:
    OPENSSL_free(buf);
    return ok;
}

/*
 * pkcsPKIEnvelope: EnvelopedData of data to recipients, damaged as asked,
 * encoded as DER, NDEF BER or streamed BER.
 */
static int make_envelope(const struct scepc_req_opts *o, const unsigned char *data, size_t n,
                         int corrupt, int stream, unsigned char **der, size_t *len)
{
    const EVP_CIPHER *cipher = o->cipher ? o->cipher : EVP_aes_128_cbc();
    int flags = PKCS7_BINARY | (stream ? PKCS7_STREAM : 0);
    PKCS7 *p7 = NULL;
    BIO *in = NULL;
    int ok = 0;

    if (o->recipients == NULL || sk_X509_num(o->recipients) == 0) {
        SCEPC_ERR("no recipient certificate");
        goto out;
    }
    in = mem_in(data, n);
    if (in == NULL)
        goto out;
    p7 = PKCS7_encrypt(o->recipients, in, cipher, flags);
    if (p7 == NULL)
        goto out;
    if (corrupt == SCEPC_CORRUPT_ENVELOPE) {
        STACK_OF(PKCS7_RECIP_INFO) *ris = p7->d.enveloped->recipientinfo;
        for (int i = 0; i < sk_PKCS7_RECIP_INFO_num(ris); i++) {
            ASN1_OCTET_STRING *k = sk_PKCS7_RECIP_INFO_value(ris, i)->enc_key;
            /* The last byte: the value stays below the RSA modulus, so the server's
               failure is a padding failure, the case Bleichenbacher attacks probe. */
            if (k == NULL || k->length < 1)
                goto out;
            k->data[k->length - 1] ^= 0xff;
        }
    } else if (corrupt == SCEPC_CORRUPT_CIPHERTEXT) {
        ASN1_OCTET_STRING *c = p7->d.enveloped->enc_data->enc_data;
        if (c == NULL || c->length < 1)
            goto out;
        c->data[0] ^= 0xff;
    }
    if (stream)
        ok = encode_p7_stream(p7, in, flags, der, len);
    else
        ok = encode_p7(p7, o->ber, der, len);
out:
    PKCS7_free(p7);
    BIO_free(in);
    return ok;
}

/* Adds one signed attribute; X509at_add1_attr_by_NID copies the bytes, so no ownership games. */
static int add_attr(PKCS7_SIGNER_INFO *si, enum scepc_attr which, int type,
                    const unsigned char *bytes, size_t len)
{
    if (len > INT_MAX)
        return 0;
    return X509at_add1_attr_by_NID(&si->auth_attr, scepc_nid(which), type, bytes, (int)len) != NULL;
}

static int add_str_attr(PKCS7_SIGNER_INFO *si, enum scepc_attr which, int type, const char *s)
{
    return add_attr(si, which, type, (const unsigned char *)s, strlen(s));
}

/*
 * Adds the signerInfo, the signer cert and a contentType attribute (no
 * SMIMECapabilities: not SCEP). PKCS7_sign_add_signer refuses a key that does
 * not match the certificate, which is exactly what the mismatched-signer test
 * needs, so that case is assembled from the pieces PKCS7_sign_add_signer uses.
 */
static PKCS7_SIGNER_INFO *add_signer(PKCS7 *p7, X509 *cert, EVP_PKEY *key, const EVP_MD *md,
                                     int flags)
{
    PKCS7_SIGNER_INFO *si = NULL, *ret = NULL;
    int match;

    ERR_set_mark();
    match = X509_check_private_key(cert, key);
    ERR_pop_to_mark();
    if (match)
        return PKCS7_sign_add_signer(p7, cert, key, md, flags);
    si = PKCS7_SIGNER_INFO_new();
    if (si == NULL)
        goto out;
    if (!PKCS7_SIGNER_INFO_set(si, cert, key, md))
        goto out;
    if (!PKCS7_add_signer(p7, si))
        goto out;
    ret = si;
    si = NULL; /* p7 owns it now */
    if (!PKCS7_add_certificate(p7, cert) || !PKCS7_add_attrib_content_type(ret, NULL))
        ret = NULL; /* still freed with p7 */
out:
    PKCS7_SIGNER_INFO_free(si);
    return ret;
}

int scepc_build_request(const struct scepc_req_opts *o, unsigned char **der, size_t *len,
                        X509 **signer_out, struct scepc_req_info *info)
{
    int type, stream, ok = 0;
    int sflags = PKCS7_BINARY | PKCS7_NOSMIMECAP | PKCS7_PARTIAL;
    X509_REQ *csr_built = NULL;
    X509_REQ *csr;
    X509 *self = NULL, *signer;
    EVP_PKEY *skey;
    char *txid_built = NULL;
    const char *txid;
    unsigned char nonce[16];
    char type_str[16];
    unsigned char *mdata = NULL, *env = NULL, *env_signed = NULL;
    size_t mdata_len = 0, env_len = 0, env_signed_len = 0;
    PKCS7 *p7 = NULL;
    PKCS7_SIGNER_INFO *si;
    BIO *in = NULL;

    if (o == NULL || der == NULL || len == NULL) {
        SCEPC_ERR("NULL argument");
        goto out;
    }
    *der = NULL;
    *len = 0;
    if (signer_out != NULL)
        *signer_out = NULL;
    if (!scepc_init())
        goto out;
    type = o->message_type ? o->message_type : SCEPC_MSG_PKCSREQ;
    /* With no_content or corruption-free streaming, some combinations have no meaning:
       streaming needs content, and damage needs a finished structure to damage. */
    stream = o->ber && o->corrupt == SCEPC_CORRUPT_NONE && !o->no_content;

    csr = o->csr;
    if (csr == NULL && o->content == NULL && !o->no_content &&
        (type == SCEPC_MSG_PKCSREQ || type == SCEPC_MSG_RENEWALREQ || type == SCEPC_MSG_CERTPOLL)) {
        csr_built = scepc_make_csr(o->key, o->subject_cn, o->challenge);
        if (csr_built == NULL)
            goto out;
        csr = csr_built;
    }
    signer = o->signer_cert;
    if (signer == NULL) {
        self = scepc_self_signed(o->key, o->subject_cn, EVP_sha256());
        if (self == NULL)
            goto out;
        signer = self;
    }
    skey = o->signer_key ? o->signer_key : o->key;
    if (skey == NULL) {
        SCEPC_ERR("no signing key");
        goto out;
    }
    txid = o->transaction_id;
    if (txid == NULL) {
        /* Derived from the key being certified, as scepclient does. */
        txid_built = scepc_transaction_id(csr ? X509_REQ_get0_pubkey(csr) : o->key);
        if (txid_built == NULL)
            goto out;
        txid = txid_built;
    }
    if (o->have_nonce)
        memcpy(nonce, o->sender_nonce, sizeof(nonce));
    else if (RAND_bytes(nonce, sizeof(nonce)) != 1)
        goto out;

    if (!o->no_content) {
        if (!message_data(o, type, csr, &mdata, &mdata_len))
            goto out;
        if (!make_envelope(o, mdata, mdata_len, o->corrupt, stream, &env, &env_len))
            goto out;
        if (o->corrupt == SCEPC_CORRUPT_CONTENT_AFTER_SIGNING) {
            /* A second envelope of the same data (fresh key and IV): what gets signed. */
            if (!make_envelope(o, mdata, mdata_len, SCEPC_CORRUPT_NONE, 0, &env_signed,
                               &env_signed_len))
                goto out;
        }
    }

    if (stream)
        sflags |= PKCS7_STREAM;
    p7 = PKCS7_sign(NULL, NULL, NULL, NULL, sflags);
    if (p7 == NULL)
        goto out;
    si = add_signer(p7, signer, skey, o->md ? o->md : EVP_sha256(), sflags);
    if (si == NULL)
        goto out;
    snprintf(type_str, sizeof(type_str), "%d", type);
    if (!add_str_attr(si, SCEPC_ATTR_MESSAGE_TYPE, V_ASN1_PRINTABLESTRING, type_str) ||
        !add_str_attr(si, SCEPC_ATTR_TRANSACTION_ID, V_ASN1_PRINTABLESTRING, txid) ||
        !add_attr(si, SCEPC_ATTR_SENDER_NONCE, V_ASN1_OCTET_STRING, nonce, sizeof(nonce)))
        goto out;
    if (o->pki_status != NULL &&
        !add_str_attr(si, SCEPC_ATTR_PKI_STATUS, V_ASN1_PRINTABLESTRING, o->pki_status))
        goto out;
    if (o->fail_info != NULL &&
        !add_str_attr(si, SCEPC_ATTR_FAIL_INFO, V_ASN1_PRINTABLESTRING, o->fail_info))
        goto out;
    if (o->fail_info_text != NULL &&
        !add_str_attr(si, SCEPC_ATTR_FAIL_INFO_TEXT, V_ASN1_UTF8STRING, o->fail_info_text))
        goto out;
    if (o->recipient_nonce != NULL &&
        !add_attr(si, SCEPC_ATTR_RECIPIENT_NONCE, V_ASN1_OCTET_STRING, o->recipient_nonce,
                  o->recipient_nonce_len))
        goto out;
    if (o->signing_time) {
        /* Set before finalising: PKCS7 only adds a signingTime when there is none. */
        ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)o->signing_time);
        int ok = t && X509at_add1_attr_by_NID(&si->auth_attr, NID_pkcs9_signingTime, t->type, t->data,
                                              t->length) != NULL;
        ASN1_TIME_free(t);
        if (!ok)
            goto out;
    }

    if (o->no_content) {
        /* No eContent at all; the signature covers empty detached content. */
        PKCS7_set_detached(p7, 1);
        in = mem_in(NULL, 0);
    } else if (env_signed != NULL) {
        in = mem_in(env_signed, env_signed_len);
    } else {
        in = mem_in(env, env_len);
    }
    if (in == NULL)
        goto out;

    if (stream) {
        if (!encode_p7_stream(p7, in, sflags, der, len))
            goto out;
    } else {
        if (!PKCS7_final(p7, in, PKCS7_BINARY))
            goto out;
        if (o->corrupt == SCEPC_CORRUPT_SIGNATURE) {
            ASN1_OCTET_STRING *sig = si->enc_digest;
            if (sig == NULL || sig->length < 1)
                goto out;
            sig->data[sig->length / 2] ^= 0xff;
        } else if (env_signed != NULL) {
            if (!ASN1_OCTET_STRING_set(p7->d.sign->contents->d.data, env, (int)env_len))
                goto out;
        }
        if (!encode_p7(p7, o->ber, der, len))
            goto out;
    }

    if (info != NULL) {
        memcpy(info->sender_nonce, nonce, sizeof(nonce));
        snprintf(info->transaction_id, sizeof(info->transaction_id), "%s", txid);
    }
    if (signer_out != NULL) {
        if (!X509_up_ref(signer))
            goto out;
        *signer_out = signer;
    }
    ok = 1;
out:
    if (!ok && der != NULL && *der != NULL) {
        OPENSSL_free(*der);
        *der = NULL;
    }
    BIO_free(in);
    PKCS7_free(p7);
    OPENSSL_free(mdata);
    OPENSSL_free(env);
    OPENSSL_free(env_signed);
    OPENSSL_free(txid_built);
    X509_free(self);
    X509_REQ_free(csr_built);
    return ok;
}

/* ---- parsing a pkiMessage --------------------------------------------------- */

/* The single value of the single attribute `which`, or NULL; counts irregularities. */
static ASN1_TYPE *get_attr(PKCS7_SIGNER_INFO *si, enum scepc_attr which, int *errors)
{
    STACK_OF(X509_ATTRIBUTE) *attrs = si->auth_attr;
    int nid = scepc_nid(which);
    int idx = X509at_get_attr_by_NID(attrs, nid, -1);
    X509_ATTRIBUTE *a;

    if (idx < 0)
        return NULL;
    if (X509at_get_attr_by_NID(attrs, nid, idx) >= 0)
        (*errors)++; /* the same attribute twice */
    a = X509at_get_attr(attrs, idx);
    if (X509_ATTRIBUTE_count(a) != 1)
        (*errors)++;
    return X509_ATTRIBUTE_get0_type(a, 0);
}

/* Decimal PrintableString attribute: value, -1 absent, -2 not a decimal. */
static int get_int_attr(PKCS7_SIGNER_INFO *si, enum scepc_attr which, int *errors)
{
    ASN1_TYPE *t = get_attr(si, which, errors);
    const ASN1_STRING *s;
    int v = 0;

    if (t == NULL)
        return -1;
    if (t->type != V_ASN1_PRINTABLESTRING)
        (*errors)++;
    if (t->type == V_ASN1_BOOLEAN || t->type == V_ASN1_NULL || t->type == V_ASN1_OBJECT)
        return -2;
    s = t->value.asn1_string;
    if (s == NULL || s->length < 1 || s->length > 9)
        return -2;
    for (int i = 0; i < s->length; i++) {
        if (s->data[i] < '0' || s->data[i] > '9')
            return -2;
        v = v * 10 + (s->data[i] - '0');
    }
    return v;
}

static char *get_str_attr(PKCS7_SIGNER_INFO *si, enum scepc_attr which, int want_type, int *errors)
{
    ASN1_TYPE *t = get_attr(si, which, errors);
    const ASN1_STRING *s;
    char *r;

    if (t == NULL)
        return NULL;
    if (t->type != want_type)
        (*errors)++;
    if (t->type == V_ASN1_BOOLEAN || t->type == V_ASN1_NULL || t->type == V_ASN1_OBJECT)
        return NULL;
    s = t->value.asn1_string;
    if (s == NULL)
        return NULL;
    r = OPENSSL_malloc((size_t)s->length + 1);
    if (r == NULL)
        return NULL;
    memcpy(r, s->data, (size_t)s->length);
    r[s->length] = '\0';
    return r;
}

static size_t get_nonce_attr(PKCS7_SIGNER_INFO *si, enum scepc_attr which, unsigned char *buf,
                             size_t cap, int *errors)
{
    ASN1_TYPE *t = get_attr(si, which, errors);
    size_t n;

    if (t == NULL)
        return 0;
    if (t->type != V_ASN1_OCTET_STRING) {
        (*errors)++;
        return 0;
    }
    n = (size_t)t->value.octet_string->length;
    if (n > cap) {
        (*errors)++;
        n = cap;
    }
    memcpy(buf, t->value.octet_string->data, n);
    return n;
}

static int verify_signature(PKCS7 *p7, X509 *responder, int detached)
{
    STACK_OF(X509) *certs = NULL;
    BIO *in = NULL, *sink = NULL;
    int flags = PKCS7_NOVERIFY | PKCS7_BINARY; /* trust is the test's business, not ours */
    int ok = 0;

    if (responder != NULL) {
        certs = sk_X509_new_null();
        if (certs == NULL || !sk_X509_push(certs, responder))
            goto out;
        flags |= PKCS7_NOINTERN; /* only `responder` may have signed */
    }
    if (detached) {
        in = mem_in(NULL, 0);
        if (in == NULL)
            goto out;
    }
    sink = BIO_new(BIO_s_null());
    if (sink == NULL)
        goto out;
    ok = PKCS7_verify(p7, certs, NULL, in, sink, flags) == 1;
out:
    sk_X509_free(certs); /* responder is borrowed */
    BIO_free(in);
    BIO_free(sink);
    return ok;
}

/* Decrypts the envelope and reads the degenerate SignedData inside it. */
static void read_envelope(PKCS7 *env, EVP_PKEY *key, X509 *requester_cert, struct scepc_rep *out)
{
    BIO *plain = NULL;
    PKCS7 *inner = NULL;
    char *data = NULL;
    const unsigned char *p;
    long n;

    plain = BIO_new(BIO_s_mem());
    if (plain == NULL)
        goto out;
    if (PKCS7_decrypt(env, key, requester_cert, plain, PKCS7_BINARY) != 1)
        goto out;
    n = BIO_get_mem_data(plain, &data);
    if (n <= 0 || data == NULL)
        goto out;
    p = (const unsigned char *)data;
    inner = d2i_PKCS7(NULL, &p, n);
    /* Without requester_cert a wrong key decrypts with a random key (OpenSSL's
       Bleichenbacher countermeasure) and the padding passes 1 time in 256:
       only plaintext that parses counts as decrypted. */
    if (inner == NULL)
        goto out;
    out->decrypt_ok = 1;
    if (!PKCS7_type_is_signed(inner) || inner->d.sign == NULL)
        goto out;
    out->inner_has_econtent =
        inner->d.sign->contents != NULL && inner->d.sign->contents->d.ptr != NULL;
    out->inner_certs = X509_chain_up_ref(inner->d.sign->cert);
    if (out->inner_certs == NULL)
        out->inner_certs = sk_X509_new_null();
    for (int i = 0; out->inner_certs != NULL && i < sk_X509_num(out->inner_certs); i++) {
        X509 *c = sk_X509_value(out->inner_certs, i);
        EVP_PKEY *pub = X509_get0_pubkey(c);
        if (pub != NULL && EVP_PKEY_eq(pub, key) == 1 && X509_up_ref(c)) {
            out->issued = c;
            break;
        }
    }
out:
    PKCS7_free(inner);
    BIO_free(plain);
}

int scepc_parse_reply(const unsigned char *der, size_t len, X509 *responder, EVP_PKEY *key,
                      X509 *requester_cert, struct scepc_rep *out)
{
    PKCS7 *p7 = NULL, *env = NULL;
    PKCS7_SIGNER_INFO *si = NULL;
    const unsigned char *p;
    ASN1_OCTET_STRING *os = NULL;
    int ok = 0;

    if (out == NULL)
        return 0;
    memset(out, 0, sizeof(*out));
    out->message_type = out->pki_status = out->fail_info = -1;
    out->digest_nid = out->cipher_nid = NID_undef;
    out->inner_has_econtent = -1;
    if (der == NULL || len == 0 || len > LONG_MAX || !scepc_init())
        goto out;
    p = der;
    p7 = d2i_PKCS7(NULL, &p, (long)len);
    if (p7 == NULL || !PKCS7_type_is_signed(p7) || p7->d.sign == NULL)
        goto out;
    ok = 1;

    if (sk_PKCS7_SIGNER_INFO_num(PKCS7_get_signer_info(p7)) > 0)
        si = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(p7), 0);
    if (si != NULL) {
        int *e = &out->attr_type_errors;
        out->digest_nid = OBJ_obj2nid(si->digest_alg->algorithm);
        out->message_type = get_int_attr(si, SCEPC_ATTR_MESSAGE_TYPE, e);
        out->pki_status = get_int_attr(si, SCEPC_ATTR_PKI_STATUS, e);
        out->fail_info = get_int_attr(si, SCEPC_ATTR_FAIL_INFO, e);
        out->fail_info_text = get_str_attr(si, SCEPC_ATTR_FAIL_INFO_TEXT, V_ASN1_UTF8STRING, e);
        out->transaction_id =
            get_str_attr(si, SCEPC_ATTR_TRANSACTION_ID, V_ASN1_PRINTABLESTRING, e);
        out->sender_nonce_len = get_nonce_attr(si, SCEPC_ATTR_SENDER_NONCE, out->sender_nonce,
                                               sizeof(out->sender_nonce), e);
        out->recipient_nonce_len = get_nonce_attr(si, SCEPC_ATTR_RECIPIENT_NONCE,
                                                  out->recipient_nonce,
                                                  sizeof(out->recipient_nonce), e);
    }
    out->has_econtent = p7->d.sign->contents != NULL && p7->d.sign->contents->d.ptr != NULL;
    out->signature_ok = verify_signature(p7, responder, !out->has_econtent);

    if (out->has_econtent && PKCS7_type_is_data(p7->d.sign->contents))
        os = p7->d.sign->contents->d.data;
    if (os != NULL && os->length > 0) {
        p = os->data;
        env = d2i_PKCS7(NULL, &p, os->length);
        if (env != NULL && PKCS7_type_is_enveloped(env) && env->d.enveloped != NULL) {
            out->cipher_nid = OBJ_obj2nid(env->d.enveloped->enc_data->algorithm->algorithm);
            if (key != NULL)
                read_envelope(env, key, requester_cert, out);
        }
    }
out:
    PKCS7_free(env);
    PKCS7_free(p7);
    return ok;
}

void scepc_rep_free(struct scepc_rep *rep)
{
    if (rep == NULL)
        return;
    OPENSSL_free(rep->fail_info_text);
    OPENSSL_free(rep->transaction_id);
    sk_X509_pop_free(rep->inner_certs, X509_free);
    X509_free(rep->issued);
    rep->fail_info_text = rep->transaction_id = NULL;
    rep->inner_certs = NULL;
    rep->issued = NULL;
}
