/* test_mcf.c: unit tests for the master.cf parser (lib/mcf.c). Each case
 * writes a small master.cf into a temporary directory, loads it with a diag
 * callback that records every message, and checks the services or the
 * error text and line. Tables cover valid entries, each column's errors,
 * service name syntax, continuation lines, -o checks, limits and duplicates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "mcf.h"
#include "mem.h"

#define DEFAULT_MAXPROC 100
#define MAX_DIAGS 16

struct diag_rec {
	char *file;
	int line;
	char *severity;
	char *msg;
};

struct diag_log {
	struct diag_rec recs[MAX_DIAGS];
	int count;
};

static char tmpdir[64];
static char cfpath[128];
static struct diag_log dlog;

static void record_diag(void *ctx, const char *file, int line, const char *severity,
			const char *msg)
{
	struct diag_log *log = ctx;

	if (log->count >= MAX_DIAGS)
		return;
	log->recs[log->count].file = xstrdup(file);
	log->recs[log->count].line = line;
	log->recs[log->count].severity = xstrdup(severity);
	log->recs[log->count].msg = xstrdup(msg);
	log->count++;
}

static void diag_clear(void)
{
	for (int i = 0; i < dlog.count; i++) {
		free(dlog.recs[i].file);
		free(dlog.recs[i].severity);
		free(dlog.recs[i].msg);
	}
	dlog.count = 0;
}

static void write_file(const char *text, size_t len)
{
	FILE *f = fopen(cfpath, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static struct mcf *load_text(const char *text)
{
	diag_clear();
	write_file(text, strlen(text));
	return mcf_load(cfpath, DEFAULT_MAXPROC, record_diag, &dlog);
}

static int setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/test_mcf.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(cfpath, sizeof(cfpath), "%s/master.cf", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	diag_clear();
	unlink(cfpath);
	return rmdir(tmpdir);
}

/* ---- valid single entries: every column after defaults ---- */

struct valid_case {
	const char *text;
	const char *name;
	enum mcf_type type;
	bool private_, unpriv, chroot;
	int wakeup, maxproc;
	const char *command;
	const char *args; /* joined by single spaces */
};

static const struct valid_case valid_cases[] = {
	{ "smtp inet n - n - - smtpd\n", "smtp", MCF_INET, false, true, false, 0, 100, "smtpd", "" },
	{ "smtp inet y - n - - smtpd\n", "smtp", MCF_INET, false, true, false, 0, 100, "smtpd", "" },
	{ "pickup unix - - - 60 1 pickup", "pickup", MCF_UNIX, true, true, false, 60, 1, "pickup", "" },
	{ "qmgr unix n n y 300? 1 qmgr\n", "qmgr", MCF_UNIX, false, false, true, 300, 1, "qmgr", "" },
	{ "local\tunix\t-\tn\tn\t-\t-\tlocal\n", "local", MCF_UNIX, true, false, false, 0, 100,
	  "local", "" },
	{ "127.0.0.1:10025 inet n - n - 5 smtpd -v\n", "127.0.0.1:10025", MCF_INET, false, true,
	  false, 0, 5, "smtpd", "-v" },
	{ "[::1]:25 inet n - n - - smtpd\n", "[::1]:25", MCF_INET, false, true, false, 0, 100,
	  "smtpd", "" },
	{ "[2001:db8::1]:submission inet n - n - - smtpd\n", "[2001:db8::1]:submission", MCF_INET,
	  false, true, false, 0, 100, "smtpd", "" },
	{ "mail.example.org:smtps inet n - n - - smtpd\n", "mail.example.org:smtps", MCF_INET,
	  false, true, false, 0, 100, "smtpd", "" },
	{ "65535 inet n - n - - smtpd\n", "65535", MCF_INET, false, true, false, 0, 100, "smtpd",
	  "" },
	{ "smtp-x unix - - n - 0001 smtp\n", "smtp-x", MCF_UNIX, true, true, false, 0, 1, "smtp",
	  "" },
	{ "rel_ay.1 unix - - n - - smtp\n", "rel_ay.1", MCF_UNIX, true, true, false, 0, 100,
	  "smtp", "" },
	/* continuation lines, CRLF and trailing blanks */
	{ "submission inet n - n - - smtpd\n  -o smtpd_tls_security_level=encrypt\n"
	  "\t-o smtpd_sasl_auth_enable=yes   \n",
	  "submission", MCF_INET, false, true, false, 0, 100, "smtpd",
	  "-o smtpd_tls_security_level=encrypt -o smtpd_sasl_auth_enable=yes" },
	{ "smtps inet n - n - - smtpd\r\n  -o smtpd_tls_wrappermode=yes\r\n", "smtps", MCF_INET,
	  false, true, false, 0, 100, "smtpd", "-o smtpd_tls_wrappermode=yes" },
	/* comments and blank lines, also between an entry and its continuation */
	{ "# master.cf\n\n   # indented comment\nsmtp inet n - n - - smtpd\n# note\n\n"
	  "  -o empty_value=\n",
	  "smtp", MCF_INET, false, true, false, 0, 100, "smtpd", "-o empty_value=" },
	/* attached form and pipe-style argv= with the program's own -o */
	{ "x unix - n n - - smtpd -oa_b=c\n", "x", MCF_UNIX, true, false, false, 0, 100, "smtpd",
	  "-oa_b=c" },
	{ "filter unix - n n - 10 pipe flags=Rq user=filter argv=/usr/bin/f -o x\n", "filter",
	  MCF_UNIX, true, false, false, 0, 10, "pipe", "flags=Rq user=filter argv=/usr/bin/f -o x" },
};

