/* dkim_kit.h: where the DKIM unit tests find the shared test kit
 * (conformance/dkim of the shared folder): $SHARED when set and the kit
 * is there, else the
 * first "shared" folder beside the source tree or one or two levels up
 * from it (a clone's ../shared, seen from the tree itself, from
 * make distcheck's unpacked copy inside the clone, or from a build
 * directory). Also what the interop tests share: a temporary file, and
 * a dkimpy script run under /usr/bin/python3 (python3-dkim imports only
 * there). */
#ifndef POSTERN_DKIM_KIT_H
#define POSTERN_DKIM_KIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "mem.h"

static inline char *dkim_kit_path(const char *file)
{
	const char *shared = getenv("SHARED"), *srcdir = getenv("srcdir");
	static const char *const ups[] = { "..", "../..", "../../.." };

	if (shared != NULL) {
		char *path = xasprintf("%s/conformance/dkim/%s", shared, file);

		if (access(path, R_OK) == 0)
			return path;
		free(path); /* SHARED of another root (a chroot): look beside the tree */
	}
	for (size_t i = 0; i < sizeof(ups) / sizeof(ups[0]); i++) {
		char *path = xasprintf("%s/%s/shared/conformance/dkim/%s", srcdir ? srcdir : ".",
				       ups[i], file);
		if (access(path, R_OK) == 0)
			return path;
		free(path);
	}
	return xasprintf("%s/../shared/conformance/dkim/%s", srcdir ? srcdir : ".", file);
}

/* dkim_kit_write_temp: text in a new file under /tmp; its path (heap). */
static inline char *dkim_kit_write_temp(const char *text)
{
	char *path = xstrdup("/tmp/postern-dkim-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* dkim_kit_python: runs tests/<script> with args under /usr/bin/python3,
 * its stdout into *out_r (if set); returns its exit status. */
static inline int dkim_kit_python(const char *script, const char *args, char **out_r)
{
	const char *srcdir = getenv("srcdir");
	char *cmd = xasprintf("/usr/bin/python3 %s/tests/%s %s", srcdir ? srcdir : ".", script, args);
	FILE *p = popen(cmd, "r");
	buf *b = buf_new(4096);
	char chunk[4096];
	size_t n;
	int st;

	assert_non_null(p);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		buf_append(b, chunk, n);
	st = pclose(p);
	free(cmd);
	if (out_r != NULL)
		*out_r = buf_steal(b);
	buf_free(&b);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
