/* test_qmgr_logic.c: unit tests for qmgr's pure logic (qmgr/backoff.c,
 * qmgr/dsn.c): the retry time table (doubling with age, clamped), queue
 * lifetime expiry, DSN status classes, and the structure of a bounce: its
 * headers, the three MIME parts of a multipart/report, the per-recipient
 * delivery-status fields, header-only versus full return, and that peer
 * text cannot inject header lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../qmgr/logic.h"
#include "q.h"
#include "buf.h"
#include "mem.h"

static void test_next_retry(void **state)
{
	static const struct {
		long long age, min, max, want_wait;
	} cases[] = {
		{ 0, 300, 4000, 300 },	   { 10, 300, 4000, 300 },   { 300, 300, 4000, 300 },
		{ 600, 300, 4000, 600 },   { 1200, 300, 4000, 1200 }, { 2400, 300, 4000, 2400 },
		{ 4800, 300, 4000, 4000 }, { 999999, 300, 4000, 4000 }, { -50, 300, 4000, 300 },
		{ 100, 500, 200, 500 }, /* max below min: min wins */
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t now = 1700000000;
		time_t got = qmgr_next_retry(now, now - (time_t)cases[i].age, cases[i].min,
					     cases[i].max);

		if (got - now != cases[i].want_wait)
			fail_msg("case %zu: wait %lld, want %lld", i, (long long)(got - now),
				 cases[i].want_wait);
	}
}

/* A deferral for lack of space here comes back within 30 s, never later
 * than its backoff would. */
static void test_storage_retry(void **state)
{
	(void)state;
	assert_int_equal(qmgr_storage_retry(1000, 1300), 1030);
	assert_int_equal(qmgr_storage_retry(1000, 1010), 1010);
	assert_int_equal(qmgr_storage_retry(1000, 5000), 1030);
}

