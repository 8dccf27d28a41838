/* test_strm.c: unit tests for lib/strm.c and lib/tls.c.
 * Everything runs in one process over socketpair(AF_UNIX): the stream under
 * test on one end, the test writing or reading raw bytes (or a second
 * stream) on the other. TLS uses a self-signed P-256 certificate made in a
 * mkdtemp directory, and both ends of the handshake run non-blocking here,
 * alternating calls. Covers lines, limits, raw bytes, output back-pressure,
 * EOF, blocking timeouts, STARTTLS and TLS context errors. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ev.h"
#include "mem.h"
#include "strm.h"
#include "tls.h"

/* ---- helpers ---- */

/* make_pair: fds[0] for the stream, fds[1] for the raw peer. */
static void make_pair(int fds[2], bool nonblock0, bool nonblock1)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	if (nonblock0)
		assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	if (nonblock1)
		assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
}

static void peer_write(int fd, const void *data, size_t len)
{
	assert_int_equal(write(fd, data, len), (ssize_t)len);
}

static void peer_puts(int fd, const char *str)
{
	peer_write(fd, str, strlen(str));
}

static void wait_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	(void)poll(&pfd, 1, 200);
}

/* read_line_wait: read_line on a non-blocking stream whose peer has
 * already written; retries a few times on STRM_AGAIN. */
static int read_line_wait(strm *s, size_t max, const char **line_r, size_t *len_r)
{
	int r = STRM_AGAIN;

	for (int i = 0; i < 20 && r == STRM_AGAIN; i++) {
		r = strm_read_line(s, max, line_r, len_r);
		if (r == STRM_AGAIN)
			wait_readable(strm_fd(s));
	}
	return r;
}

static void expect_line(strm *s, size_t max, const char *want)
{
	const char *line;
	size_t len;

	assert_int_equal(read_line_wait(s, max, &line, &len), STRM_OK);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(line, want, len);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- lines ---- */

struct line_case {
	const char *chunks[6]; /* written one after another, NULL ends */
	const char *lines[6]; /* expected complete lines, NULL ends */
	size_t leftover; /* unterminated bytes left at EOF */
};

static const struct line_case line_cases[] = {
	{ { "HELO a\r\n" }, { "HELO a\r\n" }, 0 },
	{ { "a\nb\r\nc\n" }, { "a\n", "b\r\n", "c\n" }, 0 },
	{ { "par", "tial\r", "\n" }, { "partial\r\n" }, 0 },
	{ { "\r\n\n", "x" }, { "\r\n", "\n" }, 1 },
	{ { "one\r\ntw", "o\r\nthr", "ee\r\n" }, { "one\r\n", "two\r\n", "three\r\n" }, 0 },
	{ { "bare\rCR\n" }, { "bare\rCR\n" }, 0 },
	{ { "no end" }, { NULL }, 6 },
};

static void run_line_case(const struct line_case *c)
{
	int fds[2];
	size_t next = 0;
	const char *line;
	size_t len;
	int r;

	make_pair(fds, true, false);
	strm *s = strm_new(fds[0]);
	for (size_t i = 0; c->chunks[i] != NULL; i++) {
		peer_puts(fds[1], c->chunks[i]);
		while ((r = strm_read_line(s, 100, &line, &len)) == STRM_OK) {
			assert_non_null(c->lines[next]);
			assert_int_equal(len, strlen(c->lines[next]));
			assert_memory_equal(line, c->lines[next], len);
			next++;
		}
		assert_int_equal(r, STRM_AGAIN);
	}
	assert_null(c->lines[next]);
	close(fds[1]);
	assert_int_equal(strm_read_line(s, 100, &line, &len), STRM_EOF);
	assert_int_equal(strm_pending(s), c->leftover);
	strm_free(&s);
	assert_null(s);
}

static void test_lines_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++)
		run_line_case(&line_cases[i]);
}

/* A line with a NUL inside is returned whole, with its true length. */
static void test_line_with_nul(void **state)
{
	int fds[2];
	const char *line;
	size_t len;

	(void)state;
	make_pair(fds, true, false);
	strm *s = strm_new(fds[0]);
	peer_write(fds[1], "a\0b\r\n", 5);
	assert_int_equal(strm_read_line(s, 100, &line, &len), STRM_OK);
	assert_int_equal(len, 5);
	assert_memory_equal(line, "a\0b\r\n", 5);
	strm_free(&s);
	close(fds[1]);
}

