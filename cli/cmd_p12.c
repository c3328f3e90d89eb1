/* mdmid p12 export: identities for devices that cannot run SCEP. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mdmid/ca.h"
#include "mdmid/fileutil.h"
#include "mdmid/p12_batch.h"
#include "mdmid/store.h"

static const char p12_usage[] =
	"usage: mdmid p12 export --udids FILE --out DIR [--profile legacy|modern]\n"
	"                        [--key rsa2048|rsa3072|rsa4096|ec-p256|ec-p384] [--jobs N]\n"
	"                        [--validity DAYS] [--mobileconfig] [--resume] [--config FILE]\n"
	"\n"
	"For each UDID of FILE (one per line, or a CSV whose first column is the UDID, with or\n"
	"without a udid header; # comments and blank lines ignored) generates a key, issues its\n"
	"certificate, records it, and writes DIR/<UDID>.p12 (0600) under a random password,\n"
	"with DIR/manifest.csv (0600): udid,file,serial,sha256,not_after,password.\n"
	"\n"
	"  --profile legacy  PBE-SHA1-3DES bags and a SHA-1 MAC, for older macOS and iOS (default)\n"
	"  --profile modern  PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256, SHA-256 MAC\n"
	"  --key K           the device key (default rsa2048)\n"
	"  --jobs N          worker threads, each with a database connection (default: one per\n"
	"                    core; at most 64)\n"
	"  --validity DAYS   certificate validity (default validity_days)\n"
	"  --mobileconfig    also DIR/<UDID>.mobileconfig with a com.apple.security.pkcs12 payload\n"
	"  --resume          resume the batch in DIR (rerunning the same command does too)\n"
	"\n"
	"An interrupted batch (even by kill -9) is finished by running it again: every device\n"
	"ends with one .p12 and one certificate row; rows whose key was lost are abandoned.\n"
	"Exit 0: all exported; 1: the run failed (rerun to resume); 2: bad arguments or input.\n";

static void report(void *cls, unsigned line, const char *what, const char *value)
{
	const char *file = cls;
	if (!strcmp(what, "duplicate"))
		fprintf(stderr, "mdmid p12 export: %s: duplicate UDID %s (line %u): exported once\n", file, value, line);
	else
		fprintf(stderr, "mdmid p12 export: %s: line %u: malformed UDID \"%s\" (40 hex digits, 8-16 hex digits or a "
				"UUID)\n",
			file, line, value);
}

static int p12_export_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"udids", required_argument, NULL, 'u'},
		{"out", required_argument, NULL, 'o'},    {"profile", required_argument, NULL, 'p'},
		{"key", required_argument, NULL, 'k'},    {"jobs", required_argument, NULL, 'j'},
		{"validity", required_argument, NULL, 'v'}, {"mobileconfig", no_argument, NULL, 'm'},
		{"resume", no_argument, NULL, 'r'},       {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	struct p12_batch_opts o = {.profile = P12_LEGACY, .key = "rsa2048"};
	struct p12_batch_stats stats;
	struct mdmid_config cfg;
	struct udid_list list = {0};
	struct ca *ca = NULL;
	struct store *st = NULL;
	const char *config = NULL, *udids = NULL, *profile = "legacy";
	unsigned char *text = NULL;
	size_t text_len = 0;
	unsigned long jobs = 0, validity = 0;
	char err[1024], *end;
	int c, rc = EXIT_USAGE, prof;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'u': udids = optarg; break;
		case 'o': o.out_dir = optarg; break;
		case 'p': profile = optarg; break;
		case 'k': o.key = optarg; break;
		case 'j':
		case 'v': {
			unsigned long v = strtoul(optarg, &end, 10);
			/* Each worker holds a database connection: 64 at most. */
			if (*end || end == optarg || v == 0 || v > (c == 'j' ? 64ul : 36500ul)) {
				fprintf(stderr, "mdmid p12 export: --%s %s: out of range\n", c == 'j' ? "jobs" : "validity", optarg);
				return EXIT_USAGE;
			}
			if (c == 'j')
				jobs = v;
			else
				validity = v;
			break;
		}
		case 'm': o.mobileconfig = true; break;
		case 'r': o.resume = true; break;
		case 'h': fputs(p12_usage, stdout); return EXIT_OK;
		default: fputs(p12_usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || !udids || !o.out_dir) {
		fputs(p12_usage, stderr);
		return EXIT_USAGE;
	}
	if ((prof = p12_profile_parse(profile)) < 0) {
		fprintf(stderr, "mdmid p12 export: --profile %s: expected legacy or modern\n", profile);
		return EXIT_USAGE;
	}
	o.profile = (enum p12_profile)prof;
	if (!p12_key_supported(o.key)) {
		fprintf(stderr, "mdmid p12 export: --key %s: expected rsa2048, rsa3072, rsa4096, ec-p256 or ec-p384\n",
			o.key);
		return EXIT_USAGE;
	}
	if (!(text = file_read_all(udids, 64u << 20, &text_len))) {
		fprintf(stderr, "mdmid p12 export: %s: unreadable or over 64 MiB\n", udids);
		return EXIT_USAGE;
	}
	if (udid_list_parse((const char *)text, text_len, &list, report, (void *)udids) < 0) {
		fprintf(stderr, "mdmid p12 export: out of memory\n");
		free(text);
		return EXIT_FAIL;
	}
	free(text);
	/* Malformed UDIDs become file names nowhere: nothing is done at all. */
	if (list.malformed || list.n == 0) {
		fprintf(stderr, "mdmid p12 export: %s: %s; nothing exported\n", udids,
			list.malformed ? "fix the malformed lines" : "no UDID");
		udid_list_free(&list);
		return EXIT_USAGE;
	}
	if (cli_load_config(config, &cfg) < 0) {
		udid_list_free(&list);
		return EXIT_USAGE;
	}
	{
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		o.jobs = jobs ? (unsigned)jobs : cores > 64 ? 64u : cores > 0 ? (unsigned)cores : 1u;
		if (o.jobs > list.n)
			o.jobs = (unsigned)list.n;
	}
	o.validity_days = validity ? (unsigned)validity : cfg.validity_days;
	o.conninfo = cfg.database;
	o.db_password = cfg.database_password;
	o.organization = cfg.profile_organization;
	rc = EXIT_FAIL;
	err[0] = '\0';
	if (ca_load(cfg.ca_dir, cfg.ca_key_passphrase, &ca, err, sizeof err) < 0) {
		fprintf(stderr, "mdmid p12 export: %s\n", err);
		goto out;
	}
	o.ca = ca;
	/* The database answers before anything is written. */
	if (!(st = store_new(cfg.database, cfg.database_password)) ||
	    store_issuer_put(st, ca_get0_cert(ca), "ca", &o.issuer_id, err, sizeof err) != MDMID_OK) {
		fprintf(stderr, "mdmid p12 export: %s; nothing exported\n", err[0] ? err : "out of memory");
		goto out;
	}
	store_free(st);
	st = NULL;
	rc = p12_batch_run(&o, &list, &stats, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "mdmid p12 export: %s\n", err);
	fprintf(stderr,
		"p12 export: %zu exported, %zu already done, %zu duplicate lines, %zu rows abandoned; %.1f s, %.1f "
		"identities/s\n",
		stats.exported, stats.already, list.duplicates, stats.abandoned, stats.seconds,
		stats.seconds > 0 ? (double)stats.exported / stats.seconds : 0.0);
out:
	store_free(st);
	ca_free(ca);
	config_free(&cfg);
	udid_list_free(&list);
	return rc;
}

int cmd_p12(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(p12_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (!strcmp(argv[1], "export"))
		return p12_export_main(argc - 1, argv + 1);
	fprintf(stderr, "mdmid p12: unknown subcommand \"%s\" (try: mdmid p12 export --help)\n", argv[1]);
	return EXIT_USAGE;
}
