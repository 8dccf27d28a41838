/* imapsearch_text.c: the text side of SEARCH: case folding of UTF-8 for
 * the case-insensitive substring match RFC 3501 asks for (a small table
 * of the alphabets mail is mostly written in, no locale involved), and
 * the calendar day of a Date: header for SENTBEFORE / SENTON / SENTSINCE
 * (RFC 5322 date, read leniently; time and zone are disregarded). */
#include "imapsearch_int.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "imapdate.h"

/* fold_latin_ext_a: U+0100..U+017F, where upper and lower case letters
 * alternate in pairs (with two runs starting on odd code points). */
static unsigned fold_latin_ext_a(unsigned cp)
{
	if (cp == 0x178)
		return 0xff;
	if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e))
		return cp % 2 == 1 ? cp + 1 : cp;
	if (cp == 0x149 || cp == 0x138 || cp == 0x17f)
		return cp;
	return cp % 2 == 0 ? cp + 1 : cp;
}

static unsigned fold_greek(unsigned cp)
{
	if (cp >= 0x391 && cp <= 0x3a9 && cp != 0x3a2)
		return cp + 32;
	if (cp == 0x386)
		return 0x3ac;
	if (cp >= 0x388 && cp <= 0x38a)
		return cp + 37;
	if (cp == 0x38c)
		return 0x3cc;
	if (cp == 0x38e || cp == 0x38f)
		return cp + 63;
	if (cp == 0x3c2) /* final sigma matches sigma */
		return 0x3c3;
	return cp;
}

/* fold_cp: the lower-case form of one code point. */
static unsigned fold_cp(unsigned cp)
{
	if (cp < 0x80)
		return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
	if (cp >= 0xc0 && cp <= 0xde && cp != 0xd7)
		return cp + 32;
	if (cp >= 0x100 && cp <= 0x17f)
		return fold_latin_ext_a(cp);
	if (cp >= 0x386 && cp <= 0x3c2)
		return fold_greek(cp);
	if (cp >= 0x410 && cp <= 0x42f)
		return cp + 32;
	if (cp >= 0x400 && cp <= 0x40f)
		return cp + 80;
	return cp;
}

/* utf8_decode: the code point at s[0..len) and its length, or 0 when the
 * bytes are no well-formed sequence. */
static size_t utf8_decode(const unsigned char *s, size_t len, unsigned *cp_r)
{
	size_t n;
	unsigned cp;

	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	*cp_r = cp;
	return n;
}

/* utf8_put: writes cp (below U+0800, as every folded letter is) in the
 * n bytes its upper-case form took. */
static void utf8_put(unsigned char *dst, unsigned cp, size_t n)
{
	if (n == 2 && cp >= 0x80 && cp < 0x800) {
		dst[0] = (unsigned char)(0xc0 | cp >> 6);
		dst[1] = (unsigned char)(0x80 | (cp & 0x3f));
	}
}

/* fold_ascii8: lower-cases 8 ASCII bytes (none with the high bit) at once:
 * per byte, bit 7 of b + (0x80 - 'A') says b >= 'A' and bit 7 of
 * b + (0x7f - 'Z') says b > 'Z'; no sum carries into the next byte. */
static uint64_t fold_ascii8(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	uint64_t ge_a = w + ones * (0x80 - 'A'), gt_z = w + ones * (0x7f - 'Z');

	return w | ((ge_a & ~gt_z & high) >> 2);
}

/* Folding keeps every sequence's length (each pair of cases sits in the
 * same UTF-8 length class), so the output is written in place of a copy
 * of the input: one reservation, no per-byte appends. */
void imapsearch_fold(const char *text, size_t len, buf *out)
{
	const unsigned char *s = (const unsigned char *)text;
	unsigned char *d = (unsigned char *)buf_reserve(out, len);
	size_t i = 0;

	memcpy(d, s, len);
	while (i < len) {
		unsigned cp;
		size_t n;

		if (i + 8 <= len) {
			uint64_t w;

			memcpy(&w, s + i, 8);
			if ((w & 0x8080808080808080ull) == 0) {
				w = fold_ascii8(w);
				memcpy(d + i, &w, 8);
				i += 8;
				continue;
			}
		}
		if (s[i] < 0x80) {
			if (s[i] >= 'A' && s[i] <= 'Z')
				d[i] = (unsigned char)(s[i] + 32);
			i++;
			continue;
		}
		n = utf8_decode(s + i, len - i, &cp);
		if (n == 0) {
			i++;
			continue;
		}
		if (fold_cp(cp) != cp)
			utf8_put(d + i, fold_cp(cp), n);
		i += n;
	}
	buf_commit(out, len);
}

bool imapsearch_text_contains(const char *text, size_t len, const char *folded_needle,
			      size_t needle_len)
{
	buf *folded;
	bool found;

	if (needle_len == 0)
		return true;
	folded = buf_new(len + 1);
	imapsearch_fold(text, len, folded);
	found = memmem(buf_cstr(folded), buf_len(folded), folded_needle, needle_len) != NULL;
	buf_free(&folded);
	return found;
}

/* date_token: the next run of letters or digits at or after *pos. */
static bool date_token(const char *s, size_t len, size_t *pos, const char **tok_r,
		       size_t *tlen_r)
{
	size_t i = *pos, start;

	while (i < len && !isalnum((unsigned char)s[i]))
		i++;
	if (i >= len)
		return false;
	start = i;
	if (isdigit((unsigned char)s[i]))
		while (i < len && isdigit((unsigned char)s[i]))
			i++;
	else
		while (i < len && isalpha((unsigned char)s[i]))
			i++;
	*tok_r = s + start;
	*tlen_r = i - start;
	*pos = i;
	return true;
}

static bool date_all_digits(const char *t, size_t n, size_t min, size_t max)
{
	return n >= min && n <= max && isdigit((unsigned char)t[0]);
}

/* date_try: day, month and year tokens from *pos; 0 with the day number. */
static int date_try(const char *s, size_t len, size_t pos, long *day_r)
{
	const char *d, *m, *y;
	size_t dn, mn, yn;
	char text[32];
	int year;
	struct imapdate_day day;

	if (!date_token(s, len, &pos, &d, &dn) || !date_all_digits(d, dn, 1, 2) ||
	    !date_token(s, len, &pos, &m, &mn) || mn < 3 || !isalpha((unsigned char)m[0]) ||
	    !date_token(s, len, &pos, &y, &yn) || !date_all_digits(y, yn, 2, 4))
		return -1;
	year = 0;
	for (size_t i = 0; i < yn; i++)
		year = year * 10 + (y[i] - '0');
	if (yn == 2) /* RFC 5322 4.3: obsolete two- and three-digit years */
		year += year < 50 ? 2000 : 1900;
	else if (yn == 3)
		year += 1900;
	snprintf(text, sizeof(text), "%.*s-%.3s-%04d", (int)dn, d, m, year);
	if (imapdate_parse_day(text, strlen(text), &day) < 0)
		return -1;
	*day_r = imapdate_day_number(&day);
	return 0;
}

int imapsearch_sent_day(const char *value, size_t len, long *day_r)
{
	size_t pos = 0;
	const char *t;
	size_t tn;

	/* "Tue, 1 Jul 2003 ..." or "1 Jul 2003 ...": start at the first
	 * number, or after one leading weekday word */
	if (date_try(value, len, 0, day_r) == 0)
		return 0;
	if (!date_token(value, len, &pos, &t, &tn) || !isalpha((unsigned char)t[0]))
		return -1;
	return date_try(value, len, pos, day_r);
}
