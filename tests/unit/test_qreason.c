/* test_qreason.c: unit tests for lib/qreason.c, the deferral reasons side
 * file: the text of a set (control bytes cleaned, long reasons cut), a
 * table of texts that parse or are refused, and a write / read / remove
 * round trip in a scratch queue directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "mem.h"
#include "qreason.h"

static void test_format(void **state)
{
	struct qreason items[] = { { 0, "4.2.2", "mailbox full" },
				   { 3, "4.3.0", "line\nbreak\tand tab" },
				   { 7, NULL, NULL },
				   { 8, "\x01 4.1\t", "x" } };
	buf *out = buf_new(64);

	(void)state;
	qreason_format(out, 1700000000, items, 4);
	assert_string_equal(buf_cstr(out), "POSTERN-DEFER 1\nT1700000000\n"
					   "R0 4.2.2 mailbox full\n"
					   "R3 4.3.0 line break and tab\n"
					   "R7 4.0.0 \n"
					   "R8 4.1 x\n");
	buf_free(&out);
}

static void test_long_reason_cut(void **state)
{
	char *reason = xmalloc(QREASON_MAX_TEXT + 500);
	struct qreason item = { 1, "4.4.2", reason };
	struct qreason_set set;
	buf *out = buf_new(64);

	(void)state;
	memset(reason, 'x', QREASON_MAX_TEXT + 499);
	reason[QREASON_MAX_TEXT + 499] = '\0';
	qreason_format(out, 5, &item, 1);
	assert_int_equal(qreason_parse(buf_cstr(out), buf_len(out), &set), 0);
	assert_int_equal(set.n, 1);
	assert_int_equal(strlen(set.items[0].reason), QREASON_MAX_TEXT);
	qreason_free(&set);
	buf_free(&out);
	free(reason);
}

struct parse_case {
	const char *text;
	int rc, n;
	long when;
	int rcpt0;
	const char *status0, *reason0;
};

static const struct parse_case parse_cases[] = {
	{ "POSTERN-DEFER 1\nT12\nR2 4.2.2 full up\n", 0, 1, 12, 2, "4.2.2", "full up" },
	{ "POSTERN-DEFER 1\nT12\nR2 4.2.2 cut sho", 0, 1, 12, 2, "4.2.2", "cut sho" },
	{ "POSTERN-DEFER 1\n", 0, 0, 0, 0, NULL, NULL },
	{ "POSTERN-DEFER 1\nR0 4.0.0 \n", 0, 1, 0, 0, "4.0.0", "" },
	{ "", -1, 0, 0, 0, NULL, NULL },
	{ "POSTERN-DEFER 2\nT1\n", -1, 0, 0, 0, NULL, NULL },
	{ "POSTERN-DEFER 1\nTx\n", -1, 0, 0, 0, NULL, NULL },
	{ "POSTERN-DEFER 1\nR 4.0.0 x\n", -1, 0, 0, 0, NULL, NULL },
	{ "POSTERN-DEFER 1\nR1 4.0.0\n", -1, 0, 0, 0, NULL, NULL },
	{ "POSTERN-DEFER 1\nR1  x\n", -1, 0, 0, 0, NULL, NULL },
	{ "POSTERN-DEFER 1\nR999999999999 4.0.0 x\n", -1, 0, 0, 0, NULL, NULL },
	{ "POSTERN-DEFER 1\nQ\n", -1, 0, 0, 0, NULL, NULL },
	{ "garbage\x01\x02", -1, 0, 0, 0, NULL, NULL },
};

static void test_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct qreason_set set;
		int rc = qreason_parse(c->text, strlen(c->text), &set);

		if (rc != c->rc)
			fail_msg("case %zu: rc %d, want %d", i, rc, c->rc);
		assert_int_equal(set.n, c->n);
		if (c->n > 0) {
			assert_int_equal(set.when, c->when);
			assert_int_equal(set.items[0].rcpt, c->rcpt0);
			assert_string_equal(set.items[0].status, c->status0);
			assert_string_equal(set.items[0].reason, c->reason0);
		}
		qreason_free(&set);
	}
}

/* A remote answer keeps its relay and TLS in a V line after its R line. */
static void test_via_round_trip(void **state)
{
	struct qreason items[] = { { 0, "4.2.0", "host mx[192.0.2.1] said: 450 busy",
				     "mx.example[192.0.2.1]:25", "TLSv1.3:TLS_AES_128_GCM_SHA256:verified" },
				   { 2, "4.4.1", "connect to x: refused", "none", "none" },
				   { 3, "4.2.2", "full", NULL, NULL } };
	struct qreason_set set;
	buf *out = buf_new(64);

	(void)state;
	qreason_format(out, 7, items, 3);
	assert_non_null(strstr(buf_cstr(out), "R0 4.2.0 host mx[192.0.2.1] said: 450 busy\n"
					      "V0 mx.example[192.0.2.1]:25 "
					      "TLSv1.3:TLS_AES_128_GCM_SHA256:verified\n"));
	assert_int_equal(qreason_parse(buf_cstr(out), buf_len(out), &set), 0);
	assert_int_equal(set.n, 3);
	assert_string_equal(set.items[0].relay, "mx.example[192.0.2.1]:25");
	assert_string_equal(set.items[0].tls, "TLSv1.3:TLS_AES_128_GCM_SHA256:verified");
	assert_string_equal(set.items[1].relay, "none");
	assert_null(set.items[2].relay);
	assert_null(set.items[2].tls);
	qreason_free(&set);
	buf_free(&out);
}

