/* mdmid ca init: create the CA (and the RA) key pairs and certificates. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mdmid/ca.h"
#include "mdmid/ca_rollover.h"

static const char ca_usage[] =
	"usage: mdmid ca init [--config FILE] [--dir DIR] [--subject /CN=...] [--bits N] [--days N]\n"
	"                     [--no-ra] [--force]\n"
	"       mdmid ca rollover [--config FILE] [--subject /CN=...] [--bits N] [--days N]\n"
	"       mdmid ca activate [--config FILE]\n"
	"\n"
	"Creates a self-signed CA (keyUsage keyCertSign, cRLSign) and, unless --no-ra, an RA\n"
	"certificate signed by it (digitalSignature, keyEncipherment) whose key decrypts SCEP\n"
	"requests and signs CertReps. With --no-ra the CA certificate carries all four usages\n"
	"and does both. Keys are RSA, written 0600 (encrypted when ca_key_passphrase is set).\n"
	"\n"
	"  --config FILE   configuration (default $MDMID_CONFIG); its ca_dir is the default --dir\n"
	"  --dir DIR       where ca.pem, ca.key, ra.pem, ra.key go\n"
	"  --subject S     CA subject, OpenSSL form (default \"/CN=mdmid CA\")\n"
	"  --bits N        RSA key size, 2048 or more (default 3072)\n"
	"  --days N        validity in days (default 3650)\n"
	"  --no-ra         CA-only mode: one certificate for everything\n"
	"  --force         replace an existing CA in DIR\n"
	"\n"
	"rollover makes the next CA (and RA) in ca_dir/next, with a cross-certificate from the\n"
	"current CA (next/cross.pem); serve then advertises GetNextCACert and hands it out.\n"
	"activate makes it the issuing CA; the old one moves to ca_dir/previous/<time> and stays\n"
	"trusted for renewals and Mdm-Signature. Restart serve after either.\n";

static int ca_init_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"dir", required_argument, NULL, 'd'},
		{"subject", required_argument, NULL, 's'}, {"bits", required_argument, NULL, 'b'},
		{"days", required_argument, NULL, 'D'},   {"no-ra", no_argument, NULL, 'n'},
		{"force", no_argument, NULL, 'f'},         {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	struct ca_init_opts o = {.subject = "/CN=mdmid CA", .bits = 3072, .days = 3650};
	struct mdmid_config cfg;
	const char *config = NULL, *dir = NULL;
	char err[1024], *end;
	int c, rc = EXIT_USAGE;
	unsigned long v;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'd': dir = optarg; break;
		case 's': o.subject = optarg; break;
		case 'b':
		case 'D':
			v = strtoul(optarg, &end, 10);
			if (*end || end == optarg || v == 0 || v > 100000) {
				fprintf(stderr, "mdmid ca init: --%s %s: not a positive number\n", c == 'b' ? "bits" : "days",
					optarg);
				return EXIT_USAGE;
			}
			if (c == 'b')
				o.bits = (unsigned)v;
			else
				o.days = (unsigned)v;
			break;
		case 'n': o.no_ra = true; break;
		case 'f': o.force = true; break;
		case 'h': fputs(ca_usage, stdout); return EXIT_OK;
		default: fputs(ca_usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mdmid ca init: unexpected argument \"%s\"\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (cli_load_config(config, &cfg) < 0)
		goto out;
	o.dir = dir ? dir : cfg.ca_dir;
	o.passphrase = cfg.ca_key_passphrase;
	if (ca_init(&o, err, sizeof err) < 0) {
		fprintf(stderr, "mdmid ca init: %s\n", err);
		rc = EXIT_FAIL;
		goto out;
	}
	printf("created %s CA in %s: ca.pem, ca.key%s\n", o.no_ra ? "a CA-only" : "an RA-mode", o.dir,
	       o.no_ra ? "" : ", ra.pem, ra.key");
	rc = EXIT_OK;
out:
	config_free(&cfg);
	return rc;
}

static int ca_rollover_main(int argc, char **argv, int activate)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"subject", required_argument, NULL, 's'},
		{"bits", required_argument, NULL, 'b'},   {"days", required_argument, NULL, 'D'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	struct mdmid_config cfg;
	const char *config = NULL, *subject = NULL;
	unsigned bits = 3072, days = 3650;
	char err[1024], *end;
	int c, rc = EXIT_USAGE;
	unsigned long v;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 's': subject = optarg; break;
		case 'b':
		case 'D':
			v = strtoul(optarg, &end, 10);
			if (*end || end == optarg || v == 0 || v > 100000 || activate) {
				fprintf(stderr, "mdmid ca: --%s %s: not allowed here or not a positive number\n",
					c == 'b' ? "bits" : "days", optarg);
				return EXIT_USAGE;
			}
			if (c == 'b')
				bits = (unsigned)v;
			else
				days = (unsigned)v;
			break;
		case 'h': fputs(ca_usage, stdout); return EXIT_OK;
		default: fputs(ca_usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || (activate && subject)) {
		fputs(ca_usage, stderr);
		return EXIT_USAGE;
	}
	if (cli_load_config(config, &cfg) < 0)
		goto out;
	rc = EXIT_FAIL;
	if (activate ? ca_activate(cfg.ca_dir, err, sizeof err) < 0
		     : ca_rollover(cfg.ca_dir, cfg.ca_key_passphrase, subject, bits, days, err, sizeof err) < 0) {
		fprintf(stderr, "mdmid ca %s: %s\n", activate ? "activate" : "rollover", err);
		goto out;
	}
	printf(activate ? "the next CA in %s is now the issuing CA; the old one is in %s/previous (restart serve)\n"
			: "the next CA is in %s/next, cross-certified by the current one (restart serve)\n",
	       cfg.ca_dir, cfg.ca_dir);
	rc = EXIT_OK;
out:
	config_free(&cfg);
	return rc;
}

int cmd_ca(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(ca_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (!strcmp(argv[1], "init"))
		return ca_init_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "rollover"))
		return ca_rollover_main(argc - 1, argv + 1, 0);
	if (!strcmp(argv[1], "activate"))
		return ca_rollover_main(argc - 1, argv + 1, 1);
	fprintf(stderr, "mdmid ca: unknown subcommand \"%s\" (try: mdmid ca init --help)\n", argv[1]);
	return EXIT_USAGE;
}
