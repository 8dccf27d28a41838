/* test_route.c: unit tests for lib/route.c (tables of next hops and
 * transport_maps values, good and bad), for the routing lookups of
 * lib/resolve.c over texthash: maps in a mkdtemp directory (transport_maps
 * by address, address without extension, domain, .parent and "*"; hosted,
 * relay_domains, relayhost, relay_recipient_maps; TEMP for a broken entry
 * or an unreadable map), for map_check_values reporting file:line, and for
 * relayhost in cfg_check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "map.h"
#include "mem.h"
#include "resolve.h"
#include "route.h"

/* ---- next hops ---- */

struct hop_case {
	const char *text;
	int rc;
	const char *host; /* NULL: none */
	int port;
	bool mx;
	const char *formatted; /* route_nexthop_format, NULL when host is */
};

static const struct hop_case hop_cases[] = {
	{ "", 0, NULL, 0, false, NULL },
	{ "mail.example.com", 0, "mail.example.com", 0, true, "mail.example.com" },
	{ "mail.example.com:2525", 0, "mail.example.com", 2525, true, "mail.example.com:2525" },
	{ "[mail.example.com]", 0, "mail.example.com", 0, false, "[mail.example.com]" },
	{ "[smart.test]:587", 0, "smart.test", 587, false, "[smart.test]:587" },
	{ "[192.0.2.1]:25", 0, "192.0.2.1", 25, false, "[192.0.2.1]:25" },
	{ "[ipv6:2001:db8::1]:25", 0, "2001:db8::1", 25, false, "[2001:db8::1]:25" },
	{ "[2001:db8::1]", 0, "2001:db8::1", 0, false, "[2001:db8::1]" },
	{ "relay_1.example", 0, "relay_1.example", 0, true, "relay_1.example" },
	{ "[mail.example.com", -1, NULL, 0, false, NULL },
	{ "[mail.example.com]x", -1, NULL, 0, false, NULL },
	{ "[]", -1, NULL, 0, false, NULL },
	{ "[ipv6:zz::1]", -1, NULL, 0, false, NULL },
	{ "2001:db8::1", -1, NULL, 0, false, NULL },
	{ "host:0", -1, NULL, 0, false, NULL },
	{ "host:65536", -1, NULL, 0, false, NULL },
	{ "host:", -1, NULL, 0, false, NULL },
	{ "host:25x", -1, NULL, 0, false, NULL },
	{ "ho st", -1, NULL, 0, false, NULL },
	{ ".example.com", -1, NULL, 0, false, NULL },
	{ "a..b", -1, NULL, 0, false, NULL },
	{ "-a.b", -1, NULL, 0, false, NULL },
	{ "[a b]:25", -1, NULL, 0, false, NULL },
};

static void test_nexthop_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hop_cases) / sizeof(hop_cases[0]); i++) {
		const struct hop_case *t = &hop_cases[i];
		struct route_nexthop hop;
		char *err = NULL, *text;
		int rc;

		print_message("next hop case %zu: '%s'\n", i, t->text);
		rc = route_parse_nexthop(t->text, &hop, &err);
		assert_int_equal(rc, t->rc);
		if (rc < 0) {
			assert_non_null(err);
			assert_non_null(strstr(err, t->text));
			assert_null(hop.host);
			free(err);
			continue;
		}
		assert_null(err);
		if (t->host == NULL)
			assert_null(hop.host);
		else
			assert_string_equal(hop.host, t->host);
		assert_int_equal(hop.port, t->port);
		assert_int_equal(hop.mx, t->mx);
		text = route_nexthop_format(&hop);
		if (t->formatted == NULL)
			assert_null(text);
		else
			assert_string_equal(text, t->formatted);
		free(text);
		route_nexthop_clear(&hop);
	}
}

/* ---- transport values ---- */

struct transport_case {
	const char *value;
	int rc;
	enum route_transport transport;
	const char *host; /* smtp: NULL = default */
	int port;
	bool mx;
	const char *status; /* error */
	const char *text; /* error, discard */
	const char *err; /* part of the error message */
};

