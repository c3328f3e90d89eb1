/*
 * fuzz_admin_json.c - the admin API's JSON request bodies (admin_req.c):
 * every input is parsed as the body of each POST endpoint (challenges,
 * identity/check, revoke, requests/approve|deny), and what a parser accepts
 * must be what the handler may hand to the database.
 */
#include <ctype.h>

#include "fuzz.h"
#include "mdmid/admin_req.h"
#include "mdmid/crl.h"

static void refusal_ok(const struct admin_refusal *why)
{
	FUZZ_CHECK(why->status >= 400 && why->status <= 503);
	FUZZ_CHECK(why->error && why->error[0] && why->message && why->message[0]);
	FUZZ_CHECK(strlen(why->message) < 1024);
}

static void udid_ok(const char *u)
{
	char canon[UDID_MAX + 1];
	FUZZ_CHECK(udid_canonical(u, canon) == 0 && !strcmp(u, canon));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct admin_refusal why;
	struct admin_challenge_req ch;
	struct admin_identity_req id;
	struct admin_revoke_req rv;
	struct admin_decide_req dc;

	if (admin_parse_challenge(data, size, 3600, &ch, &why) == 0) {
		udid_ok(ch.udid);
		FUZZ_CHECK(ch.ttl_seconds >= 60 && ch.ttl_seconds <= 30 * 86400);
		FUZZ_CHECK(!ch.subject || (strlen(ch.subject) >= 1 && strlen(ch.subject) <= 1024));
	} else {
		refusal_ok(&why);
		FUZZ_CHECK(!ch.subject);
	}
	admin_challenge_req_clear(&ch);

	if (admin_parse_identity_check(data, size, &id, &why) == 0)
		udid_ok(id.udid);
	else
		refusal_ok(&why);

	if (admin_parse_revoke(data, size, &rv, &why) == 0) {
		size_t n = strlen(rv.serial);
		/* What the handler checked: 2 to 40 hex digits. */
		FUZZ_CHECK(n >= 2 && n <= 40);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(isdigit((unsigned char)rv.serial[i]) || (rv.serial[i] >= 'a' && rv.serial[i] <= 'f'));
		FUZZ_CHECK(crl_reason_valid(rv.reason));
	} else {
		refusal_ok(&why);
	}

	if (admin_parse_decide(data, size, &dc, &why) == 0)
		FUZZ_CHECK(strlen(dc.transaction_id) >= 1 && strlen(dc.transaction_id) <= SCEP_TRANSACTION_ID_MAX);
	else
		refusal_ok(&why);
	ERR_clear_error();
	return 0;
}
