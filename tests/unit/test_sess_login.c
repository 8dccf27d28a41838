/* test_sess_login.c: unit tests for lib/sess_login.c, the login steps
 * pop3d and imapd share: the setup from main.cf (wording, CRAM-MD5 on and
 * off, a TLS setup that is absent, and the stop when implicit TLS has no
 * certificate), the login name in lower case, the Maildir found and made
 * (and NOTFOUND / TEMP when it cannot be), and the recheck of a logged-in
 * user against texthash maps in a scratch directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "mapgen.h"
#include "mem.h"
#include "sess_login.h"

static char top[64];

static void write_file(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", top, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

/* config: maps in top: user@example.org with a mailbox, other@example.org
 * with a password but no mailbox. */
static cfg *config(const char *prefix, bool cram)
{
	cfg *c = cfg_new(top);
	char *key, *v;

	key = xasprintf("%s_auth_cram_md5", prefix);
	cfg_set(c, key, cram ? "yes" : "no");
	free(key);
	cfg_set(c, "queue_directory", top);
	cfg_set(c, "virtual_mailbox_domains", "example.org");
	cfg_set(c, "virtual_mailbox_base", top);
	cfg_set(c, "virtual_alias_maps", "");
	v = xasprintf("texthash:%s/passwd", top);
	cfg_set(c, "virtual_passwd_maps", v);
	free(v);
	v = xasprintf("texthash:%s/mailboxes", top);
	cfg_set(c, "virtual_mailbox_maps", v);
	free(v);
	return c;
}

static int setup(void **state)
{
	char *cram, *passwd, *err = NULL;
	(void)state;
	log_set_level(LOG_LVL_FATAL);
	snprintf(top, sizeof(top), "/tmp/test_sess_login.XXXXXX");
	assert_non_null(mkdtemp(top));
	/* {CRAM-MD5}: the cheapest scheme to verify */
	cram = passdb_cram_make("pw", &err);
	assert_non_null(cram);
	passwd = xasprintf("user@example.org {CRAM-MD5}%s\nother@example.org {CRAM-MD5}%s\n"
			   "blocked@example.org {CRAM-MD5}%s\n", cram, cram, cram);
	write_file("passwd", passwd);
	free(passwd);
	free(cram);
	write_file("mailboxes", "user@example.org example.org/user/\n"
				"blocked@example.org file/inside/\n");
	write_file("file", "not a directory\n");
	return 0;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", top);

	(void)state;
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return 0;
}

static void test_init(void **state)
{
	static const char *const prefixes[] = { "pop3d", "imapd" };
	(void)state;

	for (size_t i = 0; i < 2; i++) {
		for (int cram = 0; cram < 2; cram++) {
			struct sess_auth auth = { .mech_prefix = "keep?" };
			struct sasl_backend backend;
			cfg *c = config(prefixes[i], cram);
			passdb *db = sess_login_init(&auth, &backend, c, prefixes[i], NULL);

			assert_non_null(db);
			assert_ptr_equal(auth.backend, &backend);
			assert_ptr_equal(auth.backend_ctx, db);
			assert_non_null(auth.fails);
			assert_string_equal(auth.mech_prefix, "");
			assert_string_equal(auth.user_key, "user");
			assert_string_equal(auth.command, "login");
			assert_string_equal(auth.failures, "failed logins");
			assert_string_equal(auth.continuation, "+ ");
			assert_int_equal(strstr(sasl_mechanisms(&backend, true), "CRAM-MD5") != NULL,
					 cram);
			assert_int_equal(passdb_verify(db, "user@example.org", "pw"), PASSDB_OK);
			assert_int_not_equal(passdb_verify(db, "user@example.org", "no"), PASSDB_OK);
			authfail_free(&auth.fails);
			passdb_free(&db);
			cfg_free(&c);
		}
	}
}

static void test_tls_none(void **state)
{
	cfg *c = config("imapd", false);
	tls_server *tls = (tls_server *)&tls; /* anything but NULL */
	uint64_t ms = 0;
	(void)state;

	cfg_set(c, "imapd_tls_handshake_timeout", "7s");
	sess_login_tls(c, "imapd", false, &tls, &ms);
	assert_null(tls);
	assert_int_equal(ms, 7000);
	cfg_free(&c);
}

