/* strm.c: buffered line stream over a socket, plaintext or TLS.
 * Owns the fd, an input buffer (read offset + occasional compaction, so a
 * line costs no memmove) and an output queue. All socket traffic goes
 * through two "attempt" functions (one read, one write) that call either
 * read/send or SSL_read/SSL_write, so everything above them is the same
 * for TLS and plaintext. Non-blocking fds get STRM_AGAIN and a remembered
 * direction for strm_wants; blocking fds poll() first, bounded by the
 * timeout. The fd's mode is looked at in strm_new and strm_set_timeout.
 * OpenSSL reads ahead, so "more input without waiting" is asked of
 * SSL_has_pending (raw bytes count), never of the socket alone. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "buf.h"
#include "ev.h" /* EV_READ / EV_WRITE only */
#include "log.h"
#include "mem.h"
#include "strm.h"
#include "tls.h"

/* At most this much unread input is buffered; then reading stops until the
 * caller consumes some (a line longer than this is STRM_TOOLONG). */
#define STRM_MAX_BUFFER (1024 * 1024)
/* One read asks for this much (one TLS record's worth); strm_fill stops
 * after about STRM_FILL_TARGET, so a fast sender cannot keep it looping. */
#define STRM_READ_CHUNK 16384
#define STRM_FILL_TARGET (4 * STRM_READ_CHUNK)
/* Consumed space at the front is reclaimed only when it is at least this
 * big and at least as big as what is left, so each byte moves O(1) times. */
#define STRM_COMPACT_MIN 4096
/* Raw input (strm_read_bytes) is counted in records of at most this many
 * bytes, for a per-record deadline (see strm_in_record). */
#define STRM_RECORD_BLOCK (64 * 1024)

struct strm {
	int fd;
	bool nonblock;
	int timeout_ms;

	buf *in;
	size_t in_off; /* first unread byte of in */
	size_t scanned; /* unread bytes from in_off known to hold no LF */
	size_t max_buffer;
	bool in_long_line; /* STRM_TOOLONG given; strm_skip_line drops the rest */
	int input_end; /* 0, or STRM_EOF / STRM_ERROR once the peer side ended */
	/* records: for a per-record deadline (strm_in_record, strm_records) */
	bool in_record; /* the last read call found part of a record */
	unsigned long records; /* records completed */
	size_t block_got; /* raw bytes of the current block delivered so far */

	buf *out;
	size_t out_off; /* first unwritten byte of out */

	SSL *ssl;
	bool tls_failed; /* strm_start_tls could not set up: all I/O fails */
	bool tls_done; /* handshake completed */
	char *tls_info;

	int read_want; /* events the read side (or handshake) waits for, 0 = none */
	bool track_readiness; /* strm_track_readiness: skip reads known to fail */
	bool drained; /* ... the last plaintext read emptied the socket */
	int write_want; /* events the flush waits for, 0 = none */
	char *error;
};

/* What one read attempt is to fill. */
struct strm_read_req {
	char *dst;
	size_t len;
	size_t got;
};

typedef int strm_attempt_fn(strm *s, void *ctx);

static void strm_set_error(strm *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void strm_set_error(strm *s, const char *fmt, ...)
{
	va_list ap;
	buf *b = buf_new(128);

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
	free(s->error);
	s->error = buf_steal(b);
	buf_free(&b);
}

static bool strm_fd_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags >= 0 && (flags & O_NONBLOCK) != 0;
}

strm *strm_new(int fd)
{
	strm *s = xcalloc(1, sizeof(*s));

	s->fd = fd;
	s->nonblock = strm_fd_nonblocking(fd);
	s->in = buf_new(STRM_READ_CHUNK);
	s->out = buf_new(1024);
	s->max_buffer = STRM_MAX_BUFFER;
	return s;
}

