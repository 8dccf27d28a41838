/* test_resolve.c: unit tests for lib/resolve.c with real texthash: maps in
 * a mkdtemp directory: hosted domains (names, maps, mydestination), a table
 * of expansions (mailboxes, aliases, fan-out, nesting, loops, keep-a-copy,
 * catch-all, extensions, folder delivery, forwards, postmaster, quota),
 * the expansion limit, a mailbox value without '/', and TEMP (never
 * NOTFOUND) when a map cannot be read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "mem.h"
#include "resolve.h"

struct fixture {
	char dir[64];
	cfg *c;
	resolver *r;
};

static const char DOMAINS[] = "example.org OK\nmapped.test OK\n";
static const char MAILBOXES[] =
	"alice@example.org example.org/alice/\n"
	"bob@example.org example.org/bob/\n"
	"carol@example.org /abs/carol/\n"
	"dave@example.org example.org/dave\n" /* no trailing '/': not a Maildir */
	"postmaster@example.net example.net/pm/\n"
	"eve@mapped.test mapped.test/eve/\n"
	"frank@example.org example.org/frank/\n";
static const char ALIASES[] =
	"sales@example.org alice@example.org, bob@example.org\n"
	"team@example.org sales@example.org carol@example.org\n"
	"copy@example.org copy@example.org, bob@example.org\n"
	"alice2@example.org alice@example.org,alice@example.org\n"
	"frank@example.org frank@example.org, bob@example.org\n"
	"loop1@example.org loop2@example.org\n"
	"loop2@example.org loop1@example.org\n"
	"loopa@example.org bob@example.org, loopb@example.org\n"
	"loopb@example.org loopa@example.org\n"
	"ghost@example.org nobody@example.org\n"
	"half@example.org nobody@example.org, bob@example.org\n"
	"fwd@example.org someone@remote.test\n"
	"mixed@example.org Alice@EXAMPLE.ORG, <x@Remote.Test>\n"
	"bare@example.org bob\n"
	"@mapped.test eve@mapped.test\n"
	"bob+lists@example.org carol@example.org\n"
	"big@example.org a1@r.test a2@r.test a3@r.test a4@r.test\n";
static const char QUOTAS[] = "bob@example.org 10k\n";

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
	char *v;

	strcpy(f->dir, "/tmp/test_resolve.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	write_file(f->dir, "domains", DOMAINS);
	write_file(f->dir, "mailboxes", MAILBOXES);
	write_file(f->dir, "aliases", ALIASES);
	write_file(f->dir, "quotas", QUOTAS);
	f->c = cfg_new(f->dir);
	v = xasprintf("example.net, texthash:%s/domains", f->dir);
	cfg_set(f->c, "virtual_mailbox_domains", v);
	free(v);
	cfg_set(f->c, "mydestination", "localhost");
	cfg_set(f->c, "mydomain", "example.org");
	cfg_set(f->c, "virtual_mailbox_base", "/base");
	cfg_set(f->c, "mailbox_quota", "1m");
	set_map(f, "virtual_mailbox_maps", "mailboxes");
	set_map(f, "virtual_alias_maps", "aliases");
	set_map(f, "virtual_mailbox_quota_maps", "quotas");
	*state = f;
	return 0;
}

static void remove_tree(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	resolver_free(&f->r);
	cfg_free(&f->c);
	remove_tree(f->dir);
	free(f);
	return 0;
}

static resolver *get_resolver(struct fixture *f)
{
	if (f->r == NULL)
		f->r = resolver_new(f->c);
	return f->r;
}

static void test_hosted(void **state)
{
	resolver *r = get_resolver(*state);

	assert_int_equal(resolver_domain_hosted(r, "example.org"), RESOLVE_OK);
	assert_int_equal(resolver_domain_hosted(r, "mapped.test"), RESOLVE_OK);
	assert_int_equal(resolver_domain_hosted(r, "example.net"), RESOLVE_OK);
	assert_int_equal(resolver_domain_hosted(r, "localhost"), RESOLVE_OK);
	assert_int_equal(resolver_domain_hosted(r, "remote.test"), RESOLVE_NOTFOUND);
}

/* One expansion case: the expected targets as "address=maildir" joined
 * with ';' in order, with "address=-" for a forward; quota checked on the
 * first target when quota >= 0. */
struct expand_case {
	const char *address;
	enum resolve_result res;
	const char *targets;
	long long quota;
};

