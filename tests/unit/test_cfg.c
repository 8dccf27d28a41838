/* test_cfg.c: unit tests of lib/cfg.c and the key tables (lib/cfg_keys.c
 * and each program's <prog>/<prog>_keys.c): main.cf syntax and its
 * diagnostics, $name expansion and loops, typed values and their bounds,
 * defaults, overrides, cfg_edit_file, list splitting, that every table is
 * listed and docs/config.md documents every key in every table.
 * Diagnostics are captured and checked for file, line, severity and text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "mem.h"

/* ---- fixtures: a temp dir and a diagnostics recorder ---- */

struct diag_entry {
	char *file;
	int line;
	char *severity;
	char *msg;
};

struct diags {
	struct diag_entry *v;
	int n;
};

static void record_diag(void *ctx, const char *file, int line, const char *severity,
			const char *msg)
{
	struct diags *d = ctx;

	d->v = xrealloc(d->v, (size_t)(d->n + 1) * sizeof(*d->v));
	d->v[d->n].file = xstrdup(file);
	d->v[d->n].line = line;
	d->v[d->n].severity = xstrdup(severity);
	d->v[d->n].msg = xstrdup(msg);
	d->n++;
}

static void diags_clear(struct diags *d)
{
	for (int i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].severity);
		free(d->v[i].msg);
	}
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

static void diags_print(const struct diags *d)
{
	for (int i = 0; i < d->n; i++)
		print_message("  diag: %s:%d: %s: %s\n", d->v[i].file, d->v[i].line,
			      d->v[i].severity, d->v[i].msg);
}

/* diags_has: some diagnostic matches file (NULL = any), line, severity and
 * contains text. */
static bool diags_has(const struct diags *d, const char *file, int line, const char *severity,
		      const char *text)
{
	for (int i = 0; i < d->n; i++) {
		const struct diag_entry *e = &d->v[i];

		if ((file == NULL || strcmp(e->file, file) == 0) && e->line == line &&
		    strcmp(e->severity, severity) == 0 && strstr(e->msg, text) != NULL)
			return true;
	}
	return false;
}

static void assert_diag(const struct diags *d, const char *file, int line, const char *severity,
			const char *text)
{
	if (!diags_has(d, file, line, severity, text)) {
		print_error("expected %s:%d: %s: ...%s...\n", file ? file : "*", line, severity,
			    text);
		diags_print(d);
		fail();
	}
}

static char *tmp_dir;

static int setup_dir(void **state)
{
	(void)state;
	tmp_dir = xstrdup("/tmp/test_cfg.XXXXXX");
	if (mkdtemp(tmp_dir) == NULL)
		return -1;
	return 0;
}

static int teardown_dir(void **state)
{
	DIR *dir = opendir(tmp_dir);
	struct dirent *de;

	(void)state;
	while (dir != NULL && (de = readdir(dir)) != NULL) {
		char *p;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		p = xasprintf("%s/%s", tmp_dir, de->d_name);
		unlink(p);
		free(p);
	}
	if (dir != NULL)
		closedir(dir);
	rmdir(tmp_dir);
	free(tmp_dir);
	tmp_dir = NULL;
	return 0;
}

/* write_file: creates tmp_dir/name with text; returns the path (heap). */
static char *write_file(const char *name, const char *text, size_t len)
{
	char *path = xasprintf("%s/%s", tmp_dir, name);
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	return path;
}

static char *read_whole(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *data = NULL;
	size_t len = 0;

	assert_non_null(fp);
	data = xmalloc(1 << 20);
	len = fread(data, 1, (1 << 20) - 1, fp);
	data[len] = '\0';
	fclose(fp);
	return data;
}

/* load_text: a cfg loaded from text written to main.cf; *errors_r gets
 * what cfg_load_file returned. */
static cfg *load_text(const char *text, struct diags *d, int *errors_r, char **path_r)
{
	cfg *c = cfg_new("/etc/postern");
	char *path = write_file("main.cf", text, strlen(text));

	*errors_r = cfg_load_file(c, path, record_diag, d);
	if (path_r != NULL)
		*path_r = path;
	else
		free(path);
	return c;
}

/* ---- syntax ---- */

struct parse_case {
	const char *text;
	int errors; /* expected return of cfg_load_file */
	const char *key, *raw; /* expected value (raw NULL: key not set) */
	int line; /* expected diagnostic (0 = none expected at all) */
	const char *severity, *msg;
};