static const struct transport_case transport_cases[] = {
	{ "local", 0, ROUTE_LOCAL, NULL, 0, false, NULL, NULL, NULL },
	{ "local:", 0, ROUTE_LOCAL, NULL, 0, false, NULL, NULL, NULL },
	{ "LOCAL", 0, ROUTE_LOCAL, NULL, 0, false, NULL, NULL, NULL },
	{ "smtp", 0, ROUTE_SMTP, NULL, 0, false, NULL, NULL, NULL },
	{ "smtp:", 0, ROUTE_SMTP, NULL, 0, false, NULL, NULL, NULL },
	{ "smtp:[10.0.0.1]:2525", 0, ROUTE_SMTP, "10.0.0.1", 2525, false, NULL, NULL, NULL },
	{ "smtp:mx.example.net", 0, ROUTE_SMTP, "mx.example.net", 0, true, NULL, NULL, NULL },
	{ "smtp:[mx.example.net]", 0, ROUTE_SMTP, "mx.example.net", 0, false, NULL, NULL, NULL },
	{ "relay:mx.example.net:26", 0, ROUTE_SMTP, "mx.example.net", 26, true, NULL, NULL, NULL },
	{ ":[backup.test]", 0, ROUTE_SMTP, "backup.test", 0, false, NULL, NULL, NULL },
	{ "error", 0, ROUTE_ERROR, NULL, 0, false, "5.0.0", "", NULL },
	{ "error:mailbox closed", 0, ROUTE_ERROR, NULL, 0, false, "5.0.0", "mailbox closed", NULL },
	{ "error:5.1.1 no such user", 0, ROUTE_ERROR, NULL, 0, false, "5.1.1", "no such user",
	  NULL },
	{ "error:5.7.1", 0, ROUTE_ERROR, NULL, 0, false, "5.7.1", "", NULL },
	{ "error:5.123.456 long", 0, ROUTE_ERROR, NULL, 0, false, "5.123.456", "long", NULL },
	{ "error:5.1.1x text", 0, ROUTE_ERROR, NULL, 0, false, "5.0.0", "5.1.1x text", NULL },
	{ "error:4.2.2 full", -1, ROUTE_ERROR, NULL, 0, false, NULL, NULL, "not a permanent" },
	{ "discard", 0, ROUTE_DISCARD, NULL, 0, false, NULL, "", NULL },
	{ "discard:spam trap", 0, ROUTE_DISCARD, NULL, 0, false, NULL, "spam trap", NULL },
	{ "smtp:[mx", -1, ROUTE_SMTP, NULL, 0, false, NULL, NULL, "without ']'" },
	{ "smtp:host:99999", -1, ROUTE_SMTP, NULL, 0, false, NULL, NULL, "bad port" },
	{ "lmtp:unix:/x", -1, ROUTE_SMTP, NULL, 0, false, NULL, NULL, "unknown transport \"lmtp\"" },
	{ "smpt:[x]", -1, ROUTE_SMTP, NULL, 0, false, NULL, NULL, "unknown transport" },
};

static void check_transport_case(const struct transport_case *t, const struct route *r)
{
	assert_int_equal(r->transport, t->transport);
	if (t->host == NULL)
		assert_null(r->hop.host);
	else
		assert_string_equal(r->hop.host, t->host);
	assert_int_equal(r->hop.port, t->port);
	assert_int_equal(r->hop.mx, t->mx);
	if (t->status == NULL)
		assert_null(r->status);
	else
		assert_string_equal(r->status, t->status);
	if (t->text == NULL)
		assert_null(r->text);
	else
		assert_string_equal(r->text, t->text);
}

static void test_transport_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(transport_cases) / sizeof(transport_cases[0]); i++) {
		const struct transport_case *t = &transport_cases[i];
		struct route r;
		char *err = NULL, *check_err = NULL;
		int rc;

		print_message("transport case %zu: '%s'\n", i, t->value);
		rc = route_parse_transport(t->value, &r, &err);
		assert_int_equal(rc, t->rc);
		assert_int_equal(route_check_transport(t->value, &check_err) < 0, rc < 0);
		assert_int_equal(check_err != NULL, rc < 0);
		free(check_err);
		if (rc == 0) {
			assert_null(err);
			check_transport_case(t, &r);
			route_clear(&r);
			continue;
		}
		assert_non_null(err);
		if (strstr(err, t->err) == NULL)
			fail_msg("error '%s' lacks '%s'", err, t->err);
		free(err);
	}
}

