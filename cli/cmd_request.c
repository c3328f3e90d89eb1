/* mdmid request list|approve|deny: requests held for approval (PENDING). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "mdmid/scep_msg.h"
#include "mdmid/store.h"

static const char request_usage[] =
	"usage: mdmid request list [--config FILE]\n"
	"       mdmid request approve TRANSACTION_ID [--config FILE]\n"
	"       mdmid request deny TRANSACTION_ID [--config FILE]\n"
	"\n"
	"Requests wait for an operator when require_approval is set, or when their one-time\n"
	"challenge was minted with --require-approval. The device polls (CertPoll) and gets\n"
	"PENDING until then; after approve its certificate, after deny a FAILURE (badRequest).\n"
	"Exit 0 done; 1 no pending request with that transaction ID, or the database failed;\n"
	"2 bad arguments.\n";

static void print_row(void *cls, const char *tid, int type, const char *udid, const char *subject, const char *since,
		      const char *peer)
{
	unsigned *n = cls;
	if ((*n)++ == 0)
		printf("transaction_id\tmessage_type\tudid\tsubject\tsince\tpeer\n");
	printf("%s\t%s\t%s\t%s\t%s\t%s\n", tid, scep_message_type_name(type), udid, subject, since, peer);
}

int cmd_request(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	struct mdmid_config cfg;
	struct store *st = NULL;
	const char *config = NULL, *verb;
	unsigned n = 0;
	int c, rc = EXIT_USAGE;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(request_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	verb = argv[1];
	argc--, argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'h': fputs(request_usage, stdout); return EXIT_OK;
		default: fputs(request_usage, stderr); return EXIT_USAGE;
		}
	}
	if (strcmp(verb, "list") && strcmp(verb, "approve") && strcmp(verb, "deny")) {
		fprintf(stderr, "mdmid request: unknown subcommand \"%s\"\n%s", verb, request_usage);
		return EXIT_USAGE;
	}
	if ((!strcmp(verb, "list") && optind != argc) || (strcmp(verb, "list") && optind + 1 != argc)) {
		fputs(request_usage, stderr);
		return EXIT_USAGE;
	}
	if (cli_load_config(config, &cfg) < 0)
		goto out;
	rc = EXIT_FAIL;
	if (!(st = store_new(cfg.database, cfg.database_password)))
		goto out;
	if (!strcmp(verb, "list")) {
		if (store_request_list(st, print_row, &n) != MDMID_OK)
			goto out;
		if (!n)
			fprintf(stderr, "no pending requests\n");
		rc = EXIT_OK;
	} else if (store_request_decide(st, argv[optind], !strcmp(verb, "approve"), &n) == MDMID_OK) {
		if (n) {
			printf("%s %s\n", !strcmp(verb, "approve") ? "approved" : "denied", argv[optind]);
			rc = EXIT_OK;
		} else {
			fprintf(stderr, "mdmid request %s: no pending request with transaction ID %s\n", verb, argv[optind]);
		}
	}
out:
	store_free(st);
	config_free(&cfg);
	return rc;
}
