/* test_authcache.c: unit tests for lib/authcache.c: hits only for the
 * exact user, password and entry; expiry; no cache when disabled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include "authcache.h"

static void test_exact_match_only(void **state)
{
	static const struct {
		const char *user, *password, *entry;
		bool hit;
	} cases[] = {
		{ "a@x.test", "pencil", "{SHA512-CRYPT}$6$s$h", true },
		{ "a@x.test", "pencil2", "{SHA512-CRYPT}$6$s$h", false }, /* other password */
		{ "b@x.test", "pencil", "{SHA512-CRYPT}$6$s$h", false }, /* other user */
		{ "a@x.test", "pencil", "{SHA512-CRYPT}$6$s$new", false }, /* entry changed */
		{ "a@x.testpencil", "", "{SHA512-CRYPT}$6$s$h", false }, /* no field gluing */
	};
	authcache *c = authcache_new(1024, 60);
	(void)state;

	assert_false(authcache_hit(c, "a@x.test", "pencil", "{SHA512-CRYPT}$6$s$h"));
	authcache_add(c, "a@x.test", "pencil", "{SHA512-CRYPT}$6$s$h");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(authcache_hit(c, cases[i].user, cases[i].password, cases[i].entry),
				 cases[i].hit);
	authcache_free(&c);
	assert_null(c);
}

static void test_expiry_and_disabled(void **state)
{
	authcache *c = authcache_new(16, 1);
	(void)state;

	authcache_add(c, "u", "p", "e");
	assert_true(authcache_hit(c, "u", "p", "e"));
	sleep(2);
	assert_false(authcache_hit(c, "u", "p", "e"));
	authcache_free(&c);
	assert_null(authcache_new(0, 60));
	assert_null(authcache_new(16, 0));
	assert_false(authcache_hit(NULL, "u", "p", "e"));
	authcache_add(NULL, "u", "p", "e");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_match_only),
		cmocka_unit_test(test_expiry_and_disabled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