/* One byte per write: every line comes out once, in order. */
static void test_lines_byte_by_byte(void **state)
{
	static const char input[] = "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\nDATA\r\n";
	static const char *want[] = { "MAIL FROM:<a@b>\r\n", "RCPT TO:<c@d>\n", "DATA\r\n" };
	int fds[2];
	size_t next = 0;
	const char *line;
	size_t len;

	(void)state;
	make_pair(fds, true, false);
	strm *s = strm_new(fds[0]);
	for (size_t i = 0; i < sizeof(input) - 1; i++) {
		peer_write(fds[1], &input[i], 1);
		int r = strm_read_line(s, 64, &line, &len);
		if (r == STRM_OK) {
			assert_true(next < 3);
			assert_int_equal(len, strlen(want[next]));
			assert_memory_equal(line, want[next], len);
			next++;
		} else {
			assert_int_equal(r, STRM_AGAIN);
			assert_int_equal(strm_wants(s), EV_READ);
		}
	}
	assert_int_equal(next, 3);
	strm_free(&s);
	close(fds[1]);
}

/* Pipelined commands in one write all come back in order, then AGAIN. */
static void test_pipelined(void **state)
{
	int fds[2];
	const char *line;
	size_t len;
	char expect[32];

	(void)state;
	make_pair(fds, true, false);
	strm *s = strm_new(fds[0]);
	char all[2000];
	size_t n = 0;
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(all + n, sizeof(all) - n, "CMD %d\r\n", i);
	peer_write(fds[1], all, n);
	for (int i = 0; i < 100; i++) {
		snprintf(expect, sizeof(expect), "CMD %d\r\n", i);
		expect_line(s, 100, expect);
	}
	assert_int_equal(strm_pending(s), 0);
	assert_int_equal(strm_read_line(s, 100, &line, &len), STRM_AGAIN);
	strm_free(&s);
	close(fds[1]);
}

/* ---- limits ---- */

struct long_case {
	size_t max;
	const char *input;
	int first; /* result of the first read_line */
	size_t first_len;
	const char *after; /* next line after skip_line (or after the first) */
};

static const struct long_case long_cases[] = {
	/* exactly max bytes with the terminator: fine */
	{ 10, "12345678\r\nnext\r\n", STRM_OK, 10, "next\r\n" },
	/* one byte over */
	{ 10, "123456789\r\nnext\r\n", STRM_TOOLONG, 10, "next\r\n" },
	{ 10, "0123456789ABCDEF\nnext\n", STRM_TOOLONG, 10, "next\n" },
	/* LF is the byte just past max */
	{ 4, "abcd\nx\n", STRM_TOOLONG, 4, "x\n" },
};

static void test_toolong_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(long_cases) / sizeof(long_cases[0]); i++) {
		const struct long_case *c = &long_cases[i];
		int fds[2];
		const char *line;
		size_t len;

		make_pair(fds, true, false);
		strm *s = strm_new(fds[0]);
		peer_puts(fds[1], c->input);
		assert_int_equal(read_line_wait(s, c->max, &line, &len), c->first);
		assert_int_equal(len, c->first_len);
		if (c->first == STRM_TOOLONG)
			assert_int_equal(strm_skip_line(s), STRM_OK);
		expect_line(s, c->max, c->after);
		/* skip_line outside a long line does nothing */
		assert_int_equal(strm_skip_line(s), STRM_OK);
		strm_free(&s);
		close(fds[1]);
	}
}

/* The rest of a long line arrives later: skip_line says AGAIN until the
 * LF is seen, and drops everything up to it. */
