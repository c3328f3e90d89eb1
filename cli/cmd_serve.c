/* mdmid serve: the SCEP listener in the foreground until SIGINT or SIGTERM. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include <openssl/provider.h>

#include "cli.h"
#include "mdmid/admin_http.h"
#include "mdmid/crl.h"
#include "mdmid/dbpool.h"
#include "mdmid/fileutil.h"
#include "mdmid/log.h"
#include "mdmid/scep_http.h"
#include "mdmid/scep_svc.h"

static const char serve_usage[] =
	"usage: mdmid serve [--config FILE]\n"
	"\n"
	"Serves SCEP (RFC 8894) at the configured scep_path and /cgi-bin/pkiclient.exe, and\n"
	"/healthz, on `listen`, and the admin API (bearer token) on `admin_listen`, until\n"
	"SIGINT or SIGTERM. Every key of the configuration file can be overridden by\n"
	"MDMID_<KEY>; see deploy/mdmid.conf.example.\n";

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	struct mdmid_config cfg;
	struct ca *ca = NULL;
	struct dbpool *db = NULL;
	struct scep_svc *svc = NULL;
	struct scep_http *http = NULL;
	struct admin_http *admin = NULL;
	struct crl_ctx *crls = NULL;
	size_t ncrl = 0;
	OSSL_PROVIDER *legacy = NULL, *deflt = NULL;
	const char *config = NULL;
	char err[1024];
	sigset_t sigs;
	int c, sig = 0, rc = EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'h': fputs(serve_usage, stdout); return EXIT_OK;
		default: fputs(serve_usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mdmid serve: unexpected argument \"%s\"\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (cli_load_config(config, &cfg) < 0)
		goto out;
	rc = EXIT_FAIL;
	if (cfg.allow_single_des) {
		/* OpenSSL 3 keeps DES-CBC in the legacy provider; loading it turns off
		 * the implicit default provider, so both are loaded. */
		if (!(deflt = OSSL_PROVIDER_load(NULL, "default")) || !(legacy = OSSL_PROVIDER_load(NULL, "legacy"))) {
			fprintf(stderr, "mdmid serve: allow_single_des needs OpenSSL's legacy provider, which did not load\n");
			goto out;
		}
		log_warn("msg=\"allow_single_des is on: single-DES requests are accepted (RFC 8894 forbids them)\"");
	}
	if (cfg.challenge && strcmp(cfg.challenge_mode, "dynamic") == 0)
		log_warn("msg=\"a static challenge is configured but challenge_mode = dynamic ignores it; set static or both\"");
	if (!cfg.challenge && strcmp(cfg.challenge_mode, "dynamic") != 0)
		log_warn("msg=\"challenge_mode %s without a static challenge (challenge_file or MDMID_CHALLENGE)\"",
			 cfg.challenge_mode);
	/* Worker threads inherit this mask, so only sigwait sees the signals. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	err[0] = '\0';
	if (ca_load(cfg.ca_dir, cfg.ca_key_passphrase, &ca, err, sizeof err) < 0 ||
	    !(db = dbpool_new(cfg.database, cfg.database_password)) ||
	    !(svc = scep_svc_new(&cfg, ca, db, err, sizeof err)) || !(http = scep_http_start(&cfg, svc, err, sizeof err)) ||
	    (cfg.admin_listen[0] && !(admin = admin_http_start(&cfg, ca, db, err, sizeof err)))) {
		fprintf(stderr, "mdmid serve: %s\n", err[0] ? err : "out of memory");
		goto out;
	}
	if (cfg.port_file[0]) {
		/* Line 1: the SCEP port; line 2: the admin port (0 when off). */
		char buf[32];
		int n = snprintf(buf, sizeof buf, "%u\n%u\n", scep_http_port(http), admin ? admin_http_port(admin) : 0);
		if (file_write_atomic(cfg.port_file, buf, (size_t)n, 0644) < 0) {
			fprintf(stderr, "mdmid serve: writing %s failed\n", cfg.port_file);
			goto out;
		}
	}
	log_info("event=start listen=%s port=%u scep_path=%s admin_port=%u challenge_mode=%s single_des=%s", cfg.listen,
		 scep_http_port(http), cfg.scep_path, admin ? admin_http_port(admin) : 0, cfg.challenge_mode,
		 cfg.allow_single_des ? "allowed" : "refused");
	if (crl_contexts(ca, dbpool_get(db), cfg.crl_validity_days, &crls, &ncrl, err, sizeof err) < 0)
		log_warn("msg=\"the CRLs cannot be kept fresh until the database answers\"");
	for (;;) {
		/* Every minute: a CRL past half of its life is replaced, for this CA
		 * and those it replaced, so that a valid one is always there for
		 * /crl, GetCRL and mdmid crl. */
		struct timespec minute = {.tv_sec = 60};
		sig = sigtimedwait(&sigs, NULL, &minute);
		if (sig < 0) {
			if (!crls)
				crl_contexts(ca, dbpool_get(db), cfg.crl_validity_days, &crls, &ncrl, err, sizeof err);
			for (size_t i = 0; i < ncrl; i++) {
				unsigned char *der = NULL;
				size_t len;
				crl_current(&crls[i], dbpool_get(db), &der, &len);
				free(der);
			}
			continue;
		}
		if (sig == SIGHUP) {
			log_info("event=sighup msg=\"configuration reload is not supported yet; restart to apply changes\"");
			continue;
		}
		break;
	}
	log_info("event=stop signal=%d", sig);
	rc = EXIT_OK;
out:
	/* Listeners first: their threads free their connections as they exit. */
	admin_http_stop(admin);
	scep_http_stop(http);
	scep_svc_free(svc);
	free(crls);
	dbpool_free(db);
	ca_free(ca);
	OSSL_PROVIDER_unload(legacy);
	OSSL_PROVIDER_unload(deflt);
	config_free(&cfg);
	return rc;
}
