/* Configuration file and environment overrides, table-driven. */
#include "mdmid/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

enum cfg_type { CFG_STRING, CFG_BOOL, CFG_UINT, CFG_SECRET, CFG_SECRET_FILE };

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t offset;
	const char *def;
};

#define F(field) offsetof(struct mdmid_config, field)
static const struct cfg_key cfg_keys[] = {
	{"listen", CFG_STRING, F(listen), "127.0.0.1:8080"},
	{"scep_path", CFG_STRING, F(scep_path), "/scep"},
	{"database", CFG_STRING, F(database), ""},
	{"database_password_file", CFG_SECRET_FILE, F(database_password), NULL},
	{"database_password", CFG_SECRET, F(database_password), NULL},
	{"ca_dir", CFG_STRING, F(ca_dir), "/var/lib/mdmid/ca"},
	{"ca_key_passphrase_file", CFG_SECRET_FILE, F(ca_key_passphrase), NULL},
	{"ca_key_passphrase", CFG_SECRET, F(ca_key_passphrase), NULL},
	{"challenge_file", CFG_SECRET_FILE, F(challenge), NULL},
	{"challenge", CFG_SECRET, F(challenge), NULL},
	{"allow_single_des", CFG_BOOL, F(allow_single_des), "false"},
	{"advertise_post", CFG_BOOL, F(advertise_post), "true"},
	{"min_rsa_bits", CFG_UINT, F(min_rsa_bits), "2048"},
	{"max_clock_skew_seconds", CFG_UINT, F(max_clock_skew_seconds), "86400"},
	{"validity_days", CFG_UINT, F(validity_days), "365"},
	{"csr_subject", CFG_BOOL, F(csr_subject), "true"},
	{"csr_san", CFG_BOOL, F(csr_san), "true"},
	{"max_body_bytes", CFG_UINT, F(max_body_bytes), "65536"},
	{"body_timeout_seconds", CFG_UINT, F(body_timeout_seconds), "30"},
	{"idle_timeout_seconds", CFG_UINT, F(idle_timeout_seconds), "15"},
	{"max_connections", CFG_UINT, F(max_connections), "1000"},
	{"workers", CFG_UINT, F(workers), "0"},
	{"log_level", CFG_STRING, F(log_level), "info"},
	{"port_file", CFG_STRING, F(port_file), ""},
	{"trusted_proxies", CFG_STRING, F(trusted_proxies), ""},
	{"challenge_mode", CFG_STRING, F(challenge_mode), "dynamic"},
	{"challenge_ttl_seconds", CFG_UINT, F(challenge_ttl_seconds), "3600"},
	{"retransmission_window_seconds", CFG_UINT, F(retransmission_window_seconds), "86400"},
	{"require_approval", CFG_BOOL, F(require_approval), "false"},
	{"static_udid_field", CFG_STRING, F(static_udid_field), "CN"},
	{"crl_validity_days", CFG_UINT, F(crl_validity_days), "7"},
	{"admin_listen", CFG_STRING, F(admin_listen), "127.0.0.1:8081"},
	{"admin_token_file", CFG_SECRET_FILE, F(admin_token), NULL},
	{"admin_token", CFG_SECRET, F(admin_token), NULL},
	{"admin_max_body_bytes", CFG_UINT, F(admin_max_body_bytes), "1048576"},
	{"public_url", CFG_STRING, F(public_url), ""},
	{"profile_organization", CFG_STRING, F(profile_organization), "mdmid"},
	{"profile_ca_fingerprint", CFG_STRING, F(profile_ca_fingerprint), "none"},
	{"profile_key_size", CFG_UINT, F(profile_key_size), "2048"},
};

/* Where each *_file key keeps the path it named (for `mdmid config check`). */
static const struct {
	const char *name;
	size_t offset;
} cfg_file_paths[] = {
	{"database_password_file", F(database_password_file)},
	{"ca_key_passphrase_file", F(ca_key_passphrase_file)},
	{"challenge_file", F(challenge_file)},
	{"admin_token_file", F(admin_token_file)},
};
#undef F
#define CFG_NKEYS (sizeof cfg_keys / sizeof cfg_keys[0])

/* The offset of the path a *_file key keeps, or 0 for any other key. */
static size_t cfg_file_path_offset(const struct cfg_key *k)
{
	for (size_t i = 0; i < sizeof cfg_file_paths / sizeof cfg_file_paths[0]; i++)
		if (strcmp(cfg_file_paths[i].name, k->name) == 0)
			return cfg_file_paths[i].offset;
	return 0;
}

