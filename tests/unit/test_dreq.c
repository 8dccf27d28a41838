/* test_dreq.c: unit tests for lib/dreq.c, the delivery request parser
 * local and smtp share: a good request with and without a next hop, and a
 * table of requests each refused with its reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "attr.h"
#include "dreq.h"
#include "mem.h"

#define QDIR "/var/spool/postern"
#define GOOD_HEAD "protocol=delivery\nqueue_id=4XkW2b0001\n" \
		  "queue_file=" QDIR "/active/4XkW2b0001\n"

/* parse: text (one record) through dreq_parse; returns its result. */
static int parse(const char *text, bool want_nexthop, int max, struct dreq *rq, char **err_r)
{
	attr_rec *rec = NULL;
	size_t used = 0;
	char *derr = NULL;
	int rc;

	assert_int_equal(attr_decode(text, strlen(text), &rec, &used, &derr), 1);
	rc = dreq_parse(rec, QDIR, want_nexthop, max, rq, err_r);
	attr_free(&rec); /* the request keeps copies */
	return rc;
}

static void test_local_request(void **state)
{
	struct dreq rq;
	char *err = NULL;

	(void)state;
	assert_int_equal(parse(GOOD_HEAD "recover=1\nrcpt=0\nrcpt=7\n\n", false, 50, &rq, &err), 0);
	assert_null(err);
	assert_string_equal(rq.queue_id, "4XkW2b0001");
	assert_string_equal(rq.queue_file, QDIR "/active/4XkW2b0001");
	assert_null(rq.nexthop);
	assert_true(rq.recover);
	assert_int_equal(rq.n, 2);
	assert_int_equal(rq.rcpts[0], 0);
	assert_int_equal(rq.rcpts[1], 7);
	dreq_clear(&rq);
	assert_null(rq.rcpts);
}

static void test_smtp_request(void **state)
{
	struct dreq rq;
	char *err = NULL;

	(void)state;
	assert_int_equal(parse(GOOD_HEAD "recover=0\nnexthop=[mx.example]:2525\nrcpt=3\n\n", true,
			       50, &rq, &err), 0);
	assert_string_equal(rq.nexthop, "[mx.example]:2525");
	assert_false(rq.recover);
	assert_int_equal(rq.n, 1);
	dreq_clear(&rq);
}

struct bad_case {
	const char *text;
	bool want_nexthop;
	const char *err; /* a part of the reason */
};

static const struct bad_case bad_cases[] = {
	{ "protocol=other\nqueue_id=4XkW2b0001\nqueue_file=" QDIR "/active/4XkW2b0001\n\n", false,
	  "not a valid delivery request" },
	{ "protocol=delivery\nqueue_file=" QDIR "/active/4XkW2b0001\n\n", false, "not a valid" },
	{ "protocol=delivery\nqueue_id=../x\nqueue_file=" QDIR "/active/../x\n\n", false,
	  "not a valid" },
	{ "protocol=delivery\nqueue_id=4XkW2b0001\nqueue_file=/etc/passwd\n\n", false,
	  "queue file /etc/passwd is not in active/" },
	{ "protocol=delivery\nqueue_id=4XkW2b0001\nqueue_file=" QDIR "/deferred/4XkW2b0001\n\n",
	  false, "is not in active/" },
	{ GOOD_HEAD "rcpt=1\n\n", true, "not a valid" }, /* smtp needs its next hop */
	{ GOOD_HEAD "nexthop=x\nrcpt=1\n\n", false, "unknown field 'nexthop'" },
	{ GOOD_HEAD "colour=red\n\n", false, "unknown field 'colour'" },
	{ GOOD_HEAD "rcpt=\n\n", false, "bad rcpt ''" },
	{ GOOD_HEAD "rcpt=-1\n\n", false, "bad rcpt '-1'" },
	{ GOOD_HEAD "rcpt=1x\n\n", false, "bad rcpt '1x'" },
	{ GOOD_HEAD "rcpt=99999999999\n\n", false, "bad rcpt" },
	{ GOOD_HEAD "rcpt=1000001\n\n", false, "bad rcpt '1000001'" },
	{ GOOD_HEAD "rcpt=2\nrcpt=2\n\n", false, "rcpt 2 given twice" },
	{ GOOD_HEAD "rcpt=0\nrcpt=1\nrcpt=2\nrcpt=3\n\n", false, "too many rcpt fields at '3'" },
};

static void test_bad_requests(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct dreq rq;
		char *err = NULL;

		if (parse(bad_cases[i].text, bad_cases[i].want_nexthop, 3, &rq, &err) != -1)
			fail_msg("case %zu was accepted", i);
		assert_non_null(err);
		if (strstr(err, bad_cases[i].err) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err, bad_cases[i].err);
		assert_null(rq.queue_id);
		assert_null(rq.rcpts);
		free(err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_local_request),
		cmocka_unit_test(test_smtp_request),
		cmocka_unit_test(test_bad_requests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