/* ---- lookups ---- */

struct fixture {
	char dir[64];
	cfg *c;
	resolver *r;
};

static const char TRANSPORT[] =
	"special@example.org error:5.1.1 this address is gone\n"
	"closed.test error:mailbox closed\n"
	"trap.test discard:spam trap\n"
	"smart.test smtp:[10.1.2.3]:2525\n"
	".sub.test smtp:sub-mx.test\n"
	"default.test smtp:\n"
	"hosted-out.example.org smtp\n"
	"broken.test smtp:[oops\n"
	"strange.test local\n"
	"example.net local\n";
static const char RELAY_RCPTS[] = "known@backup.test OK\n@catchall.test OK\n";

static void write_file(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	free(path);
}

static void set_map(struct fixture *f, const char *key, const char *file)
{
	char *v = xasprintf("texthash:%s/%s", f->dir, file);

	cfg_set(f->c, key, v);
	free(v);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test_route.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	write_file(f->dir, "transport", TRANSPORT);
	write_file(f->dir, "relay_rcpts", RELAY_RCPTS);
	f->c = cfg_new(f->dir);
	cfg_set(f->c, "virtual_mailbox_domains", "example.org, example.net, hosted-out.example.org");
	cfg_set(f->c, "mydestination", "localhost");
	cfg_set(f->c, "virtual_mailbox_maps", "");
	cfg_set(f->c, "virtual_alias_maps", "");
	cfg_set(f->c, "relay_domains", "backup.test, catchall.test, .wide.test");
	set_map(f, "transport_maps", "transport");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->dir);

	resolver_free(&f->r);
	cfg_free(&f->c);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
	return 0;
}

struct lookup_case {
	const char *address;
	enum resolve_result res;
	enum route_transport transport;
	const char *hop_or_text; /* smtp: formatted hop; error: status + ' ' + text; discard: text */
};

static const struct lookup_case lookups_direct[] = {
	{ "alice@example.org", RESOLVE_OK, ROUTE_LOCAL, NULL },
	{ "special@example.org", RESOLVE_OK, ROUTE_ERROR, "5.1.1 this address is gone" },
	{ "special+tag@example.org", RESOLVE_OK, ROUTE_ERROR, "5.1.1 this address is gone" },
	{ "special-x@example.org", RESOLVE_OK, ROUTE_LOCAL, NULL },
	{ "anyone@closed.test", RESOLVE_OK, ROUTE_ERROR, "5.0.0 mailbox closed" },
	{ "x@trap.test", RESOLVE_OK, ROUTE_DISCARD, "spam trap" },
	{ "x@smart.test", RESOLVE_OK, ROUTE_SMTP, "[10.1.2.3]:2525" },
	{ "x@a.b.sub.test", RESOLVE_OK, ROUTE_SMTP, "sub-mx.test" },
	{ "x@sub.test", RESOLVE_OK, ROUTE_SMTP, "sub.test" }, /* .sub.test: sub-domains only */
	{ "x@default.test", RESOLVE_OK, ROUTE_SMTP, "default.test" },
	{ "x@hosted-out.example.org", RESOLVE_OK, ROUTE_SMTP, "hosted-out.example.org" },
	{ "x@backup.test", RESOLVE_OK, ROUTE_SMTP, "backup.test" },
	{ "x@mx.wide.test", RESOLVE_OK, ROUTE_SMTP, "mx.wide.test" },
	{ "x@elsewhere.test", RESOLVE_OK, ROUTE_SMTP, "elsewhere.test" },
	{ "x@example.net", RESOLVE_OK, ROUTE_LOCAL, NULL },
	{ "postmaster", RESOLVE_OK, ROUTE_LOCAL, NULL },
	{ "x@broken.test", RESOLVE_TEMP, ROUTE_LOCAL, "transport_maps entry for broken.test" },
	{ "x@strange.test", RESOLVE_TEMP, ROUTE_LOCAL, "not a domain hosted here" },
};

