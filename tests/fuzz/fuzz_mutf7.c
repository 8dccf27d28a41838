/* fuzz_mutf7.c: fuzz target for modified UTF-7 (lib/mutf7.c) and the IMAP
 * dates (lib/imapdate.c), the small decoders of mailbox names and SEARCH /
 * APPEND arguments. A name that decodes must encode back to the same bytes
 * (one spelling per name); input that encodes as UTF-8 must decode back.
 * A date-time that parses must format and parse to the same instant. */
#include "fuzz_util.h"

#include "buf.h"
#include "imapdate.h"
#include "mutf7.h"

static void check_mutf7(const char *in, size_t size)
{
	buf *a = buf_new(64), *b = buf_new(64);

	if (mutf7_decode(a, in, size, NULL) == 0) {
		if (mutf7_encode(b, buf_cstr(a), buf_len(a)) < 0 || buf_len(b) != size ||
		    memcmp(buf_cstr(b), in, size) != 0)
			abort();
	} else if (buf_len(a) != 0) {
		abort();
	}
	buf_reset(a);
	buf_reset(b);
	if (mutf7_encode(a, in, size) == 0) {
		if (mutf7_decode(b, buf_cstr(a), buf_len(a), NULL) < 0 || buf_len(b) != size ||
		    memcmp(buf_cstr(b), in, size) != 0)
			abort();
	}
	buf_free(&a);
	buf_free(&b);
}

static void check_dates(const char *in, size_t size)
{
	struct imapdate_day day;
	time_t when, when2;
	int zone, zone2;

	if (imapdate_parse_day(in, size, &day) == 0) {
		struct imapdate_day back = imapdate_day_of((time_t)imapdate_day_number(&day) * 86400, 0);

		if (back.year != day.year || back.month != day.month || back.day != day.day)
			abort();
	}
	if (imapdate_parse_time(in, size, &when, &zone) == 0) {
		buf *out = buf_new(32);

		imapdate_format_time(out, when, zone);
		if (imapdate_parse_time(buf_cstr(out), buf_len(out), &when2, &zone2) < 0 ||
		    when2 != when || zone2 != zone)
			abort();
		buf_free(&out);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_mutf7((const char *)data, size);
	check_dates((const char *)data, size);
	return 0;
}
