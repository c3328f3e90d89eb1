/*
 * test_config.c - config_load: defaults, the key = value file, environment
 * overrides, and secrets that may come only from a *_file key or from the
 * environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mdmid/config.h"
#include "unit_util.h"

extern char **environ;

static struct {
	char dir[256];
	char conf[300];    /* the config file most tests write */
	char secret[300];  /* a secret file */
} F;

/* Every MDMID_* variable the developer's shell may have set: gone, so the
 * defaults are the defaults. */
static void clear_mdmid_env(void)
{
	char names[64][64];
	size_t n = 0;

	for (char **e = environ; *e && n < 64; e++) {
		const char *eq = strchr(*e, '=');
		if (!strncmp(*e, "MDMID_", 6) && eq && (size_t)(eq - *e) < sizeof names[0]) {
			memcpy(names[n], *e, (size_t)(eq - *e));
			names[n++][eq - *e] = '\0';
		}
	}
	for (size_t i = 0; i < n; i++)
		unsetenv(names[i]);
}

static int group_setup(void **state)
{
	(void)state;
	clear_mdmid_env();
	if (!ut_mkdtemp(F.dir, sizeof F.dir, "config"))
		return -1;
	snprintf(F.conf, sizeof F.conf, "%s/mdmid.conf", F.dir);
	snprintf(F.secret, sizeof F.secret, "%s/secret", F.dir);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (F.dir[0])
		ut_rm_rf(F.dir);
	return 0;
}

/* Each test starts with no MDMID_* environment and ends without one. */
static int per_test(void **state)
{
	(void)state;
	clear_mdmid_env();
	return 0;
}

static void write_conf(const char *text)
{
	assert_int_equal(ut_write_file(F.conf, text, strlen(text)), 1);
}

static void write_secret(const char *text)
{
	assert_int_equal(ut_write_file(F.secret, text, strlen(text)), 1);
}

/* Loads F.conf expecting success. */
static void load_ok(const char *path, struct mdmid_config *c)
{
	char err[512] = "";
	int rc = config_load(path, c, err, sizeof err);
	if (rc != 0)
		fail_msg("config_load failed: %s", err);
}

