/*
 * The one error table. Every failure found anywhere in mdmid is one of these
 * values; the table gives it a stable name (for logs and the event table), the
 * SCEP failInfo it maps to (or none) and the HTTP status it maps to, so the
 * reason found deep inside reaches the answer and the audit row unchanged.
 */
#ifndef MDMID_ERR_H
#define MDMID_ERR_H

enum mdmid_err {
	MDMID_OK = 0,
	MDMID_ERR_NOMEM,
	MDMID_ERR_INTERNAL,
	MDMID_ERR_CONFIG,
	MDMID_ERR_IO,
	MDMID_ERR_DB,              /* the statement failed */
	MDMID_ERR_DB_UNAVAILABLE,  /* no connection to PostgreSQL */
	/* HTTP-level refusals: no CertRep can be formed */
	MDMID_ERR_NOT_FOUND,
	MDMID_ERR_METHOD,
	MDMID_ERR_BAD_OPERATION,
	MDMID_ERR_BAD_BASE64,
	MDMID_ERR_BODY_TOO_LARGE,
	MDMID_ERR_BODY_TIMEOUT,
	MDMID_ERR_MSG_DECODE,      /* not a SignedData pkiMessage */
	MDMID_ERR_MSG_ATTRS,       /* no transactionID/senderNonce/signer to answer to */
	/* SCEP FAILURE answers */
	MDMID_ERR_BAD_SIGNATURE,
	MDMID_ERR_DECRYPT,
	MDMID_ERR_MSG_TYPE,
	MDMID_ERR_DIGEST_ALG,
	MDMID_ERR_CIPHER_ALG,
	MDMID_ERR_SINGLE_DES,
	MDMID_ERR_REQUESTER_KEY_ALG,
	MDMID_ERR_CSR_SIGNATURE,
	MDMID_ERR_CSR_KEY_MISMATCH,
	MDMID_ERR_KEY_TOO_SMALL,
	MDMID_ERR_KEY_ALG,
	MDMID_ERR_CHALLENGE_MISSING,
	MDMID_ERR_CHALLENGE_WRONG,
	MDMID_ERR_CHALLENGE_UNKNOWN,
	MDMID_ERR_CHALLENGE_EXPIRED,
	MDMID_ERR_CHALLENGE_CONSUMED,
	MDMID_ERR_CHALLENGE_SUBJECT,
	MDMID_ERR_UDID_MISSING,
	MDMID_ERR_UDID_INVALID,
	MDMID_ERR_UDID_MISMATCH,
	MDMID_ERR_SUBJECT,
	MDMID_ERR_SAN,
	MDMID_ERR_BAD_TIME,
	MDMID_ERR_BAD_CERT_ID,
	MDMID_ERR_ISSUE,           /* signing the certificate failed */
	MDMID_ERR_ALREADY_REVOKED,
	MDMID_ERR_REQUEST_DENIED,
	MDMID_ERR_TRANSACTION_KEY,
	MDMID_ERR_RENEWAL_SIGNER_UNKNOWN,
	MDMID_ERR_RENEWAL_SIGNER_EXPIRED,
	MDMID_ERR_RENEWAL_SIGNER_REVOKED,
	MDMID_ERR_BAD_REASON,
	MDMID_ERR__MAX
};

/* SCEP failInfo values (RFC 8894 section 3.2.1.4.5). */
enum scep_fail_info {
	SCEP_FAIL_NONE = -1,
	SCEP_FAIL_BAD_ALG = 0,
	SCEP_FAIL_BAD_MESSAGE_CHECK = 1,
	SCEP_FAIL_BAD_REQUEST = 2,
	SCEP_FAIL_BAD_TIME = 3,
	SCEP_FAIL_BAD_CERT_ID = 4
};

struct mdmid_err_info {
	const char *name;        /* stable, snake_case: logs, event.error */
	int fail_info;           /* enum scep_fail_info */
	int http_status;         /* when the answer is not a CertRep */
	const char *text;        /* for failInfoText and CLI messages; no secrets */
};

/* Never NULL: an out-of-range value maps to the "internal" entry. */
const struct mdmid_err_info *mdmid_err_info(enum mdmid_err e);
const char *mdmid_err_name(enum mdmid_err e);
const char *mdmid_err_text(enum mdmid_err e);
/* "badAlg", ... or NULL for SCEP_FAIL_NONE */
const char *scep_fail_info_name(int fail_info);

#endif
