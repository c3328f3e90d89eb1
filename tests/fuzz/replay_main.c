/*
 * replay_main.c - runs a fuzz harness without libFuzzer: each file named on
 * the command line (or each file of a directory named) goes once through
 * LLVMFuzzerTestOneInput, and "replayed FILE" is printed after it. A crash,
 * a sanitizer report or a failed FUZZ_CHECK ends the process, so the inputs
 * not yet printed are the suspects (tests/integration/90_fuzz_regressions.t).
 * Built by the normal build (gcc, build/ or build-san/): `make check`.
 */
#include <dirent.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		perror(path);
		return -1;
	}
	do {
		if (cap - len < 65536) {
			unsigned char *nb = realloc(buf, cap + 65536);
			if (!nb) {
				fclose(f);
				free(buf);
				fprintf(stderr, "%s: out of memory\n", path);
				return -1;
			}
			buf = nb;
			cap += 65536;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		perror(path);
		return -1;
	}
	fclose(f);
	/* An exact-size copy, so that ASan sees a read past the input's end. */
	{
		unsigned char *exact = malloc(len ? len : 1);
		if (!exact) {
			free(buf);
			return -1;
		}
		if (len)
			memcpy(exact, buf, len);
		free(buf);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	printf("replayed %s\n", path);
	fflush(stdout);
	return 0;
}

static int filter(const struct dirent *e) { return e->d_name[0] != '.'; }

int main(int argc, char **argv)
{
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			struct dirent **list;
			int n = scandir(argv[i], &list, filter, alphasort);
			if (n < 0) {
				perror(argv[i]);
				rc = 1;
				continue;
			}
			for (int j = 0; j < n; j++) {
				char path[4096];
				if (snprintf(path, sizeof path, "%s/%s", argv[i], list[j]->d_name) < (int)sizeof path &&
				    replay_file(path) < 0)
					rc = 1;
				free(list[j]);
			}
			free(list);
		} else if (replay_file(argv[i]) < 0) {
			rc = 1;
		}
	}
	return rc;
}
