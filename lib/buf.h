/* buf.h: growable byte buffer, the only container for peer input and
 * built-up strings. A buf always keeps a NUL after its last byte, may hold
 * NULs inside, and knows its length. It owns its storage. */
#ifndef POSTERN_BUF_H
#define POSTERN_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf buf;

/* buf_new: an empty buffer with room for at least size_hint bytes. */
buf *buf_new(size_t size_hint);
/* buf_free: frees *b (NULL is fine) and sets *b to NULL. */
void buf_free(buf **b);

/* Length in bytes (without the trailing NUL) and the bytes themselves. The
 * pointer stays valid until the next call that changes the buffer. */
size_t buf_len(const buf *b);
const char *buf_cstr(const buf *b);
char *buf_data(buf *b);

void buf_append(buf *b, const void *data, size_t len);
void buf_puts(buf *b, const char *s);
void buf_putc(buf *b, int c);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* buf_reset: length 0, storage kept. buf_truncate: shorten to len (no-op if
 * len >= length). buf_consume: drop n bytes from the front. */
void buf_reset(buf *b);
void buf_truncate(buf *b, size_t len);
void buf_consume(buf *b, size_t n);

/* buf_reserve: make room for n more bytes and return where they go; then
 * buf_commit(b, n) adds the n bytes written there (for read(2) into a buf). */
char *buf_reserve(buf *b, size_t n);
void buf_commit(buf *b, size_t n);

/* buf_steal: hands the storage to the caller as a NUL-terminated heap string
 * (free with free()) and leaves the buffer empty. */
char *buf_steal(buf *b);
/* buf_steal_free: buf_steal, then frees the buffer and sets *b to NULL. */
char *buf_steal_free(buf **b);

#endif