/* Loads F.conf expecting failure; err receives the message. */
static void load_fails(struct mdmid_config *c, char *err, size_t errlen)
{
	err[0] = '\0';
	assert_int_equal(config_load(F.conf, c, err, errlen), -1);
	assert_true(err[0] != '\0');
	config_free(c);
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static void defaults(void **state)
{
	struct mdmid_config c;
	(void)state;

	load_ok(NULL, &c);
	assert_null(c.path);
	assert_string_equal(c.listen, "127.0.0.1:8080");
	assert_string_equal(c.scep_path, "/scep");
	assert_string_equal(c.database, "");
	assert_null(c.database_password);
	assert_string_equal(c.ca_dir, "/var/lib/mdmid/ca");
	assert_null(c.ca_key_passphrase);
	assert_null(c.challenge);
	assert_false(c.allow_single_des);
	assert_true(c.advertise_post);
	assert_int_equal(c.min_rsa_bits, 2048);
	assert_int_equal(c.validity_days, 365);
	assert_true(c.csr_subject);
	assert_true(c.csr_san);
	assert_int_equal(c.max_body_bytes, 65536);
	assert_int_equal(c.body_timeout_seconds, 30);
	assert_int_equal(c.idle_timeout_seconds, 15);
	assert_int_equal(c.max_connections, 1000);
	assert_int_equal(c.workers, 0);
	assert_string_equal(c.log_level, "info");
	assert_string_equal(c.port_file, "");
	config_free(&c);
	assert_null(c.listen);
	assert_null(c.path);
}

static void empty_file_gives_defaults(void **state)
{
	struct mdmid_config c;
	(void)state;

	write_conf("");
	load_ok(F.conf, &c);
	assert_string_equal(c.path, F.conf);
	assert_string_equal(c.listen, "127.0.0.1:8080");
	assert_int_equal(c.min_rsa_bits, 2048);
	config_free(&c);
}

static void values(void **state)
{
	struct mdmid_config c;
	(void)state;

	write_conf("listen = 0.0.0.0:9000\n"
		   "scep_path=/cgi-bin/pkiclient.exe\n"
		   "database = host=/run/postgresql dbname=mdmid\n"
		   "ca_dir = /etc/mdmid/ca\n"
		   "allow_single_des = yes\n"
		   "advertise_post = off\n"
		   "min_rsa_bits = 3072\n"
		   "validity_days = 30\n"
		   "csr_subject = 0\n"
		   "csr_san = false\n"
		   "max_body_bytes = 131072\n"
		   "body_timeout_seconds = 5\n"
		   "idle_timeout_seconds = 7\n"
		   "max_connections = 50000\n"
		   "workers = 4\n"
		   "log_level = debug\n"
		   "port_file = /tmp/port\n");
	load_ok(F.conf, &c);
	assert_string_equal(c.path, F.conf);
	assert_string_equal(c.listen, "0.0.0.0:9000");
	assert_string_equal(c.scep_path, "/cgi-bin/pkiclient.exe");
	/* only the first '=' separates key from value */
	assert_string_equal(c.database, "host=/run/postgresql dbname=mdmid");
	assert_string_equal(c.ca_dir, "/etc/mdmid/ca");
	assert_true(c.allow_single_des);
	assert_false(c.advertise_post);
	assert_int_equal(c.min_rsa_bits, 3072);
	assert_int_equal(c.validity_days, 30);
	assert_false(c.csr_subject);
	assert_false(c.csr_san);
	assert_int_equal(c.max_body_bytes, 131072);
	assert_int_equal(c.body_timeout_seconds, 5);
	assert_int_equal(c.idle_timeout_seconds, 7);
	assert_int_equal(c.max_connections, 50000);
	assert_int_equal(c.workers, 4);
	assert_string_equal(c.log_level, "debug");
	assert_string_equal(c.port_file, "/tmp/port");
	config_free(&c);
}

static void bool_spellings(void **state)
{
	const char *t[] = {"true", "yes", "on", "1"}, *f[] = {"false", "no", "off", "0"};
	char text[64];
	struct mdmid_config c;
	(void)state;

	for (size_t i = 0; i < 4; i++) {
		snprintf(text, sizeof text, "allow_single_des = %s\ncsr_san = %s\n", t[i], f[i]);
		write_conf(text);
		load_ok(F.conf, &c);
		assert_true(c.allow_single_des);
		assert_false(c.csr_san);
		config_free(&c);
	}
}

static void quotes(void **state)
{
	struct mdmid_config c;
	(void)state;

	write_conf("listen = \"127.0.0.1:1\"\n"
		   "scep_path = \"  /a b  \"\n"
		   "log_level = \"\"\n"
		   "database = \"dbname=x\n"
		   "ca_dir = \"\n"
		   "validity_days = \"7\"\n");
	load_ok(F.conf, &c);
	assert_string_equal(c.listen, "127.0.0.1:1");
	/* spaces inside the quotes are kept */
	assert_string_equal(c.scep_path, "  /a b  ");
	assert_string_equal(c.log_level, "");
	/* an unbalanced quote is part of the value */
	assert_string_equal(c.database, "\"dbname=x");
	assert_string_equal(c.ca_dir, "\"");
	assert_int_equal(c.validity_days, 7);
	config_free(&c);
}

static void comments_and_blanks(void **state)
{
	struct mdmid_config c;
	(void)state;

	write_conf("# mdmid configuration\n"
		   "\n"
		   "   \t\n"
		   "   # indented comment = with an equals sign\n"
		   "#listen = 1.2.3.4:5\n"
		   "\tvalidity_days\t=\t42\t\r\n"
		   "# challenge = not a secret in a comment\n"
		   "log_level = warn"); /* no final newline */
	load_ok(F.conf, &c);
	assert_string_equal(c.listen, "127.0.0.1:8080");
	assert_int_equal(c.validity_days, 42);
	assert_string_equal(c.log_level, "warn");
	assert_null(c.challenge);
	config_free(&c);
}

static void unknown_key_names_file_and_line(void **state)
{
	struct mdmid_config c;
	char err[512], want[400];
	(void)state;

	write_conf("# comment\n"
		   "listen = 127.0.0.1:1\n"
		   "bogus_key = 1\n");
	load_fails(&c, err, sizeof err);
	snprintf(want, sizeof want, "%s:3", F.conf);
	assert_contains(err, want);
	assert_contains(err, "bogus_key");

	/* Keys are case-sensitive, and not the environment's names. */
	write_conf("LISTEN = 1.2.3.4:5\n");
	load_fails(&c, err, sizeof err);
	snprintf(want, sizeof want, "%s:1", F.conf);
	assert_contains(err, want);
	assert_contains(err, "LISTEN");
}

static void line_without_equals(void **state)
{
	struct mdmid_config c;
	char err[512], want[400];
	(void)state;

	write_conf("listen = 127.0.0.1:1\n\nvalidity_days 30\n");
	load_fails(&c, err, sizeof err);
	snprintf(want, sizeof want, "%s:3", F.conf);
	assert_contains(err, want);
}

static void bad_bool(void **state)
{
	struct mdmid_config c;
	char err[512], want[400];
	const char *bad[] = {"maybe", "TRUE", "2", "", "yes please"};
	char text[64];
	(void)state;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "\ncsr_san = %s\n", bad[i]);
		write_conf(text);
		load_fails(&c, err, sizeof err);
		snprintf(want, sizeof want, "%s:2", F.conf);
		assert_contains(err, want);
		assert_contains(err, "csr_san");
	}
	write_conf("allow_single_des = maybe\n");
	load_fails(&c, err, sizeof err);
	assert_contains(err, "\"maybe\"");
}