/* test_tls_implicit_needs_cert: imaps / pop3s without a certificate stop
 * the program (in a child: log_fatal exits). */
static void test_tls_implicit_needs_cert(void **state)
{
	static const char *const prefixes[] = { "pop3d", "imapd" };
	(void)state;

	for (size_t i = 0; i < 2; i++) {
		pid_t pid = fork();
		int status;

		assert_true(pid >= 0);
		if (pid == 0) {
			cfg *c = config(prefixes[i], false);
			tls_server *tls = NULL;
			uint64_t ms;
			char key[32];

			snprintf(key, sizeof(key), "%s_service", prefixes[i]);
			cfg_set(c, key, i == 0 ? "pop3s" : "imaps");

			sess_login_tls(c, prefixes[i], true, &tls, &ms);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_not_equal(WEXITSTATUS(status), 0);
	}
}

static void test_name(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "user@example.org", "user@example.org" },
		{ "User@Example.ORG", "user@example.org" },
		{ "", "" },
		{ "\xc3\x9c@x", "\xc3\x9c@x" }, /* bytes over 127 stay */
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *name = sess_login_name(cases[i].in);

		assert_string_equal(name, cases[i].out);
		free(name);
	}
}

static void test_maildir(void **state)
{
	cfg *c = config("pop3d", false);
	resolver *res = resolver_new(c);
	char *maildir = NULL, *cur;
	struct stat st;
	(void)state;

	assert_int_equal(sess_login_maildir(res, "client", "user@example.org", &maildir),
			 RESOLVE_OK);
	assert_non_null(maildir);
	cur = xasprintf("%s/cur", maildir);
	assert_int_equal(stat(cur, &st), 0); /* made at the login */
	assert_true(S_ISDIR(st.st_mode));
	free(cur);
	free(maildir);
	maildir = NULL;
	assert_int_equal(sess_login_maildir(res, "client", "other@example.org", &maildir),
			 RESOLVE_NOTFOUND);
	assert_null(maildir);
	/* a Maildir that cannot be made: try again later */
	assert_int_equal(sess_login_maildir(res, "client", "blocked@example.org", &maildir),
			 RESOLVE_TEMP);
	assert_null(maildir);
	resolver_free(&res);
	cfg_free(&c);
}

static void test_recheck(void **state)
{
	cfg *c = config("imapd", false);
	struct sess_auth auth = { 0 };
	struct sasl_backend backend;
	passdb *db = sess_login_init(&auth, &backend, c, "imapd", NULL);
	resolver *res = resolver_new(c);
	uint64_t now = mapgen_current(), gen = now + 5;
	(void)state;

	/* nobody logged in: OK, and the generation follows */
	assert_int_equal(sess_login_recheck(db, res, "client", NULL, &gen), RESOLVE_OK);
	assert_int_equal(gen, now);
	/* the maps "changed": a user with password and mailbox is still there */
	gen = now + 5;
	assert_int_equal(sess_login_recheck(db, res, "client", "user@example.org", &gen),
			 RESOLVE_OK);
	assert_int_equal(gen, now);
	/* unchanged maps are not asked at all */
	assert_int_equal(sess_login_recheck(db, res, "client", "gone@example.org", &gen),
			 RESOLVE_OK);
	/* a password but no mailbox any more; no password entry at all */
	gen = now + 5;
	assert_int_equal(sess_login_recheck(db, res, "client", "other@example.org", &gen),
			 RESOLVE_NOTFOUND);
	assert_int_equal(gen, now + 5); /* asked again at the next command */
	assert_int_equal(sess_login_recheck(db, res, "client", "gone@example.org", &gen),
			 RESOLVE_NOTFOUND);
	assert_int_equal(gen, now + 5);
	authfail_free(&auth.fails);
	passdb_free(&db);
	resolver_free(&res);
	cfg_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_tls_none),
		cmocka_unit_test(test_tls_implicit_needs_cert),
		cmocka_unit_test(test_name),
		cmocka_unit_test(test_maildir),
		cmocka_unit_test(test_recheck),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
