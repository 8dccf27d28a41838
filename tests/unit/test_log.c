/* test_log.c: unit tests for lib/log.c: the line format, file logging from
 * several processes, control-character neutering, levels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/test_log.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/maillog", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

static char *slurp(void)
{
	static char text[1 << 20];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;

	if (f)
		fclose(f);
	text[n] = '\0';
	return text;
}

static void test_format(void **state)
{
	static const struct {
		enum log_level level;
		const char *msg;
		const char *want_tail;
	} cases[] = {
		{ LOG_LVL_INFO, "4XkW: from=<a@b>", "mx postern/smtpd[123]: 4XkW: from=<a@b>\n" },
		{ LOG_LVL_WARN, "bad", "mx postern/smtpd[123]: warning: bad\n" },
		{ LOG_LVL_FATAL, "gone", "mx postern/smtpd[123]: fatal: gone\n" },
		{ LOG_LVL_PANIC, "bug", "mx postern/smtpd[123]: panic: bug\n" },
	};
	struct tm tm = { .tm_year = 126, .tm_mon = 10, .tm_mday = 1, .tm_hour = 9, .tm_min = 5,
			 .tm_sec = 7, .tm_isdst = -1 };
	long when = (long)mktime(&tm);
	char line[256];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = log_format_line(line, sizeof(line), when, "mx", "postern/smtpd", 123,
					   cases[i].level, cases[i].msg);

		assert_int_equal(n, strlen(line));
		assert_string_equal(line + strlen("Nov  1 09:05:07 "), cases[i].want_tail);
		assert_memory_equal(line, "Nov  1 09:05:07 ", 16);
	}
}

static void test_format_truncates_with_newline(void **state)
{
	char line[32];
	size_t n = log_format_line(line, sizeof(line), 0, "h", "p/q", 1, LOG_LVL_INFO,
				   "a message much longer than the buffer allows");
	(void)state;

	assert_int_equal(n, sizeof(line) - 1);
	assert_int_equal(line[n - 1], '\n');
}

static void test_file_and_levels(void **state)
{
	char *err = NULL;
	char *text;
	(void)state;

	log_init("/usr/libexec/postern/qmgr");
	log_set_stderr(false);
	assert_int_equal(log_open_file(path, &err), 0);
	log_set_level(LOG_LVL_INFO);
	log_debug("hidden");
	log_info("shown %d", 1);
	log_warn("peer sent \r\nforged: line");
	text = slurp();
	assert_null(strstr(text, "hidden"));
	assert_non_null(strstr(text, "postern/qmgr["));
	assert_non_null(strstr(text, ": shown 1\n"));
	/* CR/LF from a peer cannot start a new log line */
	assert_non_null(strstr(text, "warning: peer sent ??forged: line\n"));
	assert_int_equal(log_open_syslog("nosuchfacility", &err), -1);
	assert_non_null(strstr(err, "nosuchfacility"));
	free(err);
}

static void test_many_writers(void **state)
{
	char *err = NULL;
	char *text, *p;
	int lines = 0;
	(void)state;

	unlink(path);
	log_init("writer");
	log_set_stderr(false);
	assert_int_equal(log_open_file(path, &err), 0);
	for (int i = 0; i < 4; i++) {
		if (fork() == 0) {
			for (int j = 0; j < 200; j++)
				log_info("child %d line %d with some padding to make it longer", i, j);
			_exit(0);
		}
	}
	while (wait(NULL) > 0)
		;
	text = slurp();
	for (p = text; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_int_equal(lines, 800);
	/* no interleaving inside a line: every line ends with the padding */
	for (p = text; *p; p = strchr(p, '\n') + 1) {
		char *eol = strchr(p, '\n');

		assert_true(eol - p > 20);
		assert_memory_equal(eol - 6, "longer", 6);
	}
}

static void test_unwritable_file(void **state)
{
	char *err = NULL;
	(void)state;

	assert_int_equal(log_open_file("/nonexistent/dir/log", &err), -1);
	assert_non_null(strstr(err, "/nonexistent/dir/log"));
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_truncates_with_newline),
		cmocka_unit_test(test_file_and_levels),
		cmocka_unit_test(test_many_writers),
		cmocka_unit_test(test_unwritable_file),
	};

	setenv("TZ", "UTC", 1);
	return cmocka_run_group_tests(tests, setup, teardown);
}