static void bad_uint(void **state)
{
	struct mdmid_config c;
	char err[512], want[400];
	const char *bad[] = {"-1", "12abc", "abc", "", "4294967296", "99999999999999999999999", "1.5", "0x10", "+-1"};
	char text[96];
	(void)state;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "listen = x\nmin_rsa_bits = %s\n", bad[i]);
		write_conf(text);
		err[0] = '\0';
		if (config_load(F.conf, &c, err, sizeof err) != -1)
			fail_msg("min_rsa_bits = \"%s\" accepted as %u", bad[i], c.min_rsa_bits);
		config_free(&c);
		snprintf(want, sizeof want, "%s:2", F.conf);
		assert_contains(err, want);
		assert_contains(err, "min_rsa_bits");
	}
	/* The largest value parses, and is then refused by its range. */
	write_conf("workers = 4294967295\n");
	err[0] = '\0';
	assert_int_equal(config_load(F.conf, &c, err, sizeof err), -1);
	config_free(&c);
	assert_contains(err, "workers = 4294967295: must be between 0 and 1024");
}

static void secret_in_file_refused(void **state)
{
	struct mdmid_config c;
	char err[512], want[400];
	(void)state;

	write_conf("listen = 127.0.0.1:1\nchallenge = x\n");
	load_fails(&c, err, sizeof err);
	snprintf(want, sizeof want, "%s:2", F.conf);
	assert_contains(err, want);
	assert_contains(err, "challenge_file");
	assert_contains(err, "MDMID_CHALLENGE");
	/* the secret itself is not repeated */
	assert_null(strstr(err, "= x"));

	write_conf("database_password = hunter2\n");
	load_fails(&c, err, sizeof err);
	assert_contains(err, "database_password_file");
	assert_contains(err, "MDMID_DATABASE_PASSWORD");
	assert_null(strstr(err, "hunter2"));

	write_conf("ca_key_passphrase = hunter2\n");
	load_fails(&c, err, sizeof err);
	assert_contains(err, "ca_key_passphrase_file");
	assert_contains(err, "MDMID_CA_KEY_PASSPHRASE");
	assert_null(strstr(err, "hunter2"));
}

static void challenge_file_reads_secret(void **state)
{
	struct mdmid_config c;
	char text[800];
	(void)state;

	write_secret("s3cret value\n");
	snprintf(text, sizeof text, "challenge_file = %s\n", F.secret);
	write_conf(text);
	load_ok(F.conf, &c);
	assert_non_null(c.challenge);
	assert_string_equal(c.challenge, "s3cret value");
	config_free(&c);
	assert_null(c.challenge);

	/* CRLF too, and only the trailing line end */
	write_secret("two\nlines\r\n");
	load_ok(F.conf, &c);
	assert_string_equal(c.challenge, "two\nlines");
	config_free(&c);

	/* no newline at all */
	write_secret("bare");
	load_ok(F.conf, &c);
	assert_string_equal(c.challenge, "bare");
	config_free(&c);

	/* the other *_file keys */
	write_secret("pw\n");
	snprintf(text, sizeof text, "database_password_file = %s\nca_key_passphrase_file = \"%s\"\n", F.secret,
		 F.secret);
	write_conf(text);
	load_ok(F.conf, &c);
	assert_string_equal(c.database_password, "pw");
	assert_string_equal(c.ca_key_passphrase, "pw");
	assert_null(c.challenge);
	config_free(&c);
}

