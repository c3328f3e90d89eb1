/*
 * mkseeds.c - writes the generated seeds of tests/fuzz/corpus/ (`make
 * fuzz-seeds`): real requests built by the test client (tests/support),
 * against a CA made for the occasion.
 *
 *   pkimsg/     PKCSReq (DER and Apple's BER, each cipher and digest, a SAN,
 *               an EC key), RenewalReq, GetCert, GetCRL, CertPoll, a
 *               FAILURE-shaped message without content, an MD5 one. The
 *               fuzz build reads the encrypted content as the plaintext (a
 *               fuzzer cannot encrypt to the CA), so these seeds carry their
 *               messageData in the clear, re-signed; two stay encrypted.
 *   get_query/  the query string of GET PKIOperation with such a message in
 *               each base64 shape clients send.
 *   mdmsig/     Mdm-Signature headers over check-in bodies (XML and binary).
 *   admin_json/ identity-check.json with a real PEM certificate.
 * The other seeds (admin_json, config, p12_udids) are written by hand.
 * Usage: mkseeds CORPUS_DIR
 */
#include <errno.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>
#include <plist/plist.h>

#include "fuzz.h"
#include "mdmid/issue.h"
#include "mdmid/scep_msg.h"
#include "scep_client.h"

#define UDID "00008030-001A2D8A3C02802E"

static const char *corpus;
static struct ca *ca;
static EVP_PKEY *key;

static void die(const char *what)
{
	fprintf(stderr, "mkseeds: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void put(const char *dir, const char *name, const void *data, size_t len)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", corpus, dir);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die(path);
	snprintf(path, sizeof path, "%s/%s/%s", corpus, dir, name);
	if (!(f = fopen(path, "wb")) || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		die(path);
	printf("%s (%zu bytes)\n", path, len);
}

/* A CSR for k: subject entries "K=V" (NULL-terminated), an optional SAN and
 * challengePassword. */
static X509_REQ *csr_for(EVP_PKEY *k, const char *const *subject, const char *san, const char *challenge)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();

	if (!req || !name)
		die("csr");
	for (; *subject; subject++) {
		char buf[256], *eq;
		snprintf(buf, sizeof buf, "%s", *subject);
		if (!(eq = strchr(buf, '=')))
			die("subject");
		*eq = '\0';
		if (!X509_NAME_add_entry_by_txt(name, buf, MBSTRING_UTF8, (unsigned char *)eq + 1, -1, -1, 0))
			die("subject entry");
	}
	if (!X509_REQ_set_subject_name(req, name) || !X509_REQ_set_pubkey(req, k))
		die("csr");
	if (san) {
		STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
		X509V3_CTX ctx;
		X509_EXTENSION *x;
		X509V3_set_ctx_nodb(&ctx);
		X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
		if (!exts || !(x = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san)) ||
		    !sk_X509_EXTENSION_push(exts, x) || !X509_REQ_add_extensions(req, exts))
			die("san");
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	if (challenge && !X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, MBSTRING_UTF8,
						     (const unsigned char *)challenge, -1))
		die("challenge");
	if (X509_REQ_sign(req, k, EVP_sha256()) <= 0)
		die("csr sign");
	X509_NAME_free(name);
	return req;
}

/*
 * The same pkiMessage with its envelope's encrypted content replaced by the
 * plaintext, signed again by the same signer with the same SCEP attributes.
 */
static void in_the_clear(const unsigned char *der, size_t len, X509 *signer, EVP_PKEY *skey, const EVP_MD *md,
			 int ber, unsigned char **out, size_t *outlen)
{
	const unsigned char *q = der;
	PKCS7 *p7 = d2i_PKCS7(NULL, &q, (long)len), *env, *np7;
	const int flags = PKCS7_BINARY | PKCS7_NOSMIMECAP | PKCS7_PARTIAL;
	PKCS7_SIGNER_INFO *osi, *si;
	ASN1_OCTET_STRING *os;
	unsigned char *plain = NULL, *envder = NULL, *buf = NULL;
	size_t plain_len = 0;
	int n;
	BIO *in;

	if (!p7 || !(os = p7->d.sign->contents->d.data))
		die("outer");
	q = os->data;
	if (!(env = d2i_PKCS7(NULL, &q, os->length)) || ca_decrypt_envelope(ca, env, &plain, &plain_len) != MDMID_OK)
		die("envelope");
	if (!ASN1_OCTET_STRING_set(env->d.enveloped->enc_data->enc_data, plain, (int)plain_len) ||
	    (n = i2d_PKCS7(env, &envder)) <= 0)
		die("envelope in the clear");
	osi = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(p7), 0);
	if (!(np7 = PKCS7_sign(NULL, NULL, NULL, NULL, flags)) ||
	    !(si = PKCS7_sign_add_signer(np7, signer, skey, md, flags)))
		die("sign");
	for (int i = 0; i < X509at_get_attr_count(osi->auth_attr); i++) {
		X509_ATTRIBUTE *a = X509at_get_attr(osi->auth_attr, i);
		int nid = OBJ_obj2nid(X509_ATTRIBUTE_get0_object(a));
		if (nid != NID_pkcs9_contentType && nid != NID_pkcs9_messageDigest && !X509at_add1_attr(&si->auth_attr, a))
			die("attributes");
	}
	if (!(in = BIO_new_mem_buf(envder, n)) || !PKCS7_final(np7, in, PKCS7_BINARY))
		die("final");
	if ((n = ber ? i2d_PKCS7_NDEF(np7, &buf) : i2d_PKCS7(np7, &buf)) <= 0)
		die("encode");
	*out = buf;
	*outlen = (size_t)n;
	BIO_free(in);
	OPENSSL_free(envder);
	free(plain);
	PKCS7_free(env);
	PKCS7_free(p7);
	PKCS7_free(np7);
}

