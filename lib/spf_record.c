/* spf_record.c: the SPF record parser (RFC 7208 sections 4.5, 4.6, 5, 6
 * and the ABNF of 12): "v=spf1" and its terms into a struct spf_record.
 * A record with any syntax error is rejected as a whole (permerror), so
 * the evaluator never meets a half-understood term. Macro strings are
 * checked here and expanded later (spf_macro.c). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "spf.h"

static const char *const spf_mech_names[] = {
	[SPF_MECH_ALL] = "all", [SPF_MECH_INCLUDE] = "include", [SPF_MECH_A] = "a",
	[SPF_MECH_MX] = "mx",	[SPF_MECH_PTR] = "ptr",		[SPF_MECH_IP4] = "ip4",
	[SPF_MECH_IP6] = "ip6", [SPF_MECH_EXISTS] = "exists",
};

const char *spf_mech_name(enum spf_mech m)
{
	return spf_mech_names[m];
}

bool spf_record_is_spf(const char *text, size_t len)
{
	return len >= 6 && strncasecmp(text, "v=spf1", 6) == 0 && (len == 6 || text[6] == ' ');
}

/* spf_toplabel_ok: RFC 7208 toplabel: letters, digits and inner hyphens,
 * not all digits. */
static bool spf_toplabel_ok(const char *s, size_t len)
{
	bool alpha = false;

	if (len == 0 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (isalpha((unsigned char)s[i]))
			alpha = true;
		else if (s[i] == '-')
			alpha = true; /* 1*alphanum "-" ... alphanum */
		else if (!isdigit((unsigned char)s[i]))
			return false;
	}
	return alpha;
}

/* spf_domain_spec_ok: a macro-string ending in a macro or "." toplabel. */
static bool spf_domain_spec_ok(const char *s, size_t len)
{
	const char *err, *dot;

	if (len == 0 || spf_macro_expand(s, len, NULL, 0, NULL, &err) != 0)
		return false;
	if (s[len - 1] == '}')
		return true;
	if (s[len - 1] == '.')
		len--;
	dot = memrchr(s, '.', len);
	if (dot == NULL)
		return false;
	return spf_toplabel_ok(dot + 1, len - (size_t)(dot + 1 - s));
}

/* spf_cidr_tail: when s[0..*len) ends in '/' digits (not "//" when
 * single), strips it and stores the number in *bits. Returns 0 (none or
 * good) or -1 (bad number). */
static int spf_cidr_tail(const char *s, size_t *len, bool dbl, unsigned max, unsigned *bits)
{
	size_t end = *len, i = end;
	unsigned long v = 0;

	while (i > 0 && isdigit((unsigned char)s[i - 1]))
		i--;
	if (i == end || i == 0 || s[i - 1] != '/')
		return 0;
	if (dbl ? (i < 2 || s[i - 2] != '/') : (i >= 2 && s[i - 2] == '/'))
		return 0;
	if (end - i > 3 || (s[i] == '0' && end - i > 1))
		return -1;
	for (size_t k = i; k < end; k++)
		v = v * 10 + (unsigned long)(s[k] - '0');
	if (v > max)
		return -1;
	*bits = (unsigned)v;
	*len = i - (dbl ? 2 : 1);
	return 0;
}

/* spf_parse_domain_cidr: "[:domain-spec][dual-cidr]" (a, mx) or
 * "[:domain-spec]" (ptr) or ":domain-spec" (include, exists). */
static int spf_parse_domain_cidr(struct spf_term *t, const char *rest, size_t len, bool cidr,
				 bool need_domain, const char **err_r)
{
	if (cidr && (spf_cidr_tail(rest, &len, true, 128, &t->cidr6) < 0 ||
		     spf_cidr_tail(rest, &len, false, 32, &t->cidr4) < 0)) {
		*err_r = "bad CIDR length";
		return -1;
	}
	if (len == 0) {
		if (!need_domain)
			return 0;
		*err_r = "missing domain";
		return -1;
	}
	if (rest[0] != ':' || !spf_domain_spec_ok(rest + 1, len - 1)) {
		*err_r = "bad domain-spec";
		return -1;
	}
	t->domain = xstrndup(rest + 1, len - 1);
	return 0;
}

/* spf_parse_ip: ip4:/ip6: network [/cidr]. */
static int spf_parse_ip(struct spf_term *t, const char *rest, size_t len, const char **err_r)
{
	bool v6 = t->mech == SPF_MECH_IP6;
	unsigned *bits = v6 ? &t->cidr6 : &t->cidr4;
	char addr[64];

	if (spf_cidr_tail(rest, &len, false, v6 ? 128 : 32, bits) < 0) {
		*err_r = "bad CIDR length";
		return -1;
	}
	if (len < 2 || rest[0] != ':' || len - 1 >= sizeof(addr)) {
		*err_r = "bad network";
		return -1;
	}
	memcpy(addr, rest + 1, len - 1);
	addr[len - 1] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, t->addr) != 1) {
		*err_r = "bad network";
		return -1;
	}
	return 0;
}

static int spf_mech_lookup(const char *name, size_t len, enum spf_mech *m)
{
	for (size_t i = 0; i < sizeof(spf_mech_names) / sizeof(spf_mech_names[0]); i++)
		if (strlen(spf_mech_names[i]) == len && strncasecmp(spf_mech_names[i], name, len) == 0) {
			*m = (enum spf_mech)i;
			return 0;
		}
	return -1;
}

