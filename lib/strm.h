/* strm.h: buffered stream over a socket, for every protocol program.
 * Reads lines with a length limit and raw byte runs (BDAT, literals),
 * queues output and flushes it, and can be switched to TLS in place
 * (STARTTLS, STLS) or start in TLS (implicit TLS ports). TLS is a property
 * of the stream: callers use the same calls before and after.
 * Works on non-blocking fds under the event loop (STRM_AGAIN + strm_wants)
 * and on blocking fds (a timeout set by strm_set_timeout bounds each wait).
 * The stream owns its fd and closes it in strm_free. */
#ifndef POSTERN_STRM_H
#define POSTERN_STRM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

typedef struct strm strm;

/* Results of the reading and handshake calls. */
#define STRM_OK 1 /* something was done / a line is ready */
#define STRM_AGAIN 0 /* would block: wait for strm_wants() events */
#define STRM_EOF (-1) /* peer closed */
#define STRM_ERROR (-2) /* I/O or TLS error (strm_error tells) */
#define STRM_TOOLONG (-3) /* a line longer than the limit */
#define STRM_TIMEOUT (-4) /* blocking mode: the timeout passed */

strm *strm_new(int fd);
/* strm_free: TLS close_notify (best effort), close(fd), free, *s = NULL. */
void strm_free(strm **s);
int strm_fd(const strm *s);
/* strm_set_timeout: blocking mode wait limit per operation, ms (0 = none). */
void strm_set_timeout(strm *s, int msecs);
/* strm_error: text of the last STRM_ERROR. */
const char *strm_error(const strm *s);

/* strm_fill: read what the socket has into the input buffer (at most
 * max_buffer bytes buffered in all). STRM_OK, STRM_AGAIN, STRM_EOF,
 * STRM_ERROR, STRM_TIMEOUT. */
int strm_fill(strm *s);
/* strm_read_line: if a whole line (ending in LF) is buffered, sets *line_r
 * and *len_r to it, terminator included, and returns STRM_OK; the line stays
 * valid until the next read call. If not, reads from the socket once and
 * tries again; returns STRM_AGAIN / STRM_EOF / ... when there is still none.
 * A line over max bytes (terminator included) gives STRM_TOOLONG and its
 * first max bytes are consumed; strm_skip_line drops the rest of it. */
int strm_read_line(strm *s, size_t max, const char **line_r, size_t *len_r);
int strm_skip_line(strm *s);
/* strm_read_bytes: up to want bytes of buffered input (reading once from the
 * socket when the buffer is empty); *len_r may be less than want. */
int strm_read_bytes(strm *s, size_t want, const char **data_r, size_t *len_r);
/* Records, for a deadline per record (conn.c): a record is one line
 * returned by strm_read_line (or the first max bytes of a longer one), or
 * one block of strm_read_bytes input (all the caller asked for in one
 * call, or 64 KiB in all). strm_in_record: the last read call found part
 * of a record and waits for the rest (a line without its LF yet, a block
 * half delivered). strm_records: how many records have been completed; a
 * new number means the record now in progress is another one. */
bool strm_in_record(const strm *s);
unsigned long strm_records(const strm *s);
/* strm_pending: bytes buffered but not yet returned. */
size_t strm_pending(const strm *s);
/* strm_discard_input: drops buffered input (pipelined plaintext after
 * STARTTLS must not be read as if it came over TLS). */
void strm_discard_input(strm *s);

/* Output is queued; strm_flush writes it: STRM_OK when all is written,
 * STRM_AGAIN when the socket is full, STRM_ERROR. */
void strm_write(strm *s, const void *data, size_t len);
void strm_puts(strm *s, const char *str);
void strm_printf(strm *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int strm_flush(strm *s);
size_t strm_unflushed(const strm *s);

/* strm_start_tls: begin a server (server = true) or client handshake over
 * the same fd, after the caller flushed its last plaintext reply. sni may be
 * NULL. Then call strm_handshake until it returns STRM_OK. */
void strm_start_tls(strm *s, SSL_CTX *ctx, bool server, const char *sni);
int strm_handshake(strm *s);
bool strm_is_tls(const strm *s);
/* strm_tls_info: "TLSv1.3 TLS_AES_256_GCM_SHA384" or NULL in plaintext. */
const char *strm_tls_info(const strm *s);
SSL *strm_ssl(strm *s);

/* strm_track_readiness: for a non-blocking stream under an event loop
 * whose owner calls strm_readable whenever the loop reports the fd
 * readable: after a plaintext read that emptied the socket (a short read
 * or EAGAIN), the stream does not try the socket again until then, which
 * saves a read(2) that would fail after every command. */
void strm_track_readiness(strm *s);
void strm_readable(strm *s);

/* strm_wants: the EV_READ / EV_WRITE events the stream needs next (TLS may
 * need to write while reading, or read while writing). */
int strm_wants(const strm *s);

#endif