/* With a relayhost, mail that leaves goes there, except to relay domains
 * (their own MX) and where transport_maps says otherwise. */
static const struct lookup_case lookups_relayhost[] = {
	{ "x@elsewhere.test", RESOLVE_OK, ROUTE_SMTP, "[smarthost.test]:587" },
	{ "x@default.test", RESOLVE_OK, ROUTE_SMTP, "[smarthost.test]:587" },
	{ "x@backup.test", RESOLVE_OK, ROUTE_SMTP, "backup.test" },
	{ "x@hosted-out.example.org", RESOLVE_OK, ROUTE_SMTP, "hosted-out.example.org" },
	{ "x@smart.test", RESOLVE_OK, ROUTE_SMTP, "[10.1.2.3]:2525" },
	{ "alice@example.org", RESOLVE_OK, ROUTE_LOCAL, NULL },
};

static void check_lookup(resolver *r, const struct lookup_case *t)
{
	struct route rt;
	char *why = NULL, *got = NULL;
	enum resolve_result res = resolver_route(r, t->address, &rt, &why);

	print_message("route of %s\n", t->address);
	assert_int_equal(res, t->res);
	if (res != RESOLVE_OK) {
		assert_non_null(why);
		if (strstr(why, t->hop_or_text) == NULL)
			fail_msg("reason '%s' lacks '%s'", why, t->hop_or_text);
		assert_null(rt.hop.host);
		free(why);
		return;
	}
	assert_null(why);
	assert_int_equal(rt.transport, t->transport);
	if (rt.transport == ROUTE_SMTP)
		got = route_nexthop_format(&rt.hop);
	else if (rt.transport == ROUTE_ERROR)
		got = xasprintf("%s %s", rt.status, rt.text);
	else if (rt.transport == ROUTE_DISCARD)
		got = xstrdup(rt.text);
	if (t->hop_or_text == NULL)
		assert_null(got);
	else
		assert_string_equal(got, t->hop_or_text);
	free(got);
	route_clear(&rt);
}

static void test_lookups(void **state)
{
	struct fixture *f = *state;

	f->r = resolver_new(f->c);
	for (size_t i = 0; i < sizeof(lookups_direct) / sizeof(lookups_direct[0]); i++)
		check_lookup(f->r, &lookups_direct[i]);
}

static void test_lookups_relayhost(void **state)
{
	struct fixture *f = *state;

	cfg_set(f->c, "relayhost", "[smarthost.test]:587");
	f->r = resolver_new(f->c);
	for (size_t i = 0; i < sizeof(lookups_relayhost) / sizeof(lookups_relayhost[0]); i++)
		check_lookup(f->r, &lookups_relayhost[i]);
}

/* A transport map that cannot be read defers everything, local mail too:
 * it might have said error: or smtp for it. */
static void test_unreadable_transport_map(void **state)
{
	struct fixture *f = *state;
	static const struct lookup_case t = { "alice@example.org", RESOLVE_TEMP, ROUTE_LOCAL,
					      "transport.gone" };

	set_map(f, "transport_maps", "transport.gone");
	f->r = resolver_new(f->c);
	check_lookup(f->r, &t);
}

/* A malformed relayhost (which cfg_check refuses at start) defers the
 * mail that would use it, not the rest. */
static void test_bad_relayhost(void **state)
{
	struct fixture *f = *state;
	static const struct lookup_case t[] = {
		{ "x@elsewhere.test", RESOLVE_TEMP, ROUTE_LOCAL, "relayhost" },
		{ "x@backup.test", RESOLVE_OK, ROUTE_SMTP, "backup.test" },
		{ "alice@example.org", RESOLVE_OK, ROUTE_LOCAL, NULL },
	};

	cfg_set(f->c, "relayhost", "[smarthost.test");
	f->r = resolver_new(f->c);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		check_lookup(f->r, &t[i]);
}

