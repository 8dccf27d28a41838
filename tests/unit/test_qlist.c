/* test_qlist.c: unit tests for lib/qlist.c: the mailq layout as a table
 * of messages and their expected blocks (marks, null sender, a note line,
 * several and no recipients, long queue IDs, per-recipient reasons), the footer's rounding and
 * plural, qlist_print over a queue with no messages, and one message as a JSON
 * line (qlist_format_json). Times are
 * printed in UTC (TZ is set) so the expected text is fixed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "mem.h"
#include "qlist.h"

static const char *const two[] = { "a@example.test", "b@example.test" };
static const char *const one[] = { "x@y.test" };
static const char *const three[] = { "a@x.test", "b@x.test", "c@x.test" };
static const char *const three_notes[] = { "mailbox full", "mailbox full", NULL };
static const char *const other_notes[] = { NULL, "no route", "busy" };

struct item_case {
	struct qlist_item item;
	const char *expect;
};

/* 1700000000 is Tue Nov 14 22:13:20 2023 UTC */
static const struct item_case item_cases[] = {
	{ { "4XkW2b0001AB", ' ', 412, 1700000000, "s@example.test", NULL, two, 2, NULL },
	  "4XkW2b0001AB       412 Tue Nov 14 22:13:20  s@example.test\n"
	  "                                          a@example.test\n"
	  "                                          b@example.test\n\n" },
	{ { "ABCDEFGH", QLIST_MARK_ACTIVE, 5, 1700000000, "", NULL, one, 1, NULL },
	  "ABCDEFGH  *        5 Tue Nov 14 22:13:20  MAILER-DAEMON\n"
	  "                                          x@y.test\n\n" },
	{ { "ABCDEFGHIJKLMNOPQRST", QLIST_MARK_HOLD, 123456789, 1700000000, "s@x", "held", one, 1, NULL },
	  "ABCDEFGHIJKLMNOPQRST! 123456789 Tue Nov 14 22:13:20  s@x\n"
	  "(held)\n"
	  "                                          x@y.test\n\n" },
	{ { "ABCDEFGHIJ", ' ', 0, 1700000000, "s@x", NULL, NULL, 0, NULL },
	  "ABCDEFGHIJ         0 Tue Nov 14 22:13:20  s@x\n\n" },
	/* per-recipient reasons: one "(reason)" above the recipients it covers */
	{ { "ABCDEFGHIJ", ' ', 9, 1700000000, "s@x", "deferred", three, 3, three_notes },
	  "ABCDEFGHIJ         9 Tue Nov 14 22:13:20  s@x\n"
	  "(deferred)\n"
	  "(mailbox full)\n"
	  "                                          a@x.test\n"
	  "                                          b@x.test\n"
	  "                                          c@x.test\n\n" },
	{ { "ABCDEFGHIJ", ' ', 9, 1700000000, "s@x", NULL, three, 3, other_notes },
	  "ABCDEFGHIJ         9 Tue Nov 14 22:13:20  s@x\n"
	  "                                          a@x.test\n"
	  "(no route)\n"
	  "                                          b@x.test\n"
	  "(busy)\n"
	  "                                          c@x.test\n\n" },
};

static void test_items(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(item_cases) / sizeof(item_cases[0]); i++) {
		buf *out = buf_new(128);

		qlist_format_item(out, &item_cases[i].item);
		if (strcmp(buf_cstr(out), item_cases[i].expect) != 0)
			print_error("case %zu: got\n%s", i, buf_cstr(out));
		assert_string_equal(buf_cstr(out), item_cases[i].expect);
		buf_free(&out);
	}
}

static void test_header_lines_up(void **state)
{
	buf *out = buf_new(128);
	const char *sender_col;

	(void)state;
	qlist_format_header(out);
	sender_col = strstr(buf_cstr(out), "-Sender");
	assert_non_null(sender_col);
	/* the sender column of the items starts where the header says */
	assert_int_equal(sender_col - buf_cstr(out), 42);
	buf_free(&out);
}

static void test_footer(void **state)
{
	static const struct {
		long long bytes;
		long requests;
		const char *expect;
	} cases[] = {
		{ 0, 1, "-- 0 Kbytes in 1 Request.\n" },
		{ 1, 2, "-- 1 Kbytes in 2 Requests.\n" },
		{ 1024, 3, "-- 1 Kbytes in 3 Requests.\n" },
		{ 1025, 3, "-- 2 Kbytes in 3 Requests.\n" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf *out = buf_new(64);

		qlist_format_footer(out, cases[i].bytes, cases[i].requests);
		assert_string_equal(buf_cstr(out), cases[i].expect);
		buf_free(&out);
	}
}

static void test_print_empty(void **state)
{
	char dir[] = "/tmp/test_qlist.XXXXXX", *sub, *err = NULL, *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	(void)state;
	assert_non_null(mkdtemp(dir));
	sub = xasprintf("%s/deferred", dir); /* one dir present, the others missing */
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(qlist_print(dir, out, &err), 0);
	fclose(out);
	assert_string_equal(text, "Mail queue is empty\n");
	assert_null(qlist_find(dir, "ABCDEFGH12", &(const char *){ NULL }));
	assert_null(qlist_find(dir, "../x", &(const char *){ NULL }));
	rmdir(sub);
	rmdir(dir);
	free(sub);
	free(text);
}

/* test_json_item: one message as a JSON line: the postqueue -j fields,
 * a reason only for the pending recipient, the extras, escaping. */
static void test_json_item(void **state)
{
	struct q_rcpt rcpts[] = { { .address = "a\"b@x.test", .state = Q_RCPT_PENDING },
				  { .address = "c@y.test", .state = Q_RCPT_DONE } };
	struct q_msg m = { .id = "4XkW2b0001", .content_size = 1234, .mtime = 1700003600,
			   .env = { .arrival = 1700000000, .sender = "s@z.test",
				    .rcpts = rcpts, .nrcpts = 2 } };
	struct qreason items[] = { { 0, "4.2.2", "mailbox full\x01" }, { 1, "4.0.0", "old" } };
	struct qreason_set reasons = { 1700000100, items, 2 };
	buf *out = buf_new(64);

	(void)state;
	qlist_format_json(out, &m, "deferred", &reasons, "qmgr: x");
	assert_string_equal(buf_cstr(out),
			    "{\"queue_name\":\"deferred\",\"queue_id\":\"4XkW2b0001\","
			    "\"arrival_time\":1700000000,\"message_size\":1234,"
			    "\"sender\":\"s@z.test\",\"next_attempt_time\":1700003600,"
			    "\"last_deferral_time\":1700000100,\"qmgr_note\":\"qmgr: x\","
			    "\"recipients\":[{\"address\":\"a\\\"b@x.test\","
			    "\"delay_reason\":\"mailbox full\\u0001\",\"status\":\"4.2.2\","
			    "\"state\":\"pending\"},"
			    "{\"address\":\"c@y.test\",\"state\":\"delivered\"}]}\n");
	buf_free(&out);
	out = buf_new(64);
	m.env.sender = "";
	m.env.nrcpts = 0;
	qlist_format_json(out, &m, "hold", NULL, NULL);
	assert_string_equal(buf_cstr(out),
			    "{\"queue_name\":\"hold\",\"queue_id\":\"4XkW2b0001\","
			    "\"arrival_time\":1700000000,\"message_size\":1234,"
			    "\"sender\":\"\",\"recipients\":[]}\n");
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_items),
		cmocka_unit_test(test_header_lines_up),
		cmocka_unit_test(test_footer),
		cmocka_unit_test(test_print_empty),
		cmocka_unit_test(test_json_item),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
