/* json.c: JSON string escaping (see json.h). A string is walked once:
 * ASCII printable bytes are copied, quote and backslash get a backslash,
 * control bytes and DEL become \uXXXX (\n, \r, \t and the like in their
 * short forms), a well-formed UTF-8 sequence is copied whole, and any
 * other byte (a stray continuation byte, an overlong form, a surrogate, a
 * cut sequence) becomes U+FFFD, so the output is always valid UTF-8. */
#include "json.h"

#include <stdint.h>
#include <string.h>

/* utf8_len: the length of the well-formed UTF-8 sequence at s (at most n
 * bytes available), or 0 when the bytes there are not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* put_control: a byte below 0x20 or DEL. */
static void put_control(buf *out, unsigned char c)
{
	switch (c) {
	case '\b': buf_puts(out, "\\b"); break;
	case '\f': buf_puts(out, "\\f"); break;
	case '\n': buf_puts(out, "\\n"); break;
	case '\r': buf_puts(out, "\\r"); break;
	case '\t': buf_puts(out, "\\t"); break;
	default: buf_printf(out, "\\u%04x", c); break;
	}
}

void json_put_string(buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	buf_putc(out, '"');
	while (i < len) {
		size_t n;

		if (p[i] == '"' || p[i] == '\\') {
			buf_putc(out, '\\');
			buf_putc(out, p[i++]);
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			put_control(out, p[i++]);
		} else if (p[i] < 0x80) {
			buf_putc(out, p[i++]);
		} else if ((n = utf8_len(p + i, len - i)) > 0) {
			buf_append(out, p + i, n);
			i += n;
		} else {
			buf_puts(out, "\\ufffd");
			i++;
		}
	}
	buf_putc(out, '"');
}

void json_put_cstr(buf *out, const char *s)
{
	if (s == NULL)
		buf_puts(out, "null");
	else
		json_put_string(out, s, strlen(s));
}

void json_put_member(buf *out, const char *name, int first)
{
	if (!first)
		buf_putc(out, ',');
	json_put_cstr(out, name);
	buf_putc(out, ':');
}
