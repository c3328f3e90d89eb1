/*
 * scep_client.h - client side of SCEP (RFC 8894) pkiMessages, for tests.
 *
 * Used by the server's unit tests, the integration tests (through the
 * scep-req tool) and the load generator. It builds requests the way real
 * clients do (including Apple's BER and deliberately broken variants) and
 * parses CertReps without trusting the server: every property a test may
 * want to assert on is reported, nothing is silently fixed up.
 *
 * No HTTP here, no exit(), no global state besides the attribute NIDs.
 * Every function returns 1 (or a non-NULL pointer) on success; on failure
 * the OpenSSL error queue says why.
 */
#ifndef SCEP_CLIENT_H
#define SCEP_CLIENT_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* SCEP messageType values (RFC 8894 section 3.2.1.2). */
enum {
    SCEPC_MSG_CERTREP = 3,
    SCEPC_MSG_RENEWALREQ = 17,
    SCEPC_MSG_PKCSREQ = 19,
    SCEPC_MSG_CERTPOLL = 20,
    SCEPC_MSG_GETCERT = 21,
    SCEPC_MSG_GETCRL = 22
};

/* pkiStatus and failInfo values (sections 3.2.1.3 and 3.2.1.4). */
enum { SCEPC_STATUS_SUCCESS = 0, SCEPC_STATUS_FAILURE = 2, SCEPC_STATUS_PENDING = 3 };
enum {
    SCEPC_FAIL_BADALG = 0,
    SCEPC_FAIL_BADMESSAGECHECK = 1,
    SCEPC_FAIL_BADREQUEST = 2,
    SCEPC_FAIL_BADTIME = 3,
    SCEPC_FAIL_BADCERTID = 4
};

/* The SCEP signed attributes, for scepc_nid(). */
enum scepc_attr {
    SCEPC_ATTR_MESSAGE_TYPE,    /* 2.16.840.1.113733.1.9.2, PrintableString */
    SCEPC_ATTR_PKI_STATUS,      /* ...9.3, PrintableString */
    SCEPC_ATTR_FAIL_INFO,       /* ...9.4, PrintableString */
    SCEPC_ATTR_SENDER_NONCE,    /* ...9.5, OCTET STRING */
    SCEPC_ATTR_RECIPIENT_NONCE, /* ...9.6, OCTET STRING */
    SCEPC_ATTR_TRANSACTION_ID,  /* ...9.7, PrintableString */
    SCEPC_ATTR_FAIL_INFO_TEXT,  /* 1.3.6.1.5.5.7.24.1, UTF8String */
    SCEPC_ATTR_COUNT
};

/*
 * Registers the SCEP attribute OIDs. Idempotent and thread-safe (call_once).
 * An OID the process already knows (the server registers the same ones) is
 * reused, so client and server agree on NIDs when linked together.
 * Returns 1 on success. Every other function calls it itself.
 */
int scepc_init(void);
/* NID of a SCEP attribute, NID_undef before a successful scepc_init(). */
int scepc_nid(enum scepc_attr which);

/* How to damage a request on purpose, to test the server's checks. */
enum {
    SCEPC_CORRUPT_NONE = 0,
    SCEPC_CORRUPT_ENVELOPE,   /* last byte of every recipient's encrypted key flipped
                                 (stays below the modulus: exercises the padding check);
                                 done before signing, so the outer signature is valid */
    SCEPC_CORRUPT_CIPHERTEXT, /* first byte of the encrypted content flipped before
                                 signing: CBC padding stays intact, decryption "succeeds"
                                 and yields a garbage first block of the CSR */
    SCEPC_CORRUPT_SIGNATURE,  /* a middle byte of the signature value flipped after signing */
    SCEPC_CORRUPT_CONTENT_AFTER_SIGNING /* signed over a second, equally valid envelope of
                                 the same content, then the first one put in: only the
                                 messageDigest check can notice */
};