static void test_relay_domains(void **state)
{
	struct fixture *f = *state;

	f->r = resolver_new(f->c);
	assert_int_equal(resolver_relay_domain(f->r, "backup.test"), RESOLVE_OK);
	assert_int_equal(resolver_relay_domain(f->r, "a.b.wide.test"), RESOLVE_OK);
	assert_int_equal(resolver_relay_domain(f->r, "wide.test"), RESOLVE_NOTFOUND);
	assert_int_equal(resolver_relay_domain(f->r, "sub.backup.test"), RESOLVE_NOTFOUND);
	assert_int_equal(resolver_relay_domain(f->r, "example.org"), RESOLVE_NOTFOUND);
}

static void expect_relay_rcpt(resolver *r, const char *address, enum resolve_result want)
{
	char *why = NULL;

	print_message("relay recipient %s\n", address);
	assert_int_equal(resolver_relay_recipient(r, address, &why), want);
	assert_int_equal(why != NULL, want != RESOLVE_OK);
	free(why);
}

static void test_relay_recipients(void **state)
{
	struct fixture *f = *state;

	f->r = resolver_new(f->c);
	expect_relay_rcpt(f->r, "anyone@backup.test", RESOLVE_OK); /* no map: all */
	resolver_free(&f->r);
	set_map(f, "relay_recipient_maps", "relay_rcpts");
	f->r = resolver_new(f->c);
	expect_relay_rcpt(f->r, "known@backup.test", RESOLVE_OK);
	expect_relay_rcpt(f->r, "known+tag@backup.test", RESOLVE_OK);
	expect_relay_rcpt(f->r, "unknown@backup.test", RESOLVE_NOTFOUND);
	expect_relay_rcpt(f->r, "whoever@catchall.test", RESOLVE_OK);
	resolver_free(&f->r);
	set_map(f, "relay_recipient_maps", "relay_rcpts.gone");
	f->r = resolver_new(f->c);
	expect_relay_rcpt(f->r, "known@backup.test", RESOLVE_TEMP);
}

/* ---- checks ---- */

struct diag_log {
	int count;
	char text[1024];
};

static void collect(void *ctx, const char *file, int line, const char *severity,
		    const char *msg)
{
	struct diag_log *d = ctx;
	size_t used = strlen(d->text);
	const char *base = strrchr(file, '/');

	d->count++;
	snprintf(d->text + used, sizeof(d->text) - used, "%s:%d: %s: %s\n",
		 base ? base + 1 : file, line, severity, msg);
}

static void test_map_check_values(void **state)
{
	struct fixture *f = *state;
	struct diag_log d = { 0 };
	char *name = xasprintf("hash:%s/transport", f->dir);

	assert_int_equal(map_check_values(name, route_check_transport, collect, &d), 1);
	assert_int_equal(d.count, 1);
	assert_non_null(strstr(d.text, "transport:8: error: broken.test: next hop \"[oops\""));
	free(name);
	memset(&d, 0, sizeof(d));
	name = xasprintf("texthash:%s/relay_rcpts", f->dir);
	assert_int_equal(map_check_values(name, route_check_transport, collect, &d), 2);
	assert_non_null(strstr(d.text, "relay_rcpts:1: error: known@backup.test: unknown "
				       "transport \"OK\""));
	assert_non_null(strstr(d.text, "relay_rcpts:2: error"));
	free(name);
	memset(&d, 0, sizeof(d));
	name = xasprintf("texthash:%s/nothing", f->dir);
	assert_int_equal(map_check_values(name, route_check_transport, collect, &d), 1);
	assert_non_null(strstr(d.text, "nothing:0: error: cannot open"));
	free(name);
}

static void test_cfg_relayhost(void **state)
{
	struct fixture *f = *state;
	struct diag_log d = { 0 };

	cfg_set(f->c, "relayhost", "[smart.test]:587");
	assert_int_equal(cfg_check(f->c, collect, &d), 0);
	cfg_set(f->c, "relayhost", "smart.test:port");
	assert_int_equal(cfg_check(f->c, collect, &d), 1);
	assert_non_null(strstr(d.text, "relayhost"));
	assert_non_null(strstr(d.text, "bad port"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nexthop_table),
		cmocka_unit_test(test_transport_table),
		cmocka_unit_test_setup_teardown(test_lookups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookups_relayhost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_transport_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_relayhost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_domains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_recipients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_check_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cfg_relayhost, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
