/* The error table: name, SCEP failInfo, HTTP status and text for each error. */
#include "mdmid/err.h"

static const struct mdmid_err_info err_table[MDMID_ERR__MAX] = {
	[MDMID_OK] = {"ok", SCEP_FAIL_NONE, 200, "success"},
	[MDMID_ERR_NOMEM] = {"out_of_memory", SCEP_FAIL_BAD_REQUEST, 503, "out of memory"},
	[MDMID_ERR_INTERNAL] = {"internal", SCEP_FAIL_BAD_REQUEST, 500, "internal error"},
	[MDMID_ERR_CONFIG] = {"config", SCEP_FAIL_NONE, 500, "configuration error"},
	[MDMID_ERR_IO] = {"io", SCEP_FAIL_NONE, 500, "input/output error"},
	[MDMID_ERR_DB] = {"database", SCEP_FAIL_BAD_REQUEST, 503, "the issuance record could not be committed"},
	[MDMID_ERR_DB_UNAVAILABLE] = {"database_unavailable", SCEP_FAIL_BAD_REQUEST, 503, "the database is unavailable"},
	[MDMID_ERR_NOT_FOUND] = {"not_found", SCEP_FAIL_NONE, 404, "not found"},
	[MDMID_ERR_METHOD] = {"method_not_allowed", SCEP_FAIL_NONE, 405, "method not allowed"},
	[MDMID_ERR_BAD_OPERATION] = {"bad_operation", SCEP_FAIL_NONE, 400, "unknown or missing SCEP operation"},
	[MDMID_ERR_BAD_BASE64] = {"bad_base64", SCEP_FAIL_NONE, 400, "the message parameter is not valid base64"},
	[MDMID_ERR_BODY_TOO_LARGE] = {"body_too_large", SCEP_FAIL_NONE, 413, "request body too large"},
	[MDMID_ERR_BODY_TIMEOUT] = {"body_timeout", SCEP_FAIL_NONE, 408, "request body not received in time"},
	[MDMID_ERR_MSG_DECODE] = {"message_decode", SCEP_FAIL_NONE, 400, "not a SCEP pkiMessage"},
	[MDMID_ERR_MSG_ATTRS] = {"message_attributes", SCEP_FAIL_NONE, 400, "pkiMessage lacks transactionID, senderNonce, messageType or signer certificate"},
	[MDMID_ERR_BAD_SIGNATURE] = {"bad_signature", SCEP_FAIL_BAD_MESSAGE_CHECK, 400, "the pkiMessage signature does not verify"},
	[MDMID_ERR_DECRYPT] = {"decrypt", SCEP_FAIL_BAD_MESSAGE_CHECK, 400, "the pkcsPKIEnvelope could not be decrypted"},
	[MDMID_ERR_MSG_TYPE] = {"message_type", SCEP_FAIL_BAD_REQUEST, 400, "unsupported messageType"},
	[MDMID_ERR_DIGEST_ALG] = {"digest_algorithm", SCEP_FAIL_BAD_ALG, 400, "unsupported digest algorithm"},
	[MDMID_ERR_CIPHER_ALG] = {"cipher_algorithm", SCEP_FAIL_BAD_ALG, 400, "unsupported content-encryption algorithm"},
	[MDMID_ERR_SINGLE_DES] = {"single_des", SCEP_FAIL_BAD_ALG, 400, "single DES is refused (RFC 8894 section 2.9)"},
	[MDMID_ERR_REQUESTER_KEY_ALG] = {"requester_key_algorithm", SCEP_FAIL_BAD_ALG, 400, "the requester key must be RSA to receive the reply"},
	[MDMID_ERR_CSR_SIGNATURE] = {"csr_signature", SCEP_FAIL_BAD_MESSAGE_CHECK, 400, "the CSR signature does not verify"},
	[MDMID_ERR_CSR_KEY_MISMATCH] = {"csr_key_mismatch", SCEP_FAIL_BAD_MESSAGE_CHECK, 400, "the request is not signed with the key of the CSR"},
	[MDMID_ERR_KEY_TOO_SMALL] = {"key_too_small", SCEP_FAIL_BAD_REQUEST, 400, "the CSR key is smaller than the policy minimum"},
	[MDMID_ERR_KEY_ALG] = {"key_algorithm", SCEP_FAIL_BAD_ALG, 400, "the CSR key algorithm is not allowed"},
	[MDMID_ERR_CHALLENGE_MISSING] = {"challenge_missing", SCEP_FAIL_BAD_REQUEST, 400, "the CSR has no challengePassword"},
	[MDMID_ERR_CHALLENGE_WRONG] = {"challenge_wrong", SCEP_FAIL_BAD_REQUEST, 400, "the challengePassword is not valid"},
	[MDMID_ERR_CHALLENGE_UNKNOWN] = {"challenge_unknown", SCEP_FAIL_BAD_REQUEST, 400, "the challengePassword is unknown"},
	[MDMID_ERR_CHALLENGE_EXPIRED] = {"challenge_expired", SCEP_FAIL_BAD_REQUEST, 400, "the challengePassword has expired"},
	[MDMID_ERR_CHALLENGE_CONSUMED] = {"challenge_consumed", SCEP_FAIL_BAD_REQUEST, 400, "the challengePassword was already used"},
	[MDMID_ERR_CHALLENGE_SUBJECT] = {"challenge_subject", SCEP_FAIL_BAD_REQUEST, 400, "the CSR subject is not the one the challenge was issued for"},
	[MDMID_ERR_UDID_MISSING] = {"udid_missing", SCEP_FAIL_BAD_REQUEST, 400, "the CSR carries no valid UDID where the policy expects one"},
	[MDMID_ERR_UDID_INVALID] = {"udid_invalid", SCEP_FAIL_BAD_REQUEST, 400, "not a UDID: expected 40 hex digits, 8-16 hex digits or a UUID"},
	[MDMID_ERR_UDID_MISMATCH] = {"udid_mismatch", SCEP_FAIL_BAD_REQUEST, 400, "the CSR names another UDID than the one the challenge was minted for"},
	[MDMID_ERR_SUBJECT] = {"subject", SCEP_FAIL_BAD_REQUEST, 400, "the CSR subject is not acceptable"},
	[MDMID_ERR_SAN] = {"san", SCEP_FAIL_BAD_REQUEST, 400, "the CSR's subjectAltName is empty or holds names other than DNS, e-mail or URI in plain ASCII"},
	[MDMID_ERR_BAD_TIME] = {"bad_time", SCEP_FAIL_BAD_TIME, 400, "the message time is outside the allowed window"},
	[MDMID_ERR_BAD_CERT_ID] = {"bad_cert_id", SCEP_FAIL_BAD_CERT_ID, 404, "no certificate matches"},
	[MDMID_ERR_ALREADY_REVOKED] = {"already_revoked", SCEP_FAIL_BAD_CERT_ID, 409, "the certificate is revoked or abandoned already"},
	[MDMID_ERR_BAD_REASON] = {"bad_reason", SCEP_FAIL_NONE, 400, "unknown revocation reason (keyCompromise, superseded, cessationOfOperation, affiliationChanged, privilegeWithdrawn, unspecified, ...)"},
	[MDMID_ERR_RENEWAL_SIGNER_UNKNOWN] = {"renewal_signer_unknown", SCEP_FAIL_BAD_CERT_ID, 400, "the RenewalReq is not signed by a certificate mdmid issued"},
	[MDMID_ERR_RENEWAL_SIGNER_EXPIRED] = {"renewal_signer_expired", SCEP_FAIL_BAD_TIME, 400, "the RenewalReq's signer certificate is outside its validity"},
	[MDMID_ERR_RENEWAL_SIGNER_REVOKED] = {"renewal_signer_revoked", SCEP_FAIL_BAD_REQUEST, 400, "the RenewalReq's signer certificate is revoked"},
	[MDMID_ERR_REQUEST_DENIED] = {"request_denied", SCEP_FAIL_BAD_REQUEST, 400, "the request was denied by an operator"},
	[MDMID_ERR_TRANSACTION_KEY] = {"transaction_key_mismatch", SCEP_FAIL_BAD_REQUEST, 400, "this transactionID belongs to a request with another key"},
	[MDMID_ERR_ISSUE] = {"issue", SCEP_FAIL_BAD_REQUEST, 500, "the certificate could not be signed"},
};

const struct mdmid_err_info *mdmid_err_info(enum mdmid_err e)
{
	if ((unsigned)e >= MDMID_ERR__MAX || err_table[e].name == 0)
		return &err_table[MDMID_ERR_INTERNAL];
	return &err_table[e];
}

const char *mdmid_err_name(enum mdmid_err e) { return mdmid_err_info(e)->name; }
const char *mdmid_err_text(enum mdmid_err e) { return mdmid_err_info(e)->text; }

const char *scep_fail_info_name(int fail_info)
{
	static const char *const names[] = {"badAlg", "badMessageCheck", "badRequest", "badTime", "badCertId"};
	if (fail_info < 0 || fail_info > 4)
		return 0;
	return names[fail_info];
}