struct variant {
	const char *name;
	int type, ber, encrypted;
	const char *cipher, *md;
	X509_REQ *csr;
	X509 *signer;     /* NULL: self-signed */
	EVP_PKEY *skey;
	int no_content;
};

/* Builds v; *clear gets the seed as written (in the clear unless encrypted). */
static void build(const struct variant *v, unsigned char **seed, size_t *seed_len)
{
	struct scepc_req_opts o = {0};
	STACK_OF(X509) *recips = sk_X509_new_null();
	ASN1_INTEGER *serial = ASN1_INTEGER_new();
	const EVP_MD *md = EVP_get_digestbyname(v->md ? v->md : "sha256");
	unsigned char *der = NULL;
	size_t len = 0;
	X509 *signer = NULL;

	if (!recips || !serial || !md || !sk_X509_push(recips, ca_get0_responder_cert(ca)) ||
	    !ASN1_INTEGER_set(serial, 0x1234567))
		die("variant");
	o.message_type = v->type;
	o.key = key;
	o.csr = v->csr;
	o.subject_cn = UDID;
	o.challenge = "secret";
	o.signer_cert = v->signer;
	o.signer_key = v->skey;
	o.recipients = recips;
	o.cipher = EVP_get_cipherbyname(v->cipher ? v->cipher : "aes-128-cbc");
	o.md = md;
	o.ber = v->ber;
	o.issuer_cert = ca_get0_cert(ca);
	o.serial = serial;
	o.no_content = v->no_content;
	o.transaction_id = v->type == SCEP_MT_CERTPOLL ? "poll-0001" : NULL;
	if (!o.cipher || !scepc_build_request(&o, &der, &len, &signer, NULL))
		die(v->name);
	if (v->encrypted || v->no_content) {
		*seed = der;
		*seed_len = len;
		der = NULL;
	} else {
		in_the_clear(der, len, signer, v->skey ? v->skey : key, md, v->ber, seed, seed_len);
	}
	OPENSSL_free(der);
	X509_free(signer);
	ASN1_INTEGER_free(serial);
	sk_X509_free(recips);
}

static char *b64(const unsigned char *d, size_t n)
{
	char *s = malloc(n / 3 * 4 + 8);
	if (!s)
		die("b64");
	EVP_EncodeBlock((unsigned char *)s, d, (int)n);
	return s;
}

/* GET PKIOperation query strings carrying msg in each shape. */
static void get_queries(const unsigned char *msg, size_t len)
{
	char *std = b64(msg, len), *q = malloc(strlen(std) * 3 + 128), *p;
	size_t n = 0;

	if (!q)
		die("query");
	/* Percent-escaped standard base64: what a careful client sends. */
	p = q + sprintf(q, "operation=PKIOperation&message=");
	for (const char *c = std; *c; c++)
		p += *c == '+' ? sprintf(p, "%%2B") : *c == '/' ? sprintf(p, "%%2F") : *c == '=' ? sprintf(p, "%%3D")
											: sprintf(p, "%c", *c);
	put("get_query", "escaped.txt", q, strlen(q));
	/* Raw: '+' arrives as a space. */
	n = (size_t)sprintf(q, "operation=PKIOperation&message=%s", std);
	put("get_query", "raw.txt", q, n);
	/* base64url without padding, message first, operation in another case. */
	p = q + sprintf(q, "message=");
	for (const char *c = std; *c && *c != '='; c++)
		*p++ = *c == '+' ? '-' : *c == '/' ? '_' : *c;
	p += sprintf(p, "&operation=pkioperation");
	put("get_query", "base64url.txt", q, (size_t)(p - q));
	/* Line breaks every 64 characters, escaped. */
	p = q + sprintf(q, "operation=PKIOperation&message=");
	for (size_t i = 0; std[i]; i++) {
		if (i && i % 64 == 0)
			p += sprintf(p, "%%0D%%0A");
		p += std[i] == '+' ? sprintf(p, "%%2B") : sprintf(p, "%c", std[i]);
	}
	put("get_query", "crlf.txt", q, (size_t)(p - q));
	free(q);
	free(std);
}

