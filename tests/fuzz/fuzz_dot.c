/* fuzz_dot.c: fuzz target for lib/dot.c, the dot-stuffing codec. Byte 0
 * picks the piece sizes (low 4 bits for the encoder, high 4 bits for the
 * decoder: 0 = all at once, else that many bytes, growing by one per
 * piece); the rest is a message. Checks the round trip: the encoding is
 * decoded to the message with CRLF -> LF (a last line without a line end
 * gets one), the end of data is found exactly at the encoding's end, and
 * the raw input fed to the decoder never overruns its buffer. */
#include "fuzz_util.h"

#include <stdbool.h>

#include "buf.h"
#include "dot.h"

/* fz_expected: the message as the decoder must give it back. */
static buf *fz_expected(const char *in, size_t len)
{
	buf *b = buf_new(len + 1);

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\r' && (i + 1 == len || in[i + 1] == '\n'))
			continue; /* CRLF -> LF; a CR at the very end meets the added LF */
		buf_putc(b, in[i]);
	}
	if (len > 0 && in[len - 1] != '\n')
		buf_putc(b, '\n');
	return b;
}

static buf *fz_encode(const char *in, size_t len, size_t step)
{
	struct dot_encoder e;
	buf *out = buf_new(len * 2 + 8);

	dot_encoder_init(&e);
	for (size_t at = 0; at < len;) {
		size_t n = step == 0 || step > len - at ? len - at : step;

		if (step & 1)
			dot_encode(&e, in + at, n, out);
		else
			for (size_t u = 0; u < n;)
				u += dot_encode_line(&e, in + at + u, n - u, out);
		at += n;
		if (step != 0)
			step++;
	}
	dot_encode_finish(&e, out);
	return out;
}

/* fz_decode: decodes in pieces; returns where the end was found or -1. */
static long fz_decode(const char *in, size_t len, size_t step, buf *out)
{
	struct dot_decoder d;

	dot_decoder_init(&d);
	for (size_t at = 0; at < len;) {
		size_t n = step == 0 || step > len - at ? len - at : step, used = 0;

		if (dot_decode(&d, in + at, n, out, &used) == 1) {
			if (used == 0 || used > n)
				abort();
			return (long)(at + used);
		}
		if (used != n)
			abort();
		at += n;
		if (step != 0)
			step++;
	}
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in;
	buf *wire, *got, *want;
	size_t enc_step, dec_step;

	if (size == 0)
		return 0;
	enc_step = data[0] & 15;
	dec_step = data[0] >> 4;
	in = (const char *)data + 1;
	size--;
	wire = fz_encode(in, size, enc_step);
	got = buf_new(size + 1);
	if (fz_decode(buf_cstr(wire), buf_len(wire), dec_step, got) != (long)buf_len(wire))
		abort();
	want = fz_expected(in, size);
	if (buf_len(got) != buf_len(want) || memcmp(buf_cstr(got), buf_cstr(want), buf_len(got)) != 0)
		abort();
	buf_reset(got);
	(void)fz_decode(in, size, dec_step, got); /* raw input: any bytes, no crash */
	buf_free(&wire);
	buf_free(&got);
	buf_free(&want);
	return 0;
}
