/* dkim_kit.h: where the DKIM unit tests find the shared test kit
 * (conformance/dkim of the shared folder): $SHARED when set and the kit
 * is there, else the
 * first "shared" folder beside the source tree or one or two levels up
 * from it (a clone's ../shared, seen from the tree itself, from
 * make distcheck's unpacked copy inside the clone, or from a build
 * directory). */
#ifndef POSTERN_DKIM_KIT_H
#define POSTERN_DKIM_KIT_H

#include <stdlib.h>
#include <unistd.h>

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

#endif