static const struct parse_case parse_cases[] = {
	{ "myhostname = mail.example.com\n", 0, "myhostname", "mail.example.com", 0, NULL, NULL },
	{ "myhostname=nospace", 0, "myhostname", "nospace", 0, NULL, NULL },
	{ "myhostname   =   a b   \t\n", 0, "myhostname", "a b", 0, NULL, NULL },
	{ "myhostname = crlf\r\n", 0, "myhostname", "crlf", 0, NULL, NULL },
	{ "myhostname =\n", 0, "myhostname", "", 0, NULL, NULL },
	{ "# comment\n   # indented comment\n\n  \nmyhostname = x\n", 0, "myhostname", "x", 0, NULL,
	  NULL },
	{ "myhostname = a # not a comment\n", 0, "myhostname", "a # not a comment", 0, NULL, NULL },
	{ "mydestination = a,\n   b,\n\tc\n", 0, "mydestination", "a, b, c", 0, NULL, NULL },
	{ "mydestination = a\n# comment\n\n  b\n", 0, "mydestination", "a b", 0, NULL, NULL },
	{ "mydestination = a\nmyhostname = h\n", 0, "mydestination", "a", 0, NULL, NULL },
	{ "myhostname\n", 1, "myhostname", NULL, 1, "error", "missing '=' after myhostname" },
	{ "mydomain = d\nmy host = x\n", 1, "mydomain", "d", 2, "error", "missing '=' after my" },
	{ "my-host = x\n", 1, "my-host", NULL, 1, "error", "bad parameter name 'my-host'" },
	{ "= x\n", 1, "myhostname", NULL, 1, "error", "missing parameter name" },
	{ "  myhostname = x\n", 1, "myhostname", NULL, 1, "error",
	  "continuation line before any setting" },
	{ "# c\n\n   x\nmyhostname = y\n", 1, "myhostname", "y", 3, "error",
	  "continuation line before any setting" },
	{ "myhostname = a\n# c\nmyhostname = b\n", 0, "myhostname", "b", 3, "warning",
	  "myhostname is set again; the setting at line 1 is ignored" },
	{ "foo_bar = 1\n", 0, "foo_bar", "1", 1, "warning", "unknown parameter foo_bar" },
	{ "mydomain = d\nx\n  y\nmyhostname = h\n", 1, "myhostname", "h", 2, "error",
	  "missing '=' after x" },
	{ "myhostname = a\0b\n", 1, "myhostname", NULL, 1, "error", "NUL byte" },
};

static void test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *t = &parse_cases[i];
		struct diags d = { 0 };
		size_t len = strlen(t->text);
		char *path;
		cfg *c = cfg_new("/etc/postern");
		int errors;

		if (strstr(t->msg ? t->msg : "", "NUL") != NULL)
			len += 1 + strlen(t->text + len + 1);
		path = write_file("main.cf", t->text, len);
		errors = cfg_load_file(c, path, record_diag, &d);
		print_message("parse case %zu\n", i);
		assert_int_equal(errors, t->errors);
		if (t->raw == NULL)
			assert_false(cfg_is_set(c, t->key));
		else
			assert_string_equal(cfg_raw(c, t->key), t->raw);
		if (t->line == 0) {
			diags_print(&d);
			assert_int_equal(d.n, 0);
		} else {
			assert_diag(&d, path, t->line, t->severity, t->msg);
			assert_int_equal(d.n, 1);
		}
		diags_clear(&d);
		cfg_free(&c);
		assert_null(c);
		free(path);
	}
}

/* A logical line over 64 KiB is an error; the lines after it still count. */
static void test_line_limit(void **state)
{
	struct diags d = { 0 };
	buf *text = buf_new(200000);
	cfg *c;
	int errors;

	(void)state;
	buf_puts(text, "myhostname = ");
	for (int i = 0; i < 70000; i++)
		buf_putc(text, 'x');
	buf_puts(text, "\nmydomain = d\nmyorigin = a\n");
	for (int i = 0; i < 40; i++) {
		buf_puts(text, "  ");
		for (int j = 0; j < 2000; j++)
			buf_putc(text, 'y');
		buf_puts(text, "\n");
	}
	buf_puts(text, "mail_name = ok\n");
	c = load_text(buf_cstr(text), &d, &errors, NULL);
	assert_int_equal(errors, 2);
	assert_diag(&d, NULL, 1, "error", "line too long");
	assert_diag(&d, NULL, 3, "error", "line too long");
	assert_false(cfg_is_set(c, "myhostname"));
	assert_false(cfg_is_set(c, "myorigin"));
	assert_string_equal(cfg_get(c, "mydomain"), "d");
	assert_string_equal(cfg_get(c, "mail_name"), "ok");
	diags_clear(&d);
	cfg_free(&c);
	buf_free(&text);
}

static void test_missing_file(void **state)
{
	struct diags d = { 0 };
	cfg *c = cfg_new("/etc/postern");
	char *path = xasprintf("%s/nonexistent.cf", tmp_dir);

	(void)state;
	assert_int_equal(cfg_load_file(c, path, record_diag, &d), -1);
	assert_diag(&d, path, 0, "error", "cannot open");
	assert_int_equal(cfg_load_file(c, path, NULL, NULL), -1);
	diags_clear(&d);
	cfg_free(&c);
	cfg_free(&c);
	free(path);
}

