/* mime_param.c: parameter lists of Content-Type and Content-Disposition
 * (RFC 2045 5.1): "value; name=token; name="quoted"", leniently (comments
 * dropped, junk between parameters skipped), and RFC 2231 on top:
 * name*0=, name*1*= continuations joined in order, and name*=charset'lang'
 * %XX values decoded to UTF-8. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "mime_int.h"
#include "qp.h"

/* A parameter as written, before RFC 2231 joining. */
struct raw_param {
	char *base; /* name without the section and '*' */
	int section; /* -1 when the name has no *N */
	bool extended; /* the name ends in '*' */
	char *value;
	bool used;
};

size_t mime_unquote_into(const char *s, size_t pos, size_t end, buf *out)
{
	for (pos++; pos < end && s[pos] != '"'; pos++) {
		if (s[pos] == '\\' && pos + 1 < end)
			pos++;
		if (s[pos] != '\r' && s[pos] != '\n')
			buf_putc(out, s[pos]);
	}
	return pos < end ? pos + 1 : end;
}

static size_t skip_comment(const char *s, size_t pos)
{
	int level = 0;

	for (; s[pos] != '\0'; pos++) {
		if (s[pos] == '\\' && s[pos + 1] != '\0')
			pos++;
		else if (s[pos] == '(')
			level++;
		else if (s[pos] == ')' && --level == 0)
			return pos + 1;
	}
	return pos;
}

static size_t skip_space(const char *s, size_t pos)
{
	for (;;) {
		if (s[pos] == ' ' || s[pos] == '\t')
			pos++;
		else if (s[pos] == '(')
			pos = skip_comment(s, pos);
		else
			return pos;
	}
}

/* read_word: a token (up to white space, ';', '=' or '(') or a quoted
 * string, appended to out; returns the position after it. */
static size_t read_word(const char *s, size_t pos, buf *out, bool stop_at_eq)
{
	size_t end = strlen(s);

	if (s[pos] == '"')
		return mime_unquote_into(s, pos, end, out);
	while (s[pos] != '\0' && s[pos] != ';' && s[pos] != ' ' && s[pos] != '\t' &&
	       s[pos] != '(' && !(stop_at_eq && s[pos] == '='))
		buf_putc(out, s[pos++]);
	return pos;
}

static void split_name(struct raw_param *p, char *name)
{
	size_t n = strlen(name);
	char *star;

	p->section = -1;
	if (n > 0 && name[n - 1] == '*') {
		p->extended = true;
		name[--n] = '\0';
	}
	star = strchr(name, '*');
	if (star != NULL && star[1] >= '0' && star[1] <= '9' &&
	    strspn(star + 1, "0123456789") == strlen(star + 1) && strlen(star + 1) <= 3) {
		p->section = atoi(star + 1);
		*star = '\0';
	}
	p->base = name;
}

/* read_raw: the parameters as written after the first ';'. */
static size_t read_raw(const char *s, size_t pos, struct raw_param *raw)
{
	size_t n = 0;
	buf *word = buf_new(64);

	while (s[pos] != '\0' && n < MIME_MAX_PARAMS) {
		pos = skip_space(s, pos);
		if (s[pos] == ';') {
			pos++;
			continue;
		}
		buf_reset(word);
		pos = skip_space(s, read_word(s, pos, word, true));
		if (s[pos] != '=' || buf_len(word) == 0) {
			while (s[pos] != '\0' && s[pos] != ';')
				pos++;
			continue;
		}
		memset(&raw[n], 0, sizeof(raw[n]));
		split_name(&raw[n], xstrdup(buf_cstr(word)));
		buf_reset(word);
		pos = read_word(s, skip_space(s, pos + 1), word, false);
		raw[n++].value = xstrdup(buf_cstr(word));
	}
	buf_free(&word);
	return n;
}

static void percent_decode(const char *s, buf *out)
{
	for (; *s != '\0'; s++) {
		if (s[0] == '%' && qp_hex_value(s[1]) >= 0 && qp_hex_value(s[2]) >= 0) {
			buf_putc(out, qp_hex_value(s[1]) * 16 + qp_hex_value(s[2]));
			s += 2;
		} else {
			buf_putc(out, *s);
		}
	}
}

/* find_section: the unused raw parameter base*sec, or NULL. */
static struct raw_param *find_section(struct raw_param *raw, size_t n, const char *base, int sec)
{
	for (size_t i = 0; i < n; i++)
		if (!raw[i].used && raw[i].section == sec && strcasecmp(raw[i].base, base) == 0)
			return &raw[i];
	return NULL;
}