struct scepc_req_opts {
    int message_type;            /* 0: PKCSReq (19) */
    EVP_PKEY *key;               /* requester key: the CSR, the default self-signed signer and
                                    the default transaction ID come from it. May be NULL only
                                    when none of those is needed (content + signer + ID given) */
    X509_REQ *csr;               /* prebuilt CSR to send; NULL: built from key, subject_cn,
                                    challenge, signed with SHA-256 */
    const char *subject_cn;      /* CN of the built CSR and self-signed cert; NULL: "scepc test" */
    const char *challenge;       /* challengePassword attribute of the built CSR; NULL: none */
    X509 *signer_cert;           /* NULL: fresh self-signed cert for `key`, valid now-1h..now+1d */
    EVP_PKEY *signer_key;        /* NULL: `key`. Not signer_cert's key = mismatched-signer test */
    STACK_OF(X509) *recipients;  /* certs to encrypt to (RA and/or CA), required unless no_content */
    const EVP_CIPHER *cipher;    /* NULL: AES-128-CBC. DES needs the legacy provider loaded */
    const EVP_MD *md;            /* NULL: SHA-256. Signer digest of the pkiMessage */
    const char *transaction_id;  /* NULL: hex SHA-256 of the DER SubjectPublicKeyInfo of the
                                    CSR's key (what scepclient does; renewals reuse it) */
    unsigned char sender_nonce[16];
    int have_nonce;              /* 0: a random nonce (returned in scepc_req_info) */
    int ber;                     /* 1: BER with indefinite lengths for the outer SignedData and
                                    the inner EnvelopedData, as Apple devices send. Uncorrupted:
                                    OpenSSL streaming (eContent as chunked constructed OCTET
                                    STRING, exactly like Apple and `openssl cms -stream`);
                                    corrupted or no_content: i2d_PKCS7_NDEF of the finished
                                    structure (indefinite lengths, content in one primitive
                                    OCTET STRING) */
    int corrupt;                 /* SCEPC_CORRUPT_* */
    /* Message-type specific content (PKCSReq/RenewalReq send the CSR): */
    X509 *issuer_cert;           /* CertPoll/GetCert/GetCRL issuer; NULL: scepc_pick_ca(recipients) */
    const ASN1_INTEGER *serial;  /* GetCert/GetCRL serial number (required for them) */
    /* Reply-side fields, so tests can forge CertReps with the same code: */
    const char *pki_status;      /* NULL: attribute absent; else sent verbatim ("0", "2", "x") */
    const char *fail_info;       /* NULL: absent; else verbatim */
    const char *fail_info_text;  /* NULL: absent; else UTF8String */
    const unsigned char *recipient_nonce; size_t recipient_nonce_len; /* NULL: absent */
    const unsigned char *content; size_t content_len; /* non-NULL: envelope these bytes instead
                                    of the type's messageData (e.g. a degenerate PKCS#7) */
    int no_content;              /* 1: no pkcsPKIEnvelope, no eContent at all (the signature
                                    is over empty detached content): FAILURE/PENDING shape */
    long long signing_time;      /* non-zero: the signingTime attribute (seconds since the
                                    epoch) instead of now, for clock-skew tests */
};

/* What a built request carries, for checking the reply against it. */
struct scepc_req_info {
    unsigned char sender_nonce[16];
    char transaction_id[256]; /* truncated (NUL-terminated) if the ID was longer */
};

/*
 * Builds a pkiMessage. *der is OPENSSL_malloc'd (OPENSSL_free it).
 * signer_out, when not NULL, receives a reference to the signer certificate
 * (the self-signed one when it was generated): X509_free it. The reply is
 * encrypted to it, so keep it for scepc_parse_reply. info, when not NULL,
 * receives the senderNonce and transactionID that were sent.
 * Returns 1 on success.
 */
int scepc_build_request(const struct scepc_req_opts *opts, unsigned char **der, size_t *len,
                        X509 **signer_out, struct scepc_req_info *info);

