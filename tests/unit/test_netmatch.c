/* test_netmatch.c: unit tests for client address lists (lib/netmatch.c):
 * a table of (list, client, expected) matches covering IPv4 and IPv6 CIDR,
 * bare addresses, the [v6]/len form, prefix edges (/0, /32, /128, odd
 * lengths), IPv4-mapped IPv6 clients, separators; a table of bad lists with
 * the entry the error must name; matching struct sockaddr values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "netmatch.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

struct match_case {
	const char *list;
	const char *client;
	bool match;
};

static const struct match_case match_cases[] = {
	{ "127.0.0.0/8", "127.0.0.1", true },
	{ "127.0.0.0/8", "127.255.255.255", true },
	{ "127.0.0.0/8", "128.0.0.1", false },
	{ "127.0.0.0/8", "126.255.255.255", false },
	{ "10.1.2.3", "10.1.2.3", true },
	{ "10.1.2.3", "10.1.2.4", false },
	{ "10.1.2.3/32", "10.1.2.3", true },
	{ "10.1.2.3/32", "10.1.2.2", false },
	{ "0.0.0.0/0", "203.0.113.9", true },
	{ "0.0.0.0/0", "::1", false },
	{ "192.168.0.0/23", "192.168.1.77", true },
	{ "192.168.0.0/23", "192.168.2.1", false },
	{ "172.16.0.0/12", "172.31.255.255", true },
	{ "172.16.0.0/12", "172.32.0.0", false },
	{ "10.0.0.0/9", "10.127.0.1", true },
	{ "10.0.0.0/9", "10.128.0.1", false },
	{ "127.0.0.1/8", "127.9.9.9", true }, /* host bits are cleared */
	{ "[::1]/128", "::1", true },
	{ "[::1]/128", "::2", false },
	{ "[::1]", "::1", true },
	{ "::1", "::1", true },
	{ "[2001:db8::]/32", "2001:db8:ffff::1", true },
	{ "[2001:db8::]/32", "2001:db9::1", false },
	{ "2001:db8::/32", "2001:db8::5", true },
	{ "[2001:db8::]/33", "2001:db8:7fff::1", true },
	{ "[2001:db8::]/33", "2001:db8:8000::1", false },
	{ "[::]/0", "2001:db8::1", true },
	{ "[::]/0", "10.0.0.1", false },
	{ "[fe80::]/10", "fe80::1", true },
	{ "[fe80::]/10", "febf::1", true },
	{ "[fe80::]/10", "fec0::1", false },
	/* IPv4-mapped IPv6 clients match IPv4 entries */
	{ "127.0.0.0/8", "::ffff:127.0.0.1", true },
	{ "127.0.0.0/8", "[::ffff:127.0.0.1]", true },
	{ "127.0.0.0/8", "::ffff:128.0.0.1", false },
	{ "10.1.2.3", "::ffff:10.1.2.3", true },
	{ "127.0.0.0/8", "::127.0.0.1", false }, /* compatible, not mapped */
	{ "[::ffff:0:0]/96", "::ffff:1.2.3.4", true },
	{ "[::ffff:0:0]/96", "1.2.3.4", false },
	/* client forms */
	{ "10.0.0.0/8", "[10.0.0.1]", true },
	{ "[::1]", "[::1]", true },
	{ "[::1]", "[IPv6:::1]", true },
	{ "[fe80::]/10", "fe80::1%eth0", true },
	{ "10.0.0.0/8", "not-an-ip", false },
	{ "10.0.0.0/8", "", false },
	{ "10.0.0.0/8", "10.0.0", false },
	/* lists and separators */
	{ "127.0.0.0/8 [::1]/128 10.1.2.3 [2001:db8::]/32", "10.1.2.3", true },
	{ "127.0.0.0/8, [::1]/128,10.1.2.3", "::1", true },
	{ " ,127.0.0.0/8,\t\n[::1]/128 ,, ", "127.1.1.1", true },
	{ "127.0.0.0/8 [::1]/128", "192.0.2.1", false },
	{ "", "127.0.0.1", false },
	{ " , ", "::1", false },
};