static void empty_secret_file_refused(void **state)
{
	struct mdmid_config c;
	char err[512], text[800], *s;
	(void)state;

	snprintf(text, sizeof text, "challenge_file = %s\n", F.secret);
	write_conf(text);
	write_secret("");
	load_fails(&c, err, sizeof err);
	assert_contains(err, "challenge_file");
	assert_contains(err, F.secret);
	assert_contains(err, "empty");

	write_secret("\n");
	load_fails(&c, err, sizeof err);
	assert_contains(err, "empty");

	s = config_read_secret_file(F.secret, err, sizeof err);
	assert_null(s);
	assert_contains(err, "empty");
}

static void missing_or_huge_secret_file_refused(void **state)
{
	struct mdmid_config c;
	char err[512], text[800], path[400];
	static char big[5000];
	(void)state;

	snprintf(path, sizeof path, "%s/no-such-file", F.dir);
	snprintf(text, sizeof text, "challenge_file = %s\n", path);
	write_conf(text);
	load_fails(&c, err, sizeof err);
	assert_contains(err, path);

	memset(big, 'a', sizeof big);
	write_secret("");
	assert_int_equal(ut_write_file(F.secret, big, sizeof big), 1);
	assert_null(config_read_secret_file(F.secret, err, sizeof err));
	assert_contains(err, F.secret);
}

static void missing_config_file(void **state)
{
	struct mdmid_config c;
	char err[512], path[400];
	(void)state;

	snprintf(path, sizeof path, "%s/absent.conf", F.dir);
	assert_int_equal(config_load(path, &c, err, sizeof err), -1);
	assert_contains(err, path);
	config_free(&c);
}

static void line_too_long(void **state)
{
	struct mdmid_config c;
	char err[512];
	static char text[5000];
	(void)state;

	memcpy(text, "listen = ", 9);
	memset(text + 9, 'x', sizeof text - 11);
	text[sizeof text - 2] = '\n';
	text[sizeof text - 1] = '\0';
	write_conf(text);
	load_fails(&c, err, sizeof err);
	assert_contains(err, ":1");
}

static void environment_beats_file(void **state)
{
	struct mdmid_config c;
	(void)state;

	write_conf("listen = 127.0.0.1:1\nvalidity_days = 30\ncsr_san = true\nlog_level = debug\n");
	setenv("MDMID_LISTEN", "[::1]:8443", 1);
	setenv("MDMID_VALIDITY_DAYS", "90", 1);
	setenv("MDMID_CSR_SAN", "no", 1);
	setenv("MDMID_ALLOW_SINGLE_DES", "1", 1);
	load_ok(F.conf, &c);
	assert_string_equal(c.listen, "[::1]:8443");
	assert_int_equal(c.validity_days, 90);
	assert_false(c.csr_san);
	assert_true(c.allow_single_des);
	assert_string_equal(c.log_level, "debug"); /* not overridden: the file's */
	config_free(&c);

	/* without a file too */
	load_ok(NULL, &c);
	assert_string_equal(c.listen, "[::1]:8443");
	config_free(&c);

	unsetenv("MDMID_LISTEN");
	unsetenv("MDMID_VALIDITY_DAYS");
	unsetenv("MDMID_CSR_SAN");
	unsetenv("MDMID_ALLOW_SINGLE_DES");
	load_ok(F.conf, &c);
	assert_string_equal(c.listen, "127.0.0.1:1");
	assert_int_equal(c.validity_days, 30);
	config_free(&c);
}

static void bad_environment_value(void **state)
{
	struct mdmid_config c;
	char err[512];
	(void)state;

	setenv("MDMID_MIN_RSA_BITS", "lots", 1);
	assert_int_equal(config_load(NULL, &c, err, sizeof err), -1);
	config_free(&c);
	unsetenv("MDMID_MIN_RSA_BITS");
	assert_contains(err, "MDMID_MIN_RSA_BITS");
	assert_contains(err, "lots");
}

/* A value that parses but makes no sense, and a signed number smuggled in
 * behind a space, are refused when loading, not at first use. */
