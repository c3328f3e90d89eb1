/* mdmid mdmsig verify: which device identity signed this request body? */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "mdmid/ca.h"
#include "mdmid/fileutil.h"
#include "mdmid/mdmsig.h"

static const char mdmsig_usage[] =
	"usage: mdmid mdmsig verify --body FILE (--header VALUE | --header-file FILE) [--config FILE]\n"
	"\n"
	"Verifies an Mdm-Signature header (Base64 CMS detached SignedData) over a device's\n"
	"request body: the signature, the signer's chain to mdmid's CA with clientAuth, a\n"
	"signing-time within the signer's validity, and the signer's issuance row. Prints\n"
	"{\"valid\", \"reason\", \"serial\", \"sha256\", \"udid\", \"body_udid_matches\"} as JSON;\n"
	"exit 0 when valid, 1 when not, 2 on bad arguments, 3 when the database cannot answer.\n";

#define MDMSIG_MAX_BODY (1u << 20) /* as the admin API */

static int mdmsig_verify_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},      {"body", required_argument, NULL, 'b'},
		{"header", required_argument, NULL, 'H'},      {"header-file", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0}};
	struct mdmid_config cfg;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct mdmsig_verifier *v = NULL;
	struct mdmsig_result r;
	const char *config = NULL, *body_path = NULL, *header = NULL, *header_path = NULL;
	unsigned char *body = NULL, *header_buf = NULL;
	size_t body_len = 0, header_len = 0;
	char err[1024];
	char *json = NULL;
	json_t *obj;
	int c, rc = EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'b': body_path = optarg; break;
		case 'H': header = optarg; break;
		case 'F': header_path = optarg; break;
		case 'h': fputs(mdmsig_usage, stdout); return EXIT_OK;
		default: fputs(mdmsig_usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || !body_path || !header == !header_path) {
		fputs(mdmsig_usage, stderr);
		return EXIT_USAGE;
	}
	if (!(body = file_read_all(body_path, MDMSIG_MAX_BODY, &body_len))) {
		fprintf(stderr, "mdmid mdmsig verify: %s: unreadable or over 1 MiB\n", body_path);
		return EXIT_USAGE;
	}
	if (header_path) {
		if (!(header_buf = file_read_all(header_path, 1u << 20, &header_len))) {
			fprintf(stderr, "mdmid mdmsig verify: %s: unreadable or over 1 MiB\n", header_path);
			free(body);
			return EXIT_USAGE;
		}
		header = (const char *)header_buf;
	}
	if (cli_load_config(config, &cfg) < 0)
		goto out;
	rc = EXIT_USAGE + 1;
	err[0] = '\0';
	if (ca_load(cfg.ca_dir, cfg.ca_key_passphrase, &ca, err, sizeof err) < 0 || !(v = mdmsig_verifier_new(ca)) ||
	    !(st = store_new(cfg.database, cfg.database_password))) {
		fprintf(stderr, "mdmid mdmsig verify: %s\n", err[0] ? err : "out of memory");
		goto out;
	}
	if (mdmsig_verify(v, st, body, body_len, header, &r) != MDMID_OK) {
		fprintf(stderr, "mdmid mdmsig verify: the database could not answer (see the log above)\n");
		goto out;
	}
	obj = json_pack("{s:b, s:s, s:s?, s:s?, s:s?, s:o}", "valid", r.valid, "reason", r.reason, "serial",
			r.serial[0] ? r.serial : NULL, "sha256", r.sha256[0] ? r.sha256 : NULL, "udid",
			r.udid[0] ? r.udid : NULL, "body_udid_matches",
			r.body_udid_matches < 0 ? json_null() : json_boolean(r.body_udid_matches));
	json = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	printf("%s\n", json ? json : "{}");
	rc = r.valid ? EXIT_OK : EXIT_FAIL;
out:
	free(json);
	mdmsig_verifier_free(v);
	store_free(st);
	ca_free(ca);
	config_free(&cfg);
	free(body);
	free(header_buf);
	return rc;
}

int cmd_mdmsig(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(mdmsig_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (!strcmp(argv[1], "verify"))
		return mdmsig_verify_main(argc - 1, argv + 1);
	fprintf(stderr, "mdmid mdmsig: unknown subcommand \"%s\" (try: mdmid mdmsig verify --help)\n", argv[1]);
	return EXIT_USAGE;
}
