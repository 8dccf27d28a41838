/* spf_macro.c: SPF macro strings (RFC 7208 section 7): the syntax check
 * and the expansion of %{letter digits r delimiters}, %%, %_ and %- from
 * the values in struct spf_macro_vars. It does no DNS: the caller looks
 * up %{p} when asked (return 1) and calls again. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "spf.h"

#define SPF_DELIMITERS ".-+,/_="

struct spf_macro {
	char letter; /* lower case */
	bool escape; /* the letter was upper case: URL-escape the value */
	unsigned keep; /* right-hand parts to keep, 0 = all */
	bool reverse;
	char delims[sizeof(SPF_DELIMITERS)];
};

/* spf_macro_parse: reads "letter digits [r] delimiters}" at in[*pos]
 * (just after "%{"). Returns 0 or -1 with *err_r. */
static int spf_macro_parse(const char *in, size_t len, size_t *pos, unsigned flags,
			   struct spf_macro *m, const char **err_r)
{
	size_t i = *pos, nd = 0;
	unsigned long digits = 0;
	bool have_digits = false;

	memset(m, 0, sizeof(*m));
	if (i >= len || strchr("slodiphcrtv", tolower((unsigned char)in[i])) == NULL ||
	    in[i] == '\0') {
		*err_r = "unknown macro letter";
		return -1;
	}
	m->letter = (char)tolower((unsigned char)in[i]);
	m->escape = isupper((unsigned char)in[i]) != 0;
	if (strchr("crt", m->letter) != NULL && !(flags & SPF_MACRO_EXP)) {
		*err_r = "macro letter allowed only in exp text";
		return -1;
	}
	for (i++; i < len && isdigit((unsigned char)in[i]); i++) {
		have_digits = true;
		if (digits < 1000)
			digits = digits * 10 + (unsigned long)(in[i] - '0');
	}
	if (have_digits && digits == 0) {
		*err_r = "macro keeps zero parts";
		return -1;
	}
	m->keep = (unsigned)digits;
	if (i < len && (in[i] == 'r' || in[i] == 'R')) {
		m->reverse = true;
		i++;
	}
	for (; i < len && in[i] != '\0' && strchr(SPF_DELIMITERS, in[i]) != NULL; i++)
		if (strchr(m->delims, in[i]) == NULL)
			m->delims[nd++] = in[i];
	if (i >= len || in[i] != '}') {
		*err_r = "bad macro";
		return -1;
	}
	*pos = i + 1;
	return 0;
}

static const char *spf_macro_value(const struct spf_macro *m, const struct spf_macro_vars *v,
				   char *tbuf, size_t tsize)
{
	switch (m->letter) {
	case 's': return v->sender;
	case 'l': return v->local;
	case 'o': return v->sender_domain;
	case 'd': return v->domain;
	case 'i': return v->ip_dotted;
	case 'p': return v->ptr;
	case 'v': return v->ipv6 ? "ip6" : "in-addr";
	case 'h': return v->helo;
	case 'c': return v->ip_text;
	case 'r': return v->receiver != NULL ? v->receiver : "unknown";
	case 't': snprintf(tbuf, tsize, "%llu", v->now); return tbuf;
	}
	return "";
}

/* spf_macro_split: the parts of value between delimiters, as (start,
 * length) pairs into parts (at most max). Returns the count. */
static size_t spf_macro_split(const char *value, const char *delims, const char **starts,
			      size_t *lens, size_t max)
{
	size_t n = 0;
	const char *p = value;

	for (;;) {
		size_t l = strcspn(p, delims);

		if (n < max) {
			starts[n] = p;
			lens[n] = l;
			n++;
		} else {
			/* XXX past max parts the rest is one part; values are short */
			lens[n - 1] = strlen(starts[n - 1]);
			return n;
		}
		if (p[l] == '\0')
			return n;
		p += l + 1;
	}
}

static void spf_macro_put(buf *out, const char *s, size_t len, bool escape)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!escape || isalnum(ch) || strchr("-._~", ch) != NULL)
			buf_putc(out, ch);
		else
			buf_printf(out, "%%%02X", ch);
	}
}

#define SPF_MACRO_MAX_PARTS 128

static void spf_macro_apply(const struct spf_macro *m, const char *value, buf *out)
{
	const char *starts[SPF_MACRO_MAX_PARTS];
	size_t lens[SPF_MACRO_MAX_PARTS], n, first = 0;

	n = spf_macro_split(value, m->delims[0] != '\0' ? m->delims : ".", starts, lens,
			    SPF_MACRO_MAX_PARTS);
	if (m->reverse) {
		for (size_t i = 0; i < n / 2; i++) {
			const char *ts = starts[i];
			size_t tl = lens[i];

			starts[i] = starts[n - 1 - i];
			lens[i] = lens[n - 1 - i];
			starts[n - 1 - i] = ts;
			lens[n - 1 - i] = tl;
		}
	}
	if (m->keep != 0 && m->keep < n)
		first = n - m->keep;
	for (size_t i = first; i < n; i++) {
		if (i > first)
			buf_putc(out, '.');
		spf_macro_put(out, starts[i], lens[i], m->escape);
	}
}

/* spf_macro_escape: one "%x" other than %{; returns 0 or -1. */
static int spf_macro_escape(char ch, const struct spf_macro_vars *vars, buf *out)
{
	const char *text = ch == '%' ? "%" : ch == '_' ? " " : ch == '-' ? "%20" : NULL;

	if (text == NULL)
		return -1;
	if (vars != NULL)
		buf_puts(out, text);
	return 0;
}

int spf_macro_expand(const char *in, size_t len, const struct spf_macro_vars *vars,
		     unsigned flags, buf *out, const char **err_r)
{
	size_t start = out != NULL ? buf_len(out) : 0, i = 0;
	bool need_ptr = false;

	while (i < len) {
		unsigned char ch = (unsigned char)in[i];
		struct spf_macro m;

		if (ch != '%') {
			if ((ch < 0x21 || ch > 0x7e) && !(ch == ' ' && (flags & SPF_MACRO_EXP))) {
				*err_r = "bad character in macro string";
				return -1;
			}
			if (vars != NULL)
				buf_putc(out, ch);
			i++;
		} else if (i + 1 < len && in[i + 1] == '{') {
			i += 2;
			if (spf_macro_parse(in, len, &i, flags, &m, err_r) < 0)
				return -1;
			if (vars == NULL)
				continue;
			if (m.letter == 'p' && vars->ptr == NULL) {
				need_ptr = true; /* the rest is still checked */
				continue;
			}

			char tbuf[32];
			const char *value = spf_macro_value(&m, vars, tbuf, sizeof(tbuf));

			spf_macro_apply(&m, value != NULL ? value : "", out);
		} else {
			if (i + 1 >= len || spf_macro_escape(in[i + 1], vars, out) < 0) {
				*err_r = "bad % escape";
				return -1;
			}
			i += 2;
		}
		if (out != NULL && buf_len(out) - start > SPF_MAX_EXPANSION) {
			*err_r = "macro expansion too long";
			return -1;
		}
	}
	return need_ptr ? 1 : 0;
}

void spf_domain_truncate(char *name)
{
	size_t len = strlen(name);
	char *p = name;

	if (len > 0 && name[len - 1] == '.')
		name[--len] = '\0';
	while (len > 253) {
		char *dot = strchr(p, '.');

		if (dot == NULL) {
			/* one label over 253 bytes: keep its right end */
			p += len - 253;
			len = 253;
			break;
		}
		len -= (size_t)(dot + 1 - p);
		p = dot + 1;
	}
	memmove(name, p, len + 1);
}
