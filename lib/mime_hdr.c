/* mime_hdr.c: header fields of a part: reading the field lines (folding,
 * lines without a colon skipped, the field limits), finding fields by
 * name, unfolding values, and filling a part's MIME attributes from its
 * Content-* fields. Parameter lists (RFC 2045 and 2231) are
 * mime_param.c's. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "mime_int.h"

static bool is_blank_line(const char *data, size_t p, size_t end)
{
	return data[p] == '\n' || (data[p] == '\r' && p + 1 < end && data[p + 1] == '\n') ||
	       (data[p] == '\r' && p + 1 == end);
}

/* field_start: whether the line at p starts a field: a name of printable
 * characters but ':' (white space before the colon tolerated), a colon. */
static bool field_start(const char *data, size_t p, size_t lend, size_t *colon_r)
{
	size_t q = p;

	while (q < lend && data[q] != ':' && (unsigned char)data[q] > ' ' && data[q] != 127)
		q++;
	if (q == p)
		return false;
	while (q < lend && (data[q] == ' ' || data[q] == '\t'))
		q++;
	if (q >= lend || data[q] != ':')
		return false;
	*colon_r = q;
	return true;
}

static void add_field(struct mime_part *part, size_t p, size_t colon, size_t lend)
{
	struct mime_field *f;

	if (part->nfields % 16 == 0)
		part->fields = xrealloc(part->fields, (part->nfields + 16) * sizeof(*f));
	f = &part->fields[part->nfields++];
	f->name_off = p;
	f->name_len = colon - p;
	f->value_off = colon + 1;
	f->value_len = lend - colon - 1;
	f->end = lend;
}

static void trim_name(const char *data, struct mime_field *f)
{
	while (f->name_len > 0 &&
	       (data[f->name_off + f->name_len - 1] == ' ' ||
		data[f->name_off + f->name_len - 1] == '\t'))
		f->name_len--;
}

/* extend_field: a continuation line (starting with white space) belongs to
 * the last field; a field grown past the limit is forgotten. */
static void extend_field(struct mime_part *part, size_t lend, bool *in_field)
{
	struct mime_field *f = &part->fields[part->nfields - 1];

	if (lend - f->name_off > MIME_MAX_FIELD_LEN) {
		part->nfields--;
		*in_field = false;
		return;
	}
	f->value_len = lend - f->value_off;
	f->end = lend;
}

size_t mime_hdr_read(mime_msg *m, struct mime_part *part, size_t off, size_t end)
{
	const char *data = m->data;
	size_t p = off, colon;
	bool in_field = false;

	while (p < end) {
		const char *nl = memchr(data + p, '\n', end - p);
		size_t lend = nl == NULL ? end : (size_t)(nl - data) + 1;

		if (is_blank_line(data, p, end))
			return lend;
		if ((data[p] == ' ' || data[p] == '\t') && in_field) {
			extend_field(part, lend, &in_field);
		} else if (field_start(data, p, lend, &colon) && lend - p <= MIME_MAX_FIELD_LEN &&
			   part->nfields < MIME_MAX_FIELDS && m->nfields < MIME_MAX_MSG_FIELDS) {
			add_field(part, p, colon, lend);
			m->nfields++;
			trim_name(data, &part->fields[part->nfields - 1]);
			in_field = true;
		} else {
			in_field = false;
		}
		p = lend;
	}
	return end;
}

const struct mime_field *mime_field_find(const mime_msg *m, const struct mime_part *part,
					 const char *name, size_t n)
{
	size_t nlen = strlen(name);

	for (size_t i = 0; i < part->nfields; i++) {
		const struct mime_field *f = &part->fields[i];

		if (f->name_len == nlen && strncasecmp(m->data + f->name_off, name, nlen) == 0 &&
		    n-- == 0)
			return f;
	}
	return NULL;
}

void mime_field_value(const mime_msg *m, const struct mime_field *f, buf *out)
{
	const char *v = m->data + f->value_off;
	size_t len = f->value_len, start = buf_len(out);

	while (len > 0 && (v[0] == ' ' || v[0] == '\t' || v[0] == '\r' || v[0] == '\n')) {
		v++;
		len--;
	}
	while (len > 0) { /* runs between line ends, appended whole */
		size_t run = 0;

		while (run < len && v[run] != '\r' && v[run] != '\n')
			run++;
		buf_append(out, v, run);
		while (run < len && (v[run] == '\r' || v[run] == '\n'))
			run++;
		v += run;
		len -= run;
	}
	while (buf_len(out) > start &&
	       (buf_cstr(out)[buf_len(out) - 1] == ' ' || buf_cstr(out)[buf_len(out) - 1] == '\t'))
		buf_truncate(out, buf_len(out) - 1);
}

