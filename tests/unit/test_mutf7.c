/* test_mutf7.c: unit tests for lib/mutf7.c, modified UTF-7 mailbox names:
 * a table of UTF-8 names and their wire forms (RFC 3501's own example
 * among them) both ways, UTF-8 the encoder refuses, and wire forms the
 * decoder refuses (bad base64, padding, surrogates, non-minimal runs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "mutf7.h"

static const struct {
	const char *utf8, *wire;
} pairs[] = {
	{ "", "" },
	{ "INBOX", "INBOX" },
	{ "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	  "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },
	{ "Entw\xc3\xbcrfe", "Entw&APw-rfe" },
	{ "\xc3\xa4", "&AOQ-" },
	{ "&", "&-" },
	{ "a&&b", "a&-&-b" },
	{ "\xf0\x9f\x98\x80", "&2D3eAA-" },
	{ "\xc3\x9cn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 & co", "&ANw-n&AO8-c&APY-d&AOk- &- co" },
	{ "a\xc3\xa9" "b\xc3\xa9", "a&AOk-b&AOk-" },
	{ "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xc3\xbf", "&ZeVnLIqeAP8-" },
	{ "\xc3\xa9&", "&AOk-&-" },
	{ "tab\x09", "tab&AAk-" },
};

static void test_pairs(void **state)
{
	buf *out = buf_new(64);

	(void)state;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		buf_reset(out);
		assert_int_equal(mutf7_encode(out, pairs[i].utf8, strlen(pairs[i].utf8)), 0);
		assert_string_equal(buf_cstr(out), pairs[i].wire);
		buf_reset(out);
		assert_int_equal(mutf7_decode(out, pairs[i].wire, strlen(pairs[i].wire), NULL), 0);
		assert_string_equal(buf_cstr(out), pairs[i].utf8);
		assert_true(mutf7_is_valid(pairs[i].wire, strlen(pairs[i].wire)));
	}
	buf_free(&out);
}

static void test_encode_refused(void **state)
{
	static const char *const bad[] = {
		"\xc0\xaf",	    /* overlong '/' */
		"\xe0\x80\xaf",	    /* overlong */
		"\xed\xa0\x80",	    /* a surrogate in UTF-8 */
		"\xf4\x90\x80\x80", /* over U+10FFFF */
		"ab\xc3",	    /* cut */
		"\xff",
		"\x80",
	};
	buf *out = buf_new(16);

	(void)state;
	buf_puts(out, "kept");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mutf7_encode(out, bad[i], strlen(bad[i])), -1);
		assert_string_equal(buf_cstr(out), "kept");
	}
	assert_int_equal(mutf7_encode(out, "a\0b", 3), -1); /* NUL */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(mutf7_utf8_valid(bad[i], strlen(bad[i])));
	assert_true(mutf7_utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10));
	assert_true(mutf7_utf8_valid("", 0));
	buf_free(&out);
}

static void test_decode_refused(void **state)
{
	static const char *const bad[] = {
		"&",		/* not closed */
		"&AOQ",		/* not closed */
		"a&AOQ-&AOk-",	/* two runs side by side */
		"&AGE-",	/* 'a' encoded */
		"&ACY-",	/* '&' encoded */
		"&AOR-",	/* padding bits not zero */
		"&AOQA-",	/* a whole digit left over */
		"&A-",		/* too short for a unit */
		"&AO/-",	/* '/' is not modified base64 */
		"&AO=-",	/* padding */
		"&2D0-",	/* high surrogate alone */
		"&3gA-",	/* low surrogate alone */
		"&2D3YPQ-",	/* two high surrogates */
		"&2D0AQQ-",	/* high then a plain unit */
		"&AAA-",	/* NUL */
		"caf\xc3\xa9",	/* 8-bit on the wire */
		"tab\t",	/* control character */
		"&AOQ\x80-",
	};
	buf *out = buf_new(16);
	const char *err;

	(void)state;
	buf_puts(out, "kept");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		assert_int_equal(mutf7_decode(out, bad[i], strlen(bad[i]), &err), -1);
		assert_non_null(err);
		assert_string_equal(buf_cstr(out), "kept");
		assert_false(mutf7_is_valid(bad[i], strlen(bad[i])));
	}
	buf_free(&out);
}

/* Every BMP character and a few astral ones survive the round trip. */
static void test_round_trip_all(void **state)
{
	buf *wire = buf_new(64), *back = buf_new(64);
	char utf8[8];

	(void)state;
	for (uint32_t cp = 1; cp < 0x110000; cp += (cp < 0x10000 ? 1 : 4093)) {
		size_t n;

		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		if (cp < 0x80) {
			utf8[0] = (char)cp, n = 1;
		} else if (cp < 0x800) {
			utf8[0] = (char)(0xc0 | cp >> 6), utf8[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
		} else if (cp < 0x10000) {
			utf8[0] = (char)(0xe0 | cp >> 12), utf8[1] = (char)(0x80 | (cp >> 6 & 0x3f));
			utf8[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
		} else {
			utf8[0] = (char)(0xf0 | cp >> 18), utf8[1] = (char)(0x80 | (cp >> 12 & 0x3f));
			utf8[2] = (char)(0x80 | (cp >> 6 & 0x3f)), utf8[3] = (char)(0x80 | (cp & 0x3f));
			n = 4;
		}
		buf_reset(wire);
		buf_reset(back);
		assert_int_equal(mutf7_encode(wire, utf8, n), 0);
		assert_int_equal(mutf7_decode(back, buf_cstr(wire), buf_len(wire), NULL), 0);
		assert_int_equal(buf_len(back), n);
		assert_memory_equal(buf_cstr(back), utf8, n);
	}
	buf_free(&wire);
	buf_free(&back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pairs),
		cmocka_unit_test(test_encode_refused),
		cmocka_unit_test(test_decode_refused),
		cmocka_unit_test(test_round_trip_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