/* ---- expansion ---- */

struct expand_case {
	const char *text; /* main.cf */
	const char *key, *want;
};

static const struct expand_case expand_cases[] = {
	{ "a = x\nb = $a\n", "b", "x" },
	{ "a = x\nb = ${a}y\n", "b", "xy" },
	{ "a = x\nb = $(a)y\n", "b", "xy" },
	{ "a = x\nb = $a.$a\n", "b", "x.x" },
	{ "a = x\nb = $$a\n", "b", "$a" },
	{ "b = cost 5$$\n", "b", "cost 5$" },
	{ "a = x\nb = [$a]\nc = $b-$a\n", "c", "[x]-x" },
	{ "c = $b-$a\nb = [$a]\na = x\n", "c", "[x]-x" },
	{ "b = <$nope>\n", "b", "<>" },
	{ "a = x\nb = ${a?yes}\n", "b", "yes" },
	{ "a =\nb = ${a?yes}\n", "b", "" },
	{ "b = ${nope:no}\n", "b", "no" },
	{ "a = x\nb = ${a:no}\n", "b", "" },
	{ "a = x\nb = ${a?<$a>}|$(a?{$a})\n", "b", "<x>|{x}" },
	{ "myhostname = mail.example.com\n", "myorigin", "mail.example.com" },
	{ "myhostname = h\nmydomain = d\n", "mydestination", "h, localhost.d, localhost" },
	{ "myhostname = h\nmail_name = M\n", "smtpd_banner", "h ESMTP M" },
	{ "queue_directory = /q\nvirtual_mailbox_base = $queue_directory/mail\n",
	  "virtual_mailbox_base", "/q/mail" },
	{ "x = $config_directory/maps\n", "x", "/etc/postern/maps" },
};

static void test_expand(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(expand_cases) / sizeof(expand_cases[0]); i++) {
		const struct expand_case *t = &expand_cases[i];
		struct diags d = { 0 };
		int errors;
		cfg *c = load_text(t->text, &d, &errors, NULL);

		print_message("expand case %zu\n", i);
		assert_int_equal(errors, 0);
		assert_string_equal(cfg_get(c, t->key), t->want);
		/* a second call is served from the cache */
		assert_string_equal(cfg_get(c, t->key), t->want);
		diags_clear(&d);
		cfg_free(&c);
	}
}

struct check_case {
	const char *text;
	int errors; /* expected return of cfg_check */
	int line;
	const char *severity, *msg; /* NULL: no diagnostics at all */
};

static const struct check_case check_cases[] = {
	{ "myhostname = h\nmyorigin = $myhostname\n", 0, 0, NULL, NULL },
	{ "a = $b\nb = $a\n", 2, 1, "error", "expansion loop in value of a" },
	{ "a = $b\nb = $a\n", 2, 2, "error", "expansion loop in value of b" },
	{ "a = ${a}\n", 1, 1, "error", "expansion loop in value of a" },
	{ "mail_name = $myhostname\nmyhostname = $myorigin\n", 2, 2, "error",
	  "expansion loop in value of myhostname" },
	{ "myorigin = $nope\n", 0, 1, "warning", "value of myorigin refers to unknown parameter $nope" },
	{ "myorigin = ${nope:x}\n", 0, 0, NULL, NULL },
	{ "myorigin = a$\n", 1, 1, "error", "bad '$' in value of myorigin" },
	{ "myorigin = ${myhostname\n", 1, 1, "error", "bad '$' in value of myorigin" },
	{ "myorigin = $-x\n", 1, 1, "error", "bad '$'" },
	{ "mydomain = d\n\ndefault_process_limit = abc\n", 1, 3, "error",
	  "bad value 'abc' for default_process_limit: not a number" },
	{ "default_process_limit = -1\n", 1, 1, "error",
	  "bad value '-1' for default_process_limit: out of range (0..10000)" },
	{ "default_process_limit = $max_use\nmax_use = 20000\n", 1, 1, "error",
	  "bad value '20000' for default_process_limit: out of range (0..10000)" },
	{ "max_use = -1\n", 1, 1, "error", "bad value '-1' for max_use: out of range (0..2147483647)" },
	{ "service_stop_timeout = 1h\n", 1, 1, "error",
	  "bad value '1h' for service_stop_timeout: out of range (1..600 seconds)" },
	{ "foo = rel\nqueue_directory = $foo/x\n", 1, 2, "error",
	  "bad value 'rel/x' for queue_directory: not an absolute path" },
	{ "mail_owner =\n", 1, 1, "error", "bad value '' for mail_owner: must not be empty" },
	{ "log_level = verbose\n", 1, 1, "error", "bad value 'verbose' for log_level" },
	{ "log_level = debug\nmessage_size_limit = 0\nmax_use = 0\n", 0, 0, NULL, NULL },
};

