/* mdmid revoke and mdmid crl: revocation and the CRL from the command line. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mdmid/ca.h"
#include "mdmid/crl.h"
#include "mdmid/fileutil.h"

static const char revoke_usage[] =
	"usage: mdmid revoke SERIAL [--reason REASON] [--config FILE]\n"
	"\n"
	"Revokes the certificate with this serial (hex, as openssl x509 -serial prints it) and\n"
	"issues a new CRL. REASON: unspecified (default), keyCompromise, cACompromise,\n"
	"affiliationChanged, superseded, cessationOfOperation, certificateHold,\n"
	"privilegeWithdrawn, aACompromise. Exit 0 revoked; 1 unknown serial, already revoked,\n"
	"or the database failed; 2 bad arguments.\n";

static const char crl_usage[] =
	"usage: mdmid crl [--out FILE] [--config FILE]\n"
	"\n"
	"Issues a new CRL (signed by the CA, with a CRL number from PostgreSQL and nextUpdate\n"
	"crl_validity_days ahead) and writes it in DER to FILE atomically, or to stdout.\n";

/* Loads the configuration, the CA and the CA's issuer id. */
static int open_ca(const char *config, struct mdmid_config *cfg, struct ca **ca, struct store **st,
		   struct crl_ctx *c, const char *cmd)
{
	char err[1024] = "";

	if (cli_load_config(config, cfg) < 0)
		return EXIT_USAGE;
	if (ca_load(cfg->ca_dir, cfg->ca_key_passphrase, ca, err, sizeof err) < 0 ||
	    !(*st = store_new(cfg->database, cfg->database_password)) ||
	    store_issuer_put(*st, ca_get0_cert(*ca), "ca", &c->issuer_id, err, sizeof err) != MDMID_OK) {
		fprintf(stderr, "mdmid %s: %s\n", cmd, err[0] ? err : "out of memory");
		return EXIT_FAIL;
	}
	c->ca = *ca;
	c->signer = -1;
	c->validity_days = cfg->crl_validity_days;
	return EXIT_OK;
}

/* "serial=4E:6F..." or "4e6f..." to lower-case hex without separators. */
static int normalize_serial(const char *in, char out[41])
{
	size_t n = 0;
	if (!strncmp(in, "serial=", 7))
		in += 7;
	for (; *in; in++) {
		if (*in == ':')
			continue;
		if (!isxdigit((unsigned char)*in) || n >= 40)
			return -1;
		out[n++] = (char)tolower((unsigned char)*in);
	}
	out[n] = '\0';
	return n >= 2 ? 0 : -1;
}

int cmd_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"reason", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	struct mdmid_config cfg;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct crl_ctx c = {0};
	const char *config = NULL, *reason = "unspecified";
	char serial[41];
	int ch, rc;
	enum mdmid_err e;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'r': reason = optarg; break;
		case 'h': fputs(revoke_usage, stdout); return EXIT_OK;
		default: fputs(revoke_usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || normalize_serial(argv[optind], serial) < 0) {
		fprintf(stderr, "mdmid revoke: %s\n%s", optind < argc ? "the serial must be hex" : "SERIAL is required",
			revoke_usage);
		return EXIT_USAGE;
	}
	if (!crl_reason_valid(reason)) {
		fprintf(stderr, "mdmid revoke: --reason %s: %s\n", reason, mdmid_err_text(MDMID_ERR_BAD_REASON));
		return EXIT_USAGE;
	}
	if ((rc = open_ca(config, &cfg, &ca, &st, &c, "revoke")) == EXIT_OK) {
		struct crl_ctx *all = NULL;
		size_t n = 0;
		char err[512];
		/* Every CA's context: the certificate may be of a CA a rollover replaced. */
		if (crl_contexts(ca, st, cfg.crl_validity_days, &all, &n, err, sizeof err) < 0) {
			fprintf(stderr, "mdmid revoke: %s\n", err);
			rc = EXIT_FAIL;
		} else if ((e = crl_revoke(all, n, st, serial, reason)) == MDMID_OK) {
			printf("revoked %s (%s)\n", serial, reason);
		} else {
			fprintf(stderr, "mdmid revoke: %s: %s\n", serial,
				e == MDMID_ERR_BAD_CERT_ID ? "no certificate with this serial" : mdmid_err_text(e));
			rc = EXIT_FAIL;
		}
		free(all);
	}
	store_free(st);
	ca_free(ca);
	config_free(&cfg);
	return rc;
}

int cmd_crl(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"out", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	struct mdmid_config cfg;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct crl_ctx c = {0};
	const char *config = NULL, *out = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	int64_t number, t1, t2, n2;
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'o': out = optarg; break;
		case 'h': fputs(crl_usage, stdout); return EXIT_OK;
		default: fputs(crl_usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(crl_usage, stderr);
		return EXIT_USAGE;
	}
	if ((rc = open_ca(config, &cfg, &ca, &st, &c, "crl")) != EXIT_OK)
		goto out;
	rc = EXIT_FAIL;
	if (crl_issue(&c, st, &number) != MDMID_OK ||
	    store_crl_latest(st, c.issuer_id, &der, &len, &t1, &t2, &n2) != MDMID_OK || !der) {
		fprintf(stderr, "mdmid crl: the CRL could not be issued (see the log above)\n");
		goto out;
	}
	if (out ? file_write_atomic(out, der, len, 0644) < 0 : fwrite(der, 1, len, stdout) != len) {
		fprintf(stderr, "mdmid crl: writing %s failed\n", out ? out : "stdout");
		goto out;
	}
	if (out)
		fprintf(stderr, "CRL number %lld written to %s\n", (long long)n2, out);
	rc = EXIT_OK;
out:
	free(der);
	store_free(st);
	ca_free(ca);
	config_free(&cfg);
	return rc;
}
