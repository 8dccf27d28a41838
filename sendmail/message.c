/* message.c: reads the message sendmail is given on stdin. Line ends are
 * normalised to LF (CR LF becomes LF, as Postfix's sendmail does); a line
 * holding only "." ends the input unless -i. The header section is kept
 * as a list of fields (so -t can read To:, Cc: and Bcc:, Bcc: can be
 * dropped and a missing From: added); the body streams into an unlinked
 * temporary file. Lines are read in chunks of at most CHUNK_MAX bytes, so
 * a huge line costs no memory; the header section is limited to
 * HEADER_MAX bytes, after which the rest counts as body. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "hdr.h"
#include "mem.h"
#include "sendmail.h"

#define CHUNK_MAX (64 * 1024)
#define HEADER_MAX (1024 * 1024)

void sm_list_add(struct sm_list *l, const char *s)
{
	l->v = xrealloc(l->v, (size_t)(l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = xstrdup(s);
}

void sm_list_clear(struct sm_list *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* read_chunk: the next line, or CHUNK_MAX bytes of it, into b. Returns
 * 1 for a whole line (ending in LF, or the input's last bytes without
 * one), 2 for the first part of a longer line, 0 at the end of input,
 * -1 on a read error. A CR just before a chunk boundary followed by LF
 * stays in the spool (only lines over 64 KiB can meet that); the DATA
 * encoder (lib/dot) then sends the two as the one CRLF they were. */
static int read_chunk(FILE *in, buf *b)
{
	int c;

	buf_reset(b);
	while (buf_len(b) < CHUNK_MAX && (c = getc_unlocked(in)) != EOF) {
		if (c == '\n') {
			if (buf_len(b) > 0 && buf_cstr(b)[buf_len(b) - 1] == '\r')
				buf_truncate(b, buf_len(b) - 1);
			buf_putc(b, '\n');
			return 1;
		}
		buf_putc(b, c);
	}
	if (ferror(in))
		return -1;
	if (buf_len(b) == CHUNK_MAX)
		return 2;
	return buf_len(b) > 0 ? 1 : 0;
}

static bool lone_dot(const buf *b)
{
	return strcmp(buf_cstr(b), ".\n") == 0 || strcmp(buf_cstr(b), ".") == 0;
}

static bool has_8bit(const buf *b)
{
	for (size_t i = 0; i < buf_len(b); i++)
		if ((unsigned char)buf_cstr(b)[i] > 127)
			return true;
	return false;
}

/* Reading state shared by the two phases. */
struct reader {
	FILE *in;
	const struct sm_opts *o;
	struct sm_message *m;
	struct sm_list fields; /* header fields, continuation lines included */
	buf *line;
	bool done; /* the input ended (EOF or a lone dot) */
	bool pending; /* line holds the first body chunk, not yet written */
	int pending_rc;
};

/* header_take: sorts one header-phase line. Returns true while the
 * header section goes on. */
static bool header_take(struct reader *r, int rc, size_t *total)
{
	const char *text = buf_cstr(r->line);
	size_t len = buf_len(r->line);

	if (rc == 1 && !r->o->ignore_dots && lone_dot(r->line)) {
		r->done = true;
		return false;
	}
	if (rc == 1 && strcmp(text, "\n") == 0)
		return false; /* the blank line: the body follows */
	*total += len;
	if (rc == 1 && *total <= HEADER_MAX) {
		if ((text[0] == ' ' || text[0] == '\t') && r->fields.n > 0) {
			char *joined = xasprintf("%s%s", r->fields.v[r->fields.n - 1], text);

			free(r->fields.v[r->fields.n - 1]);
			r->fields.v[r->fields.n - 1] = joined;
			return true;
		}
		if (hdr_field_name_len(text, len) > 0) {
			sm_list_add(&r->fields, text);
			return true;
		}
	}
	/* not a header field (or too much header): it starts the body */
	r->pending = true;
	r->pending_rc = rc;
	return false;
}

static int read_header(struct reader *r)
{
	size_t total = 0;
	int rc;

	while ((rc = read_chunk(r->in, r->line)) > 0)
		if (!header_take(r, rc, &total))
			return 0;
	if (rc < 0) {
		fprintf(stderr, "sendmail: cannot read the message: %s\n", strerror(errno));
		return SM_EX_IOERR;
	}
	r->done = true;
	return 0;
}

/* spool: writes a body chunk. */
static int spool(struct reader *r)
{
	if (fwrite(buf_cstr(r->line), 1, buf_len(r->line), r->m->body) != buf_len(r->line)) {
		fprintf(stderr, "sendmail: cannot spool the message: %s\n", strerror(errno));
		return SM_EX_TEMPFAIL;
	}
	r->m->size += (off_t)buf_len(r->line);
	r->m->eightbit |= has_8bit(r->line);
	return 0;
}