static void test_check(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
		const struct check_case *t = &check_cases[i];
		struct diags d = { 0 };
		char *path;
		int errors;
		cfg *c = load_text(t->text, &d, &errors, &path);

		print_message("check case %zu\n", i);
		diags_clear(&d); /* unknown keys in the file: tested above */
		assert_int_equal(cfg_check(c, record_diag, &d), t->errors);
		if (t->msg == NULL)
			assert_int_equal(d.n, 0);
		else
			assert_diag(&d, path, t->line, t->severity, t->msg);
		/* cfg_get on a broken value must not crash or hang */
		assert_non_null(cfg_get(c, "a"));
		assert_non_null(cfg_get(c, "myhostname"));
		diags_clear(&d);
		cfg_free(&c);
		free(path);
	}
}

/* A chain of 40 distinct keys is nested too deep; a chain of 20 is fine. */
static void test_expand_depth(void **state)
{
	struct diags d = { 0 };
	cfg *c = cfg_new("/etc/postern");

	(void)state;
	for (int i = 0; i < 40; i++) {
		char *name = xasprintf("k%d", i), *value = xasprintf("$k%d", i + 1);

		cfg_set(c, name, i == 39 ? "end" : value);
		free(name);
		free(value);
	}
	/* asking for the short chain first must not hide the long one */
	assert_string_equal(cfg_get(c, "k20"), "end");
	assert_int_equal(cfg_check(c, record_diag, &d), 7); /* k0..k6: 33 levels or more */
	assert_diag(&d, "command line", 0, "error", "expansion loop in value of k0 (more than 32");
	assert_diag(&d, "command line", 0, "error", "expansion loop in value of k6 (");
	assert_false(diags_has(&d, "command line", 0, "error", "value of k7 "));
	assert_string_equal(cfg_get(c, "k0"), "end");
	diags_clear(&d);
	cfg_free(&c);

	/* a chain far deeper than the recursion limit ends, with an error */
	c = cfg_new("/etc/postern");
	for (int i = 0; i < 1000; i++) {
		char *name = xasprintf("k%d", i), *value = xasprintf("$k%d$k%d", i + 1, i + 1);

		cfg_set(c, name, value);
		free(name);
		free(value);
	}
	assert_non_null(cfg_get(c, "k0"));
	assert_int_equal(cfg_check(c, record_diag, &d), 1000 - 33);
	diags_clear(&d);
	cfg_free(&c);

	/* values that double at every level are cut at 1 MiB */
	c = cfg_new("/etc/postern");
	for (int i = 0; i < 40; i++) {
		char *name = xasprintf("l%d", i), *value = xasprintf("$l%d$l%d", i + 1, i + 1);

		cfg_set(c, name, i == 39 ? "xxxxxxxx" : value);
		free(name);
		free(value);
	}
	assert_true(strlen(cfg_get(c, "l0")) <= 1024 * 1024);
	assert_int_equal(strlen(cfg_get(c, "l22")), 1024 * 1024);
	assert_int_equal(cfg_check(c, record_diag, &d), 22); /* l0..l21 */
	assert_diag(&d, "command line", 0, "error", "value of l21 is longer than");
	diags_clear(&d);
	cfg_free(&c);
}

/* ---- typed values ---- */

static const struct cfg_key bool_key = { "test_bool", CFG_BOOL, "no", 0, 0, "test" };
static const struct cfg_key list_key = { "test_list", CFG_LIST, "", 0, 0, "test" };
static const struct cfg_key free_int_key = { "test_int", CFG_INT, "0", 0, 0, "test" };

struct value_case {
	const struct cfg_key *key; /* NULL: look up name */
	const char *name, *text;
	int rc;
	long long num;
	const char *err;
};