static char *join_args(const struct mcf_service *s)
{
	buf *b = buf_new(64);
	char *joined;

	for (int i = 0; i < s->nargs; i++) {
		if (i > 0)
			buf_putc(b, ' ');
		buf_puts(b, s->args[i]);
	}
	joined = buf_steal(b);
	buf_free(&b);
	return joined;
}

static void test_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		const struct valid_case *c = &valid_cases[i];
		struct mcf *m = load_text(c->text);
		char *args;

		if (m == NULL)
			fail_msg("case %zu rejected: %s", i, dlog.count ? dlog.recs[0].msg : "?");
		assert_int_equal(dlog.count, 0);
		assert_int_equal(m->count, 1);
		assert_string_equal(m->path, cfpath);
		assert_string_equal(m->services[0].name, c->name);
		assert_int_equal(m->services[0].type, c->type);
		assert_int_equal(m->services[0].private_, c->private_);
		assert_int_equal(m->services[0].unpriv, c->unpriv);
		assert_int_equal(m->services[0].chroot, c->chroot);
		assert_int_equal(m->services[0].wakeup, c->wakeup);
		assert_int_equal(m->services[0].maxproc, c->maxproc);
		assert_string_equal(m->services[0].command, c->command);
		assert_null(m->services[0].args[m->services[0].nargs]);
		args = join_args(&m->services[0]);
		assert_string_equal(args, c->args);
		free(args);
		mcf_free(&m);
		assert_null(m);
	}
}

/* ---- invalid input: expected message part and line ---- */

struct invalid_case {
	const char *text;
	int line;
	const char *msg;
};

