/* replay.c: a main() for the fuzz targets without libFuzzer, so make check
 * can build every target with the normal compiler and run it over its
 * corpus (seeds and past crash inputs kept as regressions). Each argument
 * is a file, or a directory whose regular files are all fed, one call of
 * LLVMFuzzerTestOneInput per file. A crash or abort fails the run. */
#include "fuzz_util.h"

#include <dirent.h>
#include <sys/stat.h>

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t len = 0, cap = 0;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			data = realloc(data, cap);
			if (data == NULL)
				abort();
		}
		size_t n = fread(data + len, 1, cap - len, f);

		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 0;
}

static int replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int count = 0;

	if (d == NULL) {
		perror(dir);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(dir) + strlen(de->d_name) + 2;
		char *path = malloc(len);
		struct stat st;

		if (path == NULL)
			abort();
		snprintf(path, len, "%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path) < 0) {
				free(path);
				closedir(d);
				return -1;
			}
			count++;
		}
		free(path);
	}
	closedir(d);
	return count;
}

int main(int argc, char **argv)
{
	int total = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		int n;

		if (stat(argv[i], &st) < 0) {
			perror(argv[i]);
			return 1;
		}
		n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) == 0 ? 1 : -1;
		if (n < 0)
			return 1;
		total += n;
	}
	printf("%s: %d inputs replayed\n", argc > 0 ? argv[0] : "replay", total);
	return 0;
}
