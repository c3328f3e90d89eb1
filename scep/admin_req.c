/* The admin API's JSON request bodies: parsed and checked, no I/O. */
#include "mdmid/admin_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/pem.h>

#include "mdmid/crl.h"
#include "mdmid/x509util.h"

static int refuse(struct admin_refusal *why, unsigned status, const char *error, const char *message)
{
	why->status = status;
	why->error = error;
	why->message = message;
	return -1;
}

static int refuse_err(struct admin_refusal *why, enum mdmid_err e)
{
	const struct mdmid_err_info *info = mdmid_err_info(e);
	return refuse(why, (unsigned)info->http_status, info->name, info->text);
}

/* The body as a JSON object, or NULL with why filled in. */
static json_t *body_object(const unsigned char *body, size_t len, struct admin_refusal *why)
{
	json_error_t jerr;
	json_t *obj = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);

	if (!obj || !json_is_object(obj)) {
		snprintf(why->buf, sizeof why->buf, "the body must be a JSON object%s%s", obj ? "" : ": ",
			 obj ? "" : jerr.text);
		json_decref(obj);
		refuse(why, 400, "bad_json", why->buf);
		return NULL;
	}
	return obj;
}

int admin_parse_challenge(const unsigned char *body, size_t len, unsigned default_ttl, struct admin_challenge_req *out,
			  struct admin_refusal *why)
{
	json_t *in, *udid, *ttl, *subject, *approval;
	json_int_t ttl_seconds = default_ttl;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (!(in = body_object(body, len, why)))
		return -1;
	udid = json_object_get(in, "udid");
	ttl = json_object_get(in, "ttl_seconds");
	subject = json_object_get(in, "subject");
	approval = json_object_get(in, "require_approval");
	if (approval && !json_is_boolean(approval)) {
		refuse(why, 400, "bad_require_approval", "require_approval must be true or false");
		goto out;
	}
	if (!json_is_string(udid) || udid_canonical(json_string_value(udid), out->udid) < 0) {
		refuse_err(why, MDMID_ERR_UDID_INVALID);
		goto out;
	}
	if (ttl && (!json_is_integer(ttl) || (ttl_seconds = json_integer_value(ttl)) < 60 || ttl_seconds > 30 * 86400)) {
		refuse(why, 400, "bad_ttl", "ttl_seconds must be an integer from 60 to 2592000");
		goto out;
	}
	if (subject && !json_is_null(subject) && (!json_is_string(subject) || json_string_length(subject) == 0 ||
						  json_string_length(subject) > 1024)) {
		refuse(why, 400, "bad_subject", "subject must be a non-empty string (RFC 2253 form)");
		goto out;
	}
	if (json_is_string(subject) && !(out->subject = strdup(json_string_value(subject)))) {
		refuse_err(why, MDMID_ERR_NOMEM);
		goto out;
	}
	out->ttl_seconds = (unsigned)ttl_seconds;
	out->require_approval = json_is_true(approval);
	rc = 0;
out:
	json_decref(in);
	return rc;
}

void admin_challenge_req_clear(struct admin_challenge_req *r)
{
	free(r->subject);
	r->subject = NULL;
}

static int hex_decode(const char *hex, unsigned char *out, size_t outlen)
{
	if (strlen(hex) != outlen * 2)
		return -1;
	for (size_t i = 0; i < outlen; i++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			char c = hex[2 * i + (size_t)j];
			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				v |= (unsigned)(c - 'A' + 10);
			else
				return -1;
		}
		out[i] = (unsigned char)v;
	}
	return 0;
}

int admin_parse_identity_check(const unsigned char *body, size_t len, struct admin_identity_req *out,
			       struct admin_refusal *why)
{
	json_t *in, *udid, *pem, *sha;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (!(in = body_object(body, len, why)))
		return -1;
	udid = json_object_get(in, "udid");
	pem = json_object_get(in, "certificate");
	sha = json_object_get(in, "sha256");
	if (!json_is_string(udid) || udid_canonical(json_string_value(udid), out->udid) < 0) {
		refuse_err(why, MDMID_ERR_UDID_INVALID);
		goto out;
	}
	if (json_is_string(pem) && !sha) {
		BIO *b = BIO_new_mem_buf(json_string_value(pem), (int)json_string_length(pem));
		X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
		int ok = x && x509u_sha256(x, out->sha256);
		X509_free(x);
		BIO_free(b);
		if (!ok) {
			refuse(why, 400, "bad_certificate", "certificate must be one PEM certificate");
			goto out;
		}
	} else if (json_is_string(sha) && !pem) {
		if (hex_decode(json_string_value(sha), out->sha256, sizeof out->sha256) < 0) {
			refuse(why, 400, "bad_sha256", "sha256 must be 64 hex digits");
			goto out;
		}
	} else {
		refuse(why, 400, "bad_request", "give exactly one of certificate (PEM) and sha256 (hex)");
		goto out;
	}
	rc = 0;
out:
	json_decref(in);
	return rc;
}

int admin_parse_revoke(const unsigned char *body, size_t len, struct admin_revoke_req *out,
		       struct admin_refusal *why)
{
	json_t *in, *serial, *reason;
	const char *reason_name = "unspecified";
	size_t n = 0;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (!(in = body_object(body, len, why)))
		return -1;
	serial = json_object_get(in, "serial");
	reason = json_object_get(in, "reason");
	if (json_is_string(reason))
		reason_name = json_string_value(reason);
	if (!json_is_string(serial) || json_string_length(serial) < 2 || json_string_length(serial) > 40) {
		refuse(why, 400, "bad_serial", "serial must be the certificate's serial in hex");
		goto out;
	}
	for (const char *p = json_string_value(serial); *p; p++) {
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F'))) {
			refuse(why, 400, "bad_serial", "serial must be the certificate's serial in hex");
			goto out;
		}
		out->serial[n++] = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
	}
	out->serial[n] = '\0';
	/* Every valid name is shorter than out->reason. */
	if ((reason && !json_is_string(reason)) || !crl_reason_valid(reason_name) ||
	    strlen(reason_name) >= sizeof out->reason) {
		refuse_err(why, MDMID_ERR_BAD_REASON);
		goto out;
	}
	memcpy(out->reason, reason_name, strlen(reason_name) + 1);
	rc = 0;
out:
	json_decref(in);
	return rc;
}

int admin_parse_decide(const unsigned char *body, size_t len, struct admin_decide_req *out, struct admin_refusal *why)
{
	json_t *in, *tid;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (!(in = body_object(body, len, why)))
		return -1;
	tid = json_object_get(in, "transaction_id");
	if (!json_is_string(tid) || !json_string_length(tid) || json_string_length(tid) > SCEP_TRANSACTION_ID_MAX) {
		refuse(why, 400, "bad_transaction_id", "transaction_id must be the request's transactionID");
		goto out;
	}
	/* The value as a C string, as it was used before: at most the JSON length. */
	snprintf(out->transaction_id, sizeof out->transaction_id, "%s", json_string_value(tid));
	rc = 0;
out:
	json_decref(in);
	return rc;
}