static void test_limbo_delay(void **state)
{
	static const struct {
		int tries;
		long long want;
	} cases[] = {
		{ 0, 2 }, { 1, 2 }, { 2, 4 }, { 3, 8 }, { 4, 16 }, { 5, 30 }, { 6, 30 },
		{ 1000, 30 }, { -5, 2 },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (qmgr_limbo_delay(cases[i].tries) != cases[i].want)
			fail_msg("tries %d: %lld, want %lld", cases[i].tries,
				 qmgr_limbo_delay(cases[i].tries), cases[i].want);
}

static void test_expired(void **state)
{
	(void)state;
	assert_false(qmgr_expired(1000, 900, 432000));
	assert_true(qmgr_expired(1000 + 432000, 1000, 432000));
	assert_true(qmgr_expired(1000, 1000, 0));
}

static void test_dsn_class(void **state)
{
	static const struct {
		const char *status;
		int want;
	} cases[] = {
		{ "2.0.0", 2 }, { "4.2.2", 4 }, { "5.1.1", 5 }, { "3.0.0", 4 },
		{ "5", 4 },	{ "", 4 },	{ NULL, 4 },	{ "5x1.1", 4 },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(qmgr_dsn_class(cases[i].status), cases[i].want);
	assert_string_equal(qmgr_rcpt_domain("a@b.test"), "b.test");
	assert_string_equal(qmgr_rcpt_domain("\"x@y\"@z.test"), "z.test");
	assert_string_equal(qmgr_rcpt_domain("postmaster"), "");
}

static void test_headers_len(void **state)
{
	static const struct {
		const char *text;
		size_t want;
	} cases[] = {
		{ "Subject: x\n\nbody\n", 12 },
		{ "Subject: x\nFrom: y\n\n", 20 },
		{ "Subject: x\n", 11 }, /* no body: everything */
		{ "\nbody\n", 1 },
		{ "", 0 },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(qmgr_dsn_headers_len(cases[i].text, strlen(cases[i].text)),
				 cases[i].want);
}

static const struct qmgr_dsn_rcpt rcpts[] = {
	{ "nobody@example.test", "rfc822;Nobody@example.test", "failed", "5.1.1", "user unknown" },
	{ "full@example.test", NULL, "failed", "4.4.7", "expired: mailbox full\r\nX-Evil: 1" },
};

static struct qmgr_dsn sample(bool full)
{
	struct qmgr_dsn d = {
		.hostname = "mx.example.test",
		.queue_id = "ABCDEF123456",
		.boundary = "BOUNCE1.bounce/mx.example.test",
		.sender = "alice@example.test",
		.envid = "env-42",
		.arrival = 1700000000,
		.now = 1700000100,
		.full = full,
		.rcpts = rcpts,
		.nrcpts = 2,
	};
	return d;
}

/* part_after: the text following the n-th (1-based) boundary line. */
static const char *part_after(const char *text, const char *boundary, int n)
{
	char *delim = xasprintf("\n--%s\n", boundary);
	const char *p = text;

	for (int i = 0; i < n && p != NULL; i++) {
		p = strstr(p, delim);
		if (p != NULL)
			p += strlen(delim);
	}
	free(delim);
	return p;
}

static void test_dsn_structure(void **state)
{
	struct qmgr_dsn d = sample(false);
	buf *out = buf_new(4096);
	const char *text, *p1, *p2, *p3, *end;
	const char original[] = "Subject: hello\nFrom: alice@example.test\n\nbody\n";
	const char want3[] = "Content-Description: Undelivered Message Headers\n"
			     "Content-Type: text/rfc822-headers\n\n"
			     "Subject: hello\nFrom: alice@example.test\n\n\n--";
	size_t hlen = qmgr_dsn_headers_len(original, strlen(original));
	(void)state;

	qmgr_dsn_head(out, &d);
	buf_append(out, original, hlen);
	qmgr_dsn_tail(out, &d, original[hlen - 1]);
	text = buf_cstr(out);
	/* top-level header */
	assert_non_null(strstr(text, "From: MAILER-DAEMON@mx.example.test"));
	assert_non_null(strstr(text, "\nTo: <alice@example.test>\n"));
	assert_non_null(strstr(text, "\nAuto-Submitted: auto-replied\n"));
	assert_non_null(strstr(text, "Content-Type: multipart/report; report-type=delivery-status;"
				     "\n\tboundary=\"BOUNCE1.bounce/mx.example.test\"\n"));
	/* three parts, then the closing boundary */
	p1 = part_after(text, d.boundary, 1);
	p2 = part_after(text, d.boundary, 2);
	p3 = part_after(text, d.boundary, 3);
	assert_non_null(p1);
	assert_non_null(p2);
	assert_non_null(p3);
	assert_null(part_after(text, d.boundary, 4));
	assert_true(strncmp(p1, "Content-Description: Notification\nContent-Type: text/plain",
			    strlen("Content-Description: Notification\nContent-Type: text/plain")) == 0);
	assert_non_null(strstr(p1, "<nobody@example.test>: user unknown\n"));
	assert_non_null(strstr(p2, "Content-Type: message/delivery-status\n\n"
				   "Reporting-MTA: dns; mx.example.test\n"));
	assert_non_null(strstr(p2, "\nOriginal-Envelope-Id: env-42\n"));
	assert_non_null(strstr(p2, "\nArrival-Date: "));
	assert_non_null(strstr(p2, "\n\nFinal-Recipient: rfc822; nobody@example.test\n"
				   "Original-Recipient: rfc822;Nobody@example.test\n"
				   "Action: failed\nStatus: 5.1.1\n"
				   "Diagnostic-Code: X-Postern; user unknown\n"));
	/* the injected CR LF became spaces: no header line of its own */
	assert_non_null(strstr(p2, "\n\nFinal-Recipient: rfc822; full@example.test\n"
				   "Action: failed\nStatus: 4.4.7\n"
				   "Diagnostic-Code: X-Postern; expired: mailbox full  X-Evil: 1\n"));
	assert_null(strstr(text, "\nX-Evil"));
	assert_true(strncmp(p3, want3, strlen(want3)) == 0);
	assert_null(strstr(p3, "body"));
	end = strstr(text, "\n--BOUNCE1.bounce/mx.example.test--\n");
	assert_non_null(end);
	assert_int_equal(strlen(end), strlen("\n--BOUNCE1.bounce/mx.example.test--\n"));
	buf_free(&out);
}

static void test_dsn_full(void **state)
{
	struct qmgr_dsn d = sample(true);
	buf *out = buf_new(4096);
	const char original[] = "Subject: hello\n\nbody without newline";
	const char *p3;
	(void)state;

	qmgr_dsn_head(out, &d);
	buf_append(out, original, strlen(original));
	qmgr_dsn_tail(out, &d, 'e');
	p3 = part_after(buf_cstr(out), d.boundary, 3);
	assert_non_null(p3);
	assert_non_null(strstr(p3, "Content-Type: message/rfc822\n\nSubject: hello\n\n"
				   "body without newline\n\n--BOUNCE1.bounce/mx.example.test--\n"));
	buf_free(&out);
}

/* A delay warning: subject, warning text, action delayed with
 * Will-Retry-Until, the headers part named for the kind. */
static void test_dsn_delay(void **state)
{
	static const struct qmgr_dsn_rcpt late[] = {
		{ "dave@example.test", "rfc822;dave@example.test", "delayed", "4.2.2",
		  "mailbox full", 1700432000 },
	};
	struct qmgr_dsn d = sample(false);
	buf *out = buf_new(4096);
	const char *text, *p2, *p3;
	(void)state;

	d.kind = QMGR_DSN_DELAY;
	d.rcpts = late;
	d.nrcpts = 1;
	qmgr_dsn_head(out, &d);
	qmgr_dsn_tail(out, &d, '\n');
	text = buf_cstr(out);
	assert_non_null(strstr(text, "\nSubject: Delayed Mail (still being retried)\n"));
	assert_non_null(strstr(text, "THIS IS A WARNING ONLY"));
	assert_null(strstr(text, "could not\nbe delivered"));
	p2 = part_after(text, d.boundary, 2);
	assert_non_null(p2);
	assert_non_null(strstr(p2, "\nAction: delayed\nStatus: 4.2.2\n"
				   "Diagnostic-Code: X-Postern; mailbox full\nWill-Retry-Until: "));
	p3 = part_after(text, d.boundary, 3);
	assert_non_null(p3);
	assert_true(strncmp(p3, "Content-Description: Delayed Message Headers\n"
				"Content-Type: text/rfc822-headers\n",
			    strlen("Content-Description: Delayed Message Headers\n"
				   "Content-Type: text/rfc822-headers\n")) == 0);
	buf_free(&out);
}

/* A success report: delivered and relayed recipients, no retry field. */
static void test_dsn_success(void **state)
{
	static const struct qmgr_dsn_rcpt done[] = {
		{ "bob@example.test", NULL, "delivered", "2.0.0", "delivered to maildir", 0 },
		{ "x@remote.test", "rfc822;x@remote.test", "relayed", "2.0.0", "250 ok", 0 },
	};
	struct qmgr_dsn d = sample(false);
	buf *out = buf_new(4096);
	const char *text, *p2;
	(void)state;

	d.kind = QMGR_DSN_SUCCESS;
	d.rcpts = done;
	d.nrcpts = 2;
	qmgr_dsn_head(out, &d);
	qmgr_dsn_tail(out, &d, '\n');
	text = buf_cstr(out);
	assert_non_null(strstr(text, "\nSubject: Successful Mail Delivery Report\n"));
	assert_non_null(strstr(text, "was delivered to the recipients listed below"));
	p2 = part_after(text, d.boundary, 2);
	assert_non_null(strstr(p2, "\nOriginal-Envelope-Id: env-42\n"));
	assert_non_null(strstr(p2, "Final-Recipient: rfc822; bob@example.test\n"
				   "Action: delivered\nStatus: 2.0.0\n"));
	assert_non_null(strstr(p2, "Final-Recipient: rfc822; x@remote.test\n"
				   "Original-Recipient: rfc822;x@remote.test\n"
				   "Action: relayed\nStatus: 2.0.0\n"));
	assert_null(strstr(text, "Will-Retry-Until"));
	assert_non_null(strstr(text, "Content-Description: Delivered Message Headers\n"));
	buf_free(&out);
}

/* A double bounce: the postmaster's copy of a failure report. */
static void test_dsn_postmaster_copy(void **state)
{
	struct qmgr_dsn d = sample(true);
	buf *out = buf_new(4096);
	(void)state;

	d.postmaster_copy = true;
	d.sender = "postmaster@example.test";
	qmgr_dsn_head(out, &d);
	assert_non_null(strstr(buf_cstr(out), "\nTo: <postmaster@example.test>\n"
					      "Subject: Postmaster Copy: Undelivered Mail Returned "
					      "to Sender\n"));
	assert_non_null(strstr(buf_cstr(out), "Content-Description: Undelivered Message\n"
					      "Content-Type: message/rfc822\n"));
	buf_free(&out);
}

static void test_notice_rules(void **state)
{
	(void)state;
	/* bounce_queue_lifetime for the null sender only */
	assert_int_equal(qmgr_lifetime("", 432000, 3600), 3600);
	assert_int_equal(qmgr_lifetime("a@b", 432000, 3600), 432000);
	/* delay warnings: off at 0, due once the time has passed */
	assert_false(qmgr_delay_due(1000000, 0, 0));
	assert_false(qmgr_delay_due(1000, 0, 3600));
	assert_true(qmgr_delay_due(3600, 0, 3600));
	/* who gets them: NOTIFY=DELAY, or no NOTIFY (only when on) */
	assert_true(qmgr_wants_delay(0, 3600));
	assert_false(qmgr_wants_delay(0, 0));
	assert_false(qmgr_wants_delay(Q_NOTIFY_DELAY, 0));
	assert_true(qmgr_wants_delay(Q_NOTIFY_DELAY | Q_NOTIFY_FAILURE, 3600));
	assert_false(qmgr_wants_delay(Q_NOTIFY_FAILURE, 3600));
	assert_false(qmgr_wants_delay(Q_NOTIFY_NEVER, 3600));
	assert_false(qmgr_wants_delay(Q_NOTIFY_SUCCESS, 3600));
	/* success reports only when asked */
	assert_false(qmgr_wants_success(0));
	assert_false(qmgr_wants_success(Q_NOTIFY_FAILURE | Q_NOTIFY_DELAY));
	assert_true(qmgr_wants_success(Q_NOTIFY_SUCCESS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_retry),   cmocka_unit_test(test_expired),
		cmocka_unit_test(test_limbo_delay),
		cmocka_unit_test(test_storage_retry),
		cmocka_unit_test(test_dsn_class),    cmocka_unit_test(test_headers_len),
		cmocka_unit_test(test_dsn_structure), cmocka_unit_test(test_dsn_full),
		cmocka_unit_test(test_dsn_delay),    cmocka_unit_test(test_dsn_success),
		cmocka_unit_test(test_dsn_postmaster_copy),
		cmocka_unit_test(test_notice_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