static void out_of_range_refused(void **state)
{
	struct mdmid_config c;
	char err[512];
	(void)state;

	setenv("MDMID_VALIDITY_DAYS", "0", 1);
	assert_int_equal(config_load(NULL, &c, err, sizeof err), -1);
	config_free(&c);
	unsetenv("MDMID_VALIDITY_DAYS");
	assert_contains(err, "validity_days = 0: must be between 1 and 36500");

	setenv("MDMID_MIN_RSA_BITS", " -18446744073709551615", 1);
	assert_int_equal(config_load(NULL, &c, err, sizeof err), -1);
	config_free(&c);
	unsetenv("MDMID_MIN_RSA_BITS");
	assert_contains(err, "MDMID_MIN_RSA_BITS");

	/* A short buffer truncates the message without overrunning it. */
	{
		char small[8];
		FILE *f;
		char path[] = "/tmp/mdmid-cfg-XXXXXX";
		int fd = mkstemp(path);
		assert_true(fd >= 0);
		f = fdopen(fd, "w");
		fputs("challenge = x\n", f);
		fclose(f);
		assert_int_equal(config_load(path, &c, small, sizeof small), -1);
		config_free(&c);
		unlink(path);
		assert_int_equal(strlen(small), sizeof small - 1);
	}
}

static void secrets_from_environment(void **state)
{
	struct mdmid_config c;
	char text[800];
	(void)state;

	/* A secret key is allowed in the environment. */
	setenv("MDMID_CHALLENGE", "env-secret", 1);
	setenv("MDMID_DATABASE_PASSWORD", "dbpw", 1);
	load_ok(NULL, &c);
	assert_string_equal(c.challenge, "env-secret");
	assert_string_equal(c.database_password, "dbpw");
	config_free(&c);

	/* MDMID_CHALLENGE beats the file's challenge_file ... */
	write_secret("file-secret\n");
	snprintf(text, sizeof text, "challenge_file = %s\n", F.secret);
	write_conf(text);
	load_ok(F.conf, &c);
	assert_string_equal(c.challenge, "env-secret");
	config_free(&c);

	/* ... and MDMID_CHALLENGE_FILE as well. */
	setenv("MDMID_CHALLENGE_FILE", F.secret, 1);
	load_ok(NULL, &c);
	assert_string_equal(c.challenge, "env-secret");
	config_free(&c);

	/* Without it, MDMID_CHALLENGE_FILE is read. */
	unsetenv("MDMID_CHALLENGE");
	load_ok(NULL, &c);
	assert_string_equal(c.challenge, "file-secret");
	config_free(&c);

	/* An empty MDMID_CHALLENGE means no static challenge, never "". */
	setenv("MDMID_CHALLENGE", "", 1);
	load_ok(F.conf, &c);
	assert_null(c.challenge);
	config_free(&c);

	unsetenv("MDMID_CHALLENGE");
	unsetenv("MDMID_CHALLENGE_FILE");
	unsetenv("MDMID_DATABASE_PASSWORD");
	load_ok(NULL, &c);
	assert_null(c.challenge);
	assert_null(c.database_password);
	config_free(&c);
}

/* listen and admin_listen: host:port or [v6]:port, numeric host, port 0-65535. */
static void listen_addresses(void **state)
{
	const char *good[] = {"127.0.0.1:0", "0.0.0.0:65535", "[::1]:8443", "[::]:80", ":8080", "::1:8080"};
	const char *bad[] = {"127.0.0.1:65536", "127.0.0.1:70000", "127.0.0.1:", "127.0.0.1", "localhost:8080",
			     "[::1]8080", "[::1", "1.2.3.4:-1", "1.2.3.4:+80", "1.2.3.4: 80", "1.2.3.4:99999999999999999999",
			     "[]:80", "300.1.1.1:80", ""};
	struct mdmid_config c;
	char err[512];
	(void)state;

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		setenv("MDMID_LISTEN", good[i], 1);
		setenv("MDMID_ADMIN_LISTEN", good[i], 1);
		err[0] = '\0';
		if (config_load(NULL, &c, err, sizeof err) != 0)
			fail_msg("listen = %s refused: %s", good[i], err);
		config_free(&c);
	}
	setenv("MDMID_LISTEN", "127.0.0.1:1", 1);
	setenv("MDMID_ADMIN_LISTEN", "", 1); /* empty: no admin listener */
	load_ok(NULL, &c);
	assert_string_equal(c.admin_listen, "");
	config_free(&c);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		for (int admin = 0; admin < 2; admin++) {
			if (admin && !bad[i][0])
				continue; /* "" is allowed for admin_listen */
			setenv("MDMID_LISTEN", admin ? "127.0.0.1:1" : bad[i], 1);
			setenv("MDMID_ADMIN_LISTEN", admin ? bad[i] : "", 1);
			err[0] = '\0';
			if (config_load(NULL, &c, err, sizeof err) != -1)
				fail_msg("%s = %s accepted", admin ? "admin_listen" : "listen", bad[i]);
			config_free(&c);
			assert_contains(err, admin ? "admin_listen = " : "listen = ");
		}
	}
	setenv("MDMID_LISTEN", "127.0.0.1:65536", 1);
	setenv("MDMID_ADMIN_LISTEN", "", 1);
	assert_int_equal(config_load(NULL, &c, err, sizeof err), -1);
	config_free(&c);
	assert_contains(err, "listen = 127.0.0.1:65536: the port must be a number from 0 to 65535");
	unsetenv("MDMID_LISTEN");
	unsetenv("MDMID_ADMIN_LISTEN");
}

