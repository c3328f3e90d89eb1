/* mdmid check: is this certificate this UDID's, and still good? */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <openssl/pem.h>

#include "cli.h"
#include "mdmid/store.h"
#include "mdmid/x509util.h"

static const char check_usage[] =
	"usage: mdmid check --udid UDID --cert FILE [--config FILE]\n"
	"\n"
	"The MDM's cross-check: exit 0 and \"match\" when FILE (PEM or DER) is a certificate mdmid\n"
	"issued to UDID, within its validity, neither revoked nor abandoned; exit 1 with the\n"
	"reason on stderr otherwise (unknown_certificate, other_udid, revoked, abandoned,\n"
	"not_yet_valid, expired); exit 2 on bad arguments, 3 when the database cannot answer.\n";

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "rb");
	X509 *x;

	if (!f)
		return NULL;
	if (!(x = PEM_read_X509(f, NULL, NULL, NULL))) {
		rewind(f);
		x = d2i_X509_fp(f, NULL);
	}
	fclose(f);
	return x;
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"udid", required_argument, NULL, 'u'},
		{"cert", required_argument, NULL, 'f'},   {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	struct mdmid_config cfg;
	struct store *st = NULL;
	const char *config = NULL, *udid = NULL, *path = NULL;
	char canon[UDID_MAX + 1], reason[32];
	unsigned char fp[32];
	bool match = false;
	X509 *x = NULL;
	int c, rc = EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'u': udid = optarg; break;
		case 'f': path = optarg; break;
		case 'h': fputs(check_usage, stdout); return EXIT_OK;
		default: fputs(check_usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || !udid || !path) {
		fputs(check_usage, stderr);
		return EXIT_USAGE;
	}
	if (udid_canonical(udid, canon) < 0) {
		fprintf(stderr, "mdmid check: --udid %s: %s\n", udid, mdmid_err_text(MDMID_ERR_UDID_INVALID));
		return EXIT_USAGE;
	}
	if (!(x = read_cert(path)) || !x509u_sha256(x, fp)) {
		fprintf(stderr, "mdmid check: %s: not a PEM or DER certificate\n", path);
		goto out_nocfg;
	}
	if (cli_load_config(config, &cfg) < 0)
		goto out;
	rc = EXIT_FAIL;
	if (!(st = store_new(cfg.database, cfg.database_password)) ||
	    store_identity_check(st, canon, fp, &match, reason, sizeof reason) != MDMID_OK) {
		fprintf(stderr, "mdmid check: the database could not answer (see the log above)\n");
		rc = EXIT_USAGE + 1; /* neither a match nor a refusal */
		goto out;
	}
	if (match) {
		printf("match\n");
		rc = EXIT_OK;
	} else {
		fprintf(stderr, "%s\n", reason);
	}
out:
	store_free(st);
	config_free(&cfg);
out_nocfg:
	X509_free(x);
	return rc;
}