static int read_body(struct reader *r)
{
	bool bol = true, ends_nl = true;
	int rc = 1, status = 0;

	if (r->pending) {
		status = spool(r);
		bol = r->pending_rc == 1;
		ends_nl = buf_cstr(r->line)[buf_len(r->line) - 1] == '\n';
	}
	while (status == 0 && !r->done && (rc = read_chunk(r->in, r->line)) > 0) {
		if (bol && rc == 1 && !r->o->ignore_dots && lone_dot(r->line))
			break;
		status = spool(r);
		bol = rc == 1;
		ends_nl = buf_cstr(r->line)[buf_len(r->line) - 1] == '\n';
	}
	if (status == 0 && rc < 0) {
		fprintf(stderr, "sendmail: cannot read the message: %s\n", strerror(errno));
		status = SM_EX_IOERR;
	}
	if (status == 0 && !ends_nl && fputc('\n', r->m->body) != EOF)
		r->m->size++;
	if (status == 0 && (fflush(r->m->body) != 0 || ferror(r->m->body))) {
		fprintf(stderr, "sendmail: cannot spool the message: %s\n", strerror(errno));
		status = SM_EX_TEMPFAIL;
	}
	return status;
}

/* ---- the header fields ---- */

static void add_rcpt(void *ctx, const char *addr)
{
	sm_list_add(ctx, addr);
}

/* extract: the addresses of To:, Cc: and Bcc: (-t). */
static int extract(struct reader *r)
{
	static const char *const names[] = { "To", "Cc", "Bcc" };

	for (int i = 0; i < r->fields.n; i++) {
		const char *f = r->fields.v[i], *why = NULL;

		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
			if (!hdr_is(f, strlen(f), names[k]))
				continue;
			if (hdr_addr_list(f + strlen(names[k]) + 1, add_rcpt, &r->m->rcpts, &why) < 0) {
				fprintf(stderr, "sendmail: bad address list in %s: header: %s\n", names[k],
					why);
				return SM_EX_DATAERR;
			}
		}
	}
	return 0;
}

/* display_name: the full name as a phrase: plain when it is a run of
 * atoms, quoted when it has specials, an RFC 2047 word when it is not
 * ASCII. Heap. */
static char *display_name(const char *name)
{
	bool specials = false, ascii = true;
	buf *b;

	for (const char *p = name; *p != '\0'; p++) {
		if ((unsigned char)*p > 127)
			ascii = false;
		else if ((unsigned char)*p < 32 || strchr("()<>@,;:\\\".[]", *p) != NULL)
			specials = true;
	}
	if (!ascii) {
		size_t len = strlen(name);
		unsigned char *out = xmalloc(4 * (len / 3 + 1) + 1);
		char *word;

		EVP_EncodeBlock(out, (const unsigned char *)name, (int)len);
		word = xasprintf("=?UTF-8?B?%s?=", out);
		free(out);
		return word;
	}
	if (!specials)
		return xstrdup(name);
	b = buf_new(strlen(name) + 8);
	buf_putc(b, '"');
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_putc(b, '\\');
		if ((unsigned char)*p >= 32)
			buf_putc(b, *p);
	}
	buf_putc(b, '"');
	return buf_steal_free(&b);
}

/* build_header: the fields without Bcc:, plus From: when missing. */
static void build_header(struct reader *r, const char *from, const char *full_name)
{
	bool has_from = false;

	for (int i = 0; i < r->fields.n; i++) {
		const char *f = r->fields.v[i];

		if (hdr_is(f, strlen(f), "Bcc") || hdr_is(f, strlen(f), "Resent-Bcc"))
			continue;
		has_from |= hdr_is(f, strlen(f), "From");
		buf_puts(r->m->header, f);
		if (f[strlen(f) - 1] != '\n')
			buf_putc(r->m->header, '\n');
	}
	if (!has_from && *from != '\0') {
		if (full_name != NULL && *full_name != '\0') {
			char *phrase = display_name(full_name);

			buf_printf(r->m->header, "From: %s <%s>\n", phrase, from);
			free(phrase);
		} else {
			buf_printf(r->m->header, "From: %s\n", from);
		}
	}
	r->m->size += (off_t)buf_len(r->m->header) + 1;
	r->m->eightbit |= has_8bit(r->m->header);
}

int sm_read_message(FILE *in, const struct sm_opts *o, const char *from, const char *full_name,
		    struct sm_message *m)
{
	struct reader r = { .in = in, .o = o, .m = m, .line = buf_new(256) };
	int status;

	memset(m, 0, sizeof(*m));
	m->header = buf_new(2048);
	m->body = tmpfile();
	if (m->body == NULL) {
		fprintf(stderr, "sendmail: cannot create a temporary file: %s\n", strerror(errno));
		buf_free(&r.line);
		return SM_EX_TEMPFAIL;
	}
	status = read_header(&r);
	if (status == 0)
		status = read_body(&r);
	if (status == 0 && o->extract)
		status = extract(&r);
	if (status == 0) {
		build_header(&r, from, full_name);
		rewind(m->body);
	}
	sm_list_clear(&r.fields);
	buf_free(&r.line);
	return status;
}

void sm_message_free(struct sm_message *m)
{
	buf_free(&m->header);
	if (m->body != NULL)
		fclose(m->body);
	m->body = NULL;
	sm_list_clear(&m->rcpts);
}
