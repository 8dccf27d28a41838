/* reply.c: what imapd sends: tagged status replies with their response
 * codes (RFC 3501 7.1, RFC 5530), untagged data, strings as quoted or
 * literal, and the CAPABILITY list of the session's state (only what is
 * built: an extension is announced here when its commands work). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imapd.h"
#include "mem.h"

static void vtagged(struct session *s, const char *status, const char *code, const char *fmt,
		    va_list ap)
{
	buf *text = buf_new(128);

	buf_printf(text, "%s %s ", s->tag != NULL ? s->tag : "*", status);
	if (code != NULL)
		buf_printf(text, "[%s] ", code);
	buf_vprintf(text, fmt, ap);
	buf_puts(text, "\r\n");
	strm_write(s->stream, buf_cstr(text), buf_len(text));
	buf_free(&text);
	if (strcmp(status, "BAD") == 0)
		sess_error(s->base);
}

void imapd_tagged(struct session *s, const char *status, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vtagged(s, status, code, fmt, ap);
	va_end(ap);
}

void imapd_ok(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vtagged(s, "OK", NULL, fmt, ap);
	va_end(ap);
}

void imapd_no(struct session *s, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vtagged(s, "NO", code, fmt, ap);
	va_end(ap);
}

void imapd_bad(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vtagged(s, "BAD", NULL, fmt, ap);
	va_end(ap);
}

void imapd_untagged(struct session *s, const char *fmt, ...)
{
	va_list ap;
	buf *text = buf_new(128);

	buf_puts(text, "* ");
	va_start(ap, fmt);
	buf_vprintf(text, fmt, ap);
	va_end(ap);
	buf_puts(text, "\r\n");
	strm_write(s->stream, buf_cstr(text), buf_len(text));
	buf_free(&text);
}

void imapd_raw(struct session *s, const char *text)
{
	strm_puts(s->stream, text);
}

/* quotable: no CR, LF, NUL or 8-bit byte, and not too long to read. */
static bool quotable(const char *str, size_t len)
{
	if (len > 1024)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)str[i];

		if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80)
			return false;
	}
	return true;
}

void imapd_put_string(buf *out, const char *str, size_t len)
{
	if (str == NULL) {
		buf_puts(out, "NIL");
		return;
	}
	if (!quotable(str, len)) {
		buf_printf(out, "{%zu}\r\n", len);
		buf_append(out, str, len);
		return;
	}
	buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (str[i] == '"' || str[i] == '\\')
			buf_putc(out, '\\');
		buf_putc(out, str[i]);
	}
	buf_putc(out, '"');
}

/* put_literal_cap: LITERAL+ or LITERAL- (RFC 7888 4: never both),
 * as the reader of the session's state enforces it: LITERAL- before the
 * login whatever imapd_literal_plus says (no literal over 8 KiB is taken
 * there), the key's choice after. */
static void put_literal_cap(const struct session *s, buf *out)
{
	const struct imapcmd_limits *l =
		s->state == IST_NOAUTH ? &s->srv->prelogin_limits : &s->srv->limits;

	buf_puts(out, l->nonsync == IMAPCMD_NONSYNC_PLUS ? "LITERAL+" : "LITERAL-");
}

void imapd_capabilities(const struct session *s, buf *out)
{
	bool tls = strm_is_tls(s->stream);
	const char *mechs;

	buf_puts(out, "IMAP4rev1 ");
	put_literal_cap(s, out);
	buf_puts(out, " ID ENABLE IDLE NAMESPACE CHILDREN LIST-EXTENDED "
		      "LIST-STATUS SPECIAL-USE CREATE-SPECIAL-USE UNSELECT STATUS=SIZE");
	buf_printf(out, " UIDPLUS MOVE QUOTA QUOTA=RES-STORAGE APPENDLIMIT=%zu",
		   s->srv->limits.max_literal);
	buf_puts(out, " BINARY ESEARCH SEARCHRES WITHIN CONDSTORE");
	if (s->state != IST_NOAUTH)
		return;
	buf_puts(out, " SASL-IR");
	if (!tls && s->srv->tls != NULL)
		buf_puts(out, " STARTTLS");
	if (!imapd_plaintext_ok(s))
		buf_puts(out, " LOGINDISABLED");
	mechs = sasl_mechanisms(&s->srv->sasl_backend, imapd_plaintext_ok(s));
	while (*mechs != '\0') {
		size_t n = strcspn(mechs, " ");

		buf_printf(out, " AUTH=%.*s", (int)n, mechs);
		mechs += n;
		mechs += strspn(mechs, " ");
	}
}