static const struct value_case value_cases[] = {
	{ NULL, "default_process_limit", "100", 0, 100, NULL },
	{ NULL, "default_process_limit", " 42 ", 0, 42, NULL },
	{ NULL, "default_process_limit", "+7", 0, 7, NULL },
	{ NULL, "default_process_limit", "abc", -1, 0,
	  "bad value 'abc' for default_process_limit: not a number" },
	{ NULL, "default_process_limit", "", -1, 0, "not a number" },
	{ NULL, "default_process_limit", "10k", -1, 0, "not a number" },
	{ NULL, "default_process_limit", "1 0", -1, 0, "not a number" },
	{ NULL, "default_process_limit", "0", 0, 0, NULL },
	{ NULL, "default_process_limit", "10001", -1, 0, "out of range (0..10000)" },
	{ NULL, "default_process_limit", "-5", -1, 0, "out of range (0..10000)" },
	{ NULL, "default_process_limit", "99999999999999999999", -1, 0, "out of range" },
	{ NULL, "default_process_limit", "-99999999999999999999", -1, 0, "out of range" },
	{ &free_int_key, NULL, "-12", 0, -12, NULL },
	{ &free_int_key, NULL, "99999999999999999999", -1, 0, "test_int: out of range" },
	{ NULL, "service_stop_timeout", "30", 0, 30, NULL },
	{ NULL, "service_stop_timeout", "30s", 0, 30, NULL },
	{ NULL, "service_stop_timeout", "5m", 0, 300, NULL },
	{ NULL, "service_stop_timeout", "5M", 0, 300, NULL },
	{ NULL, "service_stop_timeout", "2h", -1, 0, "out of range (1..600 seconds)" },
	{ NULL, "service_restart_delay_max", "1h", 0, 3600, NULL },
	{ NULL, "queue_run_delay", "1d", 0, 86400, NULL },
	{ NULL, "queue_run_delay", "1w", -1, 0, "out of range (1..86400 seconds)" },
	{ NULL, "ipc_timeout", "0s", -1, 0, "out of range" },
	{ NULL, "ipc_timeout", "5x", -1, 0, "not a time" },
	{ NULL, "ipc_timeout", "5ms", -1, 0, "not a time" },
	{ NULL, "ipc_timeout", "m", -1, 0, "not a time" },
	{ NULL, "ipc_timeout", "-5s", -1, 0, "not a time" },
	{ NULL, "ipc_timeout", "99999999999999999w", -1, 0, "out of range" },
	{ NULL, "message_size_limit", "1024", 0, 1024, NULL },
	{ NULL, "message_size_limit", "0", 0, 0, NULL },
	{ NULL, "message_size_limit", "10k", 0, 10240, NULL },
	{ NULL, "message_size_limit", "10m", 0, 10485760, NULL },
	{ NULL, "message_size_limit", "1g", 0, 1073741824, NULL },
	{ NULL, "message_size_limit", "2G", 0, 2147483648LL, NULL },
	{ NULL, "message_size_limit", "1t", -1, 0, "not a size" },
	{ NULL, "message_size_limit", "-1", -1, 0, "not a size" },
	{ NULL, "message_size_limit", "9999999999999g", -1, 0, "out of range" },
	{ &bool_key, NULL, "yes", 0, 1, NULL },
	{ &bool_key, NULL, "No", 0, 0, NULL },
	{ &bool_key, NULL, "TRUE", 0, 1, NULL },
	{ &bool_key, NULL, "false", 0, 0, NULL },
	{ &bool_key, NULL, "maybe", -1, 0, "bad value 'maybe' for test_bool: not yes or no" },
	{ &bool_key, NULL, "1", -1, 0, "not yes or no" },
	{ NULL, "queue_directory", "/var/spool/postern", 0, 0, NULL },
	{ NULL, "queue_directory", "var/spool", -1, 0, "not an absolute path" },
	{ NULL, "queue_directory", "", -1, 0, "not an absolute path" },
	{ NULL, "mail_owner", "", -1, 0, "must not be empty" },
	{ NULL, "mail_owner", "mail", 0, 0, NULL },
	{ NULL, "log_level", "warning", 0, 0, NULL },
	{ NULL, "log_level", "verbose", -1, 0, "not one of" },
	{ &list_key, NULL, "anything, at all", 0, 0, NULL },
};

static void test_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(value_cases) / sizeof(value_cases[0]); i++) {
		const struct value_case *t = &value_cases[i];
		const struct cfg_key *key = t->key ? t->key : cfg_key_find(t->name);
		long long num = -777;
		char *err = NULL;
		int rc;

		print_message("value case %zu: %s '%s'\n", i, key ? key->name : t->name, t->text);
		assert_non_null(key);
		rc = cfg_parse_value(key, t->text, &num, &err);
		assert_int_equal(rc, t->rc);
		if (rc == 0) {
			assert_null(err);
			if (key->type != CFG_PATH && key->type != CFG_STR && key->type != CFG_LIST)
				assert_int_equal(num, t->num);
		} else {
			assert_non_null(err);
			if (strstr(err, t->err) == NULL)
				fail_msg("error '%s' lacks '%s'", err, t->err);
			free(err);
		}
	}
}

/* Every default in the table is a valid value of its own type. */
static void test_defaults_valid(void **state)
{
	cfg *c = cfg_new("/etc/postern");

	(void)state;
	cfg_set(c, "myhostname", "mail.example.com");
	for (const struct cfg_key *const *t = cfg_key_tables; *t != NULL; t++)
		for (const struct cfg_key *k = *t; k->name != NULL; k++) {
			char *err = NULL;

			assert_non_null(k->doc);
			assert_non_null(k->defval);
			if (cfg_parse_value(k, cfg_get(c, k->name), NULL, &err) != 0)
				fail_msg("default of %s: %s", k->name, err);
			/* also: no name twice, in one table or in two */
			if (cfg_key_find(k->name) != k)
				fail_msg("key %s is declared twice", k->name);
		}
	assert_null(cfg_key_find("no_such_key"));
	cfg_free(&c);
}

