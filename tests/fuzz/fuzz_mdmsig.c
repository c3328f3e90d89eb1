/*
 * fuzz_mdmsig.c - the Mdm-Signature header and the body it signs
 * (mdmsig_verify, mdmsig_body_udid). The input is the header, a NUL, and the
 * body (no NUL: the whole input is the header and the body is empty); a
 * header is a C string, as the HTTP library hands it over.
 *
 * mdmsig_verify runs without a store: every verdict up to the database
 * look-up of the signer (base64, the CMS SignedData, the signature, the
 * chain to the CA, the signing time). Built with -DMDMID_FUZZING, a
 * signature that does not verify is let through (a fuzzer cannot sign). The
 * body's property list is read after the look-up, so mdmsig_body_udid is
 * called directly on every body.
 */
#include "fuzz.h"
#include "mdmid/mdmsig.h"

static struct {
	bool ready;
	struct ca *ca;
	struct mdmsig_verifier *v;
} F;

static void teardown(void)
{
	mdmsig_verifier_free(F.v);
	ca_free(F.ca);
}

static const char *const reasons[] = {
	"bad_header", "not_signed_data", "signature_mismatch", "untrusted_signer", "signer_expired",
	"signer_not_yet_valid", "wrong_usage", "signing_time_outside_validity", "unknown_certificate",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t hlen = nul ? (size_t)(nul - data) : size;
	const unsigned char *body = nul ? nul + 1 : data + size;
	size_t blen = nul ? size - hlen - 1 : 0;
	char *header = malloc(hlen + 1);
	struct mdmsig_result r;
	enum mdmid_err rc;
	bool known = false;
	int m;

	if (!F.ready) {
		FUZZ_SETUP((F.ca = fuzz_make_ca(true)) && (F.v = mdmsig_verifier_new(F.ca)) && atexit(teardown) == 0);
		F.ready = true;
	}
	FUZZ_CHECK(header);
	memcpy(header, data, hlen);
	header[hlen] = '\0';
	rc = mdmsig_verify(F.v, NULL, body, blen, header, &r);
	FUZZ_CHECK(rc == MDMID_OK || rc == MDMID_ERR_INTERNAL);
	/* Without the signer's row nothing is valid. */
	FUZZ_CHECK(!r.valid && r.reason);
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		known = known || !strcmp(r.reason, reasons[i]);
	FUZZ_CHECK(known);
	FUZZ_CHECK(r.body_udid_matches == -1 && !r.serial[0] && !r.udid[0]);
	FUZZ_CHECK(strlen(r.sha256) == 0 || strlen(r.sha256) == 64);
	m = mdmsig_body_udid(body, blen, "00008030-001A2D8A3C02802E");
	FUZZ_CHECK(m == -1 || m == 0 || m == 1);
	free(header);
	ERR_clear_error();
	return 0;
}
