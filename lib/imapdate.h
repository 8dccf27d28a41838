/* imapdate.h: the two IMAP date forms (RFC 3501 section 9): "date" as
 * SEARCH's BEFORE/ON/SINCE/SENTxxx take it ("1-Feb-1994", no time and no
 * zone) and "date-time" as APPEND takes and INTERNALDATE shows it
 * ("17-Jul-1996 02:44:25 -0700"). Quotes are the command reader's: these
 * see the string's contents. Strict: real calendar days, times and zones. */
#ifndef POSTERN_IMAPDATE_H
#define POSTERN_IMAPDATE_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

/* A calendar day, as SEARCH compares them (without time or zone). */
struct imapdate_day {
	int year;  /* 1..9999 */
	int month; /* 1..12 */
	int day;   /* 1..31, valid for the month */
};

/* imapdate_parse_day: "d-Mon-yyyy" or "dd-Mon-yyyy" (month names in any
 * case). Returns 0, or -1 if malformed or not a real day. */
int imapdate_parse_day(const char *text, size_t len, struct imapdate_day *day_r);

/* imapdate_day_number: days since 1970-01-01 (negative before), so days
 * compare as numbers. imapdate_day_of: the UTC day of a time plus a zone
 * offset in minutes (a message's day in its own zone, for SENTON). */
long imapdate_day_number(const struct imapdate_day *day);
struct imapdate_day imapdate_day_of(time_t when, int zone_minutes);

/* imapdate_parse_time: date-time "dd-Mon-yyyy hh:mm:ss +hhmm"; the day may
 * be " d" (the RFC's fixed form) or "d" (as some clients send it). Sets
 * *when_r to the instant (seconds since the epoch, UTC) and *zone_r to
 * the zone's offset in minutes east of UTC. Returns 0 or -1 (malformed,
 * not a real day, hour > 23, minute > 59, second > 60, zone minutes > 59). */
int imapdate_parse_time(const char *text, size_t len, time_t *when_r, int *zone_r);

/* imapdate_format_time: appends the date-time of when in the zone
 * (minutes east of UTC), without quotes: "17-Jul-1996 02:44:25 -0700". */
void imapdate_format_time(buf *out, time_t when, int zone_minutes);

#endif
