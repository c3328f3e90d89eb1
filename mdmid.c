/* mdmid: device identity issuance for Apple MDM. main() picks the subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#ifndef MDMID_VERSION
#define MDMID_VERSION "0.1.0"
#endif

static const char usage[] =
	"usage: mdmid <command> [options]\n"
	"\n"
	"commands:\n"
	"  serve         serve SCEP (RFC 8894) over HTTP\n"
	"  ca init       create the CA and RA keys and certificates\n"
	"  ca import     import an existing CA (root or intermediate) with its chain\n"
	"  ca show       print the CA, the RA and the chain (no secret)\n"
	"  db migrate    create or update the PostgreSQL schema\n"
	"  challenge new mint a one-time challenge bound to a UDID\n"
	"  check         is this certificate this UDID's, and still good?\n"
	"  mdmsig verify which device identity signed this Mdm-Signature?\n"
	"  profile scep  a .mobileconfig that enrolls one device over SCEP\n"
	"  p12 export    PKCS#12 identities for devices that cannot run SCEP\n"
	"  revoke        revoke a certificate by serial and issue a new CRL\n"
	"  crl           issue a new CRL and write it\n"
	"  request       list, approve or deny requests held for approval\n"
	"  report expiring  certificates that expire soon (re-enroll them)\n"
	"  config check  validate a configuration and print the effective settings\n"
	"  version       print the version\n"
	"\n"
	"Every command takes --config FILE (default $MDMID_CONFIG) and --help.\n";

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("mdmid %s\n", MDMID_VERSION);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(cmd, "ca"))
		return cmd_ca(argc - 1, argv + 1);
	if (!strcmp(cmd, "db"))
		return cmd_db(argc - 1, argv + 1);
	if (!strcmp(cmd, "challenge"))
		return cmd_challenge(argc - 1, argv + 1);
	if (!strcmp(cmd, "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(cmd, "mdmsig"))
		return cmd_mdmsig(argc - 1, argv + 1);
	if (!strcmp(cmd, "profile"))
		return cmd_profile(argc - 1, argv + 1);
	if (!strcmp(cmd, "p12"))
		return cmd_p12(argc - 1, argv + 1);
	if (!strcmp(cmd, "revoke"))
		return cmd_revoke(argc - 1, argv + 1);
	if (!strcmp(cmd, "crl"))
		return cmd_crl(argc - 1, argv + 1);
	if (!strcmp(cmd, "request"))
		return cmd_request(argc - 1, argv + 1);
	if (!strcmp(cmd, "report"))
		return cmd_report(argc - 1, argv + 1);
	if (!strcmp(cmd, "config"))
		return cmd_config(argc - 1, argv + 1);
	fprintf(stderr, "mdmid: unknown command \"%s\"\n\n%s", cmd, usage);
	return EXIT_USAGE;
}