static const struct expand_case cases[] = {
	{ "alice@example.org", RESOLVE_OK, "alice@example.org=/base/example.org/alice", 1048576 },
	{ "bob@example.org", RESOLVE_OK, "bob@example.org=/base/example.org/bob", 10240 },
	{ "carol@example.org", RESOLVE_OK, "carol@example.org=/abs/carol", -1 },
	{ "nobody@example.org", RESOLVE_NOTFOUND, "", -1 },
	{ "someone@remote.test", RESOLVE_OK, "someone@remote.test=-", -1 },
	/* fan-out, nesting, dedup */
	{ "sales@example.org", RESOLVE_OK,
	  "alice@example.org=/base/example.org/alice;bob@example.org=/base/example.org/bob", -1 },
	{ "team@example.org", RESOLVE_OK,
	  "alice@example.org=/base/example.org/alice;bob@example.org=/base/example.org/bob;"
	  "carol@example.org=/abs/carol", -1 },
	{ "alice2@example.org", RESOLVE_OK, "alice@example.org=/base/example.org/alice", -1 },
	/* keep a copy: copy has no mailbox of its own, so only bob */
	{ "copy@example.org", RESOLVE_OK, "bob@example.org=/base/example.org/bob", -1 },
	{ "frank@example.org", RESOLVE_OK,
	  "frank@example.org=/base/example.org/frank;bob@example.org=/base/example.org/bob", -1 },
	/* loops */
	{ "loop1@example.org", RESOLVE_NOTFOUND, "", -1 },
	{ "loopa@example.org", RESOLVE_OK, "bob@example.org=/base/example.org/bob", -1 },
	/* unknown targets */
	{ "ghost@example.org", RESOLVE_NOTFOUND, "", -1 },
	{ "half@example.org", RESOLVE_OK, "bob@example.org=/base/example.org/bob", -1 },
	/* forwards, normalisation, bare names */
	{ "fwd@example.org", RESOLVE_OK, "someone@remote.test=-", -1 },
	{ "mixed@example.org", RESOLVE_OK,
	  "Alice@example.org=/base/example.org/alice;x@remote.test=-", -1 },
	{ "bare@example.org", RESOLVE_OK, "bob@example.org=/base/example.org/bob", -1 },
	/* catch-all and its precedence */
	{ "anyone@mapped.test", RESOLVE_OK, "eve@mapped.test=/base/mapped.test/eve", -1 },
	{ "eve@mapped.test", RESOLVE_OK, "eve@mapped.test=/base/mapped.test/eve", -1 },
	/* extensions */
	{ "alice+news@example.org", RESOLVE_OK, "alice+news@example.org=/base/example.org/alice",
	  -1 },
	{ "bob+lists@example.org", RESOLVE_OK, "carol@example.org=/abs/carol", -1 },
	{ "sales+x@example.org", RESOLVE_OK,
	  "alice@example.org=/base/example.org/alice;bob@example.org=/base/example.org/bob", -1 },
	{ "nobody+x@example.org", RESOLVE_NOTFOUND, "", -1 },
	{ "anyone+x@mapped.test", RESOLVE_OK, "eve@mapped.test=/base/mapped.test/eve", -1 },
	/* postmaster of a hosted domain falls back to postmaster@$mydomain */
	{ "postmaster@example.net", RESOLVE_OK, "postmaster@example.net=/base/example.net/pm", -1 },
	{ "postmaster@example.org", RESOLVE_NOTFOUND, "", -1 },
	/* not a Maildir */
	{ "dave@example.org", RESOLVE_TEMP, "", -1 },
};

static char *format_targets(const struct resolve_target *t, int n)
{
	size_t size = 1;
	char *out;

	for (int i = 0; i < n; i++)
		size += strlen(t[i].address) + (t[i].maildir ? strlen(t[i].maildir) : 1) + 2;
	out = xcalloc(1, size);
	for (int i = 0; i < n; i++) {
		if (i > 0)
			strcat(out, ";");
		strcat(out, t[i].address);
		strcat(out, "=");
		strcat(out, t[i].maildir ? t[i].maildir : "-");
	}
	return out;
}

static void run_case(resolver *r, const struct expand_case *c)
{
	struct resolve_target *t;
	int n;
	char *why = NULL, *got;
	enum resolve_result res = resolver_expand(r, c->address, &t, &n, &why);

	got = format_targets(t, n);
	if (res != c->res || strcmp(got, c->targets) != 0)
		fail_msg("%s: got %d '%s' (%s), want %d '%s'", c->address, res, got,
			 why ? why : "", c->res, c->targets);
	if (res != RESOLVE_OK)
		assert_non_null(why);
	if (c->quota >= 0)
		assert_int_equal(t[0].quota, c->quota);
	free(got);
	free(why);
	resolver_targets_free(&t, n);
	assert_null(t);
}

static void test_expand_table(void **state)
{
	resolver *r = get_resolver(*state);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(r, &cases[i]);
}

static void test_check_rcpt(void **state)
{
	resolver *r = get_resolver(*state);
	char *why = NULL;

	assert_int_equal(resolver_check_rcpt(r, "sales@example.org", &why), RESOLVE_OK);
	assert_null(why);
	assert_int_equal(resolver_check_rcpt(r, "nobody@example.org", &why), RESOLVE_NOTFOUND);
	assert_non_null(why);
	free(why);
}