static const struct invalid_case invalid_cases[] = {
	{ "x fifo n - n - - pickup\n", 1, "unsupported service type 'fifo'" },
	{ "x pass n - n - - pickup\n", 1, "unsupported service type 'pass'" },
	{ "smtp inet x - n - - smtpd\n", 1, "private column must be y, n or -" },
	{ "smtp inet n yes n - - smtpd\n", 1, "unpriv column must be y, n or -" },
	{ "smtp inet n - Y - - smtpd\n", 1, "chroot column must be y, n or -" },
	{ "smtp inet n - n -5 - smtpd\n", 1, "wakeup must be a non-negative" },
	{ "smtp inet n - n 5?? - smtpd\n", 1, "wakeup must be" },
	{ "smtp inet n - n ? - smtpd\n", 1, "wakeup must be" },
	{ "smtp inet n - n 99999999999 - smtpd\n", 1, "wakeup must be" },
	{ "smtp inet n - n - 0 smtpd\n", 1, "maxproc must be at least 1" },
	{ "smtp inet n - n - -1 smtpd\n", 1, "maxproc must be a positive number" },
	{ "smtp inet n - n - x smtpd\n", 1, "maxproc must be a positive number" },
	{ "smtp inet n - n - -\n", 1, "missing command" },
	{ "\n\nsmtp\n", 3, "missing command" },
	{ ":25 inet n - n - - smtpd\n", 1, "empty host" },
	{ "host: inet n - n - - smtpd\n", 1, "empty port" },
	{ "[]:25 inet n - n - - smtpd\n", 1, "empty host" },
	{ "[::1]: inet n - n - - smtpd\n", 1, "empty port" },
	{ "0 inet n - n - - smtpd\n", 1, "port out of range" },
	{ "65536 inet n - n - - smtpd\n", 1, "port out of range" },
	{ "::1:25 inet n - n - - smtpd\n", 1, "[address]:port" },
	{ "[::1]25 inet n - n - - smtpd\n", 1, "followed by :port" },
	{ "[::1 inet n - n - - smtpd\n", 1, "followed by :port" },
	{ "[xyz::1]:25 inet n - n - - smtpd\n", 1, "bad IPv6 address" },
	{ "[1.2.3.4]:25 inet n - n - - smtpd\n", 1, "bad IPv6 address" },
	{ "sm_tp inet n - n - - smtpd\n", 1, "bad port" },
	{ "ho_st:25 inet n - n - - smtpd\n", 1, "bad host" },
	{ "a/b unix - - n - - local\n", 1, "bad unix service name 'a/b'" },
	{ ".. unix - - n - - local\n", 1, "must not be . or .." },
	{ "smtp inet n - n - - smtpd -o\n", 1, "-o without name=value" },
	{ "smtp inet n - n - - smtpd -o foo\n", 1, "bad -o argument 'foo'" },
	{ "smtp inet n - n - - smtpd -o Foo=bar\n", 1, "bad -o argument 'Foo=bar'" },
	{ "smtp inet n - n - - smtpd -o =bar\n", 1, "bad -o argument '=bar'" },
	{ "smtp inet n - n - - smtpd -ofoo\n", 1, "bad option '-ofoo'" },
	{ "smtp inet n - n - - smtpd\n  -o a=b\n  -o bad-name=x\n", 3, "bad -o argument" },
	{ "smtp inet n - n - - smtpd\n  -o\n  a=b\n  -o\n", 4, "-o without name=value" },
	{ "  -o a=b\nsmtp inet n - n - - smtpd\n", 1, "continuation line without" },
	{ "# c\nsmtp inet n - n - - smtpd\nsmtp inet n - n - - smtpd\n", 3,
	  "first defined at line 2" },
	{ "x unix - - n - - a\nx unix - - n - - b\n", 2, "duplicate service 'x/unix'" },
	{ "smtp inet n - n - - smtpd\nsmtp\0 inet n - n - - smtpd\n", 2, "NUL character" },
};

static void test_invalid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++) {
		const struct invalid_case *c = &invalid_cases[i];
		struct mcf *m;
		size_t len = strlen(c->text);

		/* the NUL case: the text goes on after the embedded NUL */
		if (strstr(c->msg, "NUL") != NULL)
			len = sizeof("smtp inet n - n - - smtpd\nsmtp\0 inet n - n - - smtpd\n") - 1;
		diag_clear();
		write_file(c->text, len);
		m = mcf_load(cfpath, DEFAULT_MAXPROC, record_diag, &dlog);
		if (m != NULL)
			fail_msg("case %zu accepted: %s", i, c->text);
		if (dlog.count != 1)
			fail_msg("case %zu: %d diagnostics, first: %s", i, dlog.count,
				 dlog.count ? dlog.recs[0].msg : "none");
		if (strstr(dlog.recs[0].msg, c->msg) == NULL)
			fail_msg("case %zu: message '%s' lacks '%s'", i, dlog.recs[0].msg, c->msg);
		assert_int_equal(dlog.recs[0].line, c->line);
		assert_string_equal(dlog.recs[0].file, cfpath);
		assert_string_equal(dlog.recs[0].severity, "error");
	}
}

/* ---- whole files ---- */

