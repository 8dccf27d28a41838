/* imapdate.c: IMAP "date" and "date-time" (RFC 3501 section 9), parsed and
 * written with our own calendar arithmetic (days from a civil date and
 * back, proleptic Gregorian), so neither the process's TZ nor the C
 * library's locale has any say. */
#include "imapdate.h"

#include <stdbool.h>
#include <stdint.h>
#include <strings.h>

static const char *const date_months[12] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static bool date_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int date_month_days(int year, int month)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return month == 2 && date_leap(year) ? 29 : days[month - 1];
}

/* date_digits: exactly n digits at text[*pos]; -1 if not. */
static int date_digits(const char *text, size_t len, size_t *pos, size_t n)
{
	int v = 0;

	if (len - *pos < n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = text[*pos + i];

		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*pos += n;
	return v;
}

static bool date_char(const char *text, size_t len, size_t *pos, char c)
{
	if (*pos >= len || text[*pos] != c)
		return false;
	(*pos)++;
	return true;
}

/* date_body: "d-Mon-yyyy" from text[*pos] (one or two day digits). */
static int date_body(const char *text, size_t len, size_t *pos, struct imapdate_day *d)
{
	size_t ndigits = *pos + 1 < len && text[*pos + 1] >= '0' && text[*pos + 1] <= '9' ? 2 : 1;

	d->day = date_digits(text, len, pos, ndigits);
	if (d->day < 1 || !date_char(text, len, pos, '-') || len - *pos < 4)
		return -1;
	d->month = 0;
	for (int m = 0; m < 12; m++)
		if (strncasecmp(text + *pos, date_months[m], 3) == 0)
			d->month = m + 1;
	*pos += 3;
	if (d->month == 0 || !date_char(text, len, pos, '-'))
		return -1;
	d->year = date_digits(text, len, pos, 4);
	if (d->year < 1 || d->day > date_month_days(d->year, d->month))
		return -1;
	return 0;
}

int imapdate_parse_day(const char *text, size_t len, struct imapdate_day *day_r)
{
	size_t pos = 0;

	if (date_body(text, len, &pos, day_r) < 0 || pos != len)
		return -1;
	return 0;
}

/* Days from 1970-01-01 of a proleptic Gregorian date (the classic
 * era-of-400-years method). */
long imapdate_day_number(const struct imapdate_day *d)
{
	long y = d->year - (d->month <= 2);
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long mp = (d->month + 9) % 12;
	long doy = (153 * mp + 2) / 5 + d->day - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

struct imapdate_day imapdate_day_of(time_t when, int zone_minutes)
{
	int64_t secs = (int64_t)when + (int64_t)zone_minutes * 60;
	long z = (long)(secs >= 0 ? secs / 86400 : (secs - 86399) / 86400) + 719468;
	long era = (z >= 0 ? z : z - 146096) / 146097;
	long doe = z - era * 146097;
	long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long mp = (5 * doy + 2) / 153;
	struct imapdate_day d;

	d.day = (int)(doy - (153 * mp + 2) / 5 + 1);
	d.month = (int)(mp < 10 ? mp + 3 : mp - 9);
	d.year = (int)(yoe + era * 400 + (d.month <= 2));
	return d;
}

/* time_clock: "hh:mm:ss" as seconds of the day. */
static long time_clock(const char *text, size_t len, size_t *pos)
{
	int h = date_digits(text, len, pos, 2), m, s;

	if (h < 0 || h > 23 || !date_char(text, len, pos, ':'))
		return -1;
	m = date_digits(text, len, pos, 2);
	if (m < 0 || m > 59 || !date_char(text, len, pos, ':'))
		return -1;
	s = date_digits(text, len, pos, 2);
	if (s < 0 || s > 60)
		return -1;
	return h * 3600L + m * 60L + s;
}

/* time_zone: "+hhmm" / "-hhmm" as minutes east of UTC; -100000 if bad. */
static int time_zone(const char *text, size_t len, size_t *pos)
{
	int sign, hh, mm;

	if (*pos >= len || (text[*pos] != '+' && text[*pos] != '-'))
		return -100000;
	sign = text[(*pos)++] == '-' ? -1 : 1;
	hh = date_digits(text, len, pos, 2);
	mm = date_digits(text, len, pos, 2);
	if (hh < 0 || mm < 0 || mm > 59)
		return -100000;
	return sign * (hh * 60 + mm);
}

int imapdate_parse_time(const char *text, size_t len, time_t *when_r, int *zone_r)
{
	struct imapdate_day d;
	size_t pos = 0;
	long clock;
	int zone;

	if (len > 0 && text[0] == ' ')
		pos = 1;
	if (date_body(text, len, &pos, &d) < 0 || !date_char(text, len, &pos, ' '))
		return -1;
	clock = time_clock(text, len, &pos);
	if (clock < 0 || !date_char(text, len, &pos, ' '))
		return -1;
	zone = time_zone(text, len, &pos);
	if (zone == -100000 || pos != len)
		return -1;
	*when_r = (time_t)((int64_t)imapdate_day_number(&d) * 86400 + clock - (int64_t)zone * 60);
	*zone_r = zone;
	return 0;
}

void imapdate_format_time(buf *out, time_t when, int zone_minutes)
{
	int64_t local = (int64_t)when + (int64_t)zone_minutes * 60;
	int64_t secs = ((local % 86400) + 86400) % 86400;
	struct imapdate_day d = imapdate_day_of(when, zone_minutes);
	int az = zone_minutes < 0 ? -zone_minutes : zone_minutes;

	buf_printf(out, "%02d-%s-%04d %02d:%02d:%02d %c%02d%02d", d.day, date_months[d.month - 1],
		   d.year, (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60),
		   zone_minutes < 0 ? '-' : '+', az / 60, az % 60);
}
