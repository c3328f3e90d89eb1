/* mdmid challenge new: mint a one-time challenge bound to a UDID. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "mdmid/challenge.h"
#include "mdmid/duration.h"
#include "mdmid/store.h"

static const char challenge_usage[] =
	"usage: mdmid challenge new --udid UDID [--ttl DURATION] [--subject RFC2253] [--require-approval]\n"
	"                           [--config FILE]\n"
	"\n"
	"Mints a one-time SCEP challenge bound to UDID and prints it alone on stdout: the value\n"
	"for the Challenge of a com.apple.security.scep payload. Only its SHA-256 is stored.\n"
	"The first PKCSReq that presents it consumes it; its certificate row carries the UDID.\n"
	"\n"
	"  --udid UDID      40 hex digits, 8-16 hex digits, or a UUID (any case)\n"
	"  --ttl DURATION   lifetime: 90s, 30m, 1h, 7d (default challenge_ttl_seconds, 1h)\n"
	"  --subject S      only a CSR with exactly this subject (RFC 2253, e.g. \"CN=x,O=y\") may use it\n"
	"  --require-approval  the request it authorises waits (PENDING) for mdmid request approve\n";

static int challenge_new_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"udid", required_argument, NULL, 'u'},
		{"ttl", required_argument, NULL, 't'},    {"subject", required_argument, NULL, 's'},
		{"require-approval", no_argument, NULL, 'a'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	struct mdmid_config cfg;
	struct store *st = NULL;
	struct challenge_minted m;
	bool approval = false;
	const char *config = NULL, *udid = NULL, *ttl = NULL, *subject = NULL;
	unsigned long ttl_seconds = 0;
	char canon[UDID_MAX + 1];
	int c, rc = EXIT_USAGE;
	enum mdmid_err e;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'u': udid = optarg; break;
		case 't': ttl = optarg; break;
		case 's': subject = optarg; break;
		case 'a': approval = true; break;
		case 'h': fputs(challenge_usage, stdout); return EXIT_OK;
		default: fputs(challenge_usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || !udid) {
		fprintf(stderr, "mdmid challenge new: %s\n", udid ? "unexpected argument" : "--udid is required");
		return EXIT_USAGE;
	}
	if (udid_canonical(udid, canon) < 0) {
		fprintf(stderr, "mdmid challenge new: --udid %s: %s\n", udid, mdmid_err_text(MDMID_ERR_UDID_INVALID));
		return EXIT_USAGE;
	}
	if (ttl && (duration_parse(ttl, &ttl_seconds) < 0 || ttl_seconds < 60 || ttl_seconds > 30 * 86400)) {
		fprintf(stderr, "mdmid challenge new: --ttl %s: expected a duration from 60s to 30d (90s, 30m, 1h, 7d)\n",
			ttl);
		return EXIT_USAGE;
	}
	if (cli_load_config(config, &cfg) < 0)
		goto out;
	rc = EXIT_FAIL;
	if (!(st = store_new(cfg.database, cfg.database_password))) {
		fprintf(stderr, "mdmid challenge new: out of memory\n");
		goto out;
	}
	e = challenge_mint(st, canon, subject, ttl ? (unsigned)ttl_seconds : cfg.challenge_ttl_seconds, approval, &m);
	if (e != MDMID_OK) {
		fprintf(stderr, "mdmid challenge new: %s\n", mdmid_err_text(e));
		goto out;
	}
	printf("%s\n", m.secret);
	fprintf(stderr, "challenge for %s expires at %s\n", canon, m.expires_at);
	OPENSSL_cleanse(m.secret, sizeof m.secret);
	rc = EXIT_OK;
out:
	store_free(st);
	config_free(&cfg);
	return rc;
}

int cmd_challenge(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(challenge_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (!strcmp(argv[1], "new"))
		return challenge_new_main(argc - 1, argv + 1);
	fprintf(stderr, "mdmid challenge: unknown subcommand \"%s\" (try: mdmid challenge new --help)\n", argv[1]);
	return EXIT_USAGE;
}
