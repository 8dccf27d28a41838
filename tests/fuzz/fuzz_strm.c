/* fuzz_strm.c: fuzz target for the line stream (lib/strm.c). The first
 * bytes of the input choose the line limit, the write chunk size and a
 * seed for the sequence of reads; the rest is written into a socketpair in
 * chunks while the other end is read through a non-blocking strm with
 * strm_read_line / strm_read_bytes / strm_skip_line. Checks: lines end in
 * LF and respect the limit, and when nothing was skipped the bytes read
 * equal the bytes written, in order. The loop is bounded so a stream that
 * stops making progress is reported. */
#include "fuzz_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "buf.h"
#include "log.h"
#include "strm.h"

struct reader {
	strm *s;
	size_t max; /* line limit */
	uint32_t rng; /* chooses the next read call */
	buf *got; /* everything returned */
	bool lossy; /* skip_line dropped bytes */
	bool eof;
};

static uint32_t next_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* read_some: one read call; false when it would block or the stream ended. */
static bool read_some(struct reader *r)
{
	const char *data;
	size_t len = 0;
	uint32_t pick = next_rand(&r->rng) % 8;
	int ret;

	if (pick < 5) {
		ret = strm_read_line(r->s, r->max, &data, &len);
		if (ret == STRM_OK && (len == 0 || len > r->max || data[len - 1] != '\n'))
			abort();
		if (ret == STRM_TOOLONG) {
			if (len == 0 || len > r->max)
				abort();
			buf_append(r->got, data, len);
			if (next_rand(&r->rng) % 2 == 0) {
				r->lossy = true;
				ret = strm_skip_line(r->s);
				if (ret == STRM_OK)
					return true;
			} else {
				return true;
			}
		}
	} else {
		ret = strm_read_bytes(r->s, 1 + next_rand(&r->rng) % 700, &data, &len);
	}
	if (ret == STRM_OK) {
		buf_append(r->got, data, len);
		return true;
	}
	if (ret == STRM_EOF)
		r->eof = true;
	else if (ret != STRM_AGAIN)
		abort(); /* a socketpair gives no errors or timeouts */
	return false;
}

/* drain: after EOF, a last line without LF is still there as bytes. */
static void drain(struct reader *r)
{
	const char *data;
	size_t len;

	for (int i = 0; i < 100000; i++) {
		if (strm_read_bytes(r->s, 4096, &data, &len) != STRM_OK || len == 0)
			return;
		buf_append(r->got, data, len);
	}
	abort();
}

static int make_pair(int fds[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
		return -1;
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	return 0;
}

/* write_chunk: writes up to chunk bytes; returns the number written. */
static size_t write_chunk(int fd, const uint8_t *data, size_t left, size_t chunk)
{
	ssize_t n = write(fd, data, left < chunk ? left : chunk);

	if (n < 0 && errno != EAGAIN)
		abort();
	return n < 0 ? 0 : (size_t)n;
}

static void run(struct reader *r, int wfd, const uint8_t *data, size_t size, size_t chunk)
{
	size_t sent = 0;
	long rounds = 0;

	while (!r->eof) {
		if (++rounds > 1000000)
			abort(); /* no progress: a hang */
		if (sent < size)
			sent += write_chunk(wfd, data + sent, size - sent, chunk);
		if (sent == size && wfd >= 0) {
			close(wfd);
			wfd = -1;
		}
		while (read_some(r))
			if (++rounds > 1000000)
				abort();
	}
	drain(r);
	if (wfd >= 0)
		close(wfd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { 0 };
	int fds[2];
	size_t chunk;

	if (size < 4)
		return 0;
	log_set_level(LOG_LVL_FATAL);
	r.max = 1 + data[0] * 4u;
	chunk = 1 + (size_t)data[1] * 64u;
	r.rng = 0x9e3779b9u ^ ((uint32_t)data[2] << 8 | data[3]);
	data += 4;
	size -= 4;
	if (make_pair(fds) < 0)
		abort();
	r.s = strm_new(fds[0]);
	r.got = buf_new(size + 1);
	run(&r, fds[1], data, size, chunk);
	if (!r.lossy && (buf_len(r.got) != size || memcmp(buf_cstr(r.got), data, size) != 0))
		abort();
	if (r.lossy && buf_len(r.got) > size)
		abort();
	buf_free(&r.got);
	strm_free(&r.s);
	return 0;
}
