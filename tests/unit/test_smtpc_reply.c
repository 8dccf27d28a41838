/* test_smtpc_reply.c: unit tests for lib/smtpc_reply.c, the SMTP client's
 * reply and EHLO parser: tables of reply transcripts with the code,
 * enhanced status code, last line and text expected (or the error), the
 * line and line-count limits, and EHLO capability lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "smtpc_reply.h"

/* feed_all: feeds the CRLF-separated lines of text; the last result. */
static int feed_all(struct smtpc_reply *r, const char *text, const char **why)
{
	int rc = 0;

	while (*text != '\0') {
		const char *end = strstr(text, "\r\n");
		size_t len = end != NULL ? (size_t)(end - text) + 2 : strlen(text);

		rc = smtpc_reply_feed(r, text, len, why);
		if (rc != 0)
			return rc;
		text += len;
	}
	return rc;
}

static void test_replies(void **state)
{
	static const struct {
		const char *in;
		int rc, code, nlines;
		const char *dsn, *last, *text;
	} cases[] = {
		{ "250 OK\r\n", 1, 250, 1, "", "250 OK", "OK" },
		{ "250\r\n", 1, 250, 1, "", "250", "" },
		{ "250 2.1.0 Ok\r\n", 1, 250, 1, "2.1.0", "250 2.1.0 Ok", "Ok" },
		{ "550 5.1.1 <x@y>: unknown\r\n", 1, 550, 1, "5.1.1", "550 5.1.1 <x@y>: unknown",
		  "<x@y>: unknown" },
		{ "451 4.123.456 later\n", 1, 451, 1, "4.123.456", "451 4.123.456 later", "later" },
		/* the class must match the code, 1-3 digits each, then a blank */
		{ "550 4.1.1 x\r\n", 1, 550, 1, "", "550 4.1.1 x", "4.1.1 x" },
		{ "550 5.1234.1 x\r\n", 1, 550, 1, "", "550 5.1234.1 x", "5.1234.1 x" },
		{ "550 5.1.1x\r\n", 1, 550, 1, "", "550 5.1.1x", "5.1.1x" },
		{ "550 5.1.1\r\n", 1, 550, 1, "5.1.1", "550 5.1.1", "" },
		{ "250-mx.test\r\n250-SIZE 100\r\n250 8BITMIME\r\n", 1, 250, 3, "",
		  "250 8BITMIME", "8BITMIME" },
		{ "250-first\r\n", 0, 250, 1, "", "250-first", NULL },
		{ "354 go ahead\r\n", 1, 354, 1, "", "354 go ahead", "go ahead" },
		/* garbage */
		{ "hello\r\n", -1, 0, 0, NULL, NULL, NULL },
		{ "25\r\n", -1, 0, 0, NULL, NULL, NULL },
		{ "2500 x\r\n", -1, 0, 0, NULL, NULL, NULL },
		{ "150 x\r\n", -1, 0, 0, NULL, NULL, NULL },
		{ "260 x\r\n", -1, 0, 0, NULL, NULL, NULL },
		{ "25x x\r\n", -1, 0, 0, NULL, NULL, NULL },
		{ "250_x\r\n", -1, 0, 0, NULL, NULL, NULL },
		{ "250-a\r\n251 b\r\n", -1, 0, 0, NULL, NULL, NULL },
		{ "250-a\r\nxyz\r\n", -1, 0, 0, NULL, NULL, NULL },
		{ "\r\n", -1, 0, 0, NULL, NULL, NULL },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpc_reply r;
		const char *why = NULL;
		int rc;

		smtpc_reply_init(&r);
		rc = feed_all(&r, cases[i].in, &why);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d", i, rc);
		if (rc < 0) {
			assert_non_null(why);
		} else {
			assert_int_equal(r.code, cases[i].code);
			assert_int_equal(r.nlines, cases[i].nlines);
			assert_string_equal(r.dsn, cases[i].dsn);
			assert_string_equal(smtpc_reply_last_line(&r), cases[i].last);
			if (cases[i].text != NULL)
				assert_string_equal(smtpc_reply_text(&r), cases[i].text);
			assert_int_equal(r.complete, rc == 1);
		}
		smtpc_reply_clear(&r);
	}
}

/* test_nul_and_limits: a NUL byte, a line over the limit and one line too
 * many are errors; the reset reply parses the next one. */
