/*
 * Configuration: one `key = value` file, every key overridable by the
 * environment variable MDMID_<KEY> (upper case). Secrets never come from the
 * file itself: only from a *_file key naming a file, or from the environment.
 */
#ifndef MDMID_CONFIG_H
#define MDMID_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "mdmid/client_addr.h"

struct mdmid_config {
	char *path;                 /* the file read, or NULL */
	char *listen;               /* host:port; port 0 = any free port */
	char *scep_path;            /* /scep */
	char *database;             /* libpq conninfo; "" = libpq's environment */
	char *database_password;    /* secret, or NULL */
	char *ca_dir;
	char *ca_key_passphrase;    /* secret, or NULL */
	char *challenge;            /* static challenge secret, or NULL */
	bool allow_single_des;
	bool advertise_post;
	unsigned min_rsa_bits;
	unsigned max_clock_skew_seconds; /* signingTime tolerance (badTime beyond it); 0 = off */
	unsigned validity_days;
	bool csr_subject;
	bool csr_san;
	unsigned max_body_bytes;
	unsigned body_timeout_seconds;
	unsigned idle_timeout_seconds;
	unsigned max_connections;
	unsigned workers;           /* 0 = one per core */
	char *log_level;
	char *port_file;            /* serve writes the bound port here */
	char *trusted_proxies;      /* whose X-Forwarded-For names the client; "" = none */
	struct proxy_list proxies;  /* trusted_proxies, parsed by config_load */
	/* Device binding */
	char *challenge_mode;       /* dynamic | static | both */
	unsigned retransmission_window_seconds; /* a retransmitted PKCSReq gets its certificate again */
	bool require_approval;      /* every request waits (PENDING) for an operator */
	unsigned challenge_ttl_seconds;
	char *static_udid_field;    /* where static mode finds the UDID: CN, ..., SAN:DNS */
	unsigned crl_validity_days; /* nextUpdate - thisUpdate of the CRL */
	/* Admin API */
	char *admin_listen;         /* host:port; "" = no admin listener */
	char *admin_token;          /* secret */
	unsigned admin_max_body_bytes;
	/* Profiles */
	char *public_url;           /* the SCEP URL devices use; "" = http://<listen><scep_path> */
	char *profile_organization;
	char *profile_ca_fingerprint; /* none | sha1 | sha256 */
	unsigned profile_key_size;
	/* The files the secrets above were read from (the *_file keys), or NULL:
	 * shown by `mdmid config check`, never the secrets themselves. */
	char *database_password_file;
	char *ca_key_passphrase_file;
	char *challenge_file;
	char *admin_token_file;
};

/*
 * Loads defaults, then `path` (may be NULL: defaults and environment only),
 * then the environment. On failure writes a message naming the file, line
 * and key to err and returns -1; cfg must still be passed to config_free.
 */
int config_load(const char *path, struct mdmid_config *cfg, char *err, size_t errlen);
void config_free(struct mdmid_config *cfg);

/* The SCEP URL devices use: public_url, or http://<listen><scep_path>. */
void config_public_url(const struct mdmid_config *cfg, char *buf, size_t len);

/*
 * Calls fn once for every configuration key, in the order of the key table,
 * with its value in cfg as text: a string as it is, a boolean as "true" or
 * "false", a number in decimal, a *_file key as the path it names ("" when
 * none). A secret is never handed out: for a key whose value is itself a
 * secret (challenge, admin_token, ...) value is "********" when it is set and
 * "" when not, and secret is true.
 */
typedef void config_each_fn(void *cls, const char *name, const char *value, bool secret);
void config_each(const struct mdmid_config *cfg, config_each_fn *fn, void *cls);

/* Reads a whole small file (a secret) with the trailing newline removed. */
char *config_read_secret_file(const char *path, char *err, size_t errlen);

#endif
