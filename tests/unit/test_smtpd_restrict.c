/* test_smtpd_restrict.c: unit tests for smtpd/restrict.c: parsing the
 * restriction lists (separators, case, unknown words) and evaluating them
 * in order against the facts of a session (mynetworks, AUTH, hosted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "restrict.h"

#define DEFAULT "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"

static void test_parse(void **state)
{
	struct smtpd_restrictions r;
	char *err = NULL;
	(void)state;

	assert_int_equal(smtpd_restrictions_parse(" Permit_MyNetworks,,reject\n", &r, &err), 0);
	assert_int_equal(r.count, 2);
	assert_int_equal(r.items[0], R_PERMIT_MYNETWORKS);
	assert_int_equal(r.items[1], R_REJECT);
	smtpd_restrictions_clear(&r);
	assert_int_equal(smtpd_restrictions_parse("", &r, &err), 0);
	assert_int_equal(r.count, 0);
	assert_int_equal(smtpd_restrictions_parse("permit_mynetworks check_foo", &r, &err), -1);
	assert_string_equal(err, "unknown restriction \"check_foo\"");
	assert_null(r.items);
	free(err);
}

static void test_eval(void **state)
{
	static const struct {
		const char *list;
		struct smtpd_facts facts;
		enum smtpd_verdict expect;
	} cases[] = {
		{ DEFAULT, { false, false, true }, SMTPD_DUNNO },
		{ DEFAULT, { false, false, false }, SMTPD_REJECT_RELAY },
		{ DEFAULT, { true, false, false }, SMTPD_PERMIT },
		{ DEFAULT, { false, true, false }, SMTPD_PERMIT },
		{ "reject_unauth_destination, permit_mynetworks", { true, false, false },
		  SMTPD_REJECT_RELAY }, /* order matters */
		{ "permit_auth_destination, reject", { false, false, true }, SMTPD_PERMIT },
		{ "permit_auth_destination, reject", { false, false, false }, SMTPD_REJECT },
		{ "", { false, false, false }, SMTPD_DUNNO },
		{ "permit", { false, false, false }, SMTPD_PERMIT },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpd_restrictions r;
		char *err = NULL;

		assert_int_equal(smtpd_restrictions_parse(cases[i].list, &r, &err), 0);
		assert_int_equal(smtpd_restrictions_eval(&r, &cases[i].facts), cases[i].expect);
		smtpd_restrictions_clear(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_eval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