static void test_defaults(void **state)
{
	cfg *c = cfg_new("/srv/conf");
	struct diags d = { 0 };

	(void)state;
	assert_string_equal(cfg_get(c, "config_directory"), "/srv/conf");
	assert_false(cfg_is_set(c, "config_directory"));
	assert_string_equal(cfg_get(c, "queue_directory"),
			    cfg_key_find("queue_directory")->defval);
	assert_string_equal(cfg_get(c, "mail_owner"), "postern");
	assert_string_equal(cfg_get(c, "mynetworks"), "127.0.0.0/8 [::1]/128");
	assert_string_equal(cfg_raw(c, "myorigin"), "$myhostname");
	assert_string_equal(cfg_get(c, "myorigin"), "");
	assert_string_equal(cfg_get(c, "smtpd_banner"), " ESMTP Postern");
	assert_int_equal(cfg_get_int(c, "default_process_limit"), 0);
	assert_int_equal(cfg_get_int(c, "max_use"), 0);
	assert_int_equal(cfg_get_int(c, "service_stop_timeout"), 10);
	assert_int_equal(cfg_get_int(c, "service_restart_delay_max"), 30);
	assert_int_equal(cfg_get_int(c, "queue_run_delay"), 300);
	assert_int_equal(cfg_get_int(c, "message_size_limit"), 10240000);
	assert_null(cfg_raw(c, "no_such_key"));
	assert_string_equal(cfg_get(c, "no_such_key"), "");
	assert_int_equal(cfg_get_int(c, "no_such_key"), 0);
	assert_false(cfg_get_bool(c, "no_such_key"));
	assert_int_equal(cfg_check(c, record_diag, &d), 0);
	assert_int_equal(d.n, 0);
	cfg_free(&c);

	c = cfg_new(NULL);
	assert_string_equal(cfg_get(c, "config_directory"),
			    cfg_key_find("config_directory")->defval);
	cfg_free(&c);
}

/* The effective free-space reserves: automatic from message_size_limit
 * (Postfix's 10240000 when it is 0), local half of queue; set values win. */
