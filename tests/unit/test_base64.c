/* test_base64.c: unit tests for the base64 codec (lib/base64.c): the
 * RFC 4648 section 10 vectors both ways, binary data with NULs and high
 * bytes, a round trip over every length up to 64, and a table of inputs
 * the strict decoder must refuse (bad characters, whitespace, missing or
 * misplaced padding, non-zero unused bits) without touching the output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base64.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

struct vector {
	const char *plain;
	const char *encoded;
};

static const struct vector vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
	{ "Username:", "VXNlcm5hbWU6" },
	{ "Password:", "UGFzc3dvcmQ6" },
	{ "n,,", "biws" },
};

static void test_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(vectors); i++) {
		buf *b = buf_new(0);

		base64_encode(b, vectors[i].plain, strlen(vectors[i].plain));
		assert_string_equal(buf_cstr(b), vectors[i].encoded);
		assert_int_equal(buf_len(b), base64_encoded_len(strlen(vectors[i].plain)));
		buf_reset(b);
		assert_int_equal(base64_decode(b, vectors[i].encoded, strlen(vectors[i].encoded)), 0);
		assert_string_equal(buf_cstr(b), vectors[i].plain);
		assert_int_equal(buf_len(b), strlen(vectors[i].plain));
		buf_free(&b);
	}
}

static void test_binary(void **state)
{
	static const unsigned char bin[] = { 0x00, 0xff, 0x00, 0xfb, 0xef, 0xbe, 0x80 };
	buf *b = buf_new(0);
	buf *d = buf_new(0);

	(void)state;
	base64_encode(b, bin, sizeof(bin));
	assert_string_equal(buf_cstr(b), "AP8A++++gA==");
	assert_int_equal(base64_decode(d, buf_cstr(b), buf_len(b)), 0);
	assert_int_equal(buf_len(d), sizeof(bin));
	assert_memory_equal(buf_cstr(d), bin, sizeof(bin));
	buf_free(&b);
	buf_free(&d);
}

static void test_round_trip(void **state)
{
	unsigned char data[64];

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 37 + 11);
	for (size_t len = 0; len <= sizeof(data); len++) {
		buf *e = buf_new(0);
		buf *d = buf_new(0);

		base64_encode(e, data, len);
		assert_true(base64_decoded_max(buf_len(e)) >= len);
		assert_int_equal(base64_decode(d, buf_cstr(e), buf_len(e)), 0);
		assert_int_equal(buf_len(d), len);
		assert_memory_equal(buf_cstr(d), data, len);
		buf_free(&e);
		buf_free(&d);
	}
}

static const char *const bad_inputs[] = {
	"Zg=",       /* length not a multiple of 4 */
	"Zg",        /* padding missing */
	"Z===",      /* three pad characters */
	"====",
	"Zm=v",      /* '=' inside a group */
	"Zg==Zm9v",  /* padding before the last group */
	"Zh==",      /* unused bits not zero */
	"Zm9=",      /* unused bits not zero */
	"Zm9v\r\n",  /* line ending */
	"Zm 9v",     /* whitespace */
	"Zm9-",      /* URL-safe alphabet */
	"Zm9_",
	"*",
	"=",
	"Zm9v\x80\x80\x80\x80",
};

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(bad_inputs); i++) {
		buf *b = buf_new(0);

		buf_puts(b, "keep");
		assert_int_equal(base64_decode(b, bad_inputs[i], strlen(bad_inputs[i])), -1);
		assert_string_equal(buf_cstr(b), "keep");
		buf_free(&b);
	}
}

static void test_length_bound(void **state)
{
	buf *b = buf_new(0);

	(void)state;
	/* a decoder given len must not look at the bytes after it */
	assert_int_equal(base64_decode(b, "Zm9v!!!!", 4), 0);
	assert_string_equal(buf_cstr(b), "foo");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_length_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
