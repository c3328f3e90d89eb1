/*
 * fuzz_pkimsg.c - the SCEP pkiMessage (scep_msg_parse): the outer SignedData
 * and its attributes, the pkcsPKIEnvelope, and what is inside it (a CSR for
 * PKCSReq and RenewalReq, IssuerAndSerialNumber for GetCert and GetCRL,
 * IssuerAndSubject for CertPoll); then what the service does with a parsed
 * request before it needs the database: the policy checks of the CSR, the
 * UDID from each place static mode may take it, the challengePassword, the
 * subject and SAN copied into an issued certificate, the serial asked for.
 *
 * Built with -DMDMID_FUZZING, scep_msg.c lets a signature that does not
 * verify through and reads the encrypted content as the plaintext (a fuzzer
 * can neither sign nor encrypt to the CA): the seeds in corpus/pkimsg/ carry
 * their CSR or IssuerAndSerialNumber in the clear (tests/fuzz/mkseeds.c).
 */
#include <openssl/provider.h>
#include <openssl/x509v3.h>

#include "fuzz.h"
#include "mdmid/issue.h"
#include "mdmid/policy.h"
#include "mdmid/scep_msg.h"
#include "mdmid/udid.h"
#include "mdmid/x509util.h"

static struct {
	bool ready, verbose;
	struct ca *ca;
	struct policy pol;        /* static challenge "secret", single DES allowed */
	struct policy bind[6];    /* the places static mode takes the UDID from */
	struct policy cn_only;    /* csr_subject = false, csr_san = false */
	OSSL_PROVIDER *deflt, *legacy;
} F;

/* At exit: what a leak check would otherwise report. */
static void teardown(void)
{
	ca_free(F.ca);
	OSSL_PROVIDER_unload(F.legacy);
	OSSL_PROVIDER_unload(F.deflt);
}

static void setup(void)
{
	static const char *fields[] = {"CN", "serialNumber", "OU", "SAN:DNS", "SAN:URI", "SAN:email"};
	char err[256];

	/* FUZZ_VERBOSE=1: what each input came to, on stderr. */
	F.verbose = getenv("FUZZ_VERBOSE") != NULL;
	FUZZ_SETUP(scep_oids_init());
	/* Single DES is in the legacy provider; loading it unloads the implicit
	 * default one, so both are loaded (as `mdmid serve` does). */
	FUZZ_SETUP((F.deflt = OSSL_PROVIDER_load(NULL, "default")) && (F.legacy = OSSL_PROVIDER_load(NULL, "legacy")));
	FUZZ_SETUP((F.ca = fuzz_make_ca(false)));
	FUZZ_SETUP(atexit(teardown) == 0);
	policy_init(&F.pol, 2048, true, true, true, 365, "secret");
	/* The signingTime is still parsed and compared, but the seeds' times
	 * (from when they were made) stay within the skew. */
	F.pol.max_clock_skew = 0xffffffffu;
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		F.bind[i] = F.pol;
		FUZZ_SETUP(policy_set_binding(&F.bind[i], "both", fields[i], err, sizeof err) == 0);
	}
	policy_init(&F.cn_only, 2048, false, false, false, 30, NULL);
	F.ready = true;
}

/* An issued certificate, as a client reads it: from the CA, for the CSR's key.
 * (Compared as keys: a CSR may encode its key in a way that is not DER, such
 * as unused bits in the BIT STRING, which the certificate does not repeat.) */
static void check_issued(X509 *cert, EVP_PKEY *csr_key)
{
	unsigned char *der = NULL;
	const unsigned char *q;
	X509 *read;
	int len;

	FUZZ_CHECK(cert);
	FUZZ_CHECK((len = i2d_X509(cert, &der)) > 0);
	q = der;
	FUZZ_CHECK((read = d2i_X509(NULL, &q, len)) && q == der + len);
	FUZZ_CHECK(X509_check_issued(ca_get0_cert(F.ca), read) == X509_V_OK);
	FUZZ_CHECK(EVP_PKEY_eq(X509_get0_pubkey(read), csr_key) == 1);
	X509_free(read);
	OPENSSL_free(der);
	X509_free(cert);
}

