/*
 * The SCEP pkiMessage codec (RFC 8894 section 3): untrusted bytes in, a
 * verified request out. No I/O; the only outside call is the decryption of
 * the envelope with the responder key (through ca.h). Also the attribute
 * OIDs and the names of message types and statuses.
 */
#ifndef MDMID_SCEP_MSG_H
#define MDMID_SCEP_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "mdmid/ca.h"
#include "mdmid/err.h"
#include "mdmid/policy.h"

enum scep_message_type {
	SCEP_MT_CERTREP = 3,
	SCEP_MT_RENEWALREQ = 17,
	SCEP_MT_PKCSREQ = 19,
	SCEP_MT_CERTPOLL = 20,
	SCEP_MT_GETCERT = 21,
	SCEP_MT_GETCRL = 22
};

enum scep_pki_status { SCEP_STATUS_SUCCESS = 0, SCEP_STATUS_FAILURE = 2, SCEP_STATUS_PENDING = 3 };

#define SCEP_TRANSACTION_ID_MAX 128
#define SCEP_NONCE_MAX 64

/* NIDs of the SCEP attributes, created once by scep_oids_init(). */
struct scep_oids {
	int message_type, pki_status, fail_info, sender_nonce, recipient_nonce, transaction_id, fail_info_text;
};
/* Idempotent; call once before threads start. Returns 1 on success. */
int scep_oids_init(void);
const struct scep_oids *scep_oids(void);

struct scep_msg {
	/* Set as soon as the outer SignedData is read: enough to answer with a
	 * FAILURE CertRep (answerable), even when the rest is refused. */
	bool answerable;
	int message_type;                       /* -1 when absent or not a number */
	char transaction_id[SCEP_TRANSACTION_ID_MAX + 1];
	unsigned char sender_nonce[SCEP_NONCE_MAX];
	size_t sender_nonce_len;
	int digest_nid;                         /* of the signer */
	X509 *signer;                           /* the requester's certificate, owned */
	/* Set after verification and decryption. */
	int cipher_nid;                         /* content-encryption algorithm */
	X509_REQ *csr;                          /* PKCSReq, RenewalReq: the CSR, owned */
	EVP_PKEY *csr_key;                      /* its public key, owned: use this, not
	                                           X509_REQ_get0_pubkey(csr), which is NULL
	                                           when the key is the signer's (see scep_msg.c) */
	PKCS7_ISSUER_AND_SERIAL *ias;           /* GetCert, GetCRL: what is asked for, owned */
	bool poll;                              /* CertPoll: a well-formed IssuerAndSubject */
};

/*
 * Parses and verifies a pkiMessage (PKCSReq, RenewalReq, GetCert, GetCRL):
 * the outer signature (by the
 * certificate in the message), the digest and content-encryption algorithms
 * under policy p, then decrypts the envelope and reads the CSR. msg is always
 * filled as far as it got and must be released with scep_msg_clear().
 * Errors: MSG_DECODE or MSG_ATTRS (msg->answerable false: an HTTP 400), or a
 * failInfo-bearing error (answerable: a FAILURE CertRep).
 */
enum mdmid_err scep_msg_parse(const unsigned char *der, size_t len, const struct ca *ca, const struct policy *p,
			      struct scep_msg *msg);
void scep_msg_clear(struct scep_msg *msg);

/* "PKCSReq", ... or "unknown". */
const char *scep_message_type_name(int type);

#endif