static char *signature(const unsigned char *body, size_t len, X509 *cert, EVP_PKEY *k, int signing_time,
		       int wrapped)
{
	const int flags = PKCS7_DETACHED | PKCS7_BINARY | PKCS7_PARTIAL;
	BIO *in = BIO_new_mem_buf(body, (int)len);
	PKCS7 *p7 = PKCS7_sign(NULL, NULL, NULL, in, flags);
	PKCS7_SIGNER_INFO *si;
	unsigned char *der = NULL;
	char *s, *w;
	int n;

	if (!p7 || !(si = PKCS7_sign_add_signer(p7, cert, k, EVP_sha256(), flags)))
		die("mdmsig");
	if (signing_time) {
		ASN1_TIME *t = ASN1_TIME_set(NULL, time(NULL));
		if (!t || !PKCS7_add_signed_attribute(si, NID_pkcs9_signingTime, V_ASN1_UTCTIME, t))
			die("signingTime");
	}
	if (!PKCS7_final(p7, in, flags) || (n = i2d_PKCS7(p7, &der)) <= 0)
		die("mdmsig final");
	s = b64(der, (size_t)n);
	if (wrapped) {
		/* Whitespace inside, as some proxies fold long headers. */
		size_t sl = strlen(s);
		if (!(w = malloc(sl * 2 + 1)))
			die("wrap");
		n = 0;
		for (size_t i = 0; i < sl; i++) {
			if (i && i % 76 == 0)
				w[n++] = ' ';
			w[n++] = s[i];
		}
		w[n] = '\0';
		free(s);
		s = w;
	}
	OPENSSL_free(der);
	PKCS7_free(p7);
	BIO_free(in);
	return s;
}

static void mdmsig_seed(const char *name, const char *header, const void *body, size_t len)
{
	size_t hl = strlen(header);
	char *buf = malloc(hl + 1 + len);
	if (!buf)
		die("mdmsig seed");
	memcpy(buf, header, hl + 1);
	memcpy(buf + hl + 1, body, len);
	put("mdmsig", name, buf, hl + 1 + len);
	free(buf);
}

