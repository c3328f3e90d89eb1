/* mdmid profile scep: a .mobileconfig that enrolls one device over SCEP. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "mdmid/ca.h"
#include "mdmid/fileutil.h"
#include "mdmid/profile.h"

static const char profile_usage[] =
	"usage: mdmid profile scep --udid UDID [--out FILE] [--config FILE]\n"
	"\n"
	"Writes a .mobileconfig for UDID: the CA certificate payloads and a\n"
	"com.apple.security.scep payload (URL = public_url, Subject with the UDID, a fresh\n"
	"one-time Challenge bound to UDID, Keysize, Key Type RSA, Key Usage 5, CAFingerprint\n"
	"when profile_ca_fingerprint is set). PayloadUUIDs are stable per UDID. The profile\n"
	"holds a secret: --out writes it 0600; without --out it goes to stdout.\n";

int cmd_profile(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"udid", required_argument, NULL, 'u'},
		{"out", required_argument, NULL, 'o'},    {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	struct mdmid_config cfg;
	struct ca *ca = NULL;
	struct store *st = NULL;
	struct policy pol;
	struct profile_opts po;
	const char *config = NULL, *udid = NULL, *out = NULL;
	char canon[UDID_MAX + 1], url[512], err[1024], *xml = NULL;
	size_t len = 0;
	int c, rc = EXIT_USAGE;
	enum mdmid_err e;

	if (argc < 2 || strcmp(argv[1], "scep") != 0) {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			fputs(profile_usage, stdout);
			return EXIT_OK;
		}
		fputs(profile_usage, stderr);
		return EXIT_USAGE;
	}
	argc--, argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'u': udid = optarg; break;
		case 'o': out = optarg; break;
		case 'h': fputs(profile_usage, stdout); return EXIT_OK;
		default: fputs(profile_usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || !udid) {
		fputs(profile_usage, stderr);
		return EXIT_USAGE;
	}
	if (udid_canonical(udid, canon) < 0) {
		fprintf(stderr, "mdmid profile scep: --udid %s: %s\n", udid, mdmid_err_text(MDMID_ERR_UDID_INVALID));
		return EXIT_USAGE;
	}
	if (cli_load_config(config, &cfg) < 0)
		goto out;
	rc = EXIT_FAIL;
	err[0] = '\0';
	if (policy_from_config(&pol, &cfg, cfg.challenge, err, sizeof err) < 0 ||
	    ca_load(cfg.ca_dir, cfg.ca_key_passphrase, &ca, err, sizeof err) < 0 ||
	    !(st = store_new(cfg.database, cfg.database_password))) {
		fprintf(stderr, "mdmid profile scep: %s\n", err[0] ? err : "out of memory");
		goto out;
	}
	config_public_url(&cfg, url, sizeof url);
	po = (struct profile_opts){.url = url, .organization = cfg.profile_organization,
				   .ca_fingerprint = cfg.profile_ca_fingerprint, .key_size = cfg.profile_key_size,
				   .challenge_ttl = cfg.challenge_ttl_seconds, .policy = &pol};
	if ((e = profile_scep(ca, st, &po, canon, &xml, &len)) != MDMID_OK) {
		fprintf(stderr, "mdmid profile scep: %s\n", mdmid_err_text(e));
		goto out;
	}
	if (out) {
		if (file_write_atomic(out, xml, len, 0600) < 0) {
			fprintf(stderr, "mdmid profile scep: writing %s failed\n", out);
			goto out;
		}
	} else if (fwrite(xml, 1, len, stdout) != len) {
		goto out;
	}
	rc = EXIT_OK;
out:
	if (xml) {
		OPENSSL_cleanse(xml, len);
		free(xml);
	}
	store_free(st);
	ca_free(ca);
	config_free(&cfg);
	return rc;
}
