/* psl_idna.c: UTF-8 labels to A-labels. A strict UTF-8 decoder feeds the
 * RFC 3492 Punycode encoder (the bootstring parameters of section 5:
 * base 36, tmin 1, tmax 26, skew 38, damp 700, initial bias 72, initial
 * n 128). Labels are done one at a time, at most 63 code points each. */
#include "psl_idna.h"

#include <stdbool.h>

enum {
	PUNY_BASE = 36,
	PUNY_TMIN = 1,
	PUNY_TMAX = 26,
	PUNY_SKEW = 38,
	PUNY_DAMP = 700,
	PUNY_BIAS = 72,
	PUNY_N = 128,
	LABEL_MAX = 63,
};

static uint32_t puny_adapt(uint32_t delta, uint32_t points, bool first)
{
	uint32_t k = 0;

	delta = first ? delta / PUNY_DAMP : delta / 2;
	delta += delta / points;
	while (delta > ((PUNY_BASE - PUNY_TMIN) * PUNY_TMAX) / 2) {
		delta /= PUNY_BASE - PUNY_TMIN;
		k += PUNY_BASE;
	}
	return k + (PUNY_BASE - PUNY_TMIN + 1) * delta / (delta + PUNY_SKEW);
}

static char puny_digit(uint32_t d)
{
	return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

/* puny_put_delta: one delta as a generalized variable-length integer. */
static void puny_put_delta(uint32_t q, uint32_t bias, buf *out)
{
	for (uint32_t k = PUNY_BASE;; k += PUNY_BASE) {
		uint32_t t = k <= bias ? PUNY_TMIN : k >= bias + PUNY_TMAX ? PUNY_TMAX : k - bias;

		if (q < t)
			break;
		buf_putc(out, puny_digit(t + (q - t) % (PUNY_BASE - t)));
		q = (q - t) / (PUNY_BASE - t);
	}
	buf_putc(out, puny_digit(q));
}

int psl_punycode_encode(const uint32_t *cps, size_t n, buf *out)
{
	uint32_t cp = PUNY_N, delta = 0, bias = PUNY_BIAS;
	size_t basic = 0, done;

	if (n > 1000)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (cps[i] < 0x80) {
			buf_putc(out, (int)cps[i]);
			basic++;
		}
	}
	if (basic > 0)
		buf_putc(out, '-');
	for (done = basic; done < n;) {
		uint32_t m = UINT32_MAX;

		for (size_t i = 0; i < n; i++) {
			if (cps[i] >= cp && cps[i] < m)
				m = cps[i];
		}
		if ((uint64_t)(m - cp) * (done + 1) > UINT32_MAX - delta)
			return -1;
		delta += (m - cp) * (uint32_t)(done + 1);
		cp = m;
		for (size_t i = 0; i < n; i++) {
			if (cps[i] < cp && ++delta == 0)
				return -1;
			if (cps[i] != cp)
				continue;
			puny_put_delta(delta, bias, out);
			bias = puny_adapt(delta, (uint32_t)done + 1, done == basic);
			delta = 0;
			done++;
		}
		delta++;
		cp++;
	}
	return 0;
}

/* utf8_next: decodes one code point at s[*i] (len bytes in all); -1 for
 * malformed input. */
static int utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *cp_r)
{
	unsigned char c = s[*i];
	size_t need;
	uint32_t cp, min;

	if (c < 0x80) {
		*cp_r = c;
		(*i)++;
		return 0;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3, cp = c & 0x07, min = 0x10000;
	} else {
		return -1;
	}
	if (*i + need >= len)
		return -1;
	for (size_t k = 1; k <= need; k++) {
		if ((s[*i + k] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[*i + k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += need + 1;
	*cp_r = cp;
	return 0;
}

/* label_to_ascii: one label (no dots) to out. */
static int label_to_ascii(const unsigned char *s, size_t len, buf *out)
{
	uint32_t cps[LABEL_MAX];
	size_t n = 0, i = 0, start = buf_len(out);
	bool ascii = true;

	for (size_t k = 0; k < len; k++)
		ascii = ascii && s[k] < 0x80;
	if (ascii) {
		for (size_t k = 0; k < len; k++)
			buf_putc(out, s[k] >= 'A' && s[k] <= 'Z' ? s[k] + 32 : s[k]);
		return 0;
	}
	while (i < len) {
		uint32_t cp;

		if (n == LABEL_MAX || utf8_next(s, len, &i, &cp) != 0)
			return -1;
		cps[n++] = cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
	}
	buf_puts(out, "xn--");
	if (psl_punycode_encode(cps, n, out) != 0 || buf_len(out) - start > LABEL_MAX)
		return -1;
	return 0;
}

int psl_idna_to_ascii(const char *name, size_t len, buf *out)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (i > start && label_to_ascii(s + start, i - start, out) != 0)
			return -1;
		if (i < len)
			buf_putc(out, '.');
		start = i + 1;
	}
	return 0;
}
