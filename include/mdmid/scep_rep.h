/* The CertRep builder (RFC 8894 section 3.3.2). */
#ifndef MDMID_SCEP_REP_H
#define MDMID_SCEP_REP_H

#include <stddef.h>

#include <openssl/x509.h>

#include "mdmid/ca.h"
#include "mdmid/err.h"

struct scep_rep {
	int pki_status;                         /* enum scep_pki_status */
	int fail_info;                          /* FAILURE only */
	const char *fail_info_text;             /* FAILURE only, may be NULL */
	const char *transaction_id;             /* echoed */
	const unsigned char *recipient_nonce;   /* the request's senderNonce */
	size_t recipient_nonce_len;
	int digest_nid;                         /* the request's; SHA-256 when unusable */
	int cipher_nid;                         /* the request's; single DES becomes 3DES */
	X509 *recipient;                        /* SUCCESS: the requester's certificate */
	X509 *issued;                           /* SUCCESS: the certificate (PKCSReq, GetCert), or */
	X509_CRL *crl;                          /* ... the CRL (GetCRL) */
};

/*
 * Builds a CertRep signed by the responder, with a fresh senderNonce. On
 * SUCCESS its content is an EnvelopedData, encrypted to the recipient, of a
 * degenerate SignedData holding only the issued certificate; on FAILURE or
 * PENDING the content is absent. *der is OPENSSL_malloc'd.
 */
enum mdmid_err scep_rep_build(const struct ca *ca, const struct scep_rep *rep, unsigned char **der, size_t *len);

#endif