/* decode_extended: charset'lang'%XX... of the joined sections in UTF-8. */
static char *decode_extended(struct raw_param **secs, size_t nsecs)
{
	buf *bytes = buf_new(64), *out = buf_new(64);
	char *charset = NULL;

	for (size_t i = 0; i < nsecs; i++) {
		const char *v = secs[i]->value;

		if (i == 0 && secs[0]->extended) {
			const char *q1 = strchr(v, '\''), *q2 = q1 == NULL ? NULL : strchr(q1 + 1, '\'');

			if (q2 != NULL) {
				charset = xstrndup(v, (size_t)(q1 - v));
				v = q2 + 1;
			}
		}
		if (secs[i]->extended)
			percent_decode(v, bytes);
		else
			buf_puts(bytes, v);
	}
	if (charset == NULL || charset[0] == '\0' ||
	    mime_charset_to_utf8(charset, buf_cstr(bytes), buf_len(bytes), out) < 0)
		buf_append(out, buf_cstr(bytes), buf_len(bytes));
	free(charset);
	buf_free(&bytes);
	return buf_steal_free(&out);
}

/* join_one: the parameter starting with raw[i], its sections joined. */
static void join_one(struct raw_param *raw, size_t n, size_t i, struct mime_param *p)
{
	struct raw_param *secs[MIME_MAX_SECTIONS];
	size_t nsecs = 0;
	buf *value = buf_new(64), *dec;

	if (raw[i].section < 0) {
		secs[nsecs++] = &raw[i];
	} else {
		struct raw_param *s;

		while (nsecs < MIME_MAX_SECTIONS &&
		       (s = find_section(raw, n, raw[i].base, (int)nsecs)) != NULL)
			secs[nsecs++] = s;
	}
	for (size_t k = 0; k < nsecs; k++) {
		secs[k]->used = true;
		buf_puts(value, secs[k]->value);
	}
	p->name = xasprintf("%s%s", raw[i].base, secs[0]->extended ? "*" : "");
	p->value = buf_steal_free(&value);
	if (secs[0]->extended) {
		p->decoded = decode_extended(secs, nsecs);
	} else {
		dec = buf_new(64);
		mime_decode_words(p->value, strlen(p->value), dec);
		p->decoded = buf_steal_free(&dec);
	}
}

/* join: RFC 2231 3: sections 0, 1, ... in order; a parameter whose section
 * 0 is missing is dropped along with the rest of its sections. */
static size_t join(struct raw_param *raw, size_t n, struct mime_param *out)
{
	size_t nout = 0;

	for (size_t i = 0; i < n; i++) {
		if (raw[i].used)
			continue;
		if (raw[i].section > 0)
			continue; /* joined by its section 0, or dropped */
		if (raw[i].section == 0 && find_section(raw, n, raw[i].base, 0) != &raw[i]) {
			raw[i].used = true;
			continue;
		}
		if (mime_param_get(out, nout, raw[i].base) != NULL) {
			raw[i].used = true;
			continue;
		}
		join_one(raw, n, i, &out[nout++]);
	}
	return nout;
}

void mime_params_parse(const char *text, char **value_r, struct mime_param **params_r,
		       size_t *n_r)
{
	struct raw_param raw[MIME_MAX_PARAMS];
	buf *value = buf_new(32);
	size_t pos = skip_space(text, 0), n;

	while (text[pos] != '\0' && text[pos] != ';') {
		if (text[pos] == '(')
			pos = skip_comment(text, pos);
		else if (text[pos] == '"')
			pos = mime_unquote_into(text, pos, strlen(text), value);
		else if (text[pos] != ' ' && text[pos] != '\t')
			buf_putc(value, text[pos++]);
		else
			pos++;
	}
	*value_r = buf_steal_free(&value);
	n = read_raw(text, pos, raw);
	*params_r = n == 0 ? NULL : xcalloc(n, sizeof(**params_r));
	*n_r = join(raw, n, *params_r);
	for (size_t i = 0; i < n; i++) {
		free(raw[i].base);
		free(raw[i].value);
	}
}

void mime_params_free(struct mime_param **params, size_t n)
{
	if (*params == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free((*params)[i].name);
		free((*params)[i].value);
		free((*params)[i].decoded);
	}
	free(*params);
	*params = NULL;
}

const struct mime_param *mime_param_get(const struct mime_param *params, size_t n,
					const char *name)
{
	size_t nlen = strlen(name);

	for (size_t i = 0; i < n; i++) {
		size_t plen = strlen(params[i].name);

		if (plen > 0 && params[i].name[plen - 1] == '*')
			plen--;
		if (plen == nlen && strncasecmp(params[i].name, name, nlen) == 0)
			return &params[i];
	}
	return NULL;
}