static int spf_parse_mechanism(struct spf_term *t, const char *s, size_t len, const char **err_r)
{
	size_t n;

	t->qualifier = '+';
	t->cidr4 = 32;
	t->cidr6 = 128;
	if (len > 0 && strchr("+-~?", s[0]) != NULL) {
		t->qualifier = s[0];
		s++;
		len--;
	}
	for (n = 0; n < len && s[n] != ':' && s[n] != '/'; n++)
		;
	if (spf_mech_lookup(s, n, &t->mech) < 0) {
		*err_r = "unknown mechanism";
		return -1;
	}
	switch (t->mech) {
	case SPF_MECH_ALL:
		if (n == len)
			return 0;
		*err_r = "all takes no argument";
		return -1;
	case SPF_MECH_INCLUDE:
	case SPF_MECH_EXISTS:
		return spf_parse_domain_cidr(t, s + n, len - n, false, true, err_r);
	case SPF_MECH_A:
	case SPF_MECH_MX:
		return spf_parse_domain_cidr(t, s + n, len - n, true, false, err_r);
	case SPF_MECH_PTR:
		return spf_parse_domain_cidr(t, s + n, len - n, false, false, err_r);
	case SPF_MECH_IP4:
	case SPF_MECH_IP6:
		return spf_parse_ip(t, s + n, len - n, err_r);
	}
	return -1;
}

/* spf_modifier_name: length of "name" when s starts with name "=" (name =
 * ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )), else 0. */
static size_t spf_modifier_name(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || !isalpha((unsigned char)s[0]))
		return 0;
	while (i < len && (isalnum((unsigned char)s[i]) || strchr("-_.", s[i]) != NULL))
		i++;
	return i < len && s[i] == '=' ? i : 0;
}

static int spf_parse_modifier(struct spf_record *rec, const char *s, size_t nlen, size_t len,
			      const char **err_r)
{
	const char *value = s + nlen + 1;
	size_t vlen = len - nlen - 1;
	char **slot = NULL;

	if (nlen == 8 && strncasecmp(s, "redirect", 8) == 0)
		slot = &rec->redirect;
	else if (nlen == 3 && strncasecmp(s, "exp", 3) == 0)
		slot = &rec->exp;
	if (slot == NULL) {
		/* unknown modifiers are ignored, but must be well formed */
		if (spf_macro_expand(value, vlen, NULL, 0, NULL, err_r) != 0)
			return -1;
		return 0;
	}
	if (*slot != NULL) {
		*err_r = "modifier given twice";
		return -1;
	}
	if (!spf_domain_spec_ok(value, vlen)) {
		*err_r = "bad domain-spec";
		return -1;
	}
	*slot = xstrndup(value, vlen);
	return 0;
}

static int spf_parse_term(struct spf_record *rec, const char *s, size_t len, const char **err_r)
{
	size_t nlen = spf_modifier_name(s, len);

	if (nlen > 0)
		return spf_parse_modifier(rec, s, nlen, len, err_r);
	if (rec->count >= SPF_MAX_TERMS) {
		*err_r = "too many terms";
		return -1;
	}
	if (rec->count % 16 == 0)
		rec->terms = xrealloc(rec->terms, (rec->count + 16) * sizeof(*rec->terms));

	struct spf_term *t = &rec->terms[rec->count];

	memset(t, 0, sizeof(*t));
	if (spf_parse_mechanism(t, s, len, err_r) < 0) {
		free(t->domain);
		return -1;
	}
	rec->count++;
	return 0;
}

static int spf_record_chars_ok(const char *text, size_t len, const char **err_r)
{
	if (len > SPF_MAX_RECORD_LEN) {
		*err_r = "record too long";
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7e) {
			*err_r = "control or non-ASCII character in record";
			return -1;
		}
	if (!spf_record_is_spf(text, len)) {
		*err_r = "not an SPF record";
		return -1;
	}
	return 0;
}

struct spf_record *spf_record_parse(const char *text, size_t len, char **err_r)
{
	struct spf_record *rec = xcalloc(1, sizeof(*rec));
	const char *err = NULL;
	size_t i = 6;

	if (spf_record_chars_ok(text, len, &err) < 0)
		goto bad;
	while (i < len) {
		size_t start, tlen;

		while (i < len && text[i] == ' ')
			i++;
		start = i;
		while (i < len && text[i] != ' ')
			i++;
		tlen = i - start;
		if (tlen > 0 && spf_parse_term(rec, text + start, tlen, &err) < 0) {
			size_t show = tlen > 64 ? 64 : tlen;
			char *msg = xmalloc(strlen(err) + show + 8);

			memcpy(msg, err, strlen(err));
			memcpy(msg + strlen(err), ": ", 2);
			memcpy(msg + strlen(err) + 2, text + start, show);
			msg[strlen(err) + 2 + show] = '\0';
			*err_r = msg;
			spf_record_free(&rec);
			return NULL;
		}
	}
	return rec;
bad:
	*err_r = xstrdup(err);
	spf_record_free(&rec);
	return NULL;
}

void spf_record_free(struct spf_record **rec)
{
	if (*rec == NULL)
		return;
	for (size_t i = 0; i < (*rec)->count; i++)
		free((*rec)->terms[i].domain);
	free((*rec)->terms);
	free((*rec)->redirect);
	free((*rec)->exp);
	free(*rec);
	*rec = NULL;
}
