/* buf.c: growable byte buffer. Storage doubles as it grows and always has
 * room for the trailing NUL, so buf_cstr never copies. */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"

struct buf {
	char *data;
	size_t len;
	size_t cap; /* bytes allocated, always > len */
};

buf *buf_new(size_t size_hint)
{
	buf *b = xmalloc(sizeof(*b));

	b->cap = size_hint < 16 ? 16 : size_hint + 1;
	b->data = xmalloc(b->cap);
	b->len = 0;
	b->data[0] = '\0';
	return b;
}

void buf_free(buf **b)
{
	if (*b == NULL)
		return;
	free((*b)->data);
	free(*b);
	*b = NULL;
}

size_t buf_len(const buf *b)
{
	return b->len;
}

const char *buf_cstr(const buf *b)
{
	return b->data;
}

char *buf_data(buf *b)
{
	return b->data;
}

char *buf_reserve(buf *b, size_t n)
{
	if (n >= (size_t)-1 / 2 - b->len)
		log_fatal("buffer size overflow");
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	return b->data + b->len;
}

void buf_commit(buf *b, size_t n)
{
	if (b->len + n >= b->cap)
		log_panic("buf_commit: %zu bytes past the reserved space", n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_append(buf *b, const void *data, size_t len)
{
	memcpy(buf_reserve(b, len), data, len);
	buf_commit(b, len);
}

void buf_puts(buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_putc(buf *b, int c)
{
	char ch = (char)c;

	buf_append(b, &ch, 1);
}

void buf_vprintf(buf *b, const char *fmt, va_list ap)
{
	va_list copy;
	int need;

	va_copy(copy, ap);
	need = vsnprintf(b->data + b->len, b->cap - b->len, fmt, copy);
	va_end(copy);
	if (need < 0)
		log_panic("buf_vprintf: bad format '%s'", fmt);
	if ((size_t)need >= b->cap - b->len) {
		buf_reserve(b, (size_t)need);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)need;
	b->data[b->len] = '\0';
}

void buf_printf(buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void buf_reset(buf *b)
{
	b->len = 0;
	b->data[0] = '\0';
}

void buf_truncate(buf *b, size_t len)
{
	if (len >= b->len)
		return;
	b->len = len;
	b->data[len] = '\0';
}

void buf_consume(buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

char *buf_steal(buf *b)
{
	char *out = b->data;

	b->cap = 16;
	b->data = xmalloc(b->cap);
	b->len = 0;
	b->data[0] = '\0';
	return out;
}

char *buf_steal_free(buf **b)
{
	char *out = (*b)->data;

	free(*b);
	*b = NULL;
	return out;
}
