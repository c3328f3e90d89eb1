/*
 * fuzz_config.c - the configuration file (config_load): the input is the
 * file, read through the same path as `mdmid serve --config FILE` reads it
 * (an in-memory file named /proc/self/fd/N, so config.c is fuzzed as it is,
 * fopen and fgets included), with no MDMID_* variable in the environment.
 *
 * A *_file key names a file config.c reads: an input naming anything under
 * dev/, proc/, sys/, run/ or fd/ is skipped, so that the fuzzer cannot make
 * it read a terminal, a pipe or a FIFO and wait forever.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "mdmid/config.h"

extern char **environ;

static struct {
	int fd;
	char path[64];
} F = {.fd = -1};

static void setup(void)
{
	for (;;) {
		char name[128] = "";
		for (char **e = environ; *e; e++) {
			const char *eq = strchr(*e, '=');
			if (!strncmp(*e, "MDMID_", 6) && eq && (size_t)(eq - *e) < sizeof name) {
				memcpy(name, *e, (size_t)(eq - *e));
				name[eq - *e] = '\0';
				break;
			}
		}
		if (!name[0])
			break;
		FUZZ_SETUP(unsetenv(name) == 0);
	}
	FUZZ_SETUP((F.fd = memfd_create("mdmid-fuzz-config", MFD_CLOEXEC)) >= 0);
	snprintf(F.path, sizeof F.path, "/proc/self/fd/%d", F.fd);
}

static bool names_special_file(const uint8_t *data, size_t size)
{
	static const char *const dirs[] = {"dev/", "proc/", "sys/", "run/", "fd/"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		size_t n = strlen(dirs[i]);
		for (size_t j = 0; j + n <= size; j++)
			if (!memcmp(data + j, dirs[i], n))
				return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mdmid_config cfg;
	char err[512] = "";
	int rc;

	if (F.fd < 0)
		setup();
	if (names_special_file(data, size))
		return 0;
	FUZZ_CHECK(ftruncate(F.fd, 0) == 0);
	FUZZ_CHECK(size == 0 || pwrite(F.fd, data, size, 0) == (ssize_t)size);
	rc = config_load(F.path, &cfg, err, sizeof err);
	if (rc == 0) {
		/* What config_load promises to the rest of mdmid. */
		FUZZ_CHECK(cfg.listen && cfg.scep_path && cfg.database && cfg.ca_dir && cfg.log_level &&
			   cfg.challenge_mode && cfg.static_udid_field && cfg.admin_listen && cfg.public_url &&
			   cfg.profile_organization && cfg.profile_ca_fingerprint && cfg.port_file);
		FUZZ_CHECK(cfg.validity_days >= 1 && cfg.validity_days <= 36500);
		FUZZ_CHECK(cfg.min_rsa_bits >= 1024 && cfg.min_rsa_bits <= 16384);
		FUZZ_CHECK(cfg.profile_key_size >= 2048 && cfg.profile_key_size <= 4096);
		FUZZ_CHECK(!strcmp(cfg.challenge_mode, "dynamic") || !strcmp(cfg.challenge_mode, "static") ||
			   !strcmp(cfg.challenge_mode, "both"));
		FUZZ_CHECK(!cfg.challenge || cfg.challenge[0]);
	} else {
		FUZZ_CHECK(rc == -1 && err[0]);
	}
	config_free(&cfg);
	return 0;
}
