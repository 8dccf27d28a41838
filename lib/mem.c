/* mem.c: allocation wrappers. Out of memory is fatal: the process logs and
 * exits, and master restarts it; no caller ever handles NULL. */
#include "mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void *check(void *ptr, size_t size)
{
	if (ptr == NULL && size != 0)
		log_fatal("out of memory (%zu bytes)", size);
	return ptr;
}

void *xmalloc(size_t size)
{
	return check(malloc(size ? size : 1), size ? size : 1);
}

void *xcalloc(size_t count, size_t size)
{
	if (size != 0 && count > (size_t)-1 / size)
		log_fatal("out of memory (%zu x %zu bytes)", count, size);
	return check(calloc(count ? count : 1, size ? size : 1), 1);
}

void *xrealloc(void *ptr, size_t size)
{
	return check(realloc(ptr, size ? size : 1), size ? size : 1);
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *copy = xmalloc(len + 1);

	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *out;
	int len;

	va_start(ap, fmt);
	len = vasprintf(&out, fmt, ap);
	va_end(ap);
	if (len < 0)
		log_fatal("out of memory (formatting)");
	return out;
}
