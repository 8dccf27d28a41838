/* test_imapseq.c: unit tests for lib/imapseq.c, IMAP sequence sets: a
 * table of texts with the maximum "*" stands for and the set they give
 * (written back in short form), texts that are refused, "$", the item
 * limit, building sets by hand in and out of order, membership, counts
 * and iteration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "imapseq.h"

static const struct {
	const char *text;
	uint32_t max;
	const char *set;
} good[] = {
	{ "1", 10, "1" },
	{ "1:4", 10, "1:4" },
	{ "4:1", 10, "1:4" },
	{ "2,4:7,9,12:*", 15, "2,4:7,9,12:15" },
	{ "*:4,5:7", 10, "4:10" },	 /* RFC 3501's example, merged */
	{ "*", 10, "10" },
	{ "1:*", 7, "1:7" },
	{ "559:*", 200, "200:559" },	 /* UID range past the last UID */
	{ "3,1,2", 9, "1:3" },		 /* sorted and merged */
	{ "5,5,5", 9, "5" },
	{ "1:3,4:6", 9, "1:6" },	 /* touching ranges merge */
	{ "1:3,5:6", 9, "1:3,5:6" },
	{ "10:20,1:15", 30, "1:20" },
	{ "4294967295", 5, "4294967295" },
	{ "1:4294967295", 5, "1:4294967295" },
	{ "*", 0, "" },		/* empty mailbox */
	{ "1:*", 0, "1" },
	{ "5:*", 0, "1:5" },
	{ "*:*", 3, "3" },
};

static void test_parse_good(void **state)
{
	imapseq *set = imapseq_new();
	buf *out = buf_new(64);
	const char *err;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		imapseq_clear(set);
		buf_reset(out);
		err = NULL;
		assert_int_equal(imapseq_parse(set, good[i].text, strlen(good[i].text), good[i].max, 0, &err), 0);
		assert_null(err);
		imapseq_format(out, set);
		assert_string_equal(buf_cstr(out), good[i].set);
		assert_false(imapseq_has_saved(set));
	}
	imapseq_free(&set);
	buf_free(&out);
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "0", "0:5", "5:0", "1,", ",1", "1,,2", "1:", ":1", "1:2:3", "a", "1 2", "-1",
		"01", "4294967296", "99999999999999999999", "1;2", "**", "1*", "$$", "1:$", " 1",
	};
	imapseq *set = imapseq_new();
	const char *err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		imapseq_add(set, 77);
		assert_int_equal(imapseq_parse(set, bad[i], strlen(bad[i]), 10, 0, &err), -1);
		assert_non_null(err);
		assert_true(imapseq_is_empty(set));
	}
	imapseq_free(&set);
}

static void test_saved(void **state)
{
	imapseq *set = imapseq_new(), *saved = imapseq_new();
	buf *out = buf_new(16);

	(void)state;
	assert_int_equal(imapseq_parse(set, "$", 1, 10, 0, NULL), 0);
	assert_true(imapseq_has_saved(set));
	assert_true(imapseq_is_empty(set));
	imapseq_add_range(saved, 3, 5);
	imapseq_add_set(set, saved);
	assert_int_equal(imapseq_parse(set, "1,$", 3, 10, 0, NULL), 0);
	assert_true(imapseq_has_saved(set));
	imapseq_format(out, set);
	assert_string_equal(buf_cstr(out), "1,3:5");
	assert_int_equal(imapseq_parse(set, "2", 1, 10, 0, NULL), 0);
	assert_false(imapseq_has_saved(set));
	buf_reset(out);
	imapseq_format(out, set);
	assert_string_equal(buf_cstr(out), "1:5");
	buf_free(&out);
	imapseq_free(&set);
	imapseq_free(&saved);
}