static const struct cfg_key *cfg_find(const char *name)
{
	for (size_t i = 0; i < CFG_NKEYS; i++)
		if (strcmp(cfg_keys[i].name, name) == 0)
			return &cfg_keys[i];
	return NULL;
}

static void secret_free(char **p)
{
	if (*p) {
		OPENSSL_cleanse(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

char *config_read_secret_file(const char *path, char *err, size_t errlen)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	if (ferror(f) || !feof(f)) {
		fclose(f);
		OPENSSL_cleanse(buf, sizeof buf);
		snprintf(err, errlen, "%s: unreadable or larger than %zu bytes", path, sizeof buf - 1);
		return NULL;
	}
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	if (n == 0) {
		snprintf(err, errlen, "%s: the secret file is empty", path);
		return NULL;
	}
	char *s = strdup(buf);
	OPENSSL_cleanse(buf, sizeof buf);
	if (!s)
		snprintf(err, errlen, "out of memory");
	return s;
}

/* Sets one key from a string. `from_env` allows CFG_SECRET values. */
static int cfg_set(struct mdmid_config *cfg, const struct cfg_key *k, const char *value, int from_env,
		   const char *where, char *err, size_t errlen)
{
	char *base = (char *)cfg;
	char *end;
	unsigned long v;

	switch (k->type) {
	case CFG_STRING: {
		char **slot = (char **)(void *)(base + k->offset);
		char *s = strdup(value);
		if (!s)
			goto nomem;
		free(*slot);
		*slot = s;
		return 0;
	}
	case CFG_BOOL: {
		bool *slot = (bool *)(base + k->offset);
		if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on") || !strcmp(value, "1"))
			*slot = true;
		else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "off") || !strcmp(value, "0"))
			*slot = false;
		else {
			snprintf(err, errlen, "%s: %s must be true or false, not \"%s\"", where, k->name, value);
			return -1;
		}
		return 0;
	}
	case CFG_UINT: {
		unsigned *slot = (unsigned *)(void *)(base + k->offset);
		errno = 0;
		v = strtoul(value, &end, 10);
		if (errno || !isdigit((unsigned char)value[0]) || *end || v > UINT_MAX) {
			snprintf(err, errlen, "%s: %s must be a non-negative integer, not \"%s\"", where, k->name, value);
			return -1;
		}
		*slot = (unsigned)v;
		return 0;
	}
	case CFG_SECRET: {
		char **slot = (char **)(void *)(base + k->offset);
		if (!from_env) {
			char env[64];
			size_t i;
			for (i = 0; k->name[i] && i + 1 < sizeof env; i++)
				env[i] = (char)toupper((unsigned char)k->name[i]);
			env[i] = '\0';
			snprintf(err, errlen, "%s: %s is a secret: put it in a file named by %s_file, or in MDMID_%s",
				 where, k->name, k->name, env);
			return -1;
		}
		secret_free(slot);
		if (!(*slot = strdup(value)))
			goto nomem;
		return 0;
	}
	case CFG_SECRET_FILE: {
		char **slot = (char **)(void *)(base + k->offset);
		size_t path_offset = cfg_file_path_offset(k);
		char **path_slot = path_offset ? (char **)(void *)(base + path_offset) : NULL;
		char sub[512], *path;
		if (!value[0])
			return 0;
		char *s = config_read_secret_file(value, sub, sizeof sub);
		if (!s) {
			snprintf(err, errlen, "%s: %s: %s", where, k->name, sub);
			return -1;
		}
		if (!(path = strdup(value))) {
			OPENSSL_cleanse(s, strlen(s));
			free(s);
			goto nomem;
		}
		secret_free(slot);
		*slot = s;
		if (path_slot) {
			free(*path_slot);
			*path_slot = path;
		} else {
			free(path);
		}
		return 0;
	}
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static char *trim(char *s)
{
	char *e;
	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int cfg_read_file(struct mdmid_config *cfg, const char *path, char *err, size_t errlen)
{
	char line[4096], where[600];
	unsigned lineno = 0;
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		char *key, *value, *eq;
		const struct cfg_key *k;

		lineno++;
		snprintf(where, sizeof where, "%s:%u", path, lineno);
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s: line too long", where);
			goto fail;
		}
		key = trim(line);
		if (!*key || *key == '#')
			continue;
		if (!(eq = strchr(key, '='))) {
			snprintf(err, errlen, "%s: expected key = value", where);
			goto fail;
		}
		*eq = '\0';
		key = trim(key);
		value = trim(eq + 1);
		/* Optional double quotes around a value. */
		size_t vl = strlen(value);
		if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
			value[vl - 1] = '\0';
			value++;
		}
		if (!(k = cfg_find(key))) {
			snprintf(err, errlen, "%s: unknown key \"%s\"", where, key);
			goto fail;
		}
		if (cfg_set(cfg, k, value, 0, where, err, errlen) < 0)
			goto fail;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto fail;
	}
	fclose(f);
	return 0;
fail:
	fclose(f);
	return -1;
}

