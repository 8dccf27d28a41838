/* fuzz_util.h: small helpers shared by the fuzz targets: the entry point's
 * prototype (so targets compile warning-free with gcc too), a NUL-ended
 * copy of the input, and a temporary file holding the input for parsers
 * that read files. Used by libFuzzer builds (run.sh) and by the replay
 * driver that make check runs over the seed corpus. */
#ifndef POSTERN_FUZZ_UTIL_H
#define POSTERN_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_cstr: the input as a heap C string (it ends at the first NUL). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* fuzz_temp_file: writes the input to a fresh temporary file and returns
 * its heap path (the caller unlinks and frees it). Aborts on failure: a
 * broken environment must not look like a clean run. */
static inline char *fuzz_temp_file(const uint8_t *data, size_t size)
{
	const char *dir = getenv("TMPDIR");
	size_t len = strlen(dir != NULL && *dir != '\0' ? dir : "/tmp") + 32;
	char *path = malloc(len);
	int fd;

	if (path == NULL)
		abort();
	snprintf(path, len, "%s/postern-fuzz-XXXXXX", dir != NULL && *dir != '\0' ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		abort();
	for (size_t done = 0; done < size;) {
		ssize_t n = write(fd, data + done, size - done);

		if (n <= 0)
			abort();
		done += (size_t)n;
	}
	close(fd);
	return path;
}

static inline void fuzz_temp_remove(char *path)
{
	unlink(path);
	free(path);
}

#endif
