/* test_imapdate.c: unit tests for lib/imapdate.c: SEARCH dates (a table of
 * good and bad ones, day numbers around leap years and the epoch, the day
 * of an instant in a zone) and APPEND date-times (RFC 3501's example,
 * zones, the fixed-width day, refused forms, formatting back). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "imapdate.h"

static void test_day_good(void **state)
{
	static const struct {
		const char *text;
		int y, m, d;
		long number;
	} good[] = {
		{ "1-Feb-1994", 1994, 2, 1, 8797 },
		{ "01-feb-1994", 1994, 2, 1, 8797 },
		{ "29-Feb-2000", 2000, 2, 29, 11016 },
		{ "31-Dec-1969", 1969, 12, 31, -1 },
		{ "1-Jan-1970", 1970, 1, 1, 0 },
		{ "1-JAN-0001", 1, 1, 1, -719162 },
		{ "31-Dec-9999", 9999, 12, 31, 2932896 },
	};
	struct imapdate_day d;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(imapdate_parse_day(good[i].text, strlen(good[i].text), &d), 0);
		assert_int_equal(d.year, good[i].y);
		assert_int_equal(d.month, good[i].m);
		assert_int_equal(d.day, good[i].d);
		assert_int_equal(imapdate_day_number(&d), good[i].number);
	}
}

static void test_day_bad(void **state)
{
	static const char *const bad[] = {
		"", "1-Feb-94", "29-Feb-1900", "30-Feb-2000", "31-Apr-2020", "0-Jan-2020",
		"32-Jan-2020", "123-Jan-2020", "1-Foo-2020", "1 Feb 1994", "1-Feb-1994 ",
		" 1-Feb-1994", "1-Feb-19940", "1-Fe-1994", "1-Feb-0000", "a-Feb-1994", "1-Feb-",
	};
	struct imapdate_day d;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(imapdate_parse_day(bad[i], strlen(bad[i]), &d), -1);
}

static void test_day_of(void **state)
{
	struct imapdate_day d;

	(void)state;
	d = imapdate_day_of(837596665, -420); /* 17-Jul-1996 02:44:25 -0700 */
	assert_int_equal(d.year, 1996);
	assert_int_equal(d.month, 7);
	assert_int_equal(d.day, 17);
	d = imapdate_day_of(837596665, 0); /* 09:44:25 UTC */
	assert_int_equal(d.day, 17);
	d = imapdate_day_of(837596665, 15 * 60); /* past midnight at +1500 */
	assert_int_equal(d.day, 18);
	d = imapdate_day_of(-1, 0);
	assert_int_equal(d.year, 1969);
	assert_int_equal(d.month, 12);
	assert_int_equal(d.day, 31);
	for (long n = -800000; n < 3000000; n += 997) {
		d = imapdate_day_of((time_t)n * 86400 + 43200, 0);
		assert_int_equal(imapdate_day_number(&d), n);
	}
}

static void test_time_good(void **state)
{
	static const struct {
		const char *text;
		time_t when;
		int zone;
		const char *formatted;
	} good[] = {
		{ "17-Jul-1996 02:44:25 -0700", 837596665, -420, "17-Jul-1996 02:44:25 -0700" },
		{ " 7-Jul-1996 02:44:25 -0700", 837596665 - 864000, -420, "07-Jul-1996 02:44:25 -0700" },
		{ "7-Jul-1996 02:44:25 -0700", 837596665 - 864000, -420, "07-Jul-1996 02:44:25 -0700" },
		{ "01-Jan-2025 00:00:00 +0130", 1735684200, 90, "01-Jan-2025 00:00:00 +0130" },
		{ "01-Jan-1970 00:00:00 +0000", 0, 0, "01-Jan-1970 00:00:00 +0000" },
		{ "31-dec-1999 23:59:60 +0000", 946684800, 0, "01-Jan-2000 00:00:00 +0000" },
	};
	buf *out = buf_new(32);
	time_t when;
	int zone;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(imapdate_parse_time(good[i].text, strlen(good[i].text), &when, &zone), 0);
		assert_int_equal(when, good[i].when);
		assert_int_equal(zone, good[i].zone);
		buf_reset(out);
		imapdate_format_time(out, when, zone);
		assert_string_equal(buf_cstr(out), good[i].formatted);
	}
	buf_free(&out);
}

static void test_time_bad(void **state)
{
	static const char *const bad[] = {
		"17-Jul-1996",
		"17-Jul-1996 02:44:25",
		"17-Jul-1996 02:44:25 0700",
		"17-Jul-1996 02:44:25 -07",
		"17-Jul-1996 02:44:25 -0760",
		"17-Jul-1996 24:00:00 +0000",
		"17-Jul-1996 02:60:00 +0000",
		"17-Jul-1996 02:44:61 +0000",
		"17-Jul-1996 2:44:25 +0000",
		"17-Jul-1996  02:44:25 +0000",
		"17-Jul-1996 02:44:25 +0000 ",
		"17-Jul-1996 02:44:25 GMT",
		"30-Feb-1996 02:44:25 +0000",
		"  7-Jul-1996 02:44:25 -0700",
		"17-Jul-96 02:44:25 -0700",
	};
	time_t when;
	int zone;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(imapdate_parse_time(bad[i], strlen(bad[i]), &when, &zone), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_day_good),  cmocka_unit_test(test_day_bad),
		cmocka_unit_test(test_day_of),	  cmocka_unit_test(test_time_good),
		cmocka_unit_test(test_time_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