/* What the service does with a CSR before it needs the database. */
static void csr_checks(const struct scep_msg *msg)
{
	X509_REQ *csr = msg->csr;
	char buf[256], udid[UDID_MAX + 1], canon[UDID_MAX + 1], *subject;
	unsigned char spki[32];
	enum mdmid_err rc;
	X509 *cert = NULL;
	int n;

	rc = msg->message_type == SCEP_MT_RENEWALREQ ? policy_check_csr_key_with(&F.pol, csr, msg->csr_key)
						      : policy_check_csr_with(&F.pol, csr, msg->csr_key, X509_get0_pubkey(msg->signer));
	(void)x509u_req_spki_sha256(csr, spki);
	if ((n = policy_csr_challenge(csr, buf, sizeof buf)) >= 0)
		FUZZ_CHECK((size_t)n == strlen(buf));
	(void)policy_check_static_challenge(&F.pol, csr);
	for (size_t i = 0; i < sizeof F.bind / sizeof F.bind[0]; i++) {
		memset(udid, 0, sizeof udid);
		if (policy_csr_udid(&F.bind[i], csr, udid) == 0) {
			/* What it hands out is a canonical UDID. */
			FUZZ_CHECK(udid_canonical(udid, canon) == 0 && strcmp(udid, canon) == 0);
		}
	}
	if ((subject = x509u_name_oneline(X509_REQ_get_subject_name(csr))))
		free(subject);
	/* Issued only under a policy that passed, as the service does; a fuzzer
	 * cannot sign a CSR, so its signature is the one check left out. */
	if (rc == MDMID_OK || (rc == MDMID_ERR_CSR_SIGNATURE && policy_check_requester_key(msg->csr_key) == MDMID_OK)) {
		if (issue_from_csr_key(F.ca, &F.pol, csr, msg->csr_key, &cert) == MDMID_OK)
			check_issued(cert, msg->csr_key);
		if (issue_from_csr_key(F.ca, &F.cn_only, csr, msg->csr_key, &cert) == MDMID_OK)
			check_issued(cert, msg->csr_key);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scep_msg msg;
	enum mdmid_err rc;
	char serial[41];

	if (!F.ready)
		setup();
	rc = scep_msg_parse(data, size, F.ca, &F.pol, &msg);
	if (F.verbose)
		fprintf(stderr, "%s %s\n", scep_message_type_name(msg.message_type), mdmid_err_name(rc));
	if (msg.answerable) {
		/* What a FAILURE CertRep and the logs take from the request. */
		size_t n = strlen(msg.transaction_id);
		FUZZ_CHECK(n > 0 && n <= SCEP_TRANSACTION_ID_MAX);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(msg.transaction_id[i] != '"' && msg.transaction_id[i] != '\\' &&
				   msg.transaction_id[i] >= 0x20 && msg.transaction_id[i] < 0x7f);
		FUZZ_CHECK(msg.sender_nonce_len >= 8 && msg.sender_nonce_len <= SCEP_NONCE_MAX);
	} else {
		FUZZ_CHECK(rc == MDMID_ERR_MSG_DECODE || rc == MDMID_ERR_MSG_ATTRS);
	}
	if (rc == MDMID_OK) {
		FUZZ_CHECK(msg.signer);
		switch (msg.message_type) {
		case SCEP_MT_PKCSREQ:
		case SCEP_MT_RENEWALREQ:
			FUZZ_CHECK(msg.csr && !msg.ias && !msg.poll);
			csr_checks(&msg);
			break;
		case SCEP_MT_GETCERT:
		case SCEP_MT_GETCRL:
			FUZZ_CHECK(msg.ias && !msg.csr && !msg.poll);
			(void)X509_NAME_cmp(msg.ias->issuer, X509_get_subject_name(ca_get0_cert(F.ca)));
			(void)x509u_serial_hex(msg.ias->serial, serial, sizeof serial);
			break;
		case SCEP_MT_CERTPOLL:
			FUZZ_CHECK(msg.poll && !msg.csr && !msg.ias);
			break;
		default:
			FUZZ_CHECK(!"a parsed request of an unknown type");
		}
	}
	scep_msg_clear(&msg);
	ERR_clear_error();
	return 0;
}
