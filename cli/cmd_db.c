/* mdmid db migrate: apply the compiled-in schema migrations. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "mdmid/store.h"

static const char db_usage[] =
	"usage: mdmid db migrate [--config FILE]\n"
	"\n"
	"Applies the schema migrations this binary carries (sql/NNN_*.sql), each in one\n"
	"transaction, and records them in schema_migration; running it again changes nothing.\n"
	"The database is the configuration's `database` (a libpq conninfo; empty = PGHOST etc.).\n";

static void report(const char *name, int applied)
{
	printf("%s %s\n", applied ? "applied" : "present", name);
}

static int db_migrate_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	struct mdmid_config cfg;
	struct store *st = NULL;
	const char *config = NULL;
	char err[1024];
	int c, rc = EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'h': fputs(db_usage, stdout); return EXIT_OK;
		default: fputs(db_usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mdmid db migrate: unexpected argument \"%s\"\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (cli_load_config(config, &cfg) < 0)
		goto out;
	rc = EXIT_FAIL;
	if (!(st = store_new(cfg.database, cfg.database_password))) {
		fprintf(stderr, "mdmid db migrate: out of memory\n");
		goto out;
	}
	if (store_migrate(st, report, err, sizeof err) != MDMID_OK) {
		fprintf(stderr, "mdmid db migrate: %s\n", err);
		goto out;
	}
	rc = EXIT_OK;
out:
	store_free(st);
	config_free(&cfg);
	return rc;
}

int cmd_db(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(db_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (!strcmp(argv[1], "migrate"))
		return db_migrate_main(argc - 1, argv + 1);
	fprintf(stderr, "mdmid db: unknown subcommand \"%s\" (try: mdmid db migrate --help)\n", argv[1]);
	return EXIT_USAGE;
}