void strm_free(strm **sp)
{
	strm *s = *sp;

	if (s == NULL)
		return;
	if (s->ssl != NULL) {
		/* One close_notify, no waiting for the peer's. */
		if (s->tls_done)
			(void)SSL_shutdown(s->ssl);
		SSL_free(s->ssl);
		ERR_clear_error();
	}
	if (s->fd >= 0)
		close(s->fd);
	buf_free(&s->in);
	buf_free(&s->out);
	free(s->tls_info);
	free(s->error);
	free(s);
	*sp = NULL;
}

int strm_fd(const strm *s)
{
	return s->fd;
}

/* strm_set_timeout: besides the poll() limit, blocking sockets get the same
 * SO_RCVTIMEO/SO_SNDTIMEO, so a read inside a TLS record or a large send
 * cannot block past it after poll() said "ready". */
void strm_set_timeout(strm *s, int msecs)
{
	s->timeout_ms = msecs > 0 ? msecs : 0;
	s->nonblock = strm_fd_nonblocking(s->fd);
	if (s->nonblock)
		return;
	struct timeval tv = { .tv_sec = s->timeout_ms / 1000,
			      .tv_usec = (s->timeout_ms % 1000) * 1000 };
	(void)setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

const char *strm_error(const strm *s)
{
	return s->error != NULL ? s->error : "no error";
}

/* ---- blocking-mode waits ---- */

static int64_t strm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* strm_wait: poll() for events until deadline (0 = no deadline). */
static int strm_wait(strm *s, int events, int64_t deadline)
{
	struct pollfd pfd = { .fd = s->fd, .events = 0 };

	if (events & EV_READ)
		pfd.events |= POLLIN;
	if (events & EV_WRITE)
		pfd.events |= POLLOUT;
	for (;;) {
		int wait_ms = -1;
		if (deadline != 0) {
			int64_t left = deadline - strm_now_ms();
			if (left <= 0)
				break;
			wait_ms = (int)left;
		}
		int n = poll(&pfd, 1, wait_ms);
		if (n > 0)
			return STRM_OK;
		if (n == 0)
			break;
		if (errno != EINTR) {
			strm_set_error(s, "poll: %s", strerror(errno));
			return STRM_ERROR;
		}
	}
	strm_set_error(s, "timeout after %d ms", s->timeout_ms);
	return STRM_TIMEOUT;
}

/* strm_drive: runs attempt; on a non-blocking fd once, on a blocking fd
 * after waiting for first_events (0 = do not wait first), and again after
 * each wait for *want, until it is done or the timeout passes. */
static int strm_drive(strm *s, int first_events, strm_attempt_fn *attempt, void *ctx,
		      const int *want)
{
	int64_t deadline = s->timeout_ms > 0 ? strm_now_ms() + s->timeout_ms : 0;
	int events = s->nonblock ? 0 : first_events;

	for (;;) {
		if (events != 0) {
			int r = strm_wait(s, events, deadline);
			if (r != STRM_OK)
				return r;
		}
		int r = attempt(s, ctx);
		if (r != STRM_AGAIN || s->nonblock)
			return r;
		events = *want != 0 ? *want : first_events;
		if (events == 0)
			events = EV_READ;
	}
}

/* ---- single attempts ---- */

static void strm_tls_finished(strm *s)
{
	s->tls_done = true;
	free(s->tls_info);
	s->tls_info = xasprintf("%s %s", SSL_get_version(s->ssl), SSL_get_cipher_name(s->ssl));
}

/* strm_tls_result: maps a failed SSL call to a STRM_ result; *want gets
 * the direction OpenSSL waits for. */
static int strm_tls_result(strm *s, int ret, int *want, const char *what)
{
	int saved_errno = errno;
	char *errs;

	switch (SSL_get_error(s->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		*want = EV_READ;
		return STRM_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		*want = EV_WRITE;
		return STRM_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return STRM_EOF;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0 && saved_errno == 0)
			return STRM_EOF;
		if (ERR_peek_error() == 0) {
			strm_set_error(s, "TLS %s: %s", what, strerror(saved_errno));
			return STRM_ERROR;
		}
		/* FALLTHROUGH */
	default:
		errs = tls_errors();
		strm_set_error(s, "TLS %s: %s", what, errs);
		free(errs);
		return STRM_ERROR;
	}
}

static int strm_attempt_read(strm *s, void *ctx)
{
	struct strm_read_req *req = ctx;

	if (s->tls_failed)
		return STRM_ERROR;
	if (s->ssl != NULL) {
		ERR_clear_error();
		errno = 0;
		int ret = SSL_read_ex(s->ssl, req->dst, req->len, &req->got);
		if (ret != 1)
			return strm_tls_result(s, ret, &s->read_want, "read");
		if (!s->tls_done && SSL_is_init_finished(s->ssl))
			strm_tls_finished(s);
		s->read_want = 0;
		return STRM_OK;
	}
	for (;;) {
		ssize_t n = read(s->fd, req->dst, req->len);
		if (n > 0) {
			req->got = (size_t)n;
			s->read_want = 0;
			s->drained = (size_t)n < req->len; /* a short read took all there was */
			return STRM_OK;
		}
		if (n == 0)
			return STRM_EOF;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			s->read_want = EV_READ;
			s->drained = true;
			return STRM_AGAIN;
		}
		if (errno != EINTR) {
			strm_set_error(s, "read: %s", strerror(errno));
			return STRM_ERROR;
		}
	}
}

