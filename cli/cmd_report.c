/* mdmid report expiring: what must be re-enrolled before it expires. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "mdmid/duration.h"
#include "mdmid/store.h"

static const char report_usage[] =
	"usage: mdmid report expiring [--within DURATION] [--config FILE]\n"
	"\n"
	"Prints the certificates still issued (neither revoked nor abandoned) whose notAfter\n"
	"falls within DURATION from now (default 30d; 90s, 30m, 1h, 30d), soonest first: one\n"
	"line per certificate, tab separated: udid, serial, not_after (UTC), method. These\n"
	"devices must be re-enrolled (or renew) before then. Exit 0 (also when none is\n"
	"listed), 1 when the database failed, 2 on bad arguments.\n";

static void print_row(void *cls, const char *udid, const char *serial, const char *not_after, const char *method)
{
	unsigned *n = cls;
	printf("%s\t%s\t%s\t%s\n", udid, serial, not_after, method);
	(*n)++;
}

static int report_expiring(int argc, char **argv)
{
	static const struct option opts[] = {{"within", required_argument, NULL, 'w'},
					     {"config", required_argument, NULL, 'c'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	struct mdmid_config cfg;
	struct store *st = NULL;
	const char *config = NULL, *within = "30d";
	unsigned long seconds;
	unsigned n = 0;
	char err[1024] = "";
	int c, rc = EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'w': within = optarg; break;
		case 'c': config = optarg; break;
		case 'h': fputs(report_usage, stdout); return EXIT_OK;
		default: fputs(report_usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mdmid report expiring: unexpected argument \"%s\"\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (duration_parse(within, &seconds) < 0 || seconds == 0) {
		fprintf(stderr, "mdmid report expiring: --within %s: expected a duration such as 30d, 12h or 90m\n", within);
		return EXIT_USAGE;
	}
	if (cli_load_config(config, &cfg) < 0)
		goto out;
	rc = EXIT_FAIL;
	if (!(st = store_new(cfg.database, cfg.database_password)) || store_connect(st, err, sizeof err) != MDMID_OK) {
		fprintf(stderr, "mdmid report expiring: %s\n", err[0] ? err : "out of memory");
		goto out;
	}
	if (store_expiring(st, seconds, print_row, &n) != MDMID_OK) {
		fprintf(stderr, "mdmid report expiring: the database failed (see the log line above)\n");
		goto out;
	}
	fprintf(stderr, "%u certificate%s expire%s within %s\n", n, n == 1 ? "" : "s", n == 1 ? "s" : "", within);
	rc = EXIT_OK;
out:
	store_free(st);
	config_free(&cfg);
	return rc;
}

int cmd_report(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(report_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (!strcmp(argv[1], "expiring"))
		return report_expiring(argc - 1, argv + 1);
	fprintf(stderr, "mdmid report: unknown report \"%s\" (try: mdmid report expiring --help)\n", argv[1]);
	return EXIT_USAGE;
}