static void test_item_limit(void **state)
{
	imapseq *set = imapseq_new();
	buf *text = buf_new(64);
	const char *err = NULL;

	(void)state;
	for (int i = 1; i <= 10; i++)
		buf_printf(text, "%s%d", i > 1 ? "," : "", i * 2);
	assert_int_equal(imapseq_parse(set, buf_cstr(text), buf_len(text), 0, 10, NULL), 0);
	assert_int_equal(imapseq_count(set), 10);
	imapseq_clear(set);
	assert_int_equal(imapseq_parse(set, buf_cstr(text), buf_len(text), 0, 9, &err), -1);
	assert_string_equal(err, "Too many items in sequence set");
	/* the default limit */
	buf_reset(text);
	for (int i = 1; i <= IMAPSEQ_MAX_ITEMS_DEFAULT + 1; i++)
		buf_printf(text, "%s%d", i > 1 ? "," : "", i);
	assert_int_equal(imapseq_parse(set, buf_cstr(text), buf_len(text), 0, 0, NULL), -1);
	buf_truncate(text, (size_t)(strrchr(buf_cstr(text), ',') - buf_cstr(text)));
	assert_int_equal(imapseq_parse(set, buf_cstr(text), buf_len(text), 0, 0, NULL), 0);
	assert_int_equal(imapseq_count(set), IMAPSEQ_MAX_ITEMS_DEFAULT);
	{
		size_t n;

		imapseq_ranges(set, &n);
		assert_int_equal(n, 1);
	}
	buf_free(&text);
	imapseq_free(&set);
}

static void test_build(void **state)
{
	imapseq *set = imapseq_new();
	buf *out = buf_new(64);
	size_t n;
	const struct imapseq_range *r;

	(void)state;
	assert_true(imapseq_is_empty(set));
	assert_int_equal(imapseq_min(set), 0);
	assert_int_equal(imapseq_max(set), 0);
	for (uint32_t i = 1; i <= 5; i++)
		imapseq_add(set, i);
	imapseq_add(set, 7);
	imapseq_add(set, 9);
	imapseq_add(set, 8);		   /* out of order: joins 7 and 9 */
	imapseq_add_range(set, 20, 15);	   /* reversed */
	imapseq_add(set, 0);		   /* ignored */
	imapseq_add_range(set, 0, 0);	   /* ignored */
	imapseq_add_range(set, 0, 2);	   /* 1:2 */
	imapseq_add(set, 3);		   /* already in */
	imapseq_add(set, UINT32_MAX);
	imapseq_format(out, set);
	assert_string_equal(buf_cstr(out), "1:5,7:9,15:20,4294967295");
	r = imapseq_ranges(set, &n);
	assert_int_equal(n, 4);
	assert_int_equal(r[1].lo, 7);
	assert_int_equal(r[1].hi, 9);
	assert_int_equal(imapseq_count(set), 5 + 3 + 6 + 1);
	assert_int_equal(imapseq_min(set), 1);
	assert_int_equal(imapseq_max(set), UINT32_MAX);
	imapseq_add_range(set, 6, 14);
	buf_reset(out);
	imapseq_format(out, set);
	assert_string_equal(buf_cstr(out), "1:20,4294967295");
	imapseq_add_range(set, 1, UINT32_MAX);
	assert_int_equal(imapseq_count(set), (uint64_t)UINT32_MAX);
	buf_free(&out);
	imapseq_free(&set);
}

static void test_contains(void **state)
{
	imapseq *set = imapseq_new();
	static const uint32_t in[] = { 2, 4, 5, 6, 7, 9, 12, 15 };
	static const uint32_t out[] = { 0, 1, 3, 8, 10, 11, 16, UINT32_MAX };

	(void)state;
	assert_int_equal(imapseq_parse(set, "2,4:7,9,12:*", 12, 15, 0, NULL), 0);
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		assert_true(imapseq_contains(set, in[i]));
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++)
		assert_false(imapseq_contains(set, out[i]));
	imapseq_free(&set);
}

static void test_iterate(void **state)
{
	imapseq *set = imapseq_new();
	struct imapseq_iter it;
	uint32_t n, expect[] = { 1, 2, 3, 7, 10, 11, 4294967294u, 4294967295u };
	size_t i = 0;

	(void)state;
	imapseq_iter_init(&it, set);
	assert_false(imapseq_iter_next(&it, &n));
	assert_int_equal(imapseq_parse(set, "11,10,7,1:3,4294967294:4294967295", 33, 5, 0, NULL), 0);
	imapseq_iter_init(&it, set);
	while (imapseq_iter_next(&it, &n)) {
		assert_true(i < sizeof(expect) / sizeof(expect[0]));
		assert_int_equal(n, expect[i++]);
	}
	assert_int_equal(i, sizeof(expect) / sizeof(expect[0]));
	assert_false(imapseq_iter_next(&it, &n));
	imapseq_free(&set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good), cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_saved),	   cmocka_unit_test(test_item_limit),
		cmocka_unit_test(test_build),	   cmocka_unit_test(test_contains),
		cmocka_unit_test(test_iterate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