static void test_match_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(match_cases); i++) {
		const struct match_case *t = &match_cases[i];
		char *err = NULL;
		netmatch *n = netmatch_new(t->list, &err);

		if (n == NULL)
			fail_msg("case %zu: list \"%s\" refused: %s", i, t->list, err);
		assert_null(err);
		if (netmatch_match_str(n, t->client) != t->match)
			fail_msg("case %zu: \"%s\" vs \"%s\": want %d", i, t->list, t->client,
				 t->match);
		netmatch_free(&n);
		assert_null(n);
	}
}

struct bad_case {
	const char *list;
	const char *entry; /* must appear in the error */
};

static const struct bad_case bad_cases[] = {
	{ "10.0.0.0/33", "10.0.0.0/33" },
	{ "127.0.0.0/8 10.0.0.0/-1", "10.0.0.0/-1" },
	{ "[::1]/129", "[::1]/129" },
	{ "[::1]/1000", "[::1]/1000" },
	{ "10.0.0.0/", "10.0.0.0/" },
	{ "10.0.0.0/8x", "10.0.0.0/8x" },
	{ "10.0.0.0/+8", "10.0.0.0/+8" },
	{ "10.0.0.0/0008", "10.0.0.0/0008" },
	{ "10.0.0/8", "10.0.0/8" },
	{ "10.0.0.256", "10.0.0.256" },
	{ "example.com", "example.com" },
	{ "!10.0.0.0/8", "!10.0.0.0/8" },
	{ "hash:/etc/postern/networks", "hash:/etc/postern/networks" },
	{ "[::1", "[::1" },
	{ "[::1]x", "[::1]x" },
	{ "[::1]/", "[::1]/" },
	{ "[]", "[]" },
	{ "[zz::1]/64", "[zz::1]/64" },
	{ "127.0.0.1 ::1 10.0.0.1/8/8", "10.0.0.1/8/8" },
};

static void test_bad_lists(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(bad_cases); i++) {
		char *err = NULL;
		netmatch *n = netmatch_new(bad_cases[i].list, &err);

		if (n != NULL)
			fail_msg("case %zu: \"%s\" accepted", i, bad_cases[i].list);
		assert_non_null(err);
		if (strstr(err, bad_cases[i].entry) == NULL)
			fail_msg("case %zu: error \"%s\" does not name \"%s\"", i, err,
				 bad_cases[i].entry);
		free(err);
	}
}

static void test_prefix_bounds(void **state)
{
	static const char *const ok[] = { "1.2.3.4/0", "1.2.3.4/32", "[::]/0", "[::]/128",
					  "::/64" };
	char *err = NULL;

	(void)state;
	for (size_t i = 0; i < N_ELEMS(ok); i++) {
		netmatch *n = netmatch_new(ok[i], &err);

		if (n == NULL)
			fail_msg("\"%s\" refused: %s", ok[i], err);
		netmatch_free(&n);
	}
	netmatch_free(&(netmatch *){ NULL }); /* NULL is fine */
}

static void test_sockaddr(void **state)
{
	char *err = NULL;
	netmatch *n = netmatch_new("192.0.2.0/24 [2001:db8::]/32", &err);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	(void)state;
	assert_non_null(n);
	inet_pton(AF_INET, "192.0.2.55", &sin.sin_addr);
	assert_true(netmatch_match(n, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "192.0.3.55", &sin.sin_addr);
	assert_false(netmatch_match(n, (struct sockaddr *)&sin));
	inet_pton(AF_INET6, "2001:db8::99", &sin6.sin6_addr);
	assert_true(netmatch_match(n, (struct sockaddr *)&sin6));
	inet_pton(AF_INET6, "::ffff:192.0.2.1", &sin6.sin6_addr);
	assert_true(netmatch_match(n, (struct sockaddr *)&sin6));
	inet_pton(AF_INET6, "::ffff:192.0.4.1", &sin6.sin6_addr);
	assert_false(netmatch_match(n, (struct sockaddr *)&sin6));
	inet_pton(AF_INET6, "2001:db9::1", &sin6.sin6_addr);
	assert_false(netmatch_match(n, (struct sockaddr *)&sin6));
	assert_false(netmatch_match(n, (struct sockaddr *)&sun));
	assert_false(netmatch_match(n, NULL));
	netmatch_free(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_table),
		cmocka_unit_test(test_bad_lists),
		cmocka_unit_test(test_prefix_bounds),
		cmocka_unit_test(test_sockaddr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