/* strm_send_plain: send() without SIGPIPE; write() for non-sockets. */
static ssize_t strm_send_plain(int fd, const char *data, size_t len)
{
	ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

	if (n < 0 && errno == ENOTSOCK)
		n = write(fd, data, len);
	return n;
}

static int strm_attempt_write(strm *s, void *ctx)
{
	const char *data = buf_cstr(s->out) + s->out_off;
	size_t len = buf_len(s->out) - s->out_off;
	size_t done = 0;

	(void)ctx;
	if (s->tls_failed)
		return STRM_ERROR;
	if (s->ssl != NULL) {
		ERR_clear_error();
		errno = 0;
		int ret = SSL_write_ex(s->ssl, data, len, &done);
		if (ret != 1)
			return strm_tls_result(s, ret, &s->write_want, "write");
		if (!s->tls_done && SSL_is_init_finished(s->ssl))
			strm_tls_finished(s);
	} else {
		ssize_t n;
		do
			n = strm_send_plain(s->fd, data, len);
		while (n < 0 && errno == EINTR);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			s->write_want = EV_WRITE;
			return STRM_AGAIN;
		}
		if (n < 0) {
			strm_set_error(s, "write: %s", strerror(errno));
			return STRM_ERROR;
		}
		done = (size_t)n;
	}
	s->out_off += done;
	s->write_want = 0;
	return STRM_OK;
}

static int strm_attempt_handshake(strm *s, void *ctx)
{
	(void)ctx;
	ERR_clear_error();
	errno = 0;
	int ret = SSL_do_handshake(s->ssl);
	if (ret != 1)
		return strm_tls_result(s, ret, &s->read_want, "handshake");
	strm_tls_finished(s);
	s->read_want = 0;
	return STRM_OK;
}

/* ---- input buffer ---- */

/* strm_unread: bytes in our own input buffer not yet returned. */
static size_t strm_unread(const strm *s)
{
	return buf_len(s->in) - s->in_off;
}

/* strm_tls_buffered: OpenSSL holds input, decrypted or not yet (it reads
 * ahead), that the socket will not announce again. */
static bool strm_tls_buffered(const strm *s)
{
	return s->ssl != NULL && SSL_has_pending(s->ssl);
}

/* strm_pending: also counts bytes OpenSSL has decrypted but we have not
 * read yet; either kind is there without waiting for the socket. */
