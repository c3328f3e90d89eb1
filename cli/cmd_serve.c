/* mdmid serve: the SCEP listener in the foreground until SIGINT or SIGTERM. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/provider.h>
#include <systemd/sd-daemon.h>

#include "cli.h"
#include "mdmid/admin_http.h"
#include "mdmid/crl.h"
#include "mdmid/dbpool.h"
#include "mdmid/fileutil.h"
#include "mdmid/log.h"
#include "mdmid/scep_http.h"
#include "mdmid/scep_svc.h"
#include "mdmid/store.h"

static const char serve_usage[] =
	"usage: mdmid serve [--config FILE]\n"
	"\n"
	"Serves SCEP (RFC 8894) at the configured scep_path and /cgi-bin/pkiclient.exe, and\n"
	"/healthz, on `listen`, and the admin API (bearer token) on `admin_listen`, until\n"
	"SIGINT or SIGTERM. SIGHUP reloads the configuration: log_level, the static\n"
	"challenge, min_rsa_bits, allow_single_des, csr_subject, csr_san, validity_days,\n"
	"max_clock_skew_seconds, challenge_mode, static_udid_field,\n"
	"retransmission_window_seconds and require_approval take effect at once (turning\n"
	"allow_single_des on needs a restart unless it was on at start); other changed\n"
	"keys are logged as needing a restart.\n"
	"Under systemd (Type=notify) it sends READY=1 once the listeners are up and the\n"
	"database answered. Every key of the configuration file can be overridden by\n"
	"MDMID_<KEY>; see deploy/mdmid.conf.example.\n";

/* The keys of a configuration as config_each gives them, in table order. */
struct cfg_snapshot {
	char *names[128], *values[128];
	size_t n;
};

static void snapshot_add(void *cls, const char *name, const char *value, bool secret)
{
	struct cfg_snapshot *s = cls;
	(void)secret; /* config_each masks secrets; they are compared below */
	if (s->n < sizeof s->names / sizeof s->names[0]) {
		s->names[s->n] = strdup(name);
		s->values[s->n] = strdup(value);
		s->n++;
	}
}

static void snapshot_free(struct cfg_snapshot *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->names[i]);
		free(s->values[i]);
	}
	s->n = 0;
}

static int str_differs(const char *a, const char *b) { return (a == NULL) != (b == NULL) || (a && strcmp(a, b)); }

/* Appends name to a comma-separated list. */
static void list_add(char *list, size_t len, const char *name)
{
	size_t n = strlen(list);
	snprintf(list + n, len - n, "%s%s", n ? "," : "", name);
}

static void swap_str(char **a, char **b)
{
	char *t = *a;
	*a = *b;
	*b = t;
}

/* The keys SIGHUP applies besides log_level and the static challenge: the
 * issuance policy and the binding, which requests read from the settings
 * scep_svc_reload publishes. Every other key needs a restart. */
static const char *const reloadable[] = {
	"min_rsa_bits", "allow_single_des", "csr_subject", "csr_san", "validity_days", "max_clock_skew_seconds",
	"challenge_mode", "static_udid_field", "retransmission_window_seconds", "require_approval",
};

static bool is_reloadable(const char *key)
{
	for (size_t i = 0; i < sizeof reloadable / sizeof reloadable[0]; i++)
		if (!strcmp(key, reloadable[i]))
			return true;
	return false;
}

/*
 * SIGHUP: reads the configuration again. log_level, the static challenge
 * (challenge_file, MDMID_CHALLENGE) and the keys of `reloadable` are applied
 * at once, as one new version of the settings requests read (a request under
 * way keeps the version it started with); any other key that changed is named
 * in the log as needing a restart and keeps its running value, and so does
 * allow_single_des turned on when OpenSSL's legacy provider was not loaded at
 * start (legacy_loaded). An invalid configuration changes nothing. cfg holds
 * what runs.
 */