/*
 * A listen address as the HTTP listener takes it: host:port or [v6]:port, the
 * host numeric (or empty: every address), the port from 0 (any free port) to
 * 65535. Writes the reason to why; returns -1 when it is not one.
 */
static int listen_check(const char *listen, const char **why)
{
	char host[256];
	const char *port, *sep;
	size_t hl;
	unsigned long p = 0;
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;

	*why = "expected host:port with a numeric address (127.0.0.1:8080, [::1]:8080)";
	if (listen[0] == '[') {
		if (!(sep = strchr(listen, ']')) || sep[1] != ':')
			return -1;
		hl = (size_t)(sep - listen - 1);
		if (hl == 0 || hl >= sizeof host)
			return -1;
		memcpy(host, listen + 1, hl);
		port = sep + 2;
	} else {
		if (!(sep = strrchr(listen, ':')))
			return -1;
		hl = (size_t)(sep - listen);
		if (hl >= sizeof host)
			return -1;
		memcpy(host, listen, hl);
		port = sep + 1;
	}
	host[hl] = '\0';
	if (!*port)
		return -1;
	for (const char *c = port; *c; c++) {
		if (!isdigit((unsigned char)*c) || p > 65535) {
			*why = "the port must be a number from 0 to 65535";
			return -1;
		}
		p = p * 10 + (unsigned long)(*c - '0');
	}
	if (p > 65535) {
		*why = "the port must be a number from 0 to 65535";
		return -1;
	}
	if (hl) {
		if (getaddrinfo(host, NULL, &hints, &ai) != 0)
			return -1;
		freeaddrinfo(ai);
	}
	return 0;
}

/* Values that parse but make no sense are refused here, not at first use. */
static int config_check_ranges(const struct mdmid_config *cfg, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		size_t offset;
		unsigned min, max;
	} ranges[] = {
		{"validity_days", offsetof(struct mdmid_config, validity_days), 1, 36500},
		{"min_rsa_bits", offsetof(struct mdmid_config, min_rsa_bits), 1024, 16384},
		{"max_body_bytes", offsetof(struct mdmid_config, max_body_bytes), 1024, 16u << 20},
		{"body_timeout_seconds", offsetof(struct mdmid_config, body_timeout_seconds), 1, 3600},
		{"idle_timeout_seconds", offsetof(struct mdmid_config, idle_timeout_seconds), 1, 3600},
		{"max_connections", offsetof(struct mdmid_config, max_connections), 1, 1000000},
		{"workers", offsetof(struct mdmid_config, workers), 0, 1024},
		{"challenge_ttl_seconds", offsetof(struct mdmid_config, challenge_ttl_seconds), 60, 30 * 86400},
		{"retransmission_window_seconds", offsetof(struct mdmid_config, retransmission_window_seconds), 0,
		 30 * 86400},
		{"admin_max_body_bytes", offsetof(struct mdmid_config, admin_max_body_bytes), 1024, 64u << 20},
		{"profile_key_size", offsetof(struct mdmid_config, profile_key_size), 2048, 4096},
		{"crl_validity_days", offsetof(struct mdmid_config, crl_validity_days), 1, 365},
	};
	const char *why;
	for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
		unsigned v = *(const unsigned *)(const void *)((const char *)cfg + ranges[i].offset);
		if (v < ranges[i].min || v > ranges[i].max) {
			snprintf(err, errlen, "%s = %u: must be between %u and %u", ranges[i].name, v, ranges[i].min,
				 ranges[i].max);
			return -1;
		}
	}
	if (listen_check(cfg->listen, &why) < 0) {
		snprintf(err, errlen, "listen = %s: %s", cfg->listen, why);
		return -1;
	}
	if (cfg->admin_listen[0] && listen_check(cfg->admin_listen, &why) < 0) {
		snprintf(err, errlen, "admin_listen = %s: %s (or \"\" to turn the admin API off)", cfg->admin_listen, why);
		return -1;
	}
	if (strcmp(cfg->challenge_mode, "dynamic") && strcmp(cfg->challenge_mode, "static") &&
	    strcmp(cfg->challenge_mode, "both")) {
		snprintf(err, errlen, "challenge_mode = %s: expected dynamic, static or both", cfg->challenge_mode);
		return -1;
	}
	if (strcmp(cfg->profile_ca_fingerprint, "none") && strcmp(cfg->profile_ca_fingerprint, "sha1") &&
	    strcmp(cfg->profile_ca_fingerprint, "sha256")) {
		snprintf(err, errlen, "profile_ca_fingerprint = %s: expected none, sha1 or sha256",
			 cfg->profile_ca_fingerprint);
		return -1;
	}
	if (cfg->public_url[0] && strncmp(cfg->public_url, "http://", 7) && strncmp(cfg->public_url, "https://", 8)) {
		snprintf(err, errlen, "public_url = %s: expected an http:// or https:// URL", cfg->public_url);
		return -1;
	}
	return 0;
}

