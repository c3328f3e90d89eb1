/* mdmid ca init|import|show|rollover|activate: the CA (and the RA) key pairs and certificates. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cli.h"
#include "mdmid/ca.h"
#include "mdmid/ca_rollover.h"
#include "mdmid/x509util.h"

static const char ca_usage[] =
	"usage: mdmid ca init [--config FILE] [--dir DIR] [--subject /CN=...] [--bits N] [--days N]\n"
	"                     [--no-ra] [--force]\n"
	"       mdmid ca import --cert FILE --key FILE [--chain FILE] [--config FILE] [--dir DIR]\n"
	"                       [--bits N] [--days N] [--no-ra] [--force]\n"
	"       mdmid ca show [--config FILE] [--dir DIR]\n"
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
	"import takes an existing CA, root or intermediate: --cert its certificate, --key its\n"
	"key (PEM; an encrypted key is read with ca_key_passphrase), --chain the issuers above\n"
	"it up to the root, in order. The key must be the certificate's, the certificate a CA\n"
	"with keyCertSign, within its validity, and each certificate of the chain signed by the\n"
	"next. ca.pem gets the certificate and the chain (GetCACert answers the RA, the CA and\n"
	"the chain), ca.key the key (0600); unless --no-ra, a new RA key (--bits) and an RA\n"
	"certificate signed by the imported CA (--days, never past the CA's notAfter).\n"
	"\n"
	"show prints the CA, the RA and the chain: subject, issuer, serial, validity, SHA-256\n"
	"fingerprint and key type and size. It reads only the certificates.\n"
	"\n"
	"rollover makes the next CA (and RA) in ca_dir/next, with a cross-certificate from the\n"
	"current CA (next/cross.pem); serve then advertises GetNextCACert and hands it out.\n"
	"activate makes it the issuing CA; the old one moves to ca_dir/previous/<time> and stays\n"
	"trusted for renewals and Mdm-Signature. Restart serve after either.\n";

/* --bits (c 'b') or --days: a positive number up to 100000 into *out. */
static bool positive_arg(const char *cmd, int c, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(optarg, &end, 10);
	if (*end || end == optarg || v == 0 || v > 100000) {
		fprintf(stderr, "mdmid ca %s: --%s %s: not a positive number\n", cmd, c == 'b' ? "bits" : "days", optarg);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

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
	char err[1024];
	int c, rc = EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'd': dir = optarg; break;
		case 's': o.subject = optarg; break;
		case 'b':
		case 'D':
			if (!positive_arg("init", c, c == 'b' ? &o.bits : &o.days))
				return EXIT_USAGE;
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

static int ca_import_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"dir", required_argument, NULL, 'd'},
		{"cert", required_argument, NULL, 'C'},   {"key", required_argument, NULL, 'K'},
		{"chain", required_argument, NULL, 'H'},  {"bits", required_argument, NULL, 'b'},
		{"days", required_argument, NULL, 'D'},   {"no-ra", no_argument, NULL, 'n'},
		{"force", no_argument, NULL, 'f'},        {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	struct ca_import_opts o = {.ra_bits = 3072, .ra_days = 3650};
	struct mdmid_config cfg;
	const char *config = NULL, *dir = NULL;
	char err[1024], warning[512];
	int c, rc = EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'd': dir = optarg; break;
		case 'C': o.cert = optarg; break;
		case 'K': o.key = optarg; break;
		case 'H': o.chain = optarg; break;
		case 'b':
		case 'D':
			if (!positive_arg("import", c, c == 'b' ? &o.ra_bits : &o.ra_days))
				return EXIT_USAGE;
			break;
		case 'n': o.no_ra = true; break;
		case 'f': o.force = true; break;
		case 'h': fputs(ca_usage, stdout); return EXIT_OK;
		default: fputs(ca_usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || !o.cert || !o.key) {
		fprintf(stderr, "mdmid ca import: --cert FILE and --key FILE are required\n");
		return EXIT_USAGE;
	}
	if (cli_load_config(config, &cfg) < 0)
		goto out;
	o.dir = dir ? dir : cfg.ca_dir;
	o.passphrase = cfg.ca_key_passphrase;
	if (ca_import(&o, warning, sizeof warning, err, sizeof err) < 0) {
		fprintf(stderr, "mdmid ca import: %s\n", err);
		rc = EXIT_FAIL;
		goto out;
	}
	if (warning[0])
		fprintf(stderr, "mdmid ca import: warning: %s\n", warning);
	printf("imported the CA into %s: ca.pem (with its chain), ca.key%s\n", o.dir, o.no_ra ? "" : ", a new ra.pem, ra.key");
	rc = EXIT_OK;
out:
	config_free(&cfg);
	return rc;
}

/* One certificate's public facts, prefixed "what." on each line. */
static void show_cert(const char *what, X509 *x)
{
	unsigned char fp[32];
	char hex[65], serial[80] = "?", *subject = x509u_name_oneline(X509_get_subject_name(x));
	char *issuer = x509u_name_oneline(X509_get_issuer_name(x));
	EVP_PKEY *pk = X509_get0_pubkey(x);
	BIO *b = BIO_new(BIO_s_mem());
	char nb[64] = "?", na[64] = "?";
	int n;

	if (b && ASN1_TIME_print_ex(b, X509_get0_notBefore(x), ASN1_DTFLGS_ISO8601) > 0 &&
	    (n = BIO_read(b, nb, sizeof nb - 1)) > 0)
		nb[n] = '\0';
	BIO_reset(b);
	if (b && ASN1_TIME_print_ex(b, X509_get0_notAfter(x), ASN1_DTFLGS_ISO8601) > 0 &&
	    (n = BIO_read(b, na, sizeof na - 1)) > 0)
		na[n] = '\0';
	BIO_free(b);
	x509u_serial_hex(X509_get0_serialNumber(x), serial, sizeof serial);
	hex[0] = '\0';
	if (x509u_sha256(x, fp))
		x509u_hex(fp, sizeof fp, hex);
	printf("%s.subject = %s\n", what, subject ? subject : "?");
	printf("%s.issuer = %s\n", what, issuer ? issuer : "?");
	printf("%s.serial = %s\n", what, serial);
	printf("%s.not_before = %s\n", what, nb);
	printf("%s.not_after = %s\n", what, na);
	printf("%s.sha256 = %s\n", what, hex);
	printf("%s.key = %s %d\n", what, pk && EVP_PKEY_get0_type_name(pk) ? EVP_PKEY_get0_type_name(pk) : "?", pk ? EVP_PKEY_get_bits(pk) : 0);
	free(subject);
	free(issuer);
}

static int ca_show_main(int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"dir", required_argument, NULL, 'd'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	struct mdmid_config cfg;
	const char *config = NULL, *dir = NULL;
	char path[4096];
	STACK_OF(X509) *chain = NULL;
	X509 *ca = NULL, *ra = NULL;
	FILE *f;
	int c, rc = EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'd': dir = optarg; break;
		case 'h': fputs(ca_usage, stdout); return EXIT_OK;
		default: fputs(ca_usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mdmid ca show: unexpected argument \"%s\"\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (cli_load_config(config, &cfg) < 0)
		goto out;
	rc = EXIT_FAIL;
	if (!dir)
		dir = cfg.ca_dir;
	/* Certificates only: no key is opened. */
	snprintf(path, sizeof path, "%s/ca.pem", dir);
	if (!(chain = sk_X509_new_null()) || !(f = fopen(path, "r"))) {
		fprintf(stderr, "mdmid ca show: %s: cannot be read\n", path);
		goto out;
	}
	ca = PEM_read_X509(f, NULL, NULL, NULL);
	for (X509 *x; ca && (x = PEM_read_X509(f, NULL, NULL, NULL));)
		sk_X509_push(chain, x);
	fclose(f);
	ERR_clear_error();
	if (!ca) {
		fprintf(stderr, "mdmid ca show: %s: no PEM certificate\n", path);
		goto out;
	}
	printf("dir = %s\n", dir);
	show_cert("ca", ca);
	snprintf(path, sizeof path, "%s/ra.pem", dir);
	if ((f = fopen(path, "r"))) {
		ra = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
		ERR_clear_error();
	}
	printf("mode = %s\n", ra ? "ra" : "ca-only");
	if (ra)
		show_cert("ra", ra);
	printf("chain = %d\n", sk_X509_num(chain));
	for (int i = 0; i < sk_X509_num(chain); i++) {
		char what[32];
		snprintf(what, sizeof what, "chain.%d", i + 1);
		show_cert(what, sk_X509_value(chain, i));
	}
	snprintf(path, sizeof path, "%s/next/ca.pem", dir);
	printf("next = %s\n", access(path, F_OK) == 0 ? "present (rollover in progress)" : "none");
	rc = EXIT_OK;
out:
	X509_free(ca);
	X509_free(ra);
	sk_X509_pop_free(chain, X509_free);
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
	if (!strcmp(argv[1], "import"))
		return ca_import_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "show"))
		return ca_show_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "rollover"))
		return ca_rollover_main(argc - 1, argv + 1, 0);
	if (!strcmp(argv[1], "activate"))
		return ca_rollover_main(argc - 1, argv + 1, 1);
	fprintf(stderr, "mdmid ca: unknown subcommand \"%s\" (try: mdmid ca init --help)\n", argv[1]);
	return EXIT_USAGE;
}
