/* mutf7.c: modified UTF-7 (RFC 3501 section 5.1.3) to and from UTF-8.
 * Printable US-ASCII stands for itself except '&', written "&-"; every
 * other character goes as UTF-16 in a run of modified base64 (',' for '/',
 * no padding) between '&' and '-'. The decoder accepts only the minimal
 * form the encoder writes (see mutf7.h), so a mailbox has one wire name. */
#include "mutf7.h"

#include <stdint.h>

static const char mutf7_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static bool mutf7_direct(uint32_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

static int mutf7_digit(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* utf8_next: the code point starting at s[*pos] (strict UTF-8, no NUL);
 * advances *pos. Returns -1 when malformed. */
static int32_t utf8_next(const unsigned char *s, size_t len, size_t *pos)
{
	static const uint32_t min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };
	unsigned char c = s[*pos];
	size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
		: c >= 0xf0 && c <= 0xf4 ? 4 : 0;
	uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;

	if (n == 0 || c == 0 || len - *pos < n)
		return -1;
	for (size_t i = 1; i < n; i++) {
		if ((s[*pos + i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[*pos + i] & 0x3f);
	}
	if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*pos += n;
	return (int32_t)cp;
}

static void utf8_put(buf *out, uint32_t cp)
{
	if (cp < 0x80) {
		buf_putc(out, (int)cp);
	} else if (cp < 0x800) {
		buf_putc(out, (int)(0xc0 | cp >> 6));
		buf_putc(out, (int)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		buf_putc(out, (int)(0xe0 | cp >> 12));
		buf_putc(out, (int)(0x80 | (cp >> 6 & 0x3f)));
		buf_putc(out, (int)(0x80 | (cp & 0x3f)));
	} else {
		buf_putc(out, (int)(0xf0 | cp >> 18));
		buf_putc(out, (int)(0x80 | (cp >> 12 & 0x3f)));
		buf_putc(out, (int)(0x80 | (cp >> 6 & 0x3f)));
		buf_putc(out, (int)(0x80 | (cp & 0x3f)));
	}
}

/* The state of one base64 run while encoding. */
struct mutf7_run {
	bool open;
	uint32_t bits;
	int nbits;
};

static void run_put_unit(buf *out, struct mutf7_run *run, uint32_t unit)
{
	if (!run->open) {
		buf_putc(out, '&');
		run->open = true;
		run->bits = 0;
		run->nbits = 0;
	}
	run->bits = run->bits << 16 | unit;
	run->nbits += 16;
	while (run->nbits >= 6) {
		run->nbits -= 6;
		buf_putc(out, mutf7_alphabet[run->bits >> run->nbits & 0x3f]);
	}
	run->bits &= (1u << run->nbits) - 1;
}

static void run_close(buf *out, struct mutf7_run *run)
{
	if (!run->open)
		return;
	if (run->nbits > 0)
		buf_putc(out, mutf7_alphabet[run->bits << (6 - run->nbits) & 0x3f]);
	buf_putc(out, '-');
	run->open = false;
}

int mutf7_encode(buf *out, const char *utf8, size_t len)
{
	const unsigned char *s = (const unsigned char *)utf8;
	size_t start = buf_len(out), pos = 0;
	struct mutf7_run run = { false, 0, 0 };

	while (pos < len) {
		int32_t cp = utf8_next(s, len, &pos);

		if (cp < 0) {
			buf_truncate(out, start);
			return -1;
		}
		if (mutf7_direct((uint32_t)cp)) {
			run_close(out, &run);
			buf_puts(out, cp == '&' ? "&-" : (char[]){ (char)cp, '\0' });
		} else if (cp >= 0x10000) {
			run_put_unit(out, &run, 0xd800 | ((uint32_t)cp - 0x10000) >> 10);
			run_put_unit(out, &run, 0xdc00 | ((uint32_t)cp & 0x3ff));
		} else {
			run_put_unit(out, &run, (uint32_t)cp);
		}
	}
	run_close(out, &run);
	return 0;
}

/* The state of one base64 run while decoding. */
struct mutf7_dec {
	uint32_t bits;
	int nbits;
	uint32_t high; /* a high surrogate waiting for its pair, or 0 */
};

/* dec_unit: one UTF-16 unit of a run; NULL or the reason it is refused. */
static const char *dec_unit(buf *out, struct mutf7_dec *d, uint32_t unit)
{
	if (unit >= 0xd800 && unit <= 0xdbff) {
		if (d->high != 0)
			return "unpaired UTF-16 surrogate";
		d->high = unit;
		return NULL;
	}
	if (unit >= 0xdc00 && unit <= 0xdfff) {
		if (d->high == 0)
			return "unpaired UTF-16 surrogate";
		utf8_put(out, 0x10000 + ((d->high - 0xd800) << 10) + (unit - 0xdc00));
		d->high = 0;
		return NULL;
	}
	if (d->high != 0)
		return "unpaired UTF-16 surrogate";
	if (unit == 0)
		return "NUL in name";
	if (mutf7_direct(unit))
		return "printable ASCII character encoded (not minimal)";
	utf8_put(out, unit);
	return NULL;
}

/* dec_run: the base64 run after an '&' at in[*pos]; *pos ends after its
 * '-'. NULL or the reason it is refused. */
static const char *dec_run(buf *out, const char *in, size_t len, size_t *pos)
{
	struct mutf7_dec d = { 0, 0, 0 };
	const char *err;

	for (; *pos < len && in[*pos] != '-'; (*pos)++) {
		int v = mutf7_digit((unsigned char)in[*pos]);

		if (v < 0)
			return "character outside modified base64 in an encoded run";
		d.bits = (d.bits << 6 | (uint32_t)v) & 0x3fffff;
		d.nbits += 6;
		if (d.nbits >= 16) {
			d.nbits -= 16;
			err = dec_unit(out, &d, d.bits >> d.nbits & 0xffff);
			if (err != NULL)
				return err;
		}
	}
	if (*pos >= len)
		return "'&' not closed by '-'";
	(*pos)++;
	if (d.high != 0)
		return "unpaired UTF-16 surrogate";
	if (d.nbits >= 6 || (d.bits & ((1u << d.nbits) - 1)) != 0)
		return "bad padding bits in an encoded run";
	return NULL;
}

int mutf7_decode(buf *out, const char *in, size_t len, const char **error_r)
{
	size_t start = buf_len(out), pos = 0;
	bool after_run = false;
	const char *err = NULL;

	while (pos < len && err == NULL) {
		unsigned char c = (unsigned char)in[pos];

		if (!mutf7_direct(c)) {
			err = "byte outside printable US-ASCII";
		} else if (c != '&') {
			buf_putc(out, c);
			pos++;
			after_run = false;
		} else if (pos + 1 < len && in[pos + 1] == '-') {
			buf_putc(out, '&');
			pos += 2;
			after_run = false;
		} else if (after_run) {
			err = "two encoded runs next to each other (not minimal)";
		} else {
			pos++;
			err = dec_run(out, in, len, &pos);
			after_run = true;
		}
	}
	if (err != NULL) {
		buf_truncate(out, start);
		if (error_r != NULL)
			*error_r = err;
		return -1;
	}
	return 0;
}

bool mutf7_utf8_valid(const char *s, size_t len)
{
	size_t pos = 0;

	while (pos < len)
		if (utf8_next((const unsigned char *)s, len, &pos) < 0)
			return false;
	return true;
}

bool mutf7_is_valid(const char *in, size_t len)
{
	buf *scratch = buf_new(len + 16);
	int rc = mutf7_decode(scratch, in, len, NULL);

	buf_free(&scratch);
	return rc == 0;
}
