/* mdmid config check: validate a configuration and print the effective settings. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/provider.h>

#include "cli.h"
#include "mdmid/policy.h"

static const char config_usage[] =
	"usage: mdmid config check [--config FILE]\n"
	"\n"
	"Loads the configuration as serve does (the defaults, then FILE, then the MDMID_<KEY>\n"
	"environment variables), checks it as serve would, and prints the effective value of\n"
	"every key, one \"key = value\" per line, in the file's syntax (an empty value as \"\").\n"
	"A *_file key shows the file it names; a key whose value is itself a secret shows\n"
	"******** when it is set. Warnings go to stderr.\n"
	"\n"
	"  --config FILE   the configuration (default $MDMID_CONFIG; without either, the\n"
	"                  defaults and the environment)\n"
	"\n"
	"Exit 0: valid; 2: bad arguments or an invalid configuration (the message names the\n"
	"key, and the file and line when it comes from the file).\n";

/* Prints one setting; a value that would not read back the same is quoted,
 * and control characters (from the environment) never break the line. */
static void print_setting(void *cls, const char *name, const char *value, bool secret)
{
	size_t n = strlen(value);
	int quote = n == 0 || value[0] == ' ' || value[0] == '\t' || value[n - 1] == ' ' || value[n - 1] == '\t' ||
		    (value[0] == '"' && n >= 2 && value[n - 1] == '"');

	(void)cls;
	(void)secret; /* config_each already masks secrets */
	printf("%s = %s", name, quote ? "\"" : "");
	for (const char *p = value; *p; p++)
		putchar((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p);
	printf("%s\n", quote ? "\"" : "");
}

static void warn(const char *msg)
{
	fprintf(stderr, "mdmid config check: warning: %s\n", msg);
}

/*
 * What serve refuses after config_load has accepted the values: the static
 * UDID field, the admin token, the legacy provider for single DES. Returns -1
 * with a message naming the key.
 */
static int check_for_serve(const struct mdmid_config *cfg)
{
	struct policy pol;
	char err[512], msg[1100];

	if (policy_from_config(&pol, cfg, cfg->challenge, err, sizeof err) < 0) {
		fprintf(stderr, "mdmid config check: %s\n", err);
		return -1;
	}
	if (cfg->admin_listen[0] && (!cfg->admin_token || strlen(cfg->admin_token) < 16)) {
		fprintf(stderr,
			"mdmid config check: admin_listen = %s: the admin API needs a token of at least 16 characters "
			"(admin_token_file, or MDMID_ADMIN_TOKEN); %s; set admin_listen = \"\" to turn it off\n",
			cfg->admin_listen, cfg->admin_token ? "admin_token is too short" : "admin_token is not set");
		return -1;
	}
	if (cfg->allow_single_des) {
		OSSL_PROVIDER *deflt = OSSL_PROVIDER_load(NULL, "default");
		OSSL_PROVIDER *legacy = deflt ? OSSL_PROVIDER_load(NULL, "legacy") : NULL;
		int loaded = legacy != NULL;
		OSSL_PROVIDER_unload(legacy);
		OSSL_PROVIDER_unload(deflt);
		if (!loaded) {
			fprintf(stderr, "mdmid config check: allow_single_des = true needs OpenSSL's legacy provider, which "
					"did not load\n");
			return -1;
		}
		warn("allow_single_des = true: single-DES requests are accepted (RFC 8894 forbids them); keep it off "
		     "in production");
	}
	if (cfg->challenge && !strcmp(cfg->challenge_mode, "dynamic"))
		warn("a static challenge is configured but challenge_mode = dynamic ignores it; set static or both");
	if (!cfg->challenge && strcmp(cfg->challenge_mode, "dynamic")) {
		snprintf(msg, sizeof msg, "challenge_mode = %s without a static challenge (challenge_file or "
					  "MDMID_CHALLENGE): only one-time challenges can work",
			 cfg->challenge_mode);
		warn(msg);
	}
	if (cfg->scep_path[0] != '/') {
		snprintf(msg, sizeof msg, "scep_path = %s does not start with /: only /cgi-bin/pkiclient.exe will answer",
			 cfg->scep_path);
		warn(msg);
	}
	snprintf(err, sizeof err, "%s/ca.pem", cfg->ca_dir);
	if (access(err, R_OK) != 0) {
		snprintf(msg, sizeof msg, "ca_dir = %s: no readable ca.pem there (mdmid ca init creates it)", cfg->ca_dir);
		warn(msg);
	}
	return 0;
}

static int config_check_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	struct mdmid_config cfg;
	const char *config = NULL;
	int c, rc = EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'h': fputs(config_usage, stdout); return EXIT_OK;
		default: fputs(config_usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mdmid config check: unexpected argument \"%s\"\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (cli_load_config(config, &cfg) < 0 || check_for_serve(&cfg) < 0)
		goto out;
	config_each(&cfg, print_setting, NULL);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "mdmid config check: writing to stdout failed\n");
		rc = EXIT_FAIL;
		goto out;
	}
	fprintf(stderr, "mdmid config check: valid (%s%s and the environment)\n", cfg.path ? cfg.path : "the defaults",
		cfg.path ? ", the defaults" : "");
	rc = EXIT_OK;
out:
	config_free(&cfg);
	return rc;
}

int cmd_config(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(config_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (!strcmp(argv[1], "check"))
		return config_check_main(argc - 1, argv + 1);
	fprintf(stderr, "mdmid config: unknown subcommand \"%s\" (try: mdmid config check --help)\n", argv[1]);
	return EXIT_USAGE;
}
