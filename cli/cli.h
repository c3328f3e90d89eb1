/* The subcommands of the mdmid binary. Each returns the process exit code. */
#ifndef MDMID_CLI_H
#define MDMID_CLI_H

#include "mdmid/config.h"

/* Exit codes shared by every subcommand. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,      /* the operation failed */
	EXIT_USAGE = 2,     /* bad arguments or configuration */
};

int cmd_ca(int argc, char **argv);
int cmd_db(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_challenge(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_mdmsig(int argc, char **argv);
int cmd_profile(int argc, char **argv);
int cmd_p12(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_crl(int argc, char **argv);
int cmd_request(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* Loads --config FILE, or $MDMID_CONFIG, or defaults and the environment
 * alone; prints the error and returns -1 on failure. */
int cli_load_config(const char *path, struct mdmid_config *cfg);

#endif