static void test_minfree(void **state)
{
	static const struct {
		const char *size_limit, *queue, *local;
		long long want_queue, want_local;
	} cases[] = {
		{ NULL, NULL, NULL, 40960000, 20480000 },
		{ "0", NULL, NULL, 40960000, 20480000 },
		{ "50m", NULL, NULL, 4 * 52428800LL, 2 * 52428800LL },
		{ NULL, "100m", NULL, 104857600, 52428800 },
		{ NULL, NULL, "1k", 40960000, 1024 },
		{ "1m", "3", "0", 3, 1 },
		{ "2305843009213693952", NULL, NULL, LLONG_MAX, LLONG_MAX / 2 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg *c = cfg_new("/etc/postern");

		if (cases[i].size_limit != NULL)
			cfg_set(c, "message_size_limit", cases[i].size_limit);
		if (cases[i].queue != NULL)
			cfg_set(c, "queue_minfree", cases[i].queue);
		if (cases[i].local != NULL)
			cfg_set(c, "local_minfree", cases[i].local);
		if (cfg_queue_minfree(c) != cases[i].want_queue ||
		    cfg_local_minfree(c) != cases[i].want_local)
			fail_msg("case %zu: queue %lld local %lld", i, cfg_queue_minfree(c),
				 cfg_local_minfree(c));
		cfg_free(&c);
	}
}

struct each_state {
	buf *out;
};

static void collect(void *ctx, const char *name, const char *raw)
{
	struct each_state *st = ctx;

	buf_printf(st->out, "%s=%s;", name, raw);
}

/* cfg_set overrides the file, reports "command line", and changes what
 * cfg_get returns (the cache is dropped). */
static void test_override(void **state)
{
	struct diags d = { 0 };
	struct each_state st = { buf_new(64) };
	int errors;
	cfg *c = load_text("default_process_limit = 50\nmyhostname = a\nmax_use = 7\n", &d,
			   &errors, NULL);

	(void)state;
	assert_int_equal(errors, 0);
	assert_string_equal(cfg_get(c, "myorigin"), "a");
	assert_int_equal(cfg_get_int(c, "default_process_limit"), 50);
	cfg_set(c, "default_process_limit", "70");
	cfg_set(c, "myhostname", "b");
	cfg_set(c, "mail_name", "X");
	assert_int_equal(cfg_get_int(c, "default_process_limit"), 70);
	assert_string_equal(cfg_get(c, "myorigin"), "b");
	assert_true(cfg_is_set(c, "mail_name"));
	assert_false(cfg_is_set(c, "myorigin"));
	cfg_each_set(c, collect, &st);
	assert_string_equal(buf_cstr(st.out),
			    "default_process_limit=70;myhostname=b;max_use=7;mail_name=X;");

	cfg_set(c, "default_process_limit", "lots");
	cfg_set(c, "bogus_key", "1");
	assert_int_equal(cfg_check(c, record_diag, &d), 1);
	assert_diag(&d, "command line", 0, "error",
		    "bad value 'lots' for default_process_limit: not a number");
	assert_diag(&d, "command line", 0, "warning", "unknown parameter bogus_key");
	/* a bad value falls back to the default for programs that read it */
	assert_int_equal(cfg_get_int(c, "default_process_limit"), 0);
	diags_clear(&d);

	/* a second file overrides without duplicate warnings */
	{
		char *path2 = write_file("second.cf", "max_use = 9\n", 12);

		assert_int_equal(cfg_load_file(c, path2, record_diag, &d), 0);
		assert_int_equal(d.n, 0);
		assert_int_equal(cfg_get_int(c, "max_use"), 9);
		free(path2);
	}
	buf_free(&st.out);
	cfg_free(&c);
}

static void test_bool_get(void **state)
{
	cfg *c = cfg_new("/etc/postern");

	(void)state;
	cfg_set(c, "my_flag", "Yes");
	assert_true(cfg_get_bool(c, "my_flag"));
	cfg_set(c, "my_flag", "no");
	assert_false(cfg_get_bool(c, "my_flag"));
	cfg_set(c, "my_num", "12");
	assert_int_equal(cfg_get_int(c, "my_num"), 12);
	cfg_free(&c);
}

/* ---- editing ---- */

struct edit_case {
	const char *before, *name, *value, *after;
};

static const struct edit_case edit_cases[] = {
	{ "# top\nmyhostname = old\n  cont\n\tmore\nmydomain = d\n", "myhostname", "new",
	  "# top\nmyhostname = new\nmydomain = d\n" },
	{ "mydomain = d\n", "myhostname", "new", "mydomain = d\nmyhostname = new\n" },
	{ "mydomain = d", "myhostname", "new", "mydomain = d\nmyhostname = new\n" },
	{ "", "myhostname", "new", "myhostname = new\n" },
	{ "myhostname = a\nx = 1\nmyhostname = b\n  c\ny = 2\nmyhostname=c", "myhostname", "new",
	  "myhostname = new\nx = 1\ny = 2\n" },
	{ "#  myhostname = commented \r\n\n   # indented\t\nmyhostname=old\n# after  \n",
	  "myhostname", "new",
	  "#  myhostname = commented \r\n\n   # indented\t\nmyhostname = new\n# after  \n" },
	{ "myhostname = a\n# kept\n\n  b\nz = 3\n", "myhostname", "new",
	  "myhostname = new\n# kept\n\nz = 3\n" },
	{ "myhostname_x = 1\n  cont\n", "myhostname", "h",
	  "myhostname_x = 1\n  cont\nmyhostname = h\n" },
	{ "  stray\nmyhostname broken\n", "myhostname", "h",
	  "  stray\nmyhostname broken\nmyhostname = h\n" },
	{ "a = 1\r\nmyhostname = x\r\nb = 2\r\n", "myhostname", "y",
	  "a = 1\r\nmyhostname = y\nb = 2\r\n" },
	{ "myhostname = x\n", "myhostname", "", "myhostname =\n" },
	{ "myhostname = x\n", "myhostname", "  padded  ", "myhostname = padded\n" },
	{ "mydestination = a\n", "mydestination", "$myhostname, localhost",
	  "mydestination = $myhostname, localhost\n" },
};

static void test_edit(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(edit_cases) / sizeof(edit_cases[0]); i++) {
		const struct edit_case *t = &edit_cases[i];
		char *path = write_file("edit.cf", t->before, strlen(t->before));
		char *err = NULL, *after;

		print_message("edit case %zu\n", i);
		assert_int_equal(chmod(path, 0640), 0);
		if (cfg_edit_file(path, t->name, t->value, &err) != 0)
			fail_msg("cfg_edit_file: %s", err);
		after = read_whole(path);
		assert_string_equal(after, t->after);
		free(after);
		{
			struct stat st;

			assert_int_equal(stat(path, &st), 0);
			assert_int_equal(st.st_mode & 07777, 0640);
		}
		free(path);
	}
}

/* An edited file still loads to the new value; a missing file is created;
 * no temporary file is left behind; bad arguments are refused. */