void mime_field_decoded(const mime_msg *m, const struct mime_field *f, buf *out)
{
	buf *raw = buf_new(f->value_len + 1);

	mime_field_value(m, f, raw);
	mime_decode_words(buf_cstr(raw), buf_len(raw), out);
	buf_free(&raw);
}

char *mime_field_string(const mime_msg *m, const struct mime_field *f)
{
	buf *b = buf_new(f->value_len + 1);

	mime_field_value(m, f, b);
	return buf_steal_free(&b);
}

char *mime_first_string(const mime_msg *m, const struct mime_part *part, const char *name)
{
	const struct mime_field *f = mime_field_find(m, part, name, 0);

	return f == NULL ? NULL : mime_field_string(m, f);
}

/* split_type: "text/plain" into lower-case-free copies; false when the
 * value is no type/subtype pair of tokens. */
static bool split_type(const char *value, char **type_r, char **subtype_r)
{
	const char *slash = strchr(value, '/');
	size_t tlen;

	if (slash == NULL || slash == value || slash[1] == '\0')
		return false;
	tlen = (size_t)(slash - value);
	for (const char *c = value; *c != '\0'; c++)
		if ((unsigned char)*c <= ' ' || strchr("()<>@,;:\\\"[]?=", *c) != NULL)
			return false;
	*type_r = xstrndup(value, tlen);
	*subtype_r = xstrdup(slash + 1);
	return true;
}

static void apply_content_type(mime_msg *m, struct mime_part *part, bool default_message)
{
	char *ct = mime_first_string(m, part, "Content-Type"), *value = NULL;

	if (ct != NULL) {
		mime_params_parse(ct, &value, &part->params, &part->nparams);
		free(ct);
		if (split_type(value, &part->type, &part->subtype)) {
			free(value);
			return;
		}
		free(value);
		/* RFC 2045 5.2: a syntactically invalid Content-Type means
		 * text/plain; charset=us-ascii. */
		mime_params_free(&part->params, part->nparams);
		part->nparams = 0;
		default_message = false;
	}
	part->type = xstrdup(default_message ? "message" : "text");
	part->subtype = xstrdup(default_message ? "rfc822" : "plain");
}

static void apply_disposition(mime_msg *m, struct mime_part *part)
{
	char *cd = mime_first_string(m, part, "Content-Disposition");

	if (cd == NULL)
		return;
	mime_params_parse(cd, &part->disposition, &part->disp_params, &part->ndisp_params);
	free(cd);
	if (part->disposition[0] == '\0') {
		free(part->disposition);
		part->disposition = NULL;
		mime_params_free(&part->disp_params, part->ndisp_params);
		part->ndisp_params = 0;
	}
}