size_t strm_pending(const strm *s)
{
	size_t tls = s->ssl != NULL ? (size_t)SSL_pending(s->ssl) : 0;

	return strm_unread(s) + tls;
}

static size_t strm_input_room(const strm *s)
{
	size_t unread = strm_unread(s);

	return unread < s->max_buffer ? s->max_buffer - unread : 0;
}

static void strm_consume_input(strm *s, size_t n)
{
	s->in_off += n;
	s->scanned = s->scanned > n ? s->scanned - n : 0;
}

static void strm_compact_input(strm *s)
{
	size_t unread = strm_unread(s);

	if (unread == 0) {
		buf_reset(s->in);
		s->in_off = 0;
	} else if (s->in_off >= STRM_COMPACT_MIN && s->in_off >= unread) {
		buf_consume(s->in, s->in_off);
		s->in_off = 0;
	}
}

/* strm_read_chunk: one read into the buffer; wait says whether a blocking
 * fd may be waited on first. */
static int strm_read_chunk(strm *s, bool wait, size_t *got_r)
{
	size_t room = strm_input_room(s);
	struct strm_read_req req = { .len = room < STRM_READ_CHUNK ? room : STRM_READ_CHUNK };
	int r;

	req.dst = buf_reserve(s->in, req.len);
	if (wait) {
		r = strm_drive(s, strm_tls_buffered(s) ? 0 : EV_READ, strm_attempt_read, &req, &s->read_want);
	} else {
		r = strm_attempt_read(s, &req);
	}
	if (r == STRM_OK)
		buf_commit(s->in, req.got);
	*got_r = req.got;
	return r;
}

/* strm_fill: keeps reading while more is surely there without waiting
 * (TLS input OpenSSL holds, or a full read on a non-blocking fd), up to
 * about STRM_FILL_TARGET. OpenSSL's own buffer must be drained here: the
 * socket will not become readable for bytes OpenSSL already holds. */
int strm_fill(strm *s)
{
	size_t total = 0;

	if (s->input_end != 0)
		return s->input_end;
	if (s->track_readiness && s->drained && s->ssl == NULL) {
		s->read_want = EV_READ; /* the socket was empty and has not said otherwise */
		return STRM_AGAIN;
	}
	strm_compact_input(s);
	for (;;) {
		if (strm_input_room(s) == 0) {
			s->read_want = 0;
			return STRM_OK;
		}
		size_t ask = strm_input_room(s) < STRM_READ_CHUNK ? strm_input_room(s) : STRM_READ_CHUNK;
		size_t got = 0;
		int r = strm_read_chunk(s, total == 0, &got);
		if (r == STRM_EOF || r == STRM_ERROR)
			s->input_end = r;
		if (r != STRM_OK)
			return total > 0 ? STRM_OK : r;
		total += got;
		bool more = strm_tls_buffered(s) ||
			    (s->nonblock && got == ask);
		if (!more || total >= STRM_FILL_TARGET)
			return STRM_OK;
	}
}

/* strm_find_line: a line from the buffer only, no reading. */
static int strm_find_line(strm *s, size_t max, const char **line_r, size_t *len_r)
{
	const char *start = buf_cstr(s->in) + s->in_off;
	size_t unread = strm_unread(s);
	size_t limit = unread < max ? unread : max;

	if (s->scanned < limit) {
		const char *lf = memchr(start + s->scanned, '\n', limit - s->scanned);
		if (lf != NULL) {
			*line_r = start;
			*len_r = (size_t)(lf - start) + 1;
			strm_consume_input(s, *len_r);
			return STRM_OK;
		}
		s->scanned = limit;
	}
	if (unread >= max || unread >= s->max_buffer) {
		*line_r = start;
		*len_r = limit;
		strm_consume_input(s, limit);
		s->in_long_line = true;
		return STRM_TOOLONG;
	}
	return s->input_end != 0 ? s->input_end : STRM_AGAIN;
}