int config_load(const char *path, struct mdmid_config *cfg, char *err, size_t errlen)
{
	char envname[128], where[160];

	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < CFG_NKEYS; i++)
		if (cfg_keys[i].def && cfg_set(cfg, &cfg_keys[i], cfg_keys[i].def, 1, "default", err, errlen) < 0)
			return -1;
	if (path) {
		if (!(cfg->path = strdup(path))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (cfg_read_file(cfg, path, err, errlen) < 0)
			return -1;
	}
	/* The environment wins over the file. A *_file key comes before its secret
	 * in the table, so MDMID_CHALLENGE beats MDMID_CHALLENGE_FILE. */
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		const char *v;
		size_t j = 0;
		j = (size_t)snprintf(envname, sizeof envname, "MDMID_");
		for (const char *p = cfg_keys[i].name; *p && j + 1 < sizeof envname; p++)
			envname[j++] = (char)toupper((unsigned char)*p);
		envname[j] = '\0';
		if (!(v = getenv(envname)))
			continue;
		snprintf(where, sizeof where, "environment %s", envname);
		if (cfg_set(cfg, &cfg_keys[i], v, 1, where, err, errlen) < 0)
			return -1;
	}
	if (cfg->challenge && !cfg->challenge[0])
		secret_free(&cfg->challenge);
	if (proxy_list_parse(cfg->trusted_proxies, &cfg->proxies, err, errlen) < 0)
		return -1;
	return config_check_ranges(cfg, err, errlen);
}

void config_free(struct mdmid_config *cfg)
{
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		char **slot = (char **)(void *)((char *)cfg + cfg_keys[i].offset);
		if (cfg_keys[i].type == CFG_STRING)
			free(*slot), *slot = NULL;
		else if (cfg_keys[i].type == CFG_SECRET)
			secret_free(slot);
	}
	for (size_t i = 0; i < sizeof cfg_file_paths / sizeof cfg_file_paths[0]; i++) {
		char **slot = (char **)(void *)((char *)cfg + cfg_file_paths[i].offset);
		free(*slot);
		*slot = NULL;
	}
	free(cfg->path);
	cfg->path = NULL;
}

void config_each(const struct mdmid_config *cfg, config_each_fn *fn, void *cls)
{
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		const void *slot = (const char *)cfg + k->offset;
		char num[24];
		const char *s;

		switch (k->type) {
		case CFG_STRING:
			s = *(char *const *)slot;
			fn(cls, k->name, s ? s : "", false);
			break;
		case CFG_BOOL:
			fn(cls, k->name, *(const bool *)slot ? "true" : "false", false);
			break;
		case CFG_UINT:
			snprintf(num, sizeof num, "%u", *(const unsigned *)slot);
			fn(cls, k->name, num, false);
			break;
		case CFG_SECRET:
			fn(cls, k->name, *(char *const *)slot ? "********" : "", true);
			break;
		case CFG_SECRET_FILE: {
			size_t off = cfg_file_path_offset(k);
			const char *path = off ? *(char *const *)(const void *)((const char *)cfg + off) : NULL;
			fn(cls, k->name, path ? path : "", false);
			break;
		}
		}
	}
}

void config_public_url(const struct mdmid_config *cfg, char *buf, size_t len)
{
	if (cfg->public_url[0])
		snprintf(buf, len, "%s", cfg->public_url);
	else
		snprintf(buf, len, "http://%s%s", cfg->listen, cfg->scep_path);
}