static void mdmsig_seeds(X509 *device, EVP_PKEY *dkey)
{
	static const char xml[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
		"\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
		"<plist version=\"1.0\">\n<dict>\n\t<key>MessageType</key>\n\t<string>Authenticate</string>\n"
		"\t<key>Topic</key>\n\t<string>com.apple.mgmt.External.0</string>\n"
		"\t<key>UDID</key>\n\t<string>" UDID "</string>\n"
		"\t<key>Nested</key>\n\t<array><dict><key>a</key><array><integer>1</integer><true/>"
		"<data>AAEC</data><date>2024-01-01T00:00:00Z</date><real>1.5</real></array></dict></array>\n"
		"</dict>\n</plist>\n";
	plist_t root = NULL;
	char *bin = NULL, *h;
	uint32_t bin_len = 0;

	h = signature((const unsigned char *)xml, sizeof xml - 1, device, dkey, 0, 0);
	mdmsig_seed("checkin-xml", h, xml, sizeof xml - 1);
	free(h);
	h = signature((const unsigned char *)xml, sizeof xml - 1, device, dkey, 1, 1);
	mdmsig_seed("checkin-xml-signing-time-wrapped", h, xml, sizeof xml - 1);
	free(h);
	plist_from_memory(xml, sizeof xml - 1, &root);
	if (!root)
		die("plist");
	plist_to_bin(root, &bin, &bin_len);
	if (!bin)
		die("bplist");
	h = signature((const unsigned char *)bin, bin_len, device, dkey, 0, 0);
	mdmsig_seed("checkin-bplist", h, bin, bin_len);
	free(h);
	h = signature((const unsigned char *)"", 0, device, dkey, 0, 0);
	mdmsig_seed("empty-body", h, "", 0);
	free(h);
	plist_to_bin_free(bin);
	plist_free(root);
}

int main(int argc, char **argv)
{
	static const char *const udid_subject[] = {"CN=" UDID, "O=mdmid fuzz", NULL};
	static const char *const serial_subject[] = {"CN=device", "serialNumber=" UDID, "OU=" UDID, NULL};
	EVP_PKEY *ec, *other;
	X509 *device = NULL;
	X509_NAME *dname = X509_NAME_new();
	char *pem_data, *json;
	BIO *pem;
	long pem_len;
	struct variant v[] = {
		{.name = "pkcsreq.der", .type = SCEP_MT_PKCSREQ},
		{.name = "pkcsreq-ber.der", .type = SCEP_MT_PKCSREQ, .ber = 1},
		{.name = "pkcsreq-aes256-sha512.der", .type = SCEP_MT_PKCSREQ, .cipher = "aes-256-cbc", .md = "sha512"},
		{.name = "pkcsreq-des3-sha1.der", .type = SCEP_MT_PKCSREQ, .cipher = "des-ede3-cbc", .md = "sha1"},
		{.name = "pkcsreq-des.der", .type = SCEP_MT_PKCSREQ, .cipher = "des-cbc"},
		{.name = "pkcsreq-san.der", .type = SCEP_MT_PKCSREQ},
		{.name = "pkcsreq-ec-csr.der", .type = SCEP_MT_PKCSREQ},
		{.name = "pkcsreq-encrypted.der", .type = SCEP_MT_PKCSREQ, .encrypted = 1},
		{.name = "pkcsreq-ber-encrypted.der", .type = SCEP_MT_PKCSREQ, .ber = 1, .encrypted = 1},
		{.name = "pkcsreq-md5.der", .type = SCEP_MT_PKCSREQ, .md = "md5"},
		{.name = "renewalreq.der", .type = SCEP_MT_RENEWALREQ},
		{.name = "getcert.der", .type = SCEP_MT_GETCERT},
		{.name = "getcrl.der", .type = SCEP_MT_GETCRL},
		{.name = "certpoll.der", .type = SCEP_MT_CERTPOLL},
		{.name = "failure-no-content.der", .type = SCEP_MT_PKCSREQ, .no_content = 1},
	};
	unsigned char *seed;
	size_t seed_len;

	if (argc != 2)
		die("usage: mkseeds CORPUS_DIR");
	corpus = argv[1];
	if (!scep_oids_init() || !scepc_init() || !OSSL_PROVIDER_load(NULL, "default") ||
	    !OSSL_PROVIDER_load(NULL, "legacy"))
		die("init");
	if (!(ca = fuzz_make_ca(false)) || !(key = EVP_RSA_gen(2048)) || !(ec = EVP_EC_gen("P-256")) ||
	    !(other = EVP_RSA_gen(2048)) || !dname)
		die("keys");
	/* A device identity from the CA: the RenewalReq signer, the Mdm-Signature signer. */
	if (!X509_NAME_add_entry_by_txt(dname, "CN", MBSTRING_UTF8, (const unsigned char *)UDID, -1, -1, 0) ||
	    issue_for_key(ca, other, dname, 365, &device) != MDMID_OK)
		die("device");
	v[5].csr = csr_for(key, serial_subject, "DNS:" UDID ", URI:urn:udid:" UDID ", email:" UDID "@example.com",
			   "secret");
	v[6].csr = csr_for(ec, udid_subject, NULL, "secret");
	v[10].signer = device;
	v[10].skey = other;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		build(&v[i], &seed, &seed_len);
		put("pkimsg", v[i].name, seed, seed_len);
		if (i == 11)
			get_queries(seed, seed_len);
		OPENSSL_free(seed);
		X509_REQ_free(v[i].csr);
	}
	mdmsig_seeds(device, other);
	/* identity/check with a real certificate. */
	if (!(pem = BIO_new(BIO_s_mem())) || !PEM_write_bio_X509(pem, device) ||
	    (pem_len = BIO_get_mem_data(pem, &pem_data)) <= 0 || !(json = malloc((size_t)pem_len * 2 + 128)))
		die("pem");
	{
		char *p = json + sprintf(json, "{\"udid\": \"%s\", \"certificate\": \"", UDID);
		for (long i = 0; i < pem_len; i++)
			p += pem_data[i] == '\n' ? sprintf(p, "\\n") : sprintf(p, "%c", pem_data[i]);
		p += sprintf(p, "\"}\n");
		put("admin_json", "identity-check-pem.json", json, (size_t)(p - json));
	}
	free(json);
	BIO_free(pem);
	X509_free(device);
	X509_NAME_free(dname);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(other);
	ca_free(ca);
	return 0;
}
