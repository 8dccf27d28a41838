/* mime_imap.c: the parsed message in IMAP syntax (RFC 3501 7.4.2):
 * strings (quoted or literal), ENVELOPE, and BODY / BODYSTRUCTURE with
 * their extension data. Defaults follow Dovecot, so that a client moving
 * between the two servers sees the same structures: "text" "plain"
 * ("charset" "us-ascii") and "7bit" for what the header leaves out. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "mime_int.h"

/* Strings longer than this go as literals even when they could be quoted. */
#define QUOTED_MAX 1024

void mime_imap_string(buf *out, const char *s, size_t len)
{
	bool quotable = len <= QUOTED_MAX;

	if (s == NULL) {
		buf_puts(out, "NIL");
		return;
	}
	for (size_t i = 0; i < len && quotable; i++)
		if (s[i] == '\0' || s[i] == '\r' || s[i] == '\n' || (unsigned char)s[i] >= 0x80)
			quotable = false;
	if (!quotable) {
		buf_printf(out, "{%zu}\r\n", len);
		buf_append(out, s, len);
		return;
	}
	buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_putc(out, '\\');
		buf_putc(out, s[i]);
	}
	buf_putc(out, '"');
}

void mime_imap_cstring(buf *out, const char *s)
{
	mime_imap_string(out, s, s == NULL ? 0 : strlen(s));
}

/* put_next: a space, then s as an IMAP string (the next item of a list). */
static void put_next(buf *out, const char *s)
{
	buf_putc(out, ' ');
	mime_imap_cstring(out, s);
}

static void put_addr(buf *out, const struct mime_addr *a)
{
	buf_putc(out, '(');
	mime_imap_cstring(out, a->name);
	put_next(out, a->route);
	put_next(out, a->mailbox);
	put_next(out, a->host);
	buf_putc(out, ')');
}

/* put_addr_field: the address list of the first field named name, NIL
 * when there is none or it holds no address; false in that case. */
static bool put_addr_field(const mime_msg *m, const struct mime_part *msg, const char *name,
			   buf *out)
{
	char *text = mime_first_string(m, msg, name);
	struct mime_addr *addrs = NULL;
	size_t n = text == NULL ? 0 : mime_addr_parse(text, strlen(text), &addrs);

	free(text);
	if (n == 0) {
		buf_puts(out, "NIL");
		return false;
	}
	buf_putc(out, '(');
	for (size_t i = 0; i < n; i++)
		put_addr(out, &addrs[i]);
	buf_putc(out, ')');
	mime_addr_free(&addrs, n);
	return true;
}

static void put_field_string(const mime_msg *m, const struct mime_part *msg, const char *name,
			     buf *out)
{
	char *s = mime_first_string(m, msg, name);

	mime_imap_cstring(out, s);
	free(s);
}

/* put_sender: Sender and Reply-To default to From (RFC 3501 7.4.2). */
static void put_sender(const mime_msg *m, const struct mime_part *msg, const char *name,
		       buf *out)
{
	size_t mark = buf_len(out);

	if (!put_addr_field(m, msg, name, out)) {
		buf_truncate(out, mark);
		put_addr_field(m, msg, "From", out);
	}
}

/* put_addresses: put_addr_field for the envelope table. */
static void put_addresses(const mime_msg *m, const struct mime_part *msg, const char *name,
			  buf *out)
{
	(void)put_addr_field(m, msg, name, out);
}

/* The ENVELOPE's fields in their order (RFC 3501 7.4.2), each with how it
 * is written. */
static const struct {
	const char *name;
	void (*put)(const mime_msg *m, const struct mime_part *msg, const char *name, buf *out);
} envelope_fields[] = {
	{ "Date", put_field_string },      { "Subject", put_field_string },
	{ "From", put_addresses },         { "Sender", put_sender },
	{ "Reply-To", put_sender },        { "To", put_addresses },
	{ "Cc", put_addresses },           { "Bcc", put_addresses },
	{ "In-Reply-To", put_field_string }, { "Message-ID", put_field_string },
};

