/* test_smtpd_parse.c: unit tests for smtpd/parse.c, smtpd's pure parsers:
 * command lines, MAIL/RCPT parameters and BDAT arguments. The DATA
 * decoder and its smuggling cases are tested in test_dot.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "parse.h"
#include "q.h"

static void test_command_split(void **state)
{
	static const struct {
		const char *line, *verb, *arg;
	} cases[] = {
		{ "EHLO client.test", "EHLO", "client.test" },
		{ "ehlo   client.test", "EHLO", "client.test" },
		{ "  mail FROM:<a@b> SIZE=10", "MAIL", "FROM:<a@b> SIZE=10" },
		{ "QUIT", "QUIT", "" },
		{ "", "", "" },
		{ "rcpt\tTO:<x@y>", "RCPT", "TO:<x@y>" },
		{ "AVERYLONGVERBTHATISNOTANYTHING x", "", "x" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpd_cmd cmd;
		struct smtpd_perr err;

		assert_int_equal(smtpd_parse_command(cases[i].line, strlen(cases[i].line), &cmd, &err), 0);
		assert_string_equal(cmd.verb, cases[i].verb);
		assert_string_equal(cmd.arg, cases[i].arg);
	}
}

static void test_command_control_chars(void **state)
{
	struct smtpd_cmd cmd;
	struct smtpd_perr err;
	(void)state;

	assert_int_equal(smtpd_parse_command("NOOP\0x", 6, &cmd, &err), -1);
	assert_int_equal(err.code, 501);
	assert_int_equal(smtpd_parse_command("NO\rOP", 5, &cmd, &err), -1);
	assert_int_equal(smtpd_parse_command("NOOP\x1b", 5, &cmd, &err), -1);
}

static void test_path_keyword(void **state)
{
	(void)state;
	assert_string_equal(smtpd_parse_path_keyword("FROM:<a@b>", "FROM:"), "<a@b>");
	assert_string_equal(smtpd_parse_path_keyword("from: <a@b>", "FROM:"), "<a@b>");
	assert_null(smtpd_parse_path_keyword("FROM <a@b>", "FROM:"));
	assert_null(smtpd_parse_path_keyword("TO:<a@b>", "FROM:"));
}

static void test_mail_params(void **state)
{
	static const struct {
		const char *text;
		int rc, code;
		long long size;
		int body, ret;
		bool utf8;
		const char *envid;
	} cases[] = {
		{ "", 0, 0, -1, SMTPD_BODY_UNSET, 0, false, NULL },
		{ "SIZE=1000", 0, 0, 1000, SMTPD_BODY_UNSET, 0, false, NULL },
		{ "size=12 body=8bitmime smtputf8", 0, 0, 12, SMTPD_BODY_8BITMIME, 0, true, NULL },
		{ "BODY=7BIT RET=HDRS ENVID=abc+2Bd", 0, 0, -1, SMTPD_BODY_7BIT, 2, false, "abc+d" },
		{ "RET=FULL", 0, 0, -1, SMTPD_BODY_UNSET, 1, false, NULL },
		{ "SIZE=abc", -1, 501, 0, 0, 0, false, NULL },
		{ "SIZE=", -1, 501, 0, 0, 0, false, NULL },
		{ "SIZE=1 SIZE=2", -1, 501, 0, 0, 0, false, NULL },
		{ "BODY=BINARYMIME", -1, 501, 0, 0, 0, false, NULL },
		{ "SMTPUTF8=yes", -1, 501, 0, 0, 0, false, NULL },
		{ "RET=ALL", -1, 501, 0, 0, 0, false, NULL },
		{ "ENVID=a+ZZ", -1, 501, 0, 0, 0, false, NULL },
		{ "ENVID=a ENVID=b", -1, 501, 0, 0, 0, false, NULL },
		{ "FOO=bar", -1, 555, 0, 0, 0, false, NULL },
		{ "XYZZY", -1, 555, 0, 0, 0, false, NULL },
		{ "=x", -1, 501, 0, 0, 0, false, NULL },
		{ "SIZE=99999999999999999999", -1, 501, 0, 0, 0, false, NULL },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpd_mail_params p;
		struct smtpd_perr err = { 0, NULL, NULL };
		int rc = smtpd_parse_mail_params(cases[i].text, &p, &err);

		assert_int_equal(rc, cases[i].rc);
		if (rc < 0) {
			assert_int_equal(err.code, cases[i].code);
			continue;
		}
		assert_int_equal(p.size, cases[i].size);
		assert_int_equal(p.body, cases[i].body);
		assert_int_equal(p.ret, cases[i].ret);
		assert_int_equal(p.smtputf8, cases[i].utf8);
		if (cases[i].envid)
			assert_string_equal(p.envid, cases[i].envid);
		else
			assert_null(p.envid);
		smtpd_mail_params_clear(&p);
	}
}

static void test_rcpt_params(void **state)
{
	static const struct {
		const char *text;
		int rc, code, notify;
		const char *orcpt;
	} cases[] = {
		{ "", 0, 0, 0, NULL },
		{ "NOTIFY=NEVER", 0, 0, Q_NOTIFY_NEVER, NULL },
		{ "NOTIFY=SUCCESS,FAILURE", 0, 0, Q_NOTIFY_SUCCESS | Q_NOTIFY_FAILURE, NULL },
		{ "notify=delay ORCPT=rfc822;a+40b.test", 0, 0, Q_NOTIFY_DELAY, "rfc822;a+40b.test" },
		{ "NOTIFY=NEVER,SUCCESS", -1, 501, 0, NULL },
		{ "NOTIFY=SOMETIMES", -1, 501, 0, NULL },
		{ "NOTIFY=SUCCESS,SUCCESS", -1, 501, 0, NULL },
		{ "ORCPT=rfc822", -1, 501, 0, NULL },
		{ "ORCPT=;a@b", -1, 501, 0, NULL },
		{ "ORCPT=rfc822;a+G1", -1, 501, 0, NULL },
		{ "ORCPT=rfc822;a@b ORCPT=rfc822;c@d", -1, 501, 0, NULL },
		{ "FOO", -1, 555, 0, NULL },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpd_rcpt_params p;
		struct smtpd_perr err = { 0, NULL, NULL };
		int rc = smtpd_parse_rcpt_params(cases[i].text, &p, &err);

		assert_int_equal(rc, cases[i].rc);
		if (rc < 0) {
			assert_int_equal(err.code, cases[i].code);
			continue;
		}
		assert_int_equal(p.notify, cases[i].notify);
		if (cases[i].orcpt)
			assert_string_equal(p.orcpt, cases[i].orcpt);
		else
			assert_null(p.orcpt);
		smtpd_rcpt_params_clear(&p);
	}
}

static void test_bdat_args(void **state)
{
	static const struct {
		const char *arg;
		int rc;
		unsigned long long size;
		bool last;
	} cases[] = {
		{ "100", 0, 100, false },	 { "0 LAST", 0, 0, true },
		{ "42 last", 0, 42, true },	 { "", -1, 0, false },
		{ "-1", -1, 0, false },		 { "12 FIRST", -1, 0, false },
		{ "12LAST", -1, 0, false },	 { "99999999999999999999", -1, 0, false },
		{ "7 LAST extra", -1, 0, false },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned long long size = 0;
		bool last = false;
		int rc = smtpd_parse_bdat(cases[i].arg, &size, &last);

		assert_int_equal(rc, cases[i].rc);
		if (rc == 0) {
			assert_int_equal(size, cases[i].size);
			assert_int_equal(last, cases[i].last);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_split),
		cmocka_unit_test(test_command_control_chars),
		cmocka_unit_test(test_path_keyword),
		cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_rcpt_params),
		cmocka_unit_test(test_bdat_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
