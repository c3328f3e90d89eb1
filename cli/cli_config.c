/* Configuration loading shared by the subcommands. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "mdmid/log.h"

int cli_load_config(const char *path, struct mdmid_config *cfg)
{
	char err[1024];
	int level;

	if (!path)
		path = getenv("MDMID_CONFIG");
	if (path && !*path)
		path = NULL;
	if (config_load(path, cfg, err, sizeof err) < 0) {
		fprintf(stderr, "mdmid: %s\n", err);
		return -1;
	}
	if ((level = log_level_parse(cfg->log_level)) < 0) {
		fprintf(stderr, "mdmid: log_level = %s: expected debug, info, warn or error\n", cfg->log_level);
		return -1;
	}
	log_set_level((enum log_level)level);
	return 0;
}