static void test_nul_and_limits(void **state)
{
	struct smtpc_reply r;
	const char *why;
	char *line = malloc(SMTPC_REPLY_LINE_MAX + 2);

	(void)state;
	smtpc_reply_init(&r);
	assert_int_equal(smtpc_reply_feed(&r, "250 a\0b\r\n", 9, &why), -1);
	smtpc_reply_reset(&r);
	memset(line, 'x', SMTPC_REPLY_LINE_MAX + 1);
	memcpy(line, "250 ", 4);
	assert_int_equal(smtpc_reply_feed(&r, line, SMTPC_REPLY_LINE_MAX + 1, &why), -1);
	smtpc_reply_reset(&r);
	assert_int_equal(smtpc_reply_feed(&r, line, SMTPC_REPLY_LINE_MAX, &why), 1);
	smtpc_reply_reset(&r);
	for (int i = 0; i < SMTPC_REPLY_LINES_MAX; i++)
		assert_int_equal(smtpc_reply_feed(&r, "250-more\r\n", 10, &why), 0);
	assert_int_equal(smtpc_reply_feed(&r, "250 last\r\n", 10, &why), -1);
	smtpc_reply_reset(&r);
	assert_int_equal(smtpc_reply_feed(&r, "221 bye\r\n", 9, &why), 1);
	assert_int_equal(r.code, 221);
	assert_string_equal(smtpc_reply_last_line(&r), "221 bye");
	smtpc_reply_clear(&r);
	free(line);
}

static void test_ehlo(void **state)
{
	static const struct {
		const char *in;
		unsigned ext;
		long long size;
		const char *auth;
	} cases[] = {
		{ "250 mx.test\r\n", 0, 0, "" },
		{ "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
		  "250-SMTPUTF8\r\n250-DSN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n"
		  "250-CHUNKING\r\n250 ENHANCEDSTATUSCODES\r\n",
		  SMTPC_EXT_PIPELINING | SMTPC_EXT_SIZE | SMTPC_EXT_8BITMIME | SMTPC_EXT_SMTPUTF8 |
			  SMTPC_EXT_DSN | SMTPC_EXT_STARTTLS | SMTPC_EXT_AUTH | SMTPC_EXT_CHUNKING |
			  SMTPC_EXT_ENHANCEDSTATUSCODES,
		  10240000, " PLAIN LOGIN " },
		/* case, the old AUTH= form, SIZE without or with a bad number */
		{ "250-mx\r\n250-pipelining\r\n250-AUTH=cram-md5  plain\r\n250 SIZE\r\n",
		  SMTPC_EXT_PIPELINING | SMTPC_EXT_AUTH | SMTPC_EXT_SIZE, 0, " CRAM-MD5 PLAIN " },
		{ "250-mx\r\n250 SIZE 12x\r\n", SMTPC_EXT_SIZE, 0, "" },
		/* keywords match whole, never as a prefix */
		{ "250-mx\r\n250-SIZEX 5\r\n250-DSNX\r\n250 XPIPELINING\r\n", 0, 0, "" },
		/* the greeting line is no capability */
		{ "250-PIPELINING\r\n250 DSN\r\n", SMTPC_EXT_DSN, 0, "" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpc_reply r;
		struct smtpc_caps caps;
		const char *why;

		smtpc_reply_init(&r);
		assert_int_equal(feed_all(&r, cases[i].in, &why), 1);
		smtpc_caps_parse(&r, &caps);
		if (caps.ext != cases[i].ext)
			fail_msg("case %zu: ext %#x", i, caps.ext);
		assert_int_equal(caps.size_max, cases[i].size);
		assert_string_equal(caps.auth, cases[i].auth);
		smtpc_reply_clear(&r);
	}
}

static void test_auth_lookup(void **state)
{
	struct smtpc_caps caps = { .auth = " PLAIN LOGIN CRAM-MD5 " };

	(void)state;
	assert_true(smtpc_caps_auth(&caps, "plain"));
	assert_true(smtpc_caps_auth(&caps, "CRAM-MD5"));
	assert_false(smtpc_caps_auth(&caps, "CRAM"));
	assert_false(smtpc_caps_auth(&caps, "SCRAM-SHA-256"));
	caps.auth[0] = '\0';
	assert_false(smtpc_caps_auth(&caps, "PLAIN"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_nul_and_limits),
		cmocka_unit_test(test_ehlo),
		cmocka_unit_test(test_auth_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
