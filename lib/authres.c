/* authres.c: writing and recognising Authentication-Results fields
 * (authres.h, RFC 8601 section 2.2). Values that come from the message or
 * the client (addresses, signing domains, reasons) are never copied raw:
 * authres_value writes a token, an address or a quoted string, so a value
 * can neither end the clause (';'), start a comment, nor break the field
 * with a line end. */
#include "authres.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define AUTHRES_VALUE_MAX 256

/* authres_tspecial: RFC 2045 tspecials, which a token may not hold. */
static bool authres_tspecial(unsigned char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static bool authres_token(const char *v, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c <= 32 || c >= 127 || authres_tspecial(c))
			return false;
	}
	return true;
}

/* authres_atext: RFC 5322 atext. */
static bool authres_atext(unsigned char c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool authres_dot_atom(const char *v, size_t len)
{
	if (len == 0 || v[0] == '.' || v[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (v[i] == '.' ? v[i + 1] == '.' : !authres_atext((unsigned char)v[i]))
			return false;
	}
	return true;
}

static bool authres_domain(const char *v, size_t len)
{
	if (len == 0 || len > 253 || v[0] == '.' || v[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (!isalnum(c) && c != '-' && c != '.' && c != '_')
			return false;
		if (c == '.' && i + 1 < len && v[i + 1] == '.')
			return false;
	}
	return true;
}

/* authres_plain: v may go out as it is: a token, domain or local@domain. */
static bool authres_plain(const char *v, size_t len)
{
	const char *at = memchr(v, '@', len);

	if (at == NULL)
		return authres_token(v, len) || authres_domain(v, len);
	if (memchr(at + 1, '@', len - (size_t)(at - v) - 1) != NULL)
		return false;
	return (at == v || authres_dot_atom(v, (size_t)(at - v))) &&
	       authres_domain(at + 1, len - (size_t)(at - v) - 1);
}

void authres_value(buf *out, const char *value)
{
	size_t len = strnlen(value, AUTHRES_VALUE_MAX);

	if (authres_plain(value, len)) {
		buf_append(out, value, len);
		return;
	}
	buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c == '"' || c == '\\')
			buf_putc(out, '\\');
		buf_putc(out, c < 32 || c >= 127 ? '?' : (char)c);
	}
	buf_putc(out, '"');
}

void authres_begin(buf *out, const char *authserv_id)
{
	buf_reset(out);
	buf_puts(out, "Authentication-Results: ");
	authres_value(out, authserv_id);
}

void authres_add(buf *out, const char *method, const char *result, const char *reason,
		 const struct authres_prop *props, size_t nprops)
{
	buf_printf(out, ";\n\t%s=%s", method, result);
	if (reason != NULL) {
		buf_puts(out, " reason=");
		authres_value(out, reason);
	}
	for (size_t i = 0; i < nprops; i++) {
		if (props[i].value == NULL)
			continue;
		buf_printf(out, " %s=", props[i].name);
		authres_value(out, props[i].value);
	}
}

void authres_comment(buf *out, const char *text)
{
	buf_puts(out, " (");
	for (size_t i = 0; text[i] != '\0' && i < 256; i++) {
		unsigned char c = (unsigned char)text[i];

		buf_putc(out, c < 32 || c >= 127 || c == '(' || c == ')' || c == '\\' ? '?' : c);
	}
	buf_putc(out, ')');
}

void authres_end(buf *out)
{
	/* every clause starts with ";\n\t"; a value never holds a line end */
	if (strstr(buf_cstr(out), ";\n\t") == NULL)
		buf_puts(out, "; none");
	buf_putc(out, '\n');
}

/* authres_skip_cfws: white space, line ends and (nested) comments. */
static size_t authres_skip_cfws(const char *s, size_t i, size_t len);

/* authres_clause_result: the result when the clause at value[i..] is
 * "method = result", else NULL. */
static const char *authres_clause_result(const char *value, size_t i, size_t len,
					 const char *method, size_t *len_r)
{
	size_t m = strlen(method);

	i = authres_skip_cfws(value, i, len);
	if (len - i <= m || strncasecmp(value + i, method, m) != 0)
		return NULL;
	i = authres_skip_cfws(value, i + m, len);
	if (i >= len || value[i] != '=')
		return NULL;
	i = authres_skip_cfws(value, i + 1, len);
	*len_r = strcspn(value + i, " \t\r\n;()\"");
	return *len_r > 0 ? value + i : NULL;
}

const char *authres_find_result(const char *value, const char *method, size_t *len_r)
{
	size_t len = strlen(value);
	bool quoted = false;
	int depth = 0;

	for (size_t i = 0; i < len; i++) {
		char c = value[i];

		if (quoted || depth > 0) {
			if (c == '\\' && i + 1 < len)
				i++;
			else if (quoted && c == '"')
				quoted = false;
			else if (!quoted && c == '(')
				depth++;
			else if (!quoted && c == ')')
				depth--;
		} else if (c == '"') {
			quoted = true;
		} else if (c == '(') {
			depth = 1;
		} else if (c == ';') {
			const char *r = authres_clause_result(value, i + 1, len, method, len_r);

			if (r != NULL)
				return r;
		}
	}
	return NULL;
}

static size_t authres_skip_cfws(const char *s, size_t i, size_t len)
{
	int depth = 0;

	for (; i < len; i++) {
		char c = s[i];
		if (depth > 0 && c == '\\' && i + 1 < len)
			i++;
		else if (c == '(')
			depth++;
		else if (c == ')' && depth > 0)
			depth--;
		else if (depth == 0 && c != ' ' && c != '\t' && c != '\r' && c != '\n')
			break;
	}
	return i;
}

/* authres_read_id: the authserv-id at s[i..] (token or quoted string)
 * into id (at most size - 1 bytes); false when there is none. */
static bool authres_read_id(const char *s, size_t i, size_t len, char *id, size_t size)
{
	size_t n = 0;

	if (i < len && s[i] == '"') {
		for (i++; i < len && s[i] != '"'; i++) {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			if (n + 1 < size)
				id[n++] = s[i];
		}
	} else {
		for (; i < len && s[i] != ';' && s[i] != '(' && !isspace((unsigned char)s[i]); i++)
			if (n + 1 < size)
				id[n++] = s[i];
	}
	id[n] = '\0';
	return n > 0;
}

bool authres_is_ours(const char *field, size_t len, const char *id)
{
	static const char name[] = "authentication-results";
	size_t i = sizeof(name) - 1;
	char got[256];

	if (len <= i || strncasecmp(field, name, i) != 0)
		return false;
	while (i < len && (field[i] == ' ' || field[i] == '\t'))
		i++;
	if (i >= len || field[i] != ':')
		return false;
	i = authres_skip_cfws(field, i + 1, len);
	return authres_read_id(field, i, len, got, sizeof(got)) && strcasecmp(got, id) == 0;
}