/* strm_read_line_once: strm_read_line without the record count. On a
 * blocking fd it reads until a line, an error or the timeout, since
 * STRM_AGAIN means nothing to a blocking caller. */
static int strm_read_line_once(strm *s, size_t max, const char **line_r, size_t *len_r)
{
	for (;;) {
		int r = strm_find_line(s, max, line_r, len_r);
		if (r != STRM_AGAIN)
			return r;
		r = strm_fill(s);
		if (r != STRM_OK)
			return r;
		if (s->nonblock)
			return strm_find_line(s, max, line_r, len_r);
	}
}

/* strm_line_record: a line (or a too-long line's first part) is one
 * record; bytes left waiting for their line end are a record begun. */
static int strm_line_record(strm *s, int r)
{
	s->block_got = 0;
	if (r == STRM_OK || r == STRM_TOOLONG) {
		s->records++;
		s->in_record = false;
	} else if (r == STRM_AGAIN) {
		s->in_record = strm_unread(s) > 0;
	}
	return r;
}

int strm_read_line(strm *s, size_t max, const char **line_r, size_t *len_r)
{
	return strm_line_record(s, strm_read_line_once(s, max, line_r, len_r));
}

int strm_skip_line(strm *s)
{
	while (s->in_long_line) {
		const char *start = buf_cstr(s->in) + s->in_off;
		size_t unread = strm_unread(s);
		const char *lf = memchr(start, '\n', unread);

		if (lf != NULL) {
			strm_consume_input(s, (size_t)(lf - start) + 1);
			s->in_long_line = false;
			break;
		}
		strm_consume_input(s, unread);
		int r = strm_fill(s);
		if (r != STRM_OK) {
			s->in_record = r == STRM_AGAIN;
			return r;
		}
	}
	s->records++;
	s->in_record = false;
	return STRM_OK;
}

/* strm_block_record: a raw block is complete when the caller got all it
 * asked for in one call, or STRM_RECORD_BLOCK bytes in all. */
static void strm_block_record(strm *s, size_t want, size_t got)
{
	s->block_got += got;
	if (got == want || s->block_got >= STRM_RECORD_BLOCK) {
		s->records++;
		s->block_got = 0;
	}
	s->in_record = s->block_got > 0;
}

int strm_read_bytes(strm *s, size_t want, const char **data_r, size_t *len_r)
{
	*data_r = buf_cstr(s->in) + s->in_off;
	*len_r = 0;
	if (want == 0)
		return STRM_OK;
	if (strm_unread(s) == 0) {
		int r = strm_fill(s);
		if (r != STRM_OK) {
			s->in_record = s->block_got > 0;
			return r;
		}
		*data_r = buf_cstr(s->in) + s->in_off;
	}
	size_t unread = strm_unread(s);
	*len_r = unread < want ? unread : want;
	strm_consume_input(s, *len_r);
	strm_block_record(s, want, *len_r);
	return STRM_OK;
}

bool strm_in_record(const strm *s)
{
	return s->in_record;
}

unsigned long strm_records(const strm *s)
{
	return s->records;
}

void strm_discard_input(strm *s)
{
	buf_reset(s->in);
	s->in_off = 0;
	s->scanned = 0;
	s->in_long_line = false;
	s->in_record = false;
	s->block_got = 0;
}

/* ---- output ---- */

void strm_write(strm *s, const void *data, size_t len)
{
	buf_append(s->out, data, len);
}

void strm_puts(strm *s, const char *str)
{
	buf_puts(s->out, str);
}

void strm_printf(strm *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(s->out, fmt, ap);
	va_end(ap);
}

size_t strm_unflushed(const strm *s)
{
	return buf_len(s->out) - s->out_off;
}

/* strm_flush: written space is reclaimed only between SSL_write calls that
 * succeeded; a retried SSL_write must see the same bytes (the SSL is set
 * to accept a moved buffer, which appending may cause). */