static void test_skip_line_needs_more(void **state)
{
	int fds[2];
	const char *line;
	size_t len;

	(void)state;
	make_pair(fds, true, false);
	strm *s = strm_new(fds[0]);
	peer_puts(fds[1], "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	assert_int_equal(read_line_wait(s, 16, &line, &len), STRM_TOOLONG);
	assert_int_equal(len, 16);
	assert_memory_equal(line, "xxxxxxxxxxxxxxxx", 16);
	assert_int_equal(strm_skip_line(s), STRM_AGAIN);
	peer_puts(fds[1], "yyyyyyyy");
	assert_int_equal(strm_skip_line(s), STRM_AGAIN);
	peer_puts(fds[1], "yy\r\nQUIT\r\n");
	assert_int_equal(strm_skip_line(s), STRM_OK);
	expect_line(s, 16, "QUIT\r\n");
	strm_free(&s);
	close(fds[1]);
}

/* With no LF at all the stream buffers at most 1 MiB, then says TOOLONG
 * even if the caller's max is larger. */
static void test_input_buffer_limit(void **state)
{
	enum { MIB = 1024 * 1024 };
	int fds[2];
	const char *line;
	size_t len;
	char chunk[8192];
	int r = STRM_AGAIN;

	(void)state;
	memset(chunk, 'z', sizeof(chunk));
	make_pair(fds, true, true);
	strm *s = strm_new(fds[0]);
	for (int i = 0; i < 10000 && r == STRM_AGAIN; i++) {
		while (write(fds[1], chunk, sizeof(chunk)) > 0)
			;
		r = strm_read_line(s, 4 * MIB, &line, &len);
	}
	assert_int_equal(r, STRM_TOOLONG);
	assert_int_equal(len, MIB);
	/* finish the line, then a normal one */
	r = STRM_AGAIN;
	bool sent_end = false;
	for (int i = 0; i < 10000 && r == STRM_AGAIN; i++) {
		if (!sent_end && write(fds[1], "\nok\n", 4) == 4)
			sent_end = true;
		r = strm_skip_line(s);
	}
	assert_true(sent_end);
	assert_int_equal(r, STRM_OK);
	expect_line(s, 100, "ok\n");
	strm_free(&s);
	close(fds[1]);
}

/* ---- raw bytes ---- */

static void test_read_bytes(void **state)
{
	int fds[2];
	const char *data;
	size_t len;
	char payload[100];
	char got[100];
	size_t have = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (char)('a' + i % 26);
	make_pair(fds, true, false);
	strm *s = strm_new(fds[0]);
	peer_puts(fds[1], "BDAT 100\r\n");
	peer_write(fds[1], payload, sizeof(payload));
	peer_puts(fds[1], "QUIT\r\n");
	expect_line(s, 100, "BDAT 100\r\n");
	while (have < sizeof(payload)) {
		size_t want = sizeof(payload) - have < 30 ? sizeof(payload) - have : 30;
		assert_int_equal(strm_read_bytes(s, want, &data, &len), STRM_OK);
		assert_true(len > 0 && len <= want);
		memcpy(got + have, data, len);
		have += len;
	}
	assert_memory_equal(got, payload, sizeof(payload));
	expect_line(s, 100, "QUIT\r\n");
	/* zero bytes asked: OK and nothing */
	assert_int_equal(strm_read_bytes(s, 0, &data, &len), STRM_OK);
	assert_int_equal(len, 0);
	assert_int_equal(strm_read_bytes(s, 10, &data, &len), STRM_AGAIN);
	close(fds[1]);
	assert_int_equal(strm_read_bytes(s, 10, &data, &len), STRM_EOF);
	strm_free(&s);
}

/* Exact count when more is buffered. */
static void test_read_bytes_exact(void **state)
{
	int fds[2];
	const char *data;
	size_t len;

	(void)state;
	make_pair(fds, true, false);
	strm *s = strm_new(fds[0]);
	peer_puts(fds[1], "0123456789rest");
	wait_readable(fds[0]);
	assert_int_equal(strm_read_bytes(s, 10, &data, &len), STRM_OK);
	assert_int_equal(len, 10);
	assert_memory_equal(data, "0123456789", 10);
	assert_int_equal(strm_pending(s), 4);
	assert_int_equal(strm_read_bytes(s, 100, &data, &len), STRM_OK);
	assert_int_equal(len, 4);
	assert_memory_equal(data, "rest", 4);
	strm_free(&s);
	close(fds[1]);
}

/* Records for the per-record deadline: a line without its LF is a record
 * begun; the LF completes it; raw blocks complete when the caller gets
 * all it asked for or 64 KiB in all. */
static void test_records(void **state)
{
	int fds[2];
	const char *line, *data;
	size_t len;
	strm *s;
	static char big[70000];

	(void)state;
	make_pair(fds, true, false);
	s = strm_new(fds[0]);
	assert_false(strm_in_record(s));
	assert_int_equal(strm_read_line(s, 100, &line, &len), STRM_AGAIN);
	assert_false(strm_in_record(s)); /* nothing at all: no record begun */
	peer_puts(fds[1], "HEL");
	assert_int_equal(read_line_wait(s, 100, &line, &len), STRM_AGAIN);
	assert_true(strm_in_record(s));
	assert_int_equal(strm_records(s), 0);
	peer_puts(fds[1], "O x\r\nNO");
	assert_int_equal(read_line_wait(s, 100, &line, &len), STRM_OK);
	assert_false(strm_in_record(s));
	assert_int_equal(strm_records(s), 1);
	assert_int_equal(strm_read_line(s, 100, &line, &len), STRM_AGAIN);
	assert_true(strm_in_record(s)); /* "NO": the next record has begun */
	peer_puts(fds[1], "OP\r\n");
	assert_int_equal(read_line_wait(s, 100, &line, &len), STRM_OK);
	assert_int_equal(strm_records(s), 2);

	/* raw: 10 of 20 asked bytes are half a block; the other 10 end it */
	peer_write(fds[1], big, 10);
	wait_readable(fds[0]);
	assert_int_equal(strm_read_bytes(s, 20, &data, &len), STRM_OK);
	assert_int_equal(len, 10);
	assert_true(strm_in_record(s));
	assert_int_equal(strm_read_bytes(s, 10, &data, &len), STRM_AGAIN);
	assert_true(strm_in_record(s));
	peer_write(fds[1], big, 10);
	wait_readable(fds[0]);
	assert_int_equal(strm_read_bytes(s, 10, &data, &len), STRM_OK);
	assert_false(strm_in_record(s));
	assert_int_equal(strm_records(s), 3);
	/* a big chunk read in pieces smaller than asked: one record per 64 KiB */
	unsigned long before = strm_records(s);
	size_t total = 0;
	int pieces = 0;
	while (total < 65536 + 100) {
		peer_write(fds[1], big, 1000);
		wait_readable(fds[0]);
		assert_int_equal(strm_read_bytes(s, 65536, &data, &len), STRM_OK);
		total += len;
		pieces++;
		assert_true(strm_records(s) - before <= 1);
	}
	assert_int_equal(strm_records(s), before + 1);
	assert_true(pieces > 60);
	strm_discard_input(s);
	assert_false(strm_in_record(s));
	strm_free(&s);
	close(fds[1]);
}

static void test_discard_input(void **state)
{
	int fds[2];
	const char *line;
	size_t len;

	(void)state;
	make_pair(fds, true, false);
	strm *s = strm_new(fds[0]);
	peer_puts(fds[1], "X\r\nY\r\nZ\r\n");
	expect_line(s, 100, "X\r\n");
	assert_int_equal(strm_pending(s), 6);
	strm_discard_input(s);
	assert_int_equal(strm_pending(s), 0);
	assert_int_equal(strm_read_line(s, 100, &line, &len), STRM_AGAIN);
	peer_puts(fds[1], "W\r\n");
	expect_line(s, 100, "W\r\n");
	strm_free(&s);
	close(fds[1]);
}

static void test_eof(void **state)
{
	int fds[2];
	const char *line;
	size_t len;

	(void)state;
	make_pair(fds, true, false);
	strm *s = strm_new(fds[0]);
	peer_puts(fds[1], "last\r\n");
	close(fds[1]);
	expect_line(s, 100, "last\r\n");
	assert_int_equal(strm_read_line(s, 100, &line, &len), STRM_EOF);
	assert_int_equal(strm_read_line(s, 100, &line, &len), STRM_EOF);
	assert_int_equal(strm_fill(s), STRM_EOF);
	strm_free(&s);
}

/* ---- output ---- */

/* A 4 MiB reply does not fit in the socket: flush says AGAIN and wants
 * EV_WRITE; draining the peer lets it finish, bytes intact and in order. */
static void test_flush_full_socket(void **state)
{
	enum { TOTAL = 4 * 1024 * 1024 };
	int fds[2];
	char *out = xmalloc(TOTAL);
	char *in = xmalloc(TOTAL);
	size_t got = 0;
	int r;

	(void)state;
	for (size_t i = 0; i < TOTAL; i++)
		out[i] = (char)(i % 251);
	make_pair(fds, true, true);
	strm *s = strm_new(fds[0]);
	strm_write(s, out, TOTAL / 2);
	strm_write(s, out + TOTAL / 2, TOTAL / 2);
	assert_int_equal(strm_unflushed(s), TOTAL);
	assert_int_equal(strm_flush(s), STRM_AGAIN);
	assert_true(strm_unflushed(s) > 0 && strm_unflushed(s) < TOTAL);
	assert_true(strm_wants(s) & EV_WRITE);
	for (int i = 0; i < 100000 && (r = strm_flush(s)) == STRM_AGAIN; i++) {
		ssize_t n;
		while ((n = read(fds[1], in + got, TOTAL - got)) > 0)
			got += (size_t)n;
	}
	assert_int_equal(r, STRM_OK);
	assert_int_equal(strm_unflushed(s), 0);
	assert_false(strm_wants(s) & EV_WRITE);
	ssize_t n;
	while (got < TOTAL && (n = read(fds[1], in + got, TOTAL - got)) > 0)
		got += (size_t)n;
	assert_int_equal(got, TOTAL);
	assert_memory_equal(in, out, TOTAL);
	strm_free(&s);
	close(fds[1]);
	free(out);
	free(in);
}

static void test_puts_printf(void **state)
{
	int fds[2];
	char in[64];

	(void)state;
	make_pair(fds, false, false);
	strm *s = strm_new(fds[0]);
	strm_puts(s, "250-first\r\n");
	strm_printf(s, "%d %s\r\n", 250, "last");
	assert_int_equal(strm_flush(s), STRM_OK);
	ssize_t n = read(fds[1], in, sizeof(in));
	assert_int_equal(n, 21);
	assert_memory_equal(in, "250-first\r\n250 last\r\n", 21);
	/* writing to a closed peer is an error, not SIGPIPE */
	close(fds[1]);
	strm_puts(s, "x\r\n");
	assert_int_equal(strm_flush(s), STRM_ERROR);
	assert_non_null(strstr(strm_error(s), "write"));
	strm_free(&s);
}

/* ---- blocking mode ---- */

static void test_blocking_timeout(void **state)
{
	int fds[2];
	const char *line;
	size_t len;

	(void)state;
	make_pair(fds, false, false);
	strm *s = strm_new(fds[0]);
	strm_set_timeout(s, 100);
	peer_puts(fds[1], "hel");
	peer_puts(fds[1], "lo\r\n");
	expect_line(s, 100, "hello\r\n");
	/* a half line and then silence: the timeout, not a hang */
	peer_puts(fds[1], "half");
	int64_t start = now_ms();
	assert_int_equal(strm_read_line(s, 100, &line, &len), STRM_TIMEOUT);
	int64_t took = now_ms() - start;
	assert_true(took >= 90 && took < 1000);
	assert_non_null(strstr(strm_error(s), "timeout"));
	/* the rest arrives: the line is whole */
	peer_puts(fds[1], "way\r\n");
	expect_line(s, 100, "halfway\r\n");
	strm_free(&s);
	close(fds[1]);
}

/* ---- TLS ---- */

struct tls_fixture {
	char dir[64];
	char cert[128];
	char key[128];
	char key2[128];
	char both[128];
	SSL_CTX *server_ctx;
	SSL_CTX *client_ctx;
};

static void write_pem_key(const char *path, EVP_PKEY *key)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(fp);
}