static void test_many_services(void **state)
{
	struct mcf *m;

	(void)state;
	m = load_text("# Postern master.cf\n"
		      "smtp      inet  n - n - -  smtpd\n"
		      "submission inet n - n - -  smtpd\n"
		      "  -o smtpd_tls_security_level=encrypt\n"
		      "\n"
		      "smtp      unix  - - n - -  smtp\n"
		      "qmgr      unix  n - n 300 1 qmgr\n");
	assert_non_null(m);
	assert_int_equal(m->count, 4);
	assert_string_equal(m->services[0].name, "smtp");
	assert_int_equal(m->services[0].line, 2);
	assert_int_equal(m->services[1].line, 3);
	assert_int_equal(m->services[1].nargs, 2);
	assert_int_equal(m->services[2].type, MCF_UNIX);
	assert_int_equal(m->services[2].line, 6);
	assert_string_equal(m->services[3].command, "qmgr");
	mcf_free(&m);

	m = load_text("");
	assert_non_null(m);
	assert_int_equal(m->count, 0);
	mcf_free(&m);
	mcf_free(&m); /* NULL is fine */
}

static void test_all_errors_reported(void **state)
{
	struct mcf *m;

	(void)state;
	m = load_text("a fifo n - n - - x\n"
		      "smtp inet n - n - 0 smtpd\n"
		      "good unix - - n - - local\n"
		      "b unix - - n\n");
	assert_null(m);
	assert_int_equal(dlog.count, 3);
	assert_int_equal(dlog.recs[0].line, 1);
	assert_int_equal(dlog.recs[1].line, 2);
	assert_int_equal(dlog.recs[2].line, 4);
	assert_non_null(strstr(dlog.recs[2].msg, "missing command"));

	/* several bad columns on one line give one message each */
	m = load_text("smtp inet q q q q q smtpd\n");
	assert_null(m);
	assert_int_equal(dlog.count, 5);
}

static void test_default_maxproc(void **state)
{
	struct mcf *m;

	(void)state;
	diag_clear();
	write_file("smtp inet n - n - - smtpd\n", 26);
	m = mcf_load(cfpath, 7, record_diag, &dlog);
	assert_non_null(m);
	assert_int_equal(m->services[0].maxproc, 7);
	mcf_free(&m);
	/* 0: one per CPU, never fewer than two */
	m = mcf_load(cfpath, 0, record_diag, &dlog);
	assert_non_null(m);
	assert_int_equal(m->services[0].maxproc, mcf_auto_maxproc());
	assert_true(m->services[0].maxproc >= 2);
	if (sysconf(_SC_NPROCESSORS_ONLN) >= 2 && sysconf(_SC_NPROCESSORS_ONLN) <= MCF_AUTO_MAXPROC_MAX)
		assert_int_equal(m->services[0].maxproc, sysconf(_SC_NPROCESSORS_ONLN));
	mcf_free(&m);
	/* no diag callback: errors still make the load fail */
	write_file("smtp inet n - n - 0 smtpd\n", 26);
	assert_null(mcf_load(cfpath, 7, NULL, NULL));
}

static void test_limits(void **state)
{
	buf *b = buf_new(8192);
	struct mcf *m;

	(void)state;
	/* 64 arguments are fine, 65 are not */
	buf_puts(b, "x unix - - n - - cmd");
	for (int i = 0; i < 64; i++)
		buf_printf(b, " a%d", i);
	buf_puts(b, "\n");
	m = load_text(buf_cstr(b));
	assert_non_null(m);
	assert_int_equal(m->services[0].nargs, 64);
	mcf_free(&m);
	buf_truncate(b, buf_len(b) - 1);
	buf_puts(b, "\n  extra\n");
	assert_null(load_text(buf_cstr(b)));
	assert_int_equal(dlog.count, 1);
	assert_non_null(strstr(dlog.recs[0].msg, "too many arguments"));

	/* logical line of 4096 characters is fine, 4097 is not */
	buf_reset(b);
	buf_puts(b, "x unix - - n - - cmd ");
	while (buf_len(b) < 4096)
		buf_putc(b, 'a');
	buf_putc(b, '\n');
	m = load_text(buf_cstr(b));
	assert_non_null(m);
	mcf_free(&m);
	buf_truncate(b, buf_len(b) - 1);
	buf_puts(b, "\n  b\n"); /* joined with one space: over 4096 */
	assert_null(load_text(buf_cstr(b)));
	assert_int_equal(dlog.count, 1);
	assert_int_equal(dlog.recs[0].line, 1);
	assert_non_null(strstr(dlog.recs[0].msg, "entry too long"));

	/* a file over 1 MiB is refused as a whole (line 0) */
	buf_reset(b);
	while (buf_len(b) <= 1024 * 1024)
		buf_puts(b, "# padding padding padding padding padding padding padding\n");
	assert_null(load_text(buf_cstr(b)));
	assert_int_equal(dlog.count, 1);
	assert_int_equal(dlog.recs[0].line, 0);
	assert_non_null(strstr(dlog.recs[0].msg, "file too large"));
	buf_free(&b);
}