int strm_flush(strm *s)
{
	while (strm_unflushed(s) > 0) {
		int r = strm_drive(s, EV_WRITE, strm_attempt_write, NULL, &s->write_want);
		if (r != STRM_OK)
			return r;
		if (s->out_off >= STRM_COMPACT_MIN && s->out_off >= strm_unflushed(s)) {
			buf_consume(s->out, s->out_off);
			s->out_off = 0;
		}
	}
	buf_reset(s->out);
	s->out_off = 0;
	s->write_want = 0;
	return STRM_OK;
}

/* ---- TLS ---- */

/* strm_tls_setup: the SSL object for the fd; false (error set) on failure. */
static bool strm_tls_setup(strm *s, SSL_CTX *ctx, bool server, const char *sni)
{
	ERR_clear_error();
	s->ssl = SSL_new(ctx);
	if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1)
		goto fail;
	SSL_set_mode(s->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* One read(2) for a record, header and body, or for several: without
	 * read-ahead OpenSSL reads the 5-byte header and the body apart. */
	SSL_set_read_ahead(s->ssl, 1);
	if (server) {
		SSL_set_accept_state(s->ssl);
		return true;
	}
	SSL_set_connect_state(s->ssl);
	if (sni == NULL)
		return true;
	if (SSL_set_tlsext_host_name(s->ssl, sni) != 1)
		goto fail;
	/* A verifying client also checks the certificate names sni. */
	if ((SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) && SSL_set1_host(s->ssl, sni) != 1)
		goto fail;
	return true;
fail:;
	char *errs = tls_errors();
	strm_set_error(s, "TLS setup: %s", errs);
	free(errs);
	return false;
}

/* strm_start_tls: buffered plaintext is dropped here (it came before the
 * handshake, so treating it as protected data would allow command
 * injection, CVE-2011-0411 style). */
void strm_start_tls(strm *s, SSL_CTX *ctx, bool server, const char *sni)
{
	if (s->ssl != NULL || s->tls_failed)
		log_panic("strm_start_tls: TLS already started on fd %d", s->fd);
	if (strm_unflushed(s) > 0) {
		log_warn("strm_start_tls: dropping %zu bytes of unflushed plaintext output",
			 strm_unflushed(s));
		buf_reset(s->out);
		s->out_off = 0;
	}
	strm_discard_input(s);
	s->write_want = 0;
	s->read_want = server ? EV_READ : EV_WRITE;
	if (!strm_tls_setup(s, ctx, server, sni)) {
		SSL_free(s->ssl);
		s->ssl = NULL;
		s->tls_failed = true;
	}
}

int strm_handshake(strm *s)
{
	if (s->tls_failed)
		return STRM_ERROR;
	if (s->ssl == NULL) {
		strm_set_error(s, "TLS handshake without strm_start_tls");
		return STRM_ERROR;
	}
	if (s->tls_done)
		return STRM_OK;
	return strm_drive(s, s->read_want, strm_attempt_handshake, NULL, &s->read_want);
}

/* strm_is_tls: true once the handshake has completed. */
bool strm_is_tls(const strm *s)
{
	return s->ssl != NULL && s->tls_done;
}

const char *strm_tls_info(const strm *s)
{
	return strm_is_tls(s) ? s->tls_info : NULL;
}

SSL *strm_ssl(strm *s)
{
	return s->ssl;
}

/* strm_wants: the read side asks for what it last blocked on (EV_READ by
 * default, nothing while the input buffer is full); pending output adds
 * what the flush blocked on. */
int strm_wants(const strm *s)
{
	int events = s->read_want;

	if (events == 0 && strm_input_room(s) > 0)
		events = EV_READ;
	if (strm_unflushed(s) > 0)
		events |= s->write_want != 0 ? s->write_want : EV_WRITE;
	return events;
}

void strm_track_readiness(strm *s)
{
	s->track_readiness = s->nonblock;
}

void strm_readable(strm *s)
{
	s->drained = false;
}