static bool is_tspecial(char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* apply_encoding: the transfer encoding is a token (RFC 2045 6.1); white
 * space or a comment may follow it. Anything else is no encoding, and the
 * part is 7bit, as Dovecot reports it. */
static void apply_encoding(mime_msg *m, struct mime_part *part)
{
	char *enc = mime_first_string(m, part, "Content-Transfer-Encoding");
	size_t n = 0;

	if (enc == NULL)
		return;
	while (enc[n] != '\0' && (unsigned char)enc[n] > ' ' && (unsigned char)enc[n] < 127 &&
	       !is_tspecial(enc[n]))
		n++;
	if (n == 0 || (enc[n] != '\0' && enc[n] != ' ' && enc[n] != '\t' && enc[n] != '(')) {
		free(enc);
		return;
	}
	enc[n] = '\0';
	part->encoding = enc;
}

void mime_hdr_apply(mime_msg *m, struct mime_part *part, bool default_message)
{
	apply_content_type(m, part, default_message);
	apply_disposition(m, part);
	apply_encoding(m, part);
	part->id = mime_first_string(m, part, "Content-ID");
	part->description = mime_first_string(m, part, "Content-Description");
	part->md5 = mime_first_string(m, part, "Content-MD5");
	part->language = mime_first_string(m, part, "Content-Language");
	part->location = mime_first_string(m, part, "Content-Location");
}

/* A field being read by mime_header_fields: mime_hdr_read's bookkeeping
 * without the list (fields go out as soon as they are complete). */
#define PICK_LENS 16 /* name lengths measured once, for the first names */

struct pick {
	const char *data;
	const char *const *names;
	size_t nnames;
	size_t lens[PICK_LENS];
	bool first[256]; /* bytes a listed name starts with, both cases */
	bool want;
	buf *out;
	size_t off, name_len, end; /* the open field */
	bool open;
};

static bool pick_listed(const struct pick *k)
{
	for (size_t i = 0; i < k->nnames; i++) {
		size_t len = i < PICK_LENS ? k->lens[i] : strlen(k->names[i]);

		if (len == k->name_len && strncasecmp(k->data + k->off, k->names[i], len) == 0)
			return true;
	}
	return false;
}

/* pick_close: the open field is complete: sent when chosen. */
static void pick_close(struct pick *k)
{
	size_t before = buf_len(k->out);

	if (!k->open)
		return;
	k->open = false;
	if (pick_listed(k) != k->want)
		return;
	mime_crlf_append(k->out, k->data, k->off, k->end - k->off, 0, SIZE_MAX);
	if (buf_len(k->out) == before || buf_cstr(k->out)[buf_len(k->out) - 1] != '\n')
		buf_puts(k->out, "\r\n");
}

/* pick_open: the line p..lend starts a field (name to the colon) that
 * may be sent: it stays open while continuation lines follow. */
static void pick_open(struct pick *k, size_t p, size_t colon, size_t lend)
{
	k->off = p;
	k->name_len = colon - p;
	while (k->name_len > 0 &&
	       (k->data[p + k->name_len - 1] == ' ' || k->data[p + k->name_len - 1] == '\t'))
		k->name_len--;
	k->end = lend;
	k->open = true;
}

/* pick_fast: mime_header_fields for the listed fields of a header of
 * fewer lines than a header may have fields: a line whose first byte
 * starts no listed name is passed over unread (no field count is needed
 * below the limits). false when the header has that many lines: out is
 * as it was, and the caller counts fields line by line. */
static bool pick_fast(struct pick *k, size_t len)
{
	const char *data = k->data;
	size_t p = 0, colon, lines = 0, start = buf_len(k->out);

	while (p < len) {
		const char *nl = memchr(data + p, '\n', len - p);
		size_t lend = nl == NULL ? len : (size_t)(nl - data) + 1;

		if (++lines >= MIME_MAX_FIELDS) {
			buf_truncate(k->out, start);
			k->open = false;
			return false;
		}
		if (is_blank_line(data, p, len))
			break;
		if ((data[p] == ' ' || data[p] == '\t') && k->open) {
			if (lend - k->off > MIME_MAX_FIELD_LEN)
				k->open = false;
			else
				k->end = lend;
		} else {
			pick_close(k);
			if (k->first[(unsigned char)data[p]] && field_start(data, p, lend, &colon) &&
			    lend - p <= MIME_MAX_FIELD_LEN)
				pick_open(k, p, colon, lend);
		}
		p = lend;
	}
	pick_close(k);
	buf_puts(k->out, "\r\n");
	return true;
}

void mime_header_fields(const char *data, size_t len, const char *const *names, size_t nnames,
			bool want, buf *out)
{
	struct pick k = { .data = data, .names = names, .nnames = nnames, .want = want, .out = out };
	size_t p = 0, colon, nfields = 0, msg_fields = 0;

	for (size_t i = 0; i < nnames && i < PICK_LENS; i++) {
		k.lens[i] = strlen(names[i]);
		k.first[(unsigned char)tolower((unsigned char)names[i][0])] = true;
		k.first[(unsigned char)toupper((unsigned char)names[i][0])] = true;
	}
	if (want && nnames <= PICK_LENS && pick_fast(&k, len))
		return;

	while (p < len) {
		const char *nl = memchr(data + p, '\n', len - p);
		size_t lend = nl == NULL ? len : (size_t)(nl - data) + 1;

		if (is_blank_line(data, p, len))
			break;
		if ((data[p] == ' ' || data[p] == '\t') && k.open) {
			if (lend - k.off > MIME_MAX_FIELD_LEN) { /* forgotten, as extend_field */
				k.open = false;
				nfields--;
			} else {
				k.end = lend;
			}
		} else {
			pick_close(&k);
			if (field_start(data, p, lend, &colon) && lend - p <= MIME_MAX_FIELD_LEN &&
			    nfields < MIME_MAX_FIELDS && msg_fields < MIME_MAX_MSG_FIELDS) {
				nfields++;
				msg_fields++;
				pick_open(&k, p, colon, lend);
			}
		}
		p = lend;
	}
	pick_close(&k);
	buf_puts(out, "\r\n");
}