/* V lines that do not belong to the line before them are refused. */
static void test_via_malformed(void **state)
{
	static const char *const bad[] = {
		"POSTERN-DEFER 1\nV0 a b\n", /* no R line before */
		"POSTERN-DEFER 1\nR0 4.0.0 x\nV1 a b\n", /* another recipient */
		"POSTERN-DEFER 1\nR0 4.0.0 x\nV0 a\n", /* no tls word */
		"POSTERN-DEFER 1\nR0 4.0.0 x\nV0 a b c\n", /* a third word */
		"POSTERN-DEFER 1\nR0 4.0.0 x\nV0 a b\nV0 a b\n", /* twice */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct qreason_set set;

		if (qreason_parse(bad[i], strlen(bad[i]), &set) != -1)
			fail_msg("case %zu parsed", i);
		assert_int_equal(set.n, 0);
	}
}

static void test_write_read_remove(void **state)
{
	char dir[] = "/tmp/test_qreason.XXXXXX";
	struct qreason items[] = { { 1, "4.2.2", "mailbox full" }, { 4, "4.4.0", "no route" } };
	struct qreason_set set;
	char *sub, *err = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(qreason_read(dir, "ABCDEFGH1", &set), -1);
	assert_int_equal(qreason_write(dir, "ABCDEFGH1", 99, items, 2, &err), -1);
	assert_non_null(err); /* no defer/ directory */
	free(err);
	sub = xasprintf("%s/%s", dir, QREASON_DIR);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(qreason_write(dir, "ABCDEFGH1", 99, items, 2, &err), 0);
	assert_int_equal(qreason_read(dir, "ABCDEFGH1", &set), 0);
	assert_int_equal(set.when, 99);
	assert_int_equal(set.n, 2);
	assert_null(qreason_lookup(&set, 0));
	assert_string_equal(qreason_lookup(&set, 4)->reason, "no route");
	qreason_free(&set);
	qreason_remove(dir, "ABCDEFGH1");
	assert_int_equal(qreason_read(dir, "ABCDEFGH1", &set), -1);
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(rmdir(dir), 0);
	free(sub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_long_reason_cut),
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_via_round_trip),
		cmocka_unit_test(test_via_malformed),
		cmocka_unit_test(test_write_read_remove),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