static void test_missing_file(void **state)
{
	char path[160];

	(void)state;
	diag_clear();
	snprintf(path, sizeof(path), "%s/nonexistent.cf", tmpdir);
	assert_null(mcf_load(path, 1, record_diag, &dlog));
	assert_int_equal(dlog.count, 1);
	assert_int_equal(dlog.recs[0].line, 0);
	assert_string_equal(dlog.recs[0].file, path);
	assert_non_null(strstr(dlog.recs[0].msg, "cannot open"));
}

static void test_same_name_other_type(void **state)
{
	struct mcf *m;

	(void)state;
	m = load_text("smtp inet n - n - - smtpd\nsmtp unix - - n - - smtp\n");
	assert_non_null(m);
	assert_int_equal(m->count, 2);
	mcf_free(&m);
}

/* ---- equal and key ---- */

static void test_equal_and_key(void **state)
{
	struct mcf *a, *b;
	char *key;

	(void)state;
	a = load_text("smtp inet n - n - - smtpd -o a=b\nqmgr unix n - n 300 1 qmgr\n");
	assert_non_null(a);
	b = load_text("# same, written differently\nsmtp inet y y - - 100 smtpd\n"
		      "   -o a=b\n\nqmgr unix n - - 300? 1 qmgr\n");
	assert_non_null(b);
	assert_true(mcf_service_equal(&a->services[0], &b->services[0]));
	assert_true(mcf_service_equal(&a->services[1], &b->services[1]));
	assert_false(mcf_service_equal(&a->services[0], &a->services[1]));

	key = mcf_service_key(&a->services[0]);
	assert_string_equal(key, "smtp/inet");
	free(key);
	key = mcf_service_key(&a->services[1]);
	assert_string_equal(key, "qmgr/unix");
	free(key);
	mcf_free(&a);
	mcf_free(&b);

	/* one column or argument changed at a time */
	static const char *variants[] = {
		"smtp inet n n n - - smtpd -o a=b\n", "smtp inet n - y - - smtpd -o a=b\n",
		"smtp inet n - n 1 - smtpd -o a=b\n", "smtp inet n - n - 9 smtpd -o a=b\n",
		"smtp inet n - n - - smtpx -o a=b\n", "smtp inet n - n - - smtpd -o a=c\n",
		"smtp inet n - n - - smtpd\n",	      "smtp inet n - n - - smtpd -o a=b -v\n",
		"smtp unix n - n - - smtpd -o a=b\n", "smtps inet n - n - - smtpd -o a=b\n",
	};
	a = load_text("smtp inet n - n - - smtpd -o a=b\n");
	assert_non_null(a);
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		b = load_text(variants[i]);
		assert_non_null(b);
		if (mcf_service_equal(&a->services[0], &b->services[0]))
			fail_msg("variant %zu compares equal", i);
		mcf_free(&b);
	}
	/* private differs for unix services */
	mcf_free(&a);
	a = load_text("x unix n - n - - x\n");
	b = load_text("x unix y - n - - x\n");
	assert_non_null(a);
	assert_non_null(b);
	assert_false(mcf_service_equal(&a->services[0], &b->services[0]));
	mcf_free(&a);
	mcf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_many_services),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_default_maxproc),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_same_name_other_type),
		cmocka_unit_test(test_equal_and_key),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
