/* test_smtp_reason.c: unit tests for smtp/reason.c, the smtp client's
 * texts and status codes for server replies and broken conversations
 * (Postfix's words), as tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "smtp.h"

struct reply_case {
	const char *text;
	int code;
	const char *cmd;
	const char *dsn;
	const char *reason;
};

static const struct reply_case reply_cases[] = {
	{ "550 5.1.1 <b@example.com>: no such user", 550, "RCPT TO", "5.1.1",
	  "host mx[192.0.2.1] said: 550 5.1.1 <b@example.com>: no such user (in reply to RCPT TO "
	  "command)" },
	{ "452 too many recipients", 452, "RCPT TO", "4.0.0",
	  "host mx[192.0.2.1] said: 452 too many recipients (in reply to RCPT TO command)" },
	{ "554-5.7.1 first\n554 5.7.1 second", 554, "MAIL FROM", "5.7.1",
	  "host mx[192.0.2.1] said: 554-5.7.1 first 554 5.7.1 second (in reply to MAIL FROM "
	  "command)" },
	{ "451 4.3.0 try later", 451, "end of DATA", "4.3.0",
	  "host mx[192.0.2.1] said: 451 4.3.0 try later (in reply to end of DATA command)" },
	{ "550 4.1.1 class mismatch", 550, "RCPT TO", "5.0.0",
	  "host mx[192.0.2.1] said: 550 4.1.1 class mismatch (in reply to RCPT TO command)" },
	/* a 250 to DATA is no delivery: the message was never sent */
	{ "250 2.0.0 Ok", 250, "DATA", "4.0.0",
	  "host mx[192.0.2.1] said: 250 2.0.0 Ok (in reply to DATA command)" },
	{ "354 odd\x01", 354, "DATA", "4.0.0",
	  "host mx[192.0.2.1] said: 354 odd? (in reply to DATA command)" },
};

static void test_replies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
		const struct reply_case *t = &reply_cases[i];
		char dsn[SMTPC_DSN_MAX];
		char *why = reason_reply("mx[192.0.2.1]", t->text, t->code, t->cmd, dsn);

		assert_string_equal(dsn, t->dsn);
		assert_string_equal(why, t->reason);
		free(why);
	}
}

struct lost_case {
	enum smtpc_error err;
	enum smtpc_stage stage;
	const char *dsn;
	const char *reason;
};

static const struct lost_case lost_cases[] = {
	{ SMTPC_ERR_CLOSED, SMTPC_RCPT, "4.4.2", "lost connection with h[a] while sending RCPT TO" },
	{ SMTPC_ERR_TIMEOUT, SMTPC_GREETING, "4.4.2",
	  "conversation with h[a] timed out while receiving the initial server greeting" },
	{ SMTPC_ERR_IO, SMTPC_DOT, "4.4.2",
	  "lost connection with h[a] while sending end of data -- message may be sent more than "
	  "once" },
	{ SMTPC_ERR_PROTOCOL, SMTPC_MAIL, "4.5.0",
	  "conversation with h[a] failed while sending MAIL FROM: bad code" },
	{ SMTPC_ERR_BODY, SMTPC_BODY, "4.3.0",
	  "error reading the queue file while sending the message to h[a]" },
};

static void test_lost(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(lost_cases) / sizeof(lost_cases[0]); i++) {
		const struct lost_case *t = &lost_cases[i];
		char dsn[SMTPC_DSN_MAX];
		char *why = reason_lost("h[a]", t->err, t->stage, "bad code", dsn);

		assert_string_equal(dsn, t->dsn);
		assert_string_equal(why, t->reason);
		free(why);
	}
}

static void test_soft(void **state)
{
	char dsn[SMTPC_DSN_MAX] = "5.7.1";

	(void)state;
	reason_soft(dsn);
	assert_string_equal(dsn, "4.7.1");
	assert_string_equal(reason_stage_cmd(SMTPC_HELO, true), "HELO");
	assert_string_equal(reason_stage_cmd(SMTPC_DOT, false), "end of DATA");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_lost),
		cmocka_unit_test(test_soft),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
