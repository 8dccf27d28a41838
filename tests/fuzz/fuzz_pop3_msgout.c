/* fuzz_pop3_msgout.c: fuzz target for pop3d/msgout.c, the conversion of a
 * stored message into a POP3 multi-line answer. Byte 0 picks the piece
 * size the message is fed in (low 4 bits: 0 = all at once, else 1-15
 * bytes, growing by one per piece) and the command (high 4 bits: 8-15
 * RETR, 0-7 TOP with that many body lines); the rest is the message.
 * The output is checked against a byte-at-a-time model of RFC 1939's
 * rules and against invariants: it ends with ".CRLF", no line before it
 * is exactly ".", and for RETR its length minus the stuffed dots, the
 * terminator and an added line end is the message's CRLF size. */
#include "fuzz_util.h"

#include <stdbool.h>

#include "buf.h"
#include "msgout.h"

/* fz_model: the expected answer, one input byte at a time. */
static buf *fz_model(const char *in, size_t len, long long body_lines)
{
	buf *out = buf_new(len * 2 + 8);
	bool line_start = true, prev_cr = false, text = false, in_body = false;
	long long left = body_lines;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (body_lines >= 0 && in_body && left == 0)
			break;
		if (c == '\n') {
			buf_append(out, prev_cr ? "\n" : "\r\n", prev_cr ? 1 : 2);
			if (!in_body && !text)
				in_body = true;
			else if (in_body && left > 0)
				left--;
			line_start = true;
			prev_cr = text = false;
			continue;
		}
		if (line_start && c == '.')
			buf_putc(out, '.');
		buf_putc(out, c);
		text = text || c != '\r';
		prev_cr = c == '\r';
		line_start = false;
	}
	if (!line_start)
		buf_append(out, prev_cr ? "\n" : "\r\n", prev_cr ? 1 : 2);
	buf_append(out, ".\r\n", 3);
	return out;
}

/* fz_check_lines: the answer ends with ".CRLF" and no line before that
 * is a lone "." (the client would stop there). */
static void fz_check_lines(const char *o, size_t len)
{
	size_t start = 0;

	if (len < 3 || memcmp(o + len - 3, ".\r\n", 3) != 0)
		abort();
	if (len > 3 && (len < 5 || memcmp(o + len - 5, "\r\n", 2) != 0))
		abort();
	for (size_t i = 0; i + 1 < len - 3; i++) {
		if (o[i] != '\r' || o[i + 1] != '\n')
			continue;
		if (i - start == 1 && o[start] == '.')
			abort();
		start = i + 2;
	}
}

/* fz_check_retr_size: for RETR, output = CRLF size + stuffing + added
 * line end + terminator. */
static void fz_check_retr_size(const char *in, size_t len, size_t outlen)
{
	size_t crlf = len, stuffed = 0, added = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			crlf++;
		if (in[i] == '.' && (i == 0 || in[i - 1] == '\n'))
			stuffed++;
	}
	if (len > 0 && in[len - 1] != '\n')
		added = in[len - 1] == '\r' ? 1 : 2;
	if (outlen != crlf + stuffed + added + 3)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msgout m;
	long long lines;
	size_t step, at = 0;
	const char *in;
	buf *out, *want;

	if (size == 0)
		return 0;
	step = data[0] & 15;
	lines = (data[0] >> 4) >= 8 ? -1 : (data[0] >> 4);
	in = (const char *)data + 1;
	size--;
	out = buf_new(0);
	msgout_init(&m, lines);
	while (at < size && !m.done) {
		size_t n = step == 0 || step > size - at ? size - at : step;
		size_t used = msgout_feed(&m, in + at, n, out);

		if (used > n || (used < n && !m.done))
			abort();
		at += used;
		if (step != 0)
			step++;
	}
	if (lines < 0 && (at != size || m.done))
		abort();
	msgout_finish(&m, out);
	want = fz_model(in, size, lines);
	if (buf_len(out) != buf_len(want) || memcmp(buf_cstr(out), buf_cstr(want), buf_len(out)) != 0)
		abort();
	fz_check_lines(buf_cstr(out), buf_len(out));
	if (lines < 0)
		fz_check_retr_size(in, size, buf_len(out));
	buf_free(&out);
	buf_free(&want);
	return 0;
}
