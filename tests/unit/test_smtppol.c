/* test_smtppol.c: unit tests for lib/smtppol.c: smtp_tls_policy_maps
 * values (levels, match=, garbage), smtp_sasl_password_maps values,
 * smtp_sasl_security_options and the lookup key orders, as tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "smtppol.h"

struct tls_case {
	const char *value;
	int rc;
	enum smtpc_tls_level level;
	const char *match;
};

static const struct tls_case tls_cases[] = {
	{ "none", 0, SMTPC_TLS_NONE, NULL },
	{ "may", 0, SMTPC_TLS_MAY, NULL },
	{ "Encrypt", 0, SMTPC_TLS_ENCRYPT, NULL },
	{ "verify", 0, SMTPC_TLS_VERIFY, NULL },
	{ "secure match=mx.example.com:backup.example.com", 0, SMTPC_TLS_SECURE, "mx.example.com" },
	{ "secure match=hostname", 0, SMTPC_TLS_SECURE, "hostname" },
	{ "", -1, SMTPC_TLS_NONE, NULL },
	{ "dane", -1, SMTPC_TLS_NONE, NULL },
	{ "encrypt protocols=TLSv1.2", -1, SMTPC_TLS_NONE, NULL },
	{ "secure match=", -1, SMTPC_TLS_NONE, NULL },
	{ "secure match=a::b", -1, SMTPC_TLS_NONE, NULL },
	{ "verify match=a match=b", -1, SMTPC_TLS_NONE, NULL },
};

static void test_tls_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(tls_cases) / sizeof(tls_cases[0]); i++) {
		const struct tls_case *t = &tls_cases[i];
		struct smtppol_tls r;
		char *err = NULL, *err2 = NULL;
		int rc = smtppol_parse_tls(t->value, &r, &err);

		assert_int_equal(rc, t->rc);
		assert_int_equal(smtppol_check_tls(t->value, &err2), t->rc);
		free(err2);
		if (rc == 0) {
			assert_int_equal(r.level, t->level);
			if (t->match == NULL)
				assert_null(r.match);
			else
				assert_string_equal(r.match[0], t->match);
		} else {
			assert_non_null(err);
		}
		free(err);
		smtppol_tls_clear(&r);
	}
}

struct sasl_case {
	const char *value;
	int rc;
	const char *user, *pass;
};

static const struct sasl_case sasl_cases[] = {
	{ "alice:secret", 0, "alice", "secret" },
	{ "alice@example.com:a:b:c", 0, "alice@example.com", "a:b:c" },
	{ "alice:", 0, "alice", "" },
	{ "alice", -1, NULL, NULL },
	{ ":secret", -1, NULL, NULL },
	{ "al ice:secret", -1, NULL, NULL },
};

static void test_match_list(void **state)
{
	struct smtppol_tls r;
	char *err = NULL;

	(void)state;
	assert_int_equal(smtppol_parse_tls("secure match=nexthop:dot-nexthop:mx.example.com", &r,
					   &err), 0);
	assert_string_equal(r.match[0], "nexthop");
	assert_string_equal(r.match[1], "dot-nexthop");
	assert_string_equal(r.match[2], "mx.example.com");
	assert_null(r.match[3]);
	smtppol_tls_clear(&r);
	assert_null(r.match);
}

static void test_sasl_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(sasl_cases) / sizeof(sasl_cases[0]); i++) {
		const struct sasl_case *t = &sasl_cases[i];
		char *user, *pass, *err = NULL;

		assert_int_equal(smtppol_parse_sasl(t->value, &user, &pass, &err), t->rc);
		if (t->rc == 0) {
			assert_string_equal(user, t->user);
			assert_string_equal(pass, t->pass);
		} else {
			assert_null(user);
			assert_non_null(err);
		}
		free(user);
		free(pass);
		free(err);
	}
}

static void test_sasl_options(void **state)
{
	bool ok;
	char *err = NULL;

	(void)state;
	assert_int_equal(smtppol_sasl_plaintext("noplaintext, noanonymous", &ok, &err), 0);
	assert_false(ok);
	assert_int_equal(smtppol_sasl_plaintext("noanonymous", &ok, &err), 0);
	assert_true(ok);
	assert_int_equal(smtppol_sasl_plaintext("", &ok, &err), 0);
	assert_true(ok);
	assert_int_equal(smtppol_sasl_plaintext("noplaintxt", &ok, &err), -1);
	assert_non_null(err);
	free(err);
}

/* keys_equal: keys is exactly want (NULL-terminated). */
static void keys_equal(char **keys, const char *const *want)
{
	size_t i = 0;

	for (; want[i] != NULL; i++) {
		assert_non_null(keys[i]);
		assert_string_equal(keys[i], want[i]);
	}
	assert_null(keys[i]);
}

static void test_key_orders(void **state)
{
	struct route_nexthop mx = { "example.com", 0, true };
	struct route_nexthop relay = { "smtp.example.net", 587, false };
	char **keys;

	(void)state;
	keys = smtppol_tls_keys(&mx);
	keys_equal(keys, (const char *const[]){ "example.com", NULL });
	smtppol_keys_free(&keys);
	keys = smtppol_tls_keys(&relay);
	keys_equal(keys, (const char *const[]){ "[smtp.example.net]:587", "[smtp.example.net]",
						"smtp.example.net", NULL });
	smtppol_keys_free(&keys);
	keys = smtppol_sasl_keys(&relay, "smtp.example.net");
	keys_equal(keys, (const char *const[]){ "[smtp.example.net]:587", "[smtp.example.net]",
						"smtp.example.net", NULL });
	smtppol_keys_free(&keys);
	keys = smtppol_sasl_keys(&mx, "mx1.example.com");
	keys_equal(keys, (const char *const[]){ "[example.com]:25", "[example.com]",
						"mx1.example.com", "example.com", NULL });
	smtppol_keys_free(&keys);
	assert_null(keys);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_values),
		cmocka_unit_test(test_match_list),
		cmocka_unit_test(test_sasl_values),
		cmocka_unit_test(test_sasl_options),
		cmocka_unit_test(test_key_orders),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
