/* Building an end-entity certificate from a CSR under mdmid's policy. */
#ifndef MDMID_ISSUE_H
#define MDMID_ISSUE_H

#include <openssl/x509.h>

#include "mdmid/ca.h"
#include "mdmid/err.h"
#include "mdmid/policy.h"

/*
 * Issues a certificate for csr's key. Only mdmid's own extensions are set
 * (basicConstraints CA:FALSE, keyUsage digitalSignature + keyEncipherment,
 * extendedKeyUsage clientAuth, key identifiers) plus, when the policy allows,
 * the CSR's subjectAltName; nothing else of the CSR is copied. The serial is
 * random, notBefore is backdated five minutes, notAfter never passes the CA's.
 * *out is the caller's to free. Its SubjectPublicKeyInfo is the CSR's, copied
 * as bytes: OpenSSL 3.0 would otherwise encode and decode the key again on
 * every issuance. So X509_get0_pubkey(*out) is NULL; encode it (i2d_X509,
 * what leaves mdmid) or parse it again to use its key.
 */
enum mdmid_err issue_from_csr(const struct ca *ca, const struct policy *p, X509_REQ *csr, X509 **out);
/* The same with the CSR's public key given (struct scep_msg's csr_key). */
enum mdmid_err issue_from_csr_key(const struct ca *ca, const struct policy *p, X509_REQ *csr, EVP_PKEY *csr_key,
				  X509 **out);

/*
 * Issues a certificate for a key mdmid generated itself (PKCS#12 export):
 * the same extensions, serial and validity rules, with the given subject.
 */
enum mdmid_err issue_for_key(const struct ca *ca, EVP_PKEY *key, const X509_NAME *subject, unsigned validity_days,
			     X509 **out);

#endif