static X509 *make_cert(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"mx.example", -1, -1, 0);
	X509_set_issuer_name(x, name);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

static int tls_setup(void **state)
{
	struct tls_fixture *f = xcalloc(1, sizeof(*f));
	char *err = NULL;

	strcpy(f->dir, "/tmp/test_strm.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->cert, sizeof(f->cert), "%s/cert.pem", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/key.pem", f->dir);
	snprintf(f->key2, sizeof(f->key2), "%s/other.pem", f->dir);
	snprintf(f->both, sizeof(f->both), "%s/both.pem", f->dir);

	EVP_PKEY *key = EVP_EC_gen("P-256");
	EVP_PKEY *key2 = EVP_EC_gen("P-256");
	if (key == NULL || key2 == NULL)
		return -1;
	X509 *cert = make_cert(key);
	FILE *fp = fopen(f->cert, "w");
	PEM_write_X509(fp, cert);
	fclose(fp);
	fp = fopen(f->both, "w");
	PEM_write_X509(fp, cert);
	PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
	fclose(fp);
	write_pem_key(f->key, key);
	write_pem_key(f->key2, key2);
	X509_free(cert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(key2);

	f->server_ctx = tls_server_ctx_new(f->cert, f->key, NULL, &err);
	if (f->server_ctx == NULL) {
		fprintf(stderr, "tls_server_ctx_new: %s\n", err);
		return -1;
	}
	f->client_ctx = tls_client_ctx_new(NULL, 0, &err);
	if (f->client_ctx == NULL) {
		fprintf(stderr, "tls_client_ctx_new: %s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int tls_teardown(void **state)
{
	struct tls_fixture *f = *state;

	SSL_CTX_free(f->server_ctx);
	SSL_CTX_free(f->client_ctx);
	unlink(f->cert);
	unlink(f->key);
	unlink(f->key2);
	unlink(f->both);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* handshake_both: alternate the two non-blocking handshakes to the end. */
static void handshake_both(strm *server, strm *client)
{
	int rs = STRM_AGAIN, rc = STRM_AGAIN;

	for (int i = 0; i < 100 && (rs != STRM_OK || rc != STRM_OK); i++) {
		if (rc != STRM_OK)
			rc = strm_handshake(client);
		if (rs != STRM_OK)
			rs = strm_handshake(server);
		assert_true(rs == STRM_OK || rs == STRM_AGAIN);
		assert_true(rc == STRM_OK || rc == STRM_AGAIN);
		if (rs == STRM_AGAIN)
			assert_true(strm_wants(server) != 0);
	}
	assert_int_equal(rs, STRM_OK);
	assert_int_equal(rc, STRM_OK);
}

/* pump_lines: server sends count lines; the client reads them while the
 * server flushes, both non-blocking, so TLS writes hit a full socket. */
static void pump_lines(strm *server, strm *client, int count)
{
	char expect[128];
	const char *line;
	size_t len;
	int next = 0;

	for (int i = 0; i < count; i++)
		strm_printf(server, "250-line %06d %s\r\n", i,
			    "padding padding padding padding padding padding");
	bool saw_again = false;
	for (int round = 0; round < 100000 && next < count; round++) {
		int r = strm_flush(server);
		assert_true(r == STRM_OK || r == STRM_AGAIN);
		saw_again |= r == STRM_AGAIN;
		while ((r = strm_read_line(client, 200, &line, &len)) == STRM_OK) {
			snprintf(expect, sizeof(expect), "250-line %06d %s\r\n", next,
				 "padding padding padding padding padding padding");
			assert_int_equal(len, strlen(expect));
			assert_memory_equal(line, expect, len);
			next++;
		}
		assert_int_equal(r, STRM_AGAIN);
	}
	assert_int_equal(next, count);
	assert_true(saw_again);
	assert_int_equal(strm_flush(server), STRM_OK);
}

static void test_starttls(void **state)
{
	struct tls_fixture *f = *state;
	int fds[2];
	const char *line;
	size_t len;

	make_pair(fds, true, true);
	strm *server = strm_new(fds[0]);
	strm *client = strm_new(fds[1]);

	/* plaintext phase */
	strm_puts(client, "EHLO client\r\n");
	assert_int_equal(strm_flush(client), STRM_OK);
	expect_line(server, 100, "EHLO client\r\n");
	assert_false(strm_is_tls(server));
	assert_null(strm_tls_info(server));
	assert_null(strm_ssl(server));

	/* STARTTLS with a command pipelined after it, in plaintext */
	strm_puts(client, "STARTTLS\r\nMAIL FROM:<evil@example>\r\n");
	assert_int_equal(strm_flush(client), STRM_OK);
	expect_line(server, 100, "STARTTLS\r\n");
	assert_true(strm_pending(server) > 0);
	strm_puts(server, "220 2.0.0 go ahead\r\n");
	assert_int_equal(strm_flush(server), STRM_OK);
	strm_start_tls(server, f->server_ctx, true, NULL);
	assert_int_equal(strm_pending(server), 0);
	assert_false(strm_is_tls(server));
	assert_int_equal(strm_wants(server), EV_READ);

	expect_line(client, 100, "220 2.0.0 go ahead\r\n");
	strm_start_tls(client, f->client_ctx, false, "mx.example");
	handshake_both(server, client);
	assert_int_equal(strm_handshake(server), STRM_OK);

	assert_true(strm_is_tls(server));
	assert_true(strm_is_tls(client));
	const char *sni = SSL_get_servername(strm_ssl(server), TLSEXT_NAMETYPE_host_name);
	assert_non_null(sni);
	assert_string_equal(sni, "mx.example");
	char *want_info = xasprintf("%s %s", SSL_get_version(strm_ssl(server)),
				    SSL_get_cipher_name(strm_ssl(server)));
	assert_string_equal(strm_tls_info(server), want_info);
	assert_string_equal(strm_tls_info(client), want_info);
	assert_true(strncmp(strm_tls_info(server), "TLSv1.", 6) == 0);
	assert_non_null(strchr(strm_tls_info(server), ' '));
	free(want_info);

	/* the first line over TLS is the client's, not the pipelined plaintext */
	strm_puts(client, "MAIL FROM:<good@example>\r\n");
	assert_int_equal(strm_flush(client), STRM_OK);
	expect_line(server, 100, "MAIL FROM:<good@example>\r\n");
	assert_int_equal(strm_read_line(server, 100, &line, &len), STRM_AGAIN);

	/* long line limits work the same over TLS */
	strm_puts(client, "RCPT TO:<0123456789012345678901234567890123456789>\r\nNOOP\r\n");
	assert_int_equal(strm_flush(client), STRM_OK);
	assert_int_equal(read_line_wait(server, 20, &line, &len), STRM_TOOLONG);
	assert_int_equal(strm_skip_line(server), STRM_OK);
	expect_line(server, 20, "NOOP\r\n");

	/* a big multi-line reply: TLS writes meet a full socket */
	pump_lines(server, client, 8000);

	/* blocking mode over TLS: the timeout holds */
	assert_int_equal(fcntl(fds[0], F_SETFL, 0), 0);
	strm_set_timeout(server, 100);
	assert_int_equal(strm_read_line(server, 100, &line, &len), STRM_TIMEOUT);

	/* close_notify reaches the client as EOF */
	strm_free(&server);
	assert_int_equal(read_line_wait(client, 100, &line, &len), STRM_EOF);
	strm_free(&client);
}

/* Plaintext sent where the server expects a ClientHello fails the
 * handshake with an error, never as data. */
static void test_tls_garbage_handshake(void **state)
{
	struct tls_fixture *f = *state;
	int fds[2];

	make_pair(fds, true, false);
	strm *server = strm_new(fds[0]);
	strm_start_tls(server, f->server_ctx, true, NULL);
	assert_int_equal(strm_handshake(server), STRM_AGAIN);
	peer_puts(fds[1], "MAIL FROM:<evil@example>\r\nRCPT TO:<x@example>\r\n\r\n");
	wait_readable(fds[0]);
	assert_int_equal(strm_handshake(server), STRM_ERROR);
	assert_non_null(strstr(strm_error(server), "TLS handshake"));
	assert_false(strm_is_tls(server));
	strm_free(&server);
	close(fds[1]);
}

/* Implicit TLS with a blocking client in a child process. */
static void test_implicit_tls_blocking(void **state)
{
	struct tls_fixture *f = *state;
	int fds[2];

	make_pair(fds, false, false);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *line;
		size_t len;
		close(fds[0]);
		strm *c = strm_new(fds[1]);
		strm_set_timeout(c, 1000);
		strm_start_tls(c, f->client_ctx, false, NULL);
		int ok = strm_handshake(c) == STRM_OK &&
			 strm_read_line(c, 100, &line, &len) == STRM_OK &&
			 len == 8 && memcmp(line, "+OK hi\r\n", 8) == 0;
		strm_puts(c, ok ? "QUIT\r\n" : "FAIL\r\n");
		ok = strm_flush(c) == STRM_OK && ok;
		strm_free(&c);
		_exit(ok ? 0 : 1);
	}
	close(fds[1]);
	strm *s = strm_new(fds[0]);
	strm_set_timeout(s, 1000);
	strm_start_tls(s, f->server_ctx, true, NULL);
	assert_int_equal(strm_handshake(s), STRM_OK);
	assert_true(strm_is_tls(s));
	strm_puts(s, "+OK hi\r\n");
	assert_int_equal(strm_flush(s), STRM_OK);
	expect_line(s, 100, "QUIT\r\n");
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	strm_free(&s);
}

/* Decrypted bytes held by OpenSSL must be read without waiting for the
 * socket. The child sends "hi\n" and a 1 MiB+ line in 16 KiB records;
 * the parent's buffer limit falls 3 bytes into the last record, so after
 * TOOLONG the line end and "END" sit in OpenSSL while the socket is idle:
 * a poll() there would time out. */
static void test_tls_pending_drained(void **state)
{
	enum { ZLEN = 1024 * 1024 + 100 };
	struct tls_fixture *f = *state;
	int fds[2];
	const char *line;
	size_t len;

	make_pair(fds, false, false);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[1]);
		strm *srv = strm_new(fds[0]);
		char *z = malloc(ZLEN);
		strm_set_timeout(srv, 2000);
		strm_start_tls(srv, f->server_ctx, true, NULL);
		int ok = z != NULL && strm_handshake(srv) == STRM_OK;
		if (ok) {
			memset(z, 'z', ZLEN);
			strm_puts(srv, "hi\n");
			strm_write(srv, z, ZLEN);
			strm_puts(srv, "\nEND\n");
			ok = strm_flush(srv) == STRM_OK &&
			     strm_read_line(srv, 100, &line, &len) == STRM_OK;
		}
		free(z);
		strm_free(&srv);
		_exit(ok ? 0 : 1);
	}
	close(fds[0]);
	strm *c = strm_new(fds[1]);
	strm_set_timeout(c, 500);
	strm_start_tls(c, f->client_ctx, false, NULL);
	assert_int_equal(strm_handshake(c), STRM_OK);
	expect_line(c, 100, "hi\n");
	assert_int_equal(strm_read_line(c, 4 * 1024 * 1024, &line, &len), STRM_TOOLONG);
	assert_int_equal(len, 1024 * 1024);
	assert_true(strm_pending(c) > 0);
	assert_int_equal(strm_skip_line(c), STRM_OK);
	expect_line(c, 100, "END\n");
	strm_puts(c, "BYE\n");
	assert_int_equal(strm_flush(c), STRM_OK);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	strm_free(&c);
}

/* ---- TLS contexts ---- */

static void expect_ctx_error(const char *cert, const char *key, const char *proto,
			     const char *needle1, const char *needle2)
{
	char *err = NULL;
	SSL_CTX *ctx = tls_server_ctx_new(cert, key, proto, &err);

	assert_null(ctx);
	assert_non_null(err);
	if (strstr(err, needle1) == NULL || (needle2 != NULL && strstr(err, needle2) == NULL))
		fail_msg("error \"%s\" lacks \"%s\" / \"%s\"", err, needle1,
			 needle2 ? needle2 : "");
	free(err);
}

static void test_tls_ctx_errors(void **state)
{
	struct tls_fixture *f = *state;
	char missing[160];
	char *err = NULL;

	snprintf(missing, sizeof(missing), "%s/missing.pem", f->dir);
	expect_ctx_error(missing, f->key, NULL, "cannot read certificate", missing);
	expect_ctx_error(f->cert, missing, NULL, "cannot read private key", missing);
	expect_ctx_error(f->cert, f->key2, NULL, "does not match", f->key2);
	expect_ctx_error(f->cert, f->key2, NULL, f->cert, NULL);
	/* a key file is not a certificate, and a certificate holds no key */
	expect_ctx_error(f->key, f->key, NULL, "cannot read certificate", f->key);
	expect_ctx_error(f->cert, f->cert, NULL, "cannot read private key", f->cert);
	expect_ctx_error(f->cert, f->key, "TLSv1.1", "TLSv1.1", NULL);
	expect_ctx_error(f->cert, f->key, "", "unknown TLS protocol", NULL);

	/* certificate and key in one file; TLSv1.3 floor */
	SSL_CTX *ctx = tls_server_ctx_new(f->both, f->both, "TLSv1.3", &err);
	assert_non_null(ctx);
	assert_null(err);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
	assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION);
	assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION);
	assert_true(SSL_CTX_get_options(ctx) & SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_free(ctx);
	assert_int_equal(SSL_CTX_get_min_proto_version(f->server_ctx), TLS1_2_VERSION);

	assert_null(tls_client_ctx_new(missing, 1, &err));
	assert_non_null(strstr(err, missing));
	free(err);
	ctx = tls_client_ctx_new(f->cert, 1, &err);
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER);
	SSL_CTX_free(ctx);
}