static void test_edit_more(void **state)
{
	char *path = xasprintf("%s/new.cf", tmp_dir);
	char *err = NULL, *text;
	struct diags d = { 0 };
	DIR *dir;
	struct dirent *de;
	int files = 0;
	cfg *c;

	(void)state;
	assert_int_equal(cfg_edit_file(path, "mydomain", "example.com", &err), 0);
	assert_int_equal(cfg_edit_file(path, "myhostname", "mail.$mydomain", &err), 0);
	assert_int_equal(cfg_edit_file(path, "mydomain", "example.org", &err), 0);
	text = read_whole(path);
	assert_string_equal(text, "mydomain = example.org\nmyhostname = mail.$mydomain\n");
	free(text);
	c = cfg_new("/etc/postern");
	assert_int_equal(cfg_load_file(c, path, record_diag, &d), 0);
	assert_string_equal(cfg_get(c, "myhostname"), "mail.example.org");
	cfg_free(&c);
	dir = opendir(tmp_dir);
	while ((de = readdir(dir)) != NULL)
		if (strncmp(de->d_name, "new.cf", 6) == 0)
			files++;
	closedir(dir);
	assert_int_equal(files, 1);

	assert_int_equal(cfg_edit_file(path, "bad-name", "x", &err), -1);
	assert_non_null(strstr(err, "bad parameter name"));
	free(err);
	err = NULL;
	assert_int_equal(cfg_edit_file(path, "myhostname", "a\nb = c", &err), -1);
	assert_non_null(strstr(err, "line break"));
	free(err);
	err = NULL;
	assert_int_equal(cfg_edit_file("/nonexistent-dir/x/main.cf", "a", "b", &err), -1);
	assert_non_null(err);
	free(err);
	unlink(path);
	free(path);
}

/* ---- lists ---- */

struct split_case {
	const char *in;
	const char *words[6];
};

static const struct split_case split_cases[] = {
	{ "", { NULL } },
	{ "  , ,\t", { NULL } },
	{ "a", { "a", NULL } },
	{ "a,b", { "a", "b", NULL } },
	{ "a, b c,,\td\n", { "a", "b", "c", "d", NULL } },
	{ "127.0.0.0/8 [::1]/128", { "127.0.0.0/8", "[::1]/128", NULL } },
	{ " x , y ", { "x", "y", NULL } },
};

static void test_split_list(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		char **list = cfg_split_list(split_cases[i].in);
		int n = 0;

		for (; split_cases[i].words[n] != NULL; n++) {
			assert_non_null(list[n]);
			assert_string_equal(list[n], split_cases[i].words[n]);
		}
		assert_null(list[n]);
		cfg_free_list(&list);
		assert_null(list);
	}
}

/* ---- docs ---- */

/* docs/config.md mentions every key as `name` or in a heading. */
static void test_docs_cover_keys(void **state)
{
	const char *srcdir = getenv("srcdir");
	char *path = xasprintf("%s/docs/config.md", srcdir ? srcdir : ".");
	char *doc;
	int missing = 0;

	(void)state;
	if (access(path, R_OK) != 0)
		fail_msg("cannot read %s: %s", path, strerror(errno));
	doc = read_whole(path);
	for (const struct cfg_key *const *t = cfg_key_tables; *t != NULL; t++)
		for (const struct cfg_key *k = *t; k->name != NULL; k++) {
			char *tick = xasprintf("`%s`", k->name), *head = xasprintf("# %s\n", k->name);

			if (strstr(doc, tick) == NULL && strstr(doc, head) == NULL) {
				print_error("%s does not document %s\n", path, k->name);
				missing++;
			}
			free(tick);
			free(head);
		}
	assert_int_equal(missing, 0);
	free(doc);
	free(path);
}

/* Every <prog>/<prog>_keys.c in the source tree has its table in
 * cfg_key_tables (plus lib/cfg_keys.c's shared one): a program's keys
 * left out of the list would be unknown keys to every program. */
static void test_tables_listed(void **state)
{
	const char *srcdir = getenv("srcdir");
	DIR *top = opendir(srcdir ? srcdir : ".");
	struct dirent *de;
	size_t files = 1, tables = 0;

	(void)state;
	assert_non_null(top);
	while ((de = readdir(top)) != NULL) {
		char *path = xasprintf("%s/%s/%s_keys.c", srcdir ? srcdir : ".", de->d_name, de->d_name);

		if (de->d_name[0] != '.' && access(path, R_OK) == 0)
			files++;
		free(path);
	}
	closedir(top);
	while (cfg_key_tables[tables] != NULL)
		tables++;
	assert_ptr_equal(cfg_key_tables[0], cfg_shared_keys);
	assert_int_equal(tables, files);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_expand_depth),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_defaults_valid),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_bool_get),
		cmocka_unit_test(test_edit),
		cmocka_unit_test(test_edit_more),
		cmocka_unit_test(test_split_list),
		cmocka_unit_test(test_docs_cover_keys),
		cmocka_unit_test(test_tables_listed),
		cmocka_unit_test(test_minfree),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