struct scepc_rep {
    int message_type, pki_status, fail_info; /* -1 absent, -2 present but not a decimal */
    char *fail_info_text, *transaction_id;   /* NULL when absent; NUL-terminated copies */
    unsigned char sender_nonce[64]; size_t sender_nonce_len;       /* 0 when absent */
    unsigned char recipient_nonce[64]; size_t recipient_nonce_len; /* 0 when absent */
    int attr_type_errors;  /* SCEP attributes of the wrong ASN.1 type, multi-valued, or with
                              nonces over 64 bytes: the server must emit none */
    int signature_ok;      /* 1: the SignedData verifies (content or empty detached content,
                              and signed attributes) with `responder`; when responder is NULL,
                              with the certificates inside the message (no trust implied) */
    int digest_nid;        /* signer's digest algorithm, NID_undef when no signer */
    int has_econtent;      /* outer eContent present (even if empty) */
    int cipher_nid;        /* content-encryption alg of the enveloped content, NID_undef if none */
    int decrypt_ok;        /* 1: the envelope was decrypted with `key` and the plaintext
                              parsed as a PKCS#7 (any type) */
    int inner_has_econtent;/* the degenerate inner SignedData must have none: reported, -1 if
                              there was no inner SignedData */
    STACK_OF(X509) *inner_certs; /* all certs of the inner degenerate SignedData, or NULL */
    X509 *issued;          /* the inner cert whose public key is `key`'s, or NULL */
};

/*
 * Parses any pkiMessage (a CertRep, or a request: then pass key = NULL to
 * read only its attributes). responder may be NULL (see signature_ok). key
 * and requester_cert decrypt the envelope; requester_cert may be NULL (then
 * every recipientInfo is tried). Returns 1 if the bytes parsed as a
 * SignedData at all (BER accepted), whatever the checks found; 0 otherwise.
 * *out is always initialised and must be released with scepc_rep_free().
 */
int scepc_parse_reply(const unsigned char *der, size_t len, X509 *responder, EVP_PKEY *key,
                      X509 *requester_cert, struct scepc_rep *out);
void scepc_rep_free(struct scepc_rep *rep);

/*
 * GetCACert body -> certificates: a DER certificate (application/x-x509-ca-cert),
 * a degenerate PKCS#7 (application/x-x509-ca-ra-cert), or, for convenience,
 * PEM certificates / PEM PKCS#7. NULL on failure or when empty.
 */
STACK_OF(X509) *scepc_parse_cacert(const unsigned char *body, size_t len);
/* The cert with keyUsage keyEncipherment that is not a CA; else the first. Not up-ref'd. */
X509 *scepc_pick_ra(STACK_OF(X509) *certs);
/* The CA that issued scepc_pick_ra()'s cert; else the first CA; else the first. Not up-ref'd. */
X509 *scepc_pick_ca(STACK_OF(X509) *certs);

/* Helpers the tests share. */
/* Degenerate certs-only SignedData (no eContent at all), DER; *der OPENSSL_malloc'd. */
int scepc_build_degenerate(STACK_OF(X509) *certs, unsigned char **der, size_t *len);
/* Self-signed cert, CN=cn, valid now-1h..now+1d, keyUsage digitalSignature+keyEncipherment. */
X509 *scepc_self_signed(EVP_PKEY *key, const char *cn, const EVP_MD *md);
/* CSR for key with CN=cn and an optional challengePassword, signed with SHA-256. */
X509_REQ *scepc_make_csr(EVP_PKEY *key, const char *cn, const char *challenge);
/* Default transaction ID of a key: hex SHA-256 of its DER SubjectPublicKeyInfo (OPENSSL_free). */
char *scepc_transaction_id(EVP_PKEY *key);
/* Lower-case hex of bytes, NUL-terminated; OPENSSL_free it. */
char *scepc_hex(const unsigned char *buf, size_t len);

#endif