static void reload(const char *config, struct mdmid_config *cfg, struct scep_svc *svc, struct admin_http *admin,
		   bool legacy_loaded)
{
	struct mdmid_config ncfg;
	struct cfg_snapshot before = {0}, after = {0};
	char err[1024], applied[1024] = "", settings[512] = "", restart[1024] = "";
	bool challenge_changed, des_refused;
	int level;

	if (!config)
		config = getenv("MDMID_CONFIG");
	if (config && !*config)
		config = NULL;
	if (config_load(config, &ncfg, err, sizeof err) < 0) {
		char msg[1024];
		log_error("event=reload outcome=failure msg=\"%s; the running configuration is kept\"",
			  log_value(err, msg, sizeof msg));
		config_free(&ncfg);
		return;
	}
	if ((level = log_level_parse(ncfg.log_level)) < 0) {
		log_error("event=reload outcome=failure msg=\"log_level: expected debug, info, warn or error; the running "
			  "configuration is kept\"");
		config_free(&ncfg);
		return;
	}
	/* Single DES is decrypted by the legacy provider, loaded only at start. */
	des_refused = ncfg.allow_single_des && !cfg->allow_single_des && !legacy_loaded;
	config_each(cfg, snapshot_add, &before);
	config_each(&ncfg, snapshot_add, &after);
	for (size_t i = 0; i < before.n && i < after.n; i++) {
		const char *k = before.names[i];
		int changed = strcmp(before.values[i], after.values[i]) != 0;
		/* Secrets are compared themselves (config_each masks them). */
		if (!strcmp(k, "challenge") || !strcmp(k, "challenge_file") || !strcmp(k, "log_level"))
			continue;
		if (!strcmp(k, "admin_token"))
			changed = str_differs(cfg->admin_token, ncfg.admin_token);
		else if (!strcmp(k, "database_password"))
			changed = str_differs(cfg->database_password, ncfg.database_password);
		else if (!strcmp(k, "ca_key_passphrase"))
			changed = str_differs(cfg->ca_key_passphrase, ncfg.ca_key_passphrase);
		if (!changed)
			continue;
		if (is_reloadable(k) && !(des_refused && !strcmp(k, "allow_single_des")))
			list_add(settings, sizeof settings, k);
		else
			list_add(restart, sizeof restart, k);
	}
	snapshot_free(&before);
	snapshot_free(&after);
	if (des_refused)
		ncfg.allow_single_des = false; /* the running value */
	challenge_changed =
		str_differs(cfg->challenge, ncfg.challenge) || str_differs(cfg->challenge_file, ncfg.challenge_file);
	/* One new version of the settings (the static challenge included), built
	 * the way serve starts: refused as a whole, or published as a whole. */
	if ((settings[0] || challenge_changed) &&
	    (scep_svc_reload(svc, &ncfg, err, sizeof err) < 0 ||
	     (admin && settings[0] && admin_http_reload(admin, &ncfg, err, sizeof err) < 0))) {
		char msg[1024];
		log_error("event=reload outcome=failure msg=\"%s; the running configuration is kept\"",
			  log_value(err, msg, sizeof msg));
		config_free(&ncfg);
		return;
	}
	if (strcmp(cfg->log_level, ncfg.log_level) != 0) {
		log_set_level((enum log_level)level);
		swap_str(&cfg->log_level, &ncfg.log_level);
		list_add(applied, sizeof applied, "log_level");
	}
	if (challenge_changed) {
		swap_str(&cfg->challenge, &ncfg.challenge);
		swap_str(&cfg->challenge_file, &ncfg.challenge_file);
		list_add(applied, sizeof applied, "challenge");
	}
	if (settings[0]) {
		cfg->min_rsa_bits = ncfg.min_rsa_bits;
		cfg->allow_single_des = ncfg.allow_single_des;
		cfg->csr_subject = ncfg.csr_subject;
		cfg->csr_san = ncfg.csr_san;
		cfg->validity_days = ncfg.validity_days;
		cfg->max_clock_skew_seconds = ncfg.max_clock_skew_seconds;
		swap_str(&cfg->challenge_mode, &ncfg.challenge_mode);
		swap_str(&cfg->static_udid_field, &ncfg.static_udid_field);
		cfg->retransmission_window_seconds = ncfg.retransmission_window_seconds;
		cfg->require_approval = ncfg.require_approval;
		list_add(applied, sizeof applied, settings);
	}
	if ((challenge_changed || settings[0]) && !cfg->challenge && strcmp(cfg->challenge_mode, "dynamic") != 0)
		log_warn("event=reload msg=\"challenge_mode %s without a static challenge: static requests are refused\"",
			 cfg->challenge_mode);
	config_free(&ncfg); /* with the values swapped out of cfg */
	log_write(LOG_LEVEL_INFO > (enum log_level)level ? LOG_LEVEL_INFO : (enum log_level)level,
		  "event=reload outcome=success log_level=%s applied=\"%s\" restart_needed=\"%s\"", cfg->log_level,
		  applied[0] ? applied : "-", restart[0] ? restart : "-");
	if (des_refused)
		log_warn("event=reload msg=\"allow_single_des needs OpenSSL's legacy provider, loaded only at start: "
			 "restart to turn it on\"");
	if (restart[0])
		log_warn("event=reload msg=\"these keys changed but take effect only after a restart\" keys=\"%s\"",
			 restart);
}

/* Every minute: a CRL past half of its life is replaced, for this CA and
 * those it replaced, so that a valid one is always there for /crl, GetCRL
 * and mdmid crl. */
static void refresh_crls(const struct ca *ca, struct dbpool *db, unsigned validity_days, struct crl_ctx **crls,
			 size_t *ncrl)
{
	char err[256];
	if (!*crls)
		crl_contexts(ca, dbpool_get(db), validity_days, crls, ncrl, err, sizeof err);
	for (size_t i = 0; i < *ncrl; i++) {
		unsigned char *der = NULL;
		size_t len;
		crl_current(&(*crls)[i], dbpool_get(db), &der, &len);
		free(der);
	}
}

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
	if (crl_contexts(ca, dbpool_get(db), cfg.crl_validity_days, &crls, &ncrl, err, sizeof err) < 0)
		log_warn("msg=\"the CRLs cannot be kept fresh until the database answers\"");
	refresh_crls(ca, db, cfg.crl_validity_days, &crls, &ncrl);
	/* The listeners are up; systemd hears READY=1, and the port file (what
	 * tests and scripts wait for) appears, once the database answers and
	 * the CRLs are issued: no scrape or request sees a half-started server. */
	if (store_ping(dbpool_get(db), 5000, err, sizeof err) != MDMID_OK) {
		fprintf(stderr, "mdmid serve: the database does not answer: %s\n", err);
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
	sd_notifyf(0, "READY=1\nSTATUS=serving SCEP on port %u\nMAINPID=%lu", scep_http_port(http),
		   (unsigned long)getpid());
	for (;;) {
		struct timespec minute = {.tv_sec = 60};
		sig = sigtimedwait(&sigs, NULL, &minute);
		if (sig < 0) {
			refresh_crls(ca, db, cfg.crl_validity_days, &crls, &ncrl);
			continue;
		}
		if (sig == SIGHUP) {
			sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
			reload(config, &cfg, svc, admin, legacy != NULL);
			sd_notifyf(0, "READY=1\nSTATUS=serving SCEP on port %u", scep_http_port(http));
			continue;
		}
		break;
	}
	sd_notify(0, "STOPPING=1");
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