void mime_envelope(const mime_msg *m, const struct mime_part *msg, buf *out)
{
	buf_putc(out, '(');
	for (size_t i = 0; i < sizeof(envelope_fields) / sizeof(envelope_fields[0]); i++) {
		if (i > 0)
			buf_putc(out, ' ');
		envelope_fields[i].put(m, msg, envelope_fields[i].name, out);
	}
	buf_putc(out, ')');
}

/* put_params: a parameter list; text parts without a charset get
 * "charset" "us-ascii", the RFC 2045 5.2 default, as Dovecot sends. */
static void put_params(buf *out, const struct mime_param *params, size_t n, bool text)
{
	bool add_charset = text && mime_param_get(params, n, "charset") == NULL;
	bool sep = false;

	if (n == 0 && !add_charset) {
		buf_puts(out, "NIL");
		return;
	}
	buf_putc(out, '(');
	if (add_charset) {
		buf_puts(out, "\"charset\" \"us-ascii\"");
		sep = true;
	}
	for (size_t i = 0; i < n; i++) {
		if (sep)
			buf_putc(out, ' ');
		sep = true;
		mime_imap_cstring(out, params[i].name);
		put_next(out, params[i].value);
	}
	buf_putc(out, ')');
}

static void put_disposition(buf *out, const struct mime_part *part)
{
	if (part->disposition == NULL) {
		buf_puts(out, "NIL");
		return;
	}
	buf_putc(out, '(');
	mime_imap_cstring(out, part->disposition);
	buf_putc(out, ' ');
	put_params(out, part->disp_params, part->ndisp_params, false);
	buf_putc(out, ')');
}

/* put_language: Content-Language is a list of tags, sent as a list even
 * when there is one (as Dovecot does). */
static void put_language(buf *out, const char *lang)
{
	char *copy, *tok, *save = NULL;
	size_t count = 0, mark = buf_len(out);

	if (lang == NULL) {
		buf_puts(out, "NIL");
		return;
	}
	copy = xstrdup(lang);
	buf_putc(out, '(');
	for (tok = strtok_r(copy, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
		if (count++ > 0)
			buf_putc(out, ' ');
		mime_imap_cstring(out, tok);
	}
	buf_putc(out, ')');
	free(copy);
	if (count == 0) {
		buf_truncate(out, mark);
		buf_puts(out, "NIL");
	}
}

/* put_extension_tail: disposition, language, location (both kinds). */
static void put_extension_tail(buf *out, const struct mime_part *part)
{
	buf_putc(out, ' ');
	put_disposition(out, part);
	buf_putc(out, ' ');
	put_language(out, part->language);
	put_next(out, part->location);
}

static void put_multipart(const mime_msg *m, const struct mime_part *part, bool ext, buf *out)
{
	buf_putc(out, '(');
	for (size_t i = 0; i < part->nchildren; i++)
		mime_bodystructure(m, part->children[i], ext, out);
	put_next(out, part->subtype);
	if (ext) {
		buf_putc(out, ' ');
		put_params(out, part->params, part->nparams, false);
		put_extension_tail(out, part);
	}
	buf_putc(out, ')');
}

static void put_leaf(const mime_msg *m, const struct mime_part *part, bool ext, buf *out)
{
	bool text = strcasecmp(part->type, "text") == 0;

	buf_putc(out, '(');
	mime_imap_cstring(out, part->type);
	put_next(out, part->subtype);
	buf_putc(out, ' ');
	put_params(out, part->params, part->nparams, text);
	put_next(out, part->id);
	put_next(out, part->description);
	put_next(out, part->encoding == NULL ? "7bit" : part->encoding);
	buf_printf(out, " %zu", part->body.size);
	if (part->is_message) {
		buf_putc(out, ' ');
		mime_envelope(m, part->children[0], out);
		buf_putc(out, ' ');
		mime_bodystructure(m, part->children[0], ext, out);
	}
	if (text || part->is_message)
		buf_printf(out, " %zu", part->body.lines);
	if (ext) {
		put_next(out, part->md5);
		put_extension_tail(out, part);
	}
	buf_putc(out, ')');
}

void mime_bodystructure(const mime_msg *m, const struct mime_part *part, bool extended,
			buf *out)
{
	if (part->is_multipart)
		put_multipart(m, part, extended, out);
	else
		put_leaf(m, part, extended, out);
}