static void test_folder_delivery(void **state)
{
	struct fixture *f = *state;
	char *base = xasprintf("%s/mail", f->dir), *folder;
	static const struct expand_case folder_cases[] = {
		{ "alice+Lists@example.org", RESOLVE_OK, NULL, -1 },
		{ "alice+Nope@example.org", RESOLVE_OK, NULL, -1 },
		{ "alice+..@example.org", RESOLVE_OK, NULL, -1 },
	};
	struct expand_case c;
	char *cmd;

	folder = xasprintf("%s/example.org/alice/.Lists", base);
	cmd = xasprintf("mkdir -p '%s'", folder);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	cfg_set(f->c, "virtual_mailbox_base", base);
	cfg_set(f->c, "folder_delivery", "yes");
	for (size_t i = 0; i < 3; i++) {
		char *want = xasprintf("%s=%s%s", folder_cases[i].address, base,
				       i == 0 ? "/example.org/alice/.Lists" : "/example.org/alice");

		c = folder_cases[i];
		c.targets = want;
		run_case(get_resolver(f), &c);
		free(want);
	}
	free(folder);
	free(base);
}

static void test_delimiters(void **state)
{
	struct fixture *f = *state;
	const struct expand_case c1 = { "alice-x@example.org", RESOLVE_OK,
					"alice-x@example.org=/base/example.org/alice", -1 };
	const struct expand_case c2 = { "alice+x@example.org", RESOLVE_OK,
					"alice+x@example.org=/base/example.org/alice", -1 };

	cfg_set(f->c, "recipient_delimiter", "+-");
	run_case(get_resolver(f), &c1);
	run_case(get_resolver(f), &c2);
}

static void test_no_delimiter(void **state)
{
	struct fixture *f = *state;
	const struct expand_case c = { "alice+x@example.org", RESOLVE_NOTFOUND, "", -1 };

	cfg_set(f->c, "recipient_delimiter", "");
	run_case(get_resolver(f), &c);
}

static void test_expansion_limit(void **state)
{
	struct fixture *f = *state;
	const struct expand_case c = { "big@example.org", RESOLVE_TEMP, "", -1 };
	const struct expand_case ok = { "sales@example.org", RESOLVE_OK,
		"alice@example.org=/base/example.org/alice;bob@example.org=/base/example.org/bob",
		-1 };

	cfg_set(f->c, "virtual_alias_expansion_limit", "3");
	run_case(get_resolver(f), &c);
	run_case(get_resolver(f), &ok);
}

static void test_recursion_limit(void **state)
{
	struct fixture *f = *state;
	/* depth 1 means team's targets are not expanded further: sales has no
	 * mailbox of its own, so only carol is left */
	const struct expand_case c = { "team@example.org", RESOLVE_OK,
				       "carol@example.org=/abs/carol", -1 };

	cfg_set(f->c, "virtual_alias_recursion_limit", "1");
	run_case(get_resolver(f), &c);
}

/* A map that cannot be read answers TEMP, never "user unknown". */
static void test_unreadable_map(void **state)
{
	struct fixture *f = *state;
	const struct expand_case cases_temp[] = {
		{ "alice@example.org", RESOLVE_TEMP, "", -1 },
		{ "nobody@example.org", RESOLVE_TEMP, "", -1 },
	};
	char *why = NULL;

	set_map(f, "virtual_alias_maps", "missing-aliases");
	for (size_t i = 0; i < 2; i++)
		run_case(get_resolver(f), &cases_temp[i]);
	assert_int_equal(resolver_check_rcpt(get_resolver(f), "bob@example.org", &why),
			 RESOLVE_TEMP);
	assert_non_null(strstr(why, "missing-aliases"));
	free(why);
}

static void test_unreadable_domain_map(void **state)
{
	struct fixture *f = *state;

	cfg_set(f->c, "virtual_mailbox_domains", "example.net texthash:/nonexistent/domains");
	assert_int_equal(resolver_domain_hosted(get_resolver(f), "example.net"), RESOLVE_OK);
	assert_int_equal(resolver_domain_hosted(get_resolver(f), "localhost"), RESOLVE_OK);
	assert_int_equal(resolver_domain_hosted(get_resolver(f), "remote.test"), RESOLVE_TEMP);
}

static void test_unreadable_file(void **state)
{
	struct fixture *f = *state;
	const struct expand_case c = { "alice@example.org", RESOLVE_TEMP, "", -1 };
	char *path;

	if (geteuid() == 0)
		skip(); /* root reads mode 000 files */
	path = xasprintf("%s/mailboxes", f->dir);
	chmod(path, 0);
	run_case(get_resolver(f), &c);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hosted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expand_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_rcpt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_delivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delimiters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_delimiter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expansion_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recursion_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_domain_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
