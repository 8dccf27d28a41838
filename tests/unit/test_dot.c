/* test_dot.c: unit tests for lib/dot.c, the dot-stuffing codec. Tables
 * of input and expected output for both directions; every case is run
 * whole, split in two at every byte boundary, and fed one byte at a time,
 * and must give the same answer each way. The decoder table holds the
 * SMTP smuggling cases: only <CRLF>.<CRLF> ends the data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dot.h"

/* decode_pieces: feeds in[0..cut) then the rest in pieces of step bytes
 * (step 0: the rest at once). Returns the bytes consumed when the end was
 * found, -1 if not. */
static long decode_pieces(const char *in, size_t len, size_t cut, size_t step, buf *out)
{
	struct dot_decoder d;
	size_t off = 0;

	dot_decoder_init(&d);
	while (off < len) {
		size_t want = off < cut ? cut - off : step == 0 ? len - off : step;
		size_t n = len - off < want ? len - off : want, used = 0;

		if (dot_decode(&d, in + off, n, out, &used) == 1)
			return (long)(off + used);
		assert_int_equal(used, n);
		off += n;
	}
	return -1;
}

static const struct {
	const char *in;
	long end; /* bytes up to the end of data, -1 = not ended */
	const char *out;
} decode_cases[] = {
	{ ".\r\n", 3, "" },
	{ "a\r\n.\r\n", 6, "a\n" },
	{ "a\r\n..b\r\n.\r\nQUIT\r\n", 11, "a\n.b\n" },
	{ "..\r\n.\r\n", 7, ".\n" },
	{ ".x\r\n.\r\n", 7, "x\n" },
	{ "...\r\n.\r\n", 8, "..\n" },
	{ "a.\r\n.b.\r\n.\r\n", 12, "a.\nb.\n" },
	{ "", -1, "" },
	{ "no end", -1, "no end" },
	{ "held cr\r", -1, "held cr" },
	{ "\r\n\r\n.\r\n", 7, "\n\n" },
	/* smuggling: none of these end the data */
	{ "a\n.\nMAIL FROM:<x@y>\r\n", -1, "a\n.\nMAIL FROM:<x@y>\n" },
	{ "a\n.\r\nRCPT TO:<x@y>\r\n", -1, "a\n.\nRCPT TO:<x@y>\n" },
	{ "a\r.\rDATA\r\n", -1, "a\r.\rDATA\n" },
	{ "a\r\n.\rb\r\n", -1, "a\n\rb\n" },
	{ "a\r\n.\nb\r\n", -1, "a\n\nb\n" },
	{ "a\r\n.\r\r\n", -1, "a\n\r\n" },
	{ "\n.\r\n", -1, "\n.\n" },
	{ ".\n", -1, "\n" },
	/* bare LF then the real end */
	{ "a\nb\r\n.\r\n", 8, "a\nb\n" },
	{ "x\r\r\n.\r\n", 7, "x\r\n" },
	{ "bare\rcr\r\n.\r\n", 12, "bare\rcr\n" },
	{ "\r\r\r\n.\r\n", 7, "\r\r\n" },
};

static void test_decode(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]); i++) {
		size_t len = strlen(decode_cases[i].in);

		for (size_t cut = 0; cut <= len + 1; cut++) {
			/* cut = len + 1: one byte at a time */
			size_t step = cut == len + 1 ? 1 : 0;
			buf *out = buf_new(64);
			long end = decode_pieces(decode_cases[i].in, len, cut > len ? 0 : cut, step,
						 out);

			if (end != decode_cases[i].end || strcmp(buf_cstr(out), decode_cases[i].out) != 0)
				fail_msg("decode case %zu cut %zu: end %ld out '%s'", i, cut, end,
					 buf_cstr(out)); /* (fail_msg does not return: out leaks) */
			buf_free(&out);
		}
	}
}

/* encode_pieces: as decode_pieces, for the encoder; the answer is
 * finished. by_line uses dot_encode_line instead of dot_encode. */
