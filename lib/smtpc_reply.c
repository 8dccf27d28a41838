/* smtpc_reply.c: SMTP reply and EHLO capability parsing for the client
 * (see smtpc_reply.h). A reply is kept as its raw lines so callers can
 * quote the server exactly; the code and the enhanced status code of the
 * first line are parsed out as they arrive. */
#include "smtpc_reply.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void smtpc_reply_init(struct smtpc_reply *r)
{
	memset(r, 0, sizeof(*r));
	r->lines = buf_new(128);
}

void smtpc_reply_reset(struct smtpc_reply *r)
{
	r->code = 0;
	r->dsn[0] = '\0';
	r->nlines = 0;
	r->complete = false;
	buf_reset(r->lines);
}

void smtpc_reply_clear(struct smtpc_reply *r)
{
	buf_free(&r->lines);
}

/* reply_code: the code at the start of line, or 0 when it is none:
 * first digit 2-5, second 0-5, third 0-9 (RFC 5321 4.2). */
static int reply_code(const char *line, size_t len)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' ||
	    !isdigit((unsigned char)line[2]))
		return 0;
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

static int reply_error(const char **why_r, const char *why)
{
	*why_r = why;
	return -1;
}

int smtpc_reply_feed(struct smtpc_reply *r, const char *line, size_t len, const char **why_r)
{
	int code;

	if (len > SMTPC_REPLY_LINE_MAX)
		return reply_error(why_r, "reply line too long");
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	code = reply_code(line, len);
	if (code == 0 || (len > 3 && line[3] != ' ' && line[3] != '-'))
		return reply_error(why_r, "malformed reply");
	if (memchr(line, '\0', len) != NULL)
		return reply_error(why_r, "NUL byte in reply");
	if (r->nlines > 0 && code != r->code)
		return reply_error(why_r, "reply code changed within a multi-line reply");
	if (r->nlines >= SMTPC_REPLY_LINES_MAX)
		return reply_error(why_r, "reply has too many lines");
	if (r->nlines++ > 0)
		buf_putc(r->lines, '\n');
	buf_append(r->lines, line, len);
	if (r->nlines == 1) {
		r->code = code;
		if (len > 4)
			(void)smtpc_parse_dsn(buf_cstr(r->lines) + 4, code, r->dsn);
	}
	r->complete = len == 3 || line[3] == ' ';
	return r->complete ? 1 : 0;
}

const char *smtpc_reply_last_line(const struct smtpc_reply *r)
{
	const char *all = buf_cstr(r->lines), *nl = strrchr(all, '\n');

	return nl != NULL ? nl + 1 : all;
}

const char *smtpc_reply_text(const struct smtpc_reply *r)
{
	const char *last = smtpc_reply_last_line(r);
	char dsn[SMTPC_DSN_MAX];
	size_t skip;

	if (strlen(last) <= 4)
		return last + strlen(last); /* "" inside the reply */
	last += 4;
	skip = smtpc_parse_dsn(last, r->code, dsn);
	last += skip;
	while (*last == ' ')
		last++;
	return last;
}

/* digits: 1 to 3 digits at s; their count, or 0. */
static size_t digits(const char *s)
{
	size_t n = 0;

	while (n < 4 && isdigit((unsigned char)s[n]))
		n++;
	return n >= 1 && n <= 3 ? n : 0;
}

size_t smtpc_parse_dsn(const char *text, int code, char dsn_r[SMTPC_DSN_MAX])
{
	size_t at = 2, n;

	if (text[0] != '0' + code / 100 || text[1] != '.' || (n = digits(text + at)) == 0)
		return 0;
	at += n;
	if (text[at] != '.' || (n = digits(text + at + 1)) == 0)
		return 0;
	at += 1 + n;
	if (text[at] != '\0' && text[at] != ' ')
		return 0;
	memcpy(dsn_r, text, at);
	dsn_r[at] = '\0';
	return at;
}

/* ---- EHLO ---- */

static const struct {
	const char *keyword;
	unsigned bit;
} known_ext[] = {
	{ "PIPELINING", SMTPC_EXT_PIPELINING },	  { "SIZE", SMTPC_EXT_SIZE },
	{ "8BITMIME", SMTPC_EXT_8BITMIME },	  { "SMTPUTF8", SMTPC_EXT_SMTPUTF8 },
	{ "DSN", SMTPC_EXT_DSN },		  { "STARTTLS", SMTPC_EXT_STARTTLS },
	{ "AUTH", SMTPC_EXT_AUTH },		  { "CHUNKING", SMTPC_EXT_CHUNKING },
	{ "ENHANCEDSTATUSCODES", SMTPC_EXT_ENHANCEDSTATUSCODES },
};

/* caps_auth_add: the mechanisms after AUTH, upper-cased, " A B " form. */
static void caps_auth_add(struct smtpc_caps *caps, const char *args, size_t len)
{
	size_t have = strlen(caps->auth);

	if (have == 0 && len > 0)
		caps->auth[have++] = ' ';
	for (size_t i = 0; i < len && have + 2 < sizeof(caps->auth); i++) {
		char c = args[i] == '\t' ? ' ' : (char)toupper((unsigned char)args[i]);

		if (c == ' ' && caps->auth[have - 1] == ' ')
			continue;
		caps->auth[have++] = c;
	}
	if (have > 0 && caps->auth[have - 1] != ' ')
		caps->auth[have++] = ' ';
	caps->auth[have] = '\0';
}

/* caps_size: SIZE's optional argument. */
static long long caps_size(const char *args, size_t len)
{
	long long v = 0;

	if (len == 0 || len > 15)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)args[i]))
			return 0;
		v = v * 10 + (args[i] - '0');
	}
	return v;
}

/* caps_line: one capability line's text (after "250-" or "250 "). */
static void caps_line(struct smtpc_caps *caps, const char *text, size_t len)
{
	size_t kw = 0, args;

	while (kw < len && text[kw] != ' ' && text[kw] != '=')
		kw++;
	args = kw < len ? kw + 1 : len;
	for (size_t i = 0; i < sizeof(known_ext) / sizeof(known_ext[0]); i++) {
		if (strlen(known_ext[i].keyword) != kw ||
		    strncasecmp(text, known_ext[i].keyword, kw) != 0)
			continue;
		caps->ext |= known_ext[i].bit;
		if (known_ext[i].bit == SMTPC_EXT_SIZE)
			caps->size_max = caps_size(text + args, len - args);
		else if (known_ext[i].bit == SMTPC_EXT_AUTH)
			caps_auth_add(caps, text + args, len - args);
	}
}

void smtpc_caps_parse(const struct smtpc_reply *r, struct smtpc_caps *caps)
{
	const char *p = buf_cstr(r->lines), *nl;

	memset(caps, 0, sizeof(*caps));
	while ((nl = strchr(p, '\n')) != NULL) {
		const char *line = nl + 1;
		size_t len = strcspn(line, "\n");

		if (len > 4)
			caps_line(caps, line + 4, len - 4);
		p = line;
	}
}

bool smtpc_caps_auth(const struct smtpc_caps *caps, const char *mech)
{
	size_t n = strlen(mech);

	for (const char *p = caps->auth; (p = strchr(p, ' ')) != NULL && p[1] != '\0'; p++)
		if (strncasecmp(p + 1, mech, n) == 0 && p[1 + n] == ' ')
			return true;
	return false;
}
