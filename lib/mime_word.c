/* mime_word.c: turning bytes into UTF-8 text for SEARCH: charsets through
 * iconv, RFC 2047 encoded words (B and Q) in header text, and the body
 * transfer encodings base64 and quoted-printable, all lenient: a broken
 * encoded word stays as written, bad base64 characters are skipped. */
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "mem.h"
#include "mime_int.h"
#include "qp.h"

static bool is_utf8_name(const char *cs)
{
	return strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0 ||
	       strcasecmp(cs, "us-ascii") == 0 || strcasecmp(cs, "ascii") == 0;
}

/* put_replacement: U+FFFD for a byte that does not convert. */
static void put_replacement(buf *out)
{
	buf_puts(out, "\xef\xbf\xbd");
}

static void convert(iconv_t cd, const char *in, size_t len, buf *out)
{
	char *ip = (char *)in;
	size_t left = len;

	while (left > 0) {
		char *op = buf_reserve(out, left * 4 + 16), *start = op;
		size_t room = left * 4 + 16;
		size_t r = iconv(cd, &ip, &left, &op, &room);

		buf_commit(out, (size_t)(op - start));
		if (r != (size_t)-1 || errno == E2BIG)
			continue;
		/* EILSEQ or EINVAL (a cut sequence at the end): skip a byte */
		put_replacement(out);
		ip++;
		left--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
}

/* plausible_charset: charset names come from the message; only names made
 * of the characters of registered charset names reach iconv_open (no
 * "//" conversion flags, no path-like names). */
static bool plausible_charset(const char *cs)
{
	size_t n = strlen(cs);

	return n > 0 && n <= 40 &&
	       strspn(cs, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:+") == n;
}

int mime_charset_to_utf8(const char *charset, const char *in, size_t len, buf *out)
{
	iconv_t cd;

	if (charset == NULL || is_utf8_name(charset)) {
		buf_append(out, in, len);
		return 0;
	}
	if (!plausible_charset(charset))
		return -1;
	cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1)
		return -1;
	convert(cd, in, len, out);
	iconv_close(cd);
	return 0;
}

/* base64_lenient: skips anything outside the alphabet, stops at '='. */
static void base64_lenient(const char *in, size_t len, buf *out)
{
	unsigned acc = 0;
	int bits = 0;

	for (size_t i = 0; i < len && in[i] != '='; i++) {
		int v = base64_char_value((unsigned char)in[i]);

		if (v < 0)
			continue;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_putc(out, (int)((acc >> bits) & 0xff));
		}
	}
}

/* word_decode: the encoded word in text[0..len) ("=?cs?e?data?=") in UTF-8;
 * -1 when it is not one, or its charset is unknown. */
static int word_decode(const char *text, size_t len, buf *out)
{
	const char *q1, *q2, *enc_end;
	char *charset, *star;
	buf *raw;
	int rc;

	q1 = memchr(text + 2, '?', len - 2);
	if (q1 == NULL || q1 + 3 > text + len - 2 || q1[2] != '?')
		return -1;
	q2 = q1 + 2;
	enc_end = text + len - 2;
	charset = xstrndup(text + 2, (size_t)(q1 - text - 2));
	if ((star = strchr(charset, '*')) != NULL) /* RFC 2231 5: charset*lang */
		*star = '\0';
	raw = buf_new(len);
	if (q1[1] == 'B' || q1[1] == 'b')
		base64_lenient(q2 + 1, (size_t)(enc_end - q2 - 1), raw);
	else if (q1[1] == 'Q' || q1[1] == 'q')
		qp_decode(raw, q2 + 1, (size_t)(enc_end - q2 - 1), true);
	rc = (q1[1] == 'B' || q1[1] == 'b' || q1[1] == 'Q' || q1[1] == 'q') && charset[0] != '\0'
		     ? mime_charset_to_utf8(charset, buf_cstr(raw), buf_len(raw), out)
		     : -1;
	free(charset);
	buf_free(&raw);
	return rc;
}

/* word_end: length of the encoded word starting at text (text[0..1] is
 * "=?"), or 0: charset, encoding, and data with no white space. */
static size_t word_end(const char *text, size_t len)
{
	int q = 0;

	for (size_t i = 2; i < len; i++) {
		if (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n')
			return 0;
		if (text[i] != '?')
			continue;
		if (++q >= 3 && i + 1 < len && text[i + 1] == '=')
			return i + 2;
	}
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static size_t word_at(const char *text, size_t i, size_t len)
{
	return text[i] == '=' && i + 1 < len && text[i + 1] == '?' ? word_end(text + i, len - i)
								       : 0;
}

void mime_decode_words(const char *text, size_t len, buf *out)
{
	size_t i = 0, wl, j;
	bool after_word = false;

	while (i < len) {
		wl = word_at(text, i, len);
		if (wl > 0 && word_decode(text + i, wl, out) == 0) {
			i += wl;
			after_word = true;
			continue;
		}
		if (after_word && is_space(text[i])) {
			/* RFC 2047 6.2: white space between encoded words goes */
			for (j = i; j < len && is_space(text[j]); j++)
				;
			if (j < len && word_at(text, j, len) > 0) {
				i = j;
				continue;
			}
		}
		after_word = false;
		buf_putc(out, text[i++]);
	}
}

void mime_body_decode(const mime_msg *m, const struct mime_part *part, buf *out)
{
	const char *body = m->data + part->body.off;
	const char *enc = part->encoding;

	if (enc != NULL && strcasecmp(enc, "base64") == 0)
		base64_lenient(body, part->body.len, out);
	else if (enc != NULL && strcasecmp(enc, "quoted-printable") == 0)
		qp_decode(out, body, part->body.len, false);
	else
		buf_append(out, body, part->body.len);
}

int mime_body_text(const mime_msg *m, const struct mime_part *part, buf *out)
{
	const struct mime_param *cs = mime_param_get(part->params, part->nparams, "charset");
	buf *raw;
	int rc = 0;

	if (strcasecmp(part->type, "text") != 0 || cs == NULL) {
		mime_body_decode(m, part, out);
		return 0;
	}
	raw = buf_new(part->body.len + 1);
	mime_body_decode(m, part, raw);
	if (mime_charset_to_utf8(cs->value, buf_cstr(raw), buf_len(raw), out) < 0) {
		buf_append(out, buf_cstr(raw), buf_len(raw));
		rc = -1;
	}
	buf_free(&raw);
	return rc;
}