static void test_tls_errors_text(void **state)
{
	(void)state;
	char *text = tls_errors();
	assert_non_null(text);
	assert_true(strlen(text) > 0);
	free(text);
	/* a real error is collected and the queue cleared */
	assert_null(BIO_new_file("/nonexistent/dir/file", "r"));
	text = tls_errors();
	assert_non_null(strstr(text, "No such file"));
	free(text);
	assert_int_equal(ERR_peek_error(), 0);
}

int main(void)
{
	const struct CMUnitTest plain[] = {
		cmocka_unit_test(test_lines_table),
		cmocka_unit_test(test_line_with_nul),
		cmocka_unit_test(test_lines_byte_by_byte),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_toolong_table),
		cmocka_unit_test(test_skip_line_needs_more),
		cmocka_unit_test(test_input_buffer_limit),
		cmocka_unit_test(test_read_bytes),
		cmocka_unit_test(test_read_bytes_exact),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_discard_input),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_flush_full_socket),
		cmocka_unit_test(test_puts_printf),
		cmocka_unit_test(test_blocking_timeout),
	};
	const struct CMUnitTest tls[] = {
		cmocka_unit_test(test_starttls),
		cmocka_unit_test(test_tls_garbage_handshake),
		cmocka_unit_test(test_implicit_tls_blocking),
		cmocka_unit_test(test_tls_pending_drained),
		cmocka_unit_test(test_tls_ctx_errors),
		cmocka_unit_test(test_tls_errors_text),
	};

	signal(SIGPIPE, SIG_IGN);
	int failed = cmocka_run_group_tests_name("strm", plain, NULL, NULL);
	failed += cmocka_run_group_tests_name("strm_tls", tls, tls_setup, tls_teardown);
	return failed;
}