static char *encode_pieces(const char *in, size_t len, size_t cut, size_t step, bool by_line)
{
	struct dot_encoder e;
	buf *out = buf_new(64);
	size_t off = 0;

	dot_encoder_init(&e);
	while (off < len) {
		size_t want = off < cut ? cut - off : step == 0 ? len - off : step;
		size_t n = len - off < want ? len - off : want;

		if (!by_line) {
			dot_encode(&e, in + off, n, out);
			off += n;
			continue;
		}
		for (size_t used = 0; used < n;) {
			const char *lf = memchr(in + off + used, '\n', n - used);
			size_t got = dot_encode_line(&e, in + off + used, n - used, out);

			assert_int_equal(got, lf != NULL ? (size_t)(lf - (in + off + used)) + 1 : n - used);
			used += got;
		}
		off += n;
	}
	dot_encode_finish(&e, out);
	return buf_steal_free(&out);
}

static const struct {
	const char *in, *out;
} encode_cases[] = {
	{ "", ".\r\n" },
	{ "a\nb\n", "a\r\nb\r\n.\r\n" },
	{ "a\r\nb\r\n", "a\r\nb\r\n.\r\n" },
	{ "a\r\nb\n", "a\r\nb\r\n.\r\n" },
	{ "no final newline", "no final newline\r\n.\r\n" },
	{ ".\n..x\n.\r\nx.\n", "..\r\n...x\r\n..\r\nx.\r\n.\r\n" },
	{ "a\rb\n", "a\rb\r\n.\r\n" },
	{ "ends in cr\r", "ends in cr\r\n.\r\n" },
	{ "\n\n", "\r\n\r\n.\r\n" },
	{ ".", "..\r\n.\r\n" },
	{ "\r.\n", "\r.\r\n.\r\n" },
	{ "x\n.", "x\r\n..\r\n.\r\n" },
	{ "\r\r\n", "\r\r\n.\r\n" },
};

static void test_encode(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(encode_cases) / sizeof(encode_cases[0]); i++) {
		size_t len = strlen(encode_cases[i].in);

		for (size_t cut = 0; cut <= len + 1; cut++) {
			for (int by_line = 0; by_line < 2; by_line++) {
				size_t step = cut == len + 1 ? 1 : 0;
				char *got = encode_pieces(encode_cases[i].in, len, cut > len ? 0 : cut,
							  step, by_line);

				if (strcmp(got, encode_cases[i].out) != 0)
					fail_msg("encode case %zu cut %zu line %d: got '%s'", i, cut,
						 by_line, got);
				free(got);
			}
		}
	}
}

/* test_round_trip: decode(encode(text)) is the text with CRLF -> LF, and
 * the end of data is found exactly at the end of the encoding. */
static void test_round_trip(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "Subject: x\r\n\r\n.\r\n..\r\n.x\r\n", "Subject: x\n\n.\n..\n.x\n" },
		{ "a\n.\n", "a\n.\n" },
		{ ".\r", ".\n" },
		{ "x\r.\r\n", "x\r.\n" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *wire = encode_pieces(cases[i].in, strlen(cases[i].in), 0, 0, false);
		buf *out = buf_new(64);
		long end = decode_pieces(wire, strlen(wire), 0, 0, out);

		assert_int_equal(end, (long)strlen(wire));
		assert_string_equal(buf_cstr(out), cases[i].out);
		buf_free(&out);
		free(wire);
	}
}

/* test_lf_decode: CRLF -> LF in every split of the input. */
static void test_lf_decode(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "a\r\nb\r\n", "a\nb\n" },
		{ "bare\nlf\r", "bare\nlf\r" },
		{ "cr\ronly\r\r\n", "cr\ronly\r\n" },
		{ "\r\n\r\n.\r\n", "\n\n.\n" },
		{ "", "" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in);

		for (size_t cut = 0; cut <= len; cut++) {
			struct dot_lf_decoder d;
			buf *out = buf_new(16);

			dot_lf_decoder_init(&d);
			dot_lf_decode(&d, cases[i].in, cut, out);
			dot_lf_decode(&d, cases[i].in + cut, len - cut, out);
			dot_lf_finish(&d, out);
			assert_string_equal(buf_cstr(out), cases[i].out);
			buf_free(&out);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_lf_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