struct each_seen {
	unsigned n;
	char text[4096];
};

static void each_collect(void *cls, const char *name, const char *value, bool secret)
{
	struct each_seen *e = cls;
	size_t l = strlen(e->text);
	e->n++;
	snprintf(e->text + l, sizeof e->text - l, "%s%s=%s\n", secret ? "!" : "", name, value);
}

/* config_each: every key once, values as text, secrets never handed out. */
static void each_key(void **state)
{
	struct mdmid_config c;
	struct each_seen e = {0};
	char text[800], want[400];
	(void)state;

	write_secret("s3cret-value\n");
	snprintf(text, sizeof text,
		 "listen = 127.0.0.1:1\nvalidity_days = 30\ncsr_san = no\nchallenge_file = %s\n"
		 "admin_token_file = %s\n",
		 F.secret, F.secret);
	write_conf(text);
	setenv("MDMID_DATABASE_PASSWORD", "dbpw-secret", 1);
	load_ok(F.conf, &c);
	config_each(&c, each_collect, &e);
	config_free(&c);
	unsetenv("MDMID_DATABASE_PASSWORD");

	assert_true(e.n >= 38);
	assert_null(strstr(e.text, "s3cret"));
	assert_null(strstr(e.text, "dbpw"));
	assert_contains(e.text, "listen=127.0.0.1:1\n");
	assert_contains(e.text, "\nvalidity_days=30\n");
	assert_contains(e.text, "\ncsr_san=false\n");
	assert_contains(e.text, "\nadvertise_post=true\n");
	assert_contains(e.text, "\ndatabase=\n");
	assert_contains(e.text, "\n!challenge=********\n");
	assert_contains(e.text, "\n!admin_token=********\n");
	assert_contains(e.text, "\n!database_password=********\n");
	assert_contains(e.text, "\n!ca_key_passphrase=\n"); /* not set */
	snprintf(want, sizeof want, "\nchallenge_file=%s\n", F.secret);
	assert_contains(e.text, want);
	snprintf(want, sizeof want, "\nadmin_token_file=%s\n", F.secret);
	assert_contains(e.text, want);
	assert_contains(e.text, "\ndatabase_password_file=\n");
	/* the file paths are freed with the rest */
	assert_null(c.challenge_file);
	assert_null(c.admin_token_file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(defaults, per_test),
		cmocka_unit_test_setup(empty_file_gives_defaults, per_test),
		cmocka_unit_test_setup(values, per_test),
		cmocka_unit_test_setup(bool_spellings, per_test),
		cmocka_unit_test_setup(quotes, per_test),
		cmocka_unit_test_setup(comments_and_blanks, per_test),
		cmocka_unit_test_setup(unknown_key_names_file_and_line, per_test),
		cmocka_unit_test_setup(line_without_equals, per_test),
		cmocka_unit_test_setup(bad_bool, per_test),
		cmocka_unit_test_setup(bad_uint, per_test),
		cmocka_unit_test_setup(secret_in_file_refused, per_test),
		cmocka_unit_test_setup(challenge_file_reads_secret, per_test),
		cmocka_unit_test_setup(empty_secret_file_refused, per_test),
		cmocka_unit_test_setup(missing_or_huge_secret_file_refused, per_test),
		cmocka_unit_test_setup(missing_config_file, per_test),
		cmocka_unit_test_setup(line_too_long, per_test),
		cmocka_unit_test_setup_teardown(environment_beats_file, per_test, per_test),
		cmocka_unit_test_setup_teardown(bad_environment_value, per_test, per_test),
		cmocka_unit_test_setup_teardown(out_of_range_refused, per_test, per_test),
		cmocka_unit_test_setup_teardown(secrets_from_environment, per_test, per_test),
		cmocka_unit_test_setup_teardown(listen_addresses, per_test, per_test),
		cmocka_unit_test_setup_teardown(each_key, per_test, per_test),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
