/* keygen_rate: how many keys per second N threads generate, with the same
 * calls mdmid's PKCS#12 export makes (EVP_RSA_gen, EVP_EC_gen): the ceiling
 * the export's identities per second are measured against.
 *
 *   keygen_rate --key rsa2048|rsa3072|rsa4096|ec-p256|ec-p384 --threads N --seconds S
 *
 * Prints one line: "key=rsa2048 threads=2 seconds=5.01 keys=71 keys_per_s=14.17".
 * Each thread generates keys until the deadline; a key started before it
 * counts (the elapsed time is taken when the last thread finishes).
 *
 * Build: gcc -std=c11 -O2 -Wall -Wextra -Werror -o keygen_rate keygen_rate.c -lcrypto -lpthread
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

struct job {
	const char *key;
	double deadline;
	unsigned long keys;
	int failed;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const names[] = {"rsa2048", "rsa3072", "rsa4096", "ec-p256", "ec-p384"};

static EVP_PKEY *gen(const char *key)
{
	if (strcmp(key, "rsa2048") == 0)
		return EVP_RSA_gen(2048);
	if (strcmp(key, "rsa3072") == 0)
		return EVP_RSA_gen(3072);
	if (strcmp(key, "rsa4096") == 0)
		return EVP_RSA_gen(4096);
	if (strcmp(key, "ec-p256") == 0)
		return EVP_EC_gen("P-256");
	if (strcmp(key, "ec-p384") == 0)
		return EVP_EC_gen("P-384");
	return NULL;
}

static void *worker(void *arg)
{
	struct job *j = arg;

	while (now() < j->deadline) {
		EVP_PKEY *k = gen(j->key);
		if (!k) {
			j->failed = 1;
			break;
		}
		EVP_PKEY_free(k);
		j->keys++;
	}
	return NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: keygen_rate --key rsa2048|rsa3072|rsa4096|ec-p256|ec-p384 --threads N --seconds S\n");
	return 2;
}

static int parse_pos(const char *s, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > max)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	const char *key = NULL;
	double threads_d = 1, seconds = 5;

	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "--key") == 0)
			key = argv[++i];
		else if (strcmp(argv[i], "--threads") == 0) {
			if (parse_pos(argv[++i], 1024, &threads_d) < 0 || threads_d != (int)threads_d)
				return usage();
		} else if (strcmp(argv[i], "--seconds") == 0) {
			if (parse_pos(argv[++i], 3600, &seconds) < 0)
				return usage();
		} else
			return usage();
	}
	int known = 0;
	for (size_t i = 0; key && i < sizeof names / sizeof names[0]; i++)
		known |= strcmp(key, names[i]) == 0;
	if (!known)
		return usage();
	EVP_PKEY *probe = gen(key); /* loads the providers once, outside the timing */
	if (!probe) {
		fprintf(stderr, "keygen_rate: cannot generate a %s key\n", key);
		ERR_print_errors_fp(stderr);
		return 1;
	}
	EVP_PKEY_free(probe);

	int n = (int)threads_d;
	struct job *jobs = calloc((size_t)n, sizeof *jobs);
	pthread_t *tids = calloc((size_t)n, sizeof *tids);
	if (!jobs || !tids) {
		fprintf(stderr, "keygen_rate: out of memory\n");
		return 1;
	}
	double start = now();
	int started = 0, rc = 0;
	for (int i = 0; i < n; i++) {
		jobs[i].key = key;
		jobs[i].deadline = start + seconds;
		int e = pthread_create(&tids[i], NULL, worker, &jobs[i]);
		if (e) {
			fprintf(stderr, "keygen_rate: pthread_create: %s\n", strerror(e));
			rc = 1;
			for (int k = i; k < n; k++)
				jobs[k].deadline = 0;
			break;
		}
		started++;
	}
	unsigned long keys = 0;
	for (int i = 0; i < started; i++) {
		pthread_join(tids[i], NULL);
		keys += jobs[i].keys;
		if (jobs[i].failed) {
			fprintf(stderr, "keygen_rate: key generation failed in thread %d\n", i);
			rc = 1;
		}
	}
	double elapsed = now() - start;
	if (rc == 0)
		printf("key=%s threads=%d seconds=%.2f keys=%lu keys_per_s=%.2f\n", key, n, elapsed, keys,
		       elapsed > 0 ? (double)keys / elapsed : 0.0);
	free(jobs);
	free(tids);
	return rc;
}
