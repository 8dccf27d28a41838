/* imapsearch_eval.c: runs a program's tree on one message. Keys on flags,
 * sizes, dates, numbers and MODSEQ read struct imapmsg; header keys read
 * the cached header block (IMAPMSG_HEADER) when the source has it, else
 * the message's bytes (and hand the header block back to the cache);
 * BODY and TEXT read the message through lib/mime (text parts decoded to
 * UTF-8, encoded words decoded). What was loaded is kept until the message
 * is done, so several keys on one message load it once. */
#include "imapsearch_int.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "imapdate.h"

/* msg_data: the message's bytes, asked for once per message. */
static int msg_data(struct search_msg *s)
{
	const struct imapmsg *m = s->m;

	if (s->tried_data)
		return s->data_errno == 0 ? 0 : -1;
	s->tried_data = true;
	if (m->source == NULL || m->source->data == NULL) {
		s->data_errno = ENOENT;
		return -1;
	}
	if (m->source->data(m->source_ctx, m, &s->data, &s->len) < 0) {
		s->data_errno = errno != 0 ? errno : EIO;
		s->data = NULL;
		return -1;
	}
	return 0;
}

/* msg_mime: the whole message parsed, or NULL. */
static const mime_msg *msg_mime(struct search_msg *s)
{
	if (s->mime == NULL && msg_data(s) == 0)
		s->mime = mime_parse(s->data, s->len);
	return s->mime;
}

/* msg_store_header: the header block, in CRLF form, for the cache. */
static void msg_store_header(struct search_msg *s, const mime_msg *mm)
{
	const struct mime_part *root = mime_root(mm);
	const struct imapmsg *m = s->m;
	buf *block;

	if (m->source->store == NULL)
		return;
	block = buf_new(root->header.size + 1);
	mime_crlf_append(block, mime_data(mm), root->header.off, root->header.len, 0, SIZE_MAX);
	m->source->store(m->source_ctx, m, IMAPMSG_HEADER, buf_cstr(block), buf_len(block));
	buf_free(&block);
}

/* msg_header: a parse holding the message's header: the whole message
 * when it is parsed already (or the program needs it anyway), else the
 * cached header block, else the header read from the message. */
static const mime_msg *msg_header(imapsearch *p)
{
	struct search_msg *s = &p->msg;
	const struct imapmsg *m = s->m;

	if (s->mime != NULL)
		return s->mime;
	if (s->hmime != NULL)
		return s->hmime;
	if (m->source != NULL && m->source->cached != NULL) {
		buf_reset(s->header);
		if (m->source->cached(m->source_ctx, m, IMAPMSG_HEADER, s->header) == 1) {
			s->hmime = mime_parse_header(buf_cstr(s->header), buf_len(s->header));
			return s->hmime;
		}
	}
	if (p->root->need == IMAPSEARCH_NEED_BODY) {
		if (msg_mime(s) != NULL)
			msg_store_header(s, s->mime);
		return s->mime;
	}
	if (msg_data(s) < 0)
		return NULL;
	s->hmime = mime_parse_header(s->data, s->len);
	msg_store_header(s, s->hmime);
	return s->hmime;
}

void search_msg_done(imapsearch *p)
{
	struct search_msg *s = &p->msg;
	const struct imapmsg *m = s->m;

	mime_free(&s->mime);
	mime_free(&s->hmime);
	if (s->tried_data && s->data_errno == 0 && m->source->release != NULL)
		m->source->release(m->source_ctx, m);
	s->tried_data = false;
	s->data_errno = 0;
	s->data = NULL;
	s->len = 0;
	s->have_hdr_text = s->have_body_text = s->have_sent = false;
	s->m = NULL;
}

static bool field_named(const mime_msg *mm, const struct mime_field *f, const char *name)
{
	return f->name_len == strlen(name) &&
	       strncasecmp(mime_data(mm) + f->name_off, name, f->name_len) == 0;
}

/* fields_text: every field of part as "Name: decoded value\n", folded. */
static void fields_text(struct search_msg *s, const mime_msg *mm, const struct mime_part *part,
			buf *out)
{
	for (size_t i = 0; i < part->nfields; i++) {
		const struct mime_field *f = &part->fields[i];

		buf_reset(s->scratch);
		buf_append(s->scratch, mime_data(mm) + f->name_off, f->name_len);
		buf_puts(s->scratch, ": ");
		mime_field_decoded(mm, f, s->scratch);
		buf_putc(s->scratch, '\n');
		imapsearch_fold(buf_cstr(s->scratch), buf_len(s->scratch), out);
	}
}

/* body_walk: the decoded text of every text part under part, folded;
 * an embedded message adds its header fields too. */
static void body_walk(struct search_msg *s, const mime_msg *mm, const struct mime_part *part)
{
	if (part->is_multipart) {
		for (size_t i = 0; i < part->nchildren; i++)
			body_walk(s, mm, part->children[i]);
		return;
	}
	if (part->is_message && part->nchildren > 0) {
		fields_text(s, mm, part->children[0], s->body_text);
		body_walk(s, mm, part->children[0]);
		return;
	}
	if (strcasecmp(part->type, "text") != 0)
		return;
	buf_reset(s->scratch);
	(void)mime_body_text(mm, part, s->scratch);
	imapsearch_fold(buf_cstr(s->scratch), buf_len(s->scratch), s->body_text);
	buf_putc(s->body_text, '\n');
}

static bool text_has(const buf *hay, const struct search_node *n)
{
	return n->len == 0 || memmem(buf_cstr(hay), buf_len(hay), n->str, n->len) != NULL;
}

static int eval_body(imapsearch *p, const struct search_node *n)
{
	struct search_msg *s = &p->msg;
	const mime_msg *mm = msg_mime(s);

	if (mm == NULL)
		return -1;
	if (!s->have_body_text) {
		buf_reset(s->body_text);
		body_walk(s, mm, mime_root(mm));
		s->have_body_text = true;
	}
	if (text_has(s->body_text, n))
		return 1;
	if (n->op != SEARCH_TEXT)
		return 0;
	if (!s->have_hdr_text) {
		buf_reset(s->hdr_text);
		fields_text(s, mm, mime_root(mm), s->hdr_text);
		s->have_hdr_text = true;
	}
	return text_has(s->hdr_text, n) ? 1 : 0;
}

/* eval_header: one field named n->field whose decoded value holds the
 * text; an empty text matches any message with the field. */
static int eval_header(imapsearch *p, const struct search_node *n)
{
	struct search_msg *s = &p->msg;
	const mime_msg *mm = msg_header(p);
	const struct mime_part *root;

	if (mm == NULL)
		return -1;
	root = mime_root(mm);
	for (size_t i = 0; i < root->nfields; i++) {
		const struct mime_field *f = &root->fields[i];

		if (!field_named(mm, f, n->field))
			continue;
		if (n->len == 0)
			return 1;
		buf_reset(s->scratch);
		buf_reset(s->folded);
		mime_field_decoded(mm, f, s->scratch);
		imapsearch_fold(buf_cstr(s->scratch), buf_len(s->scratch), s->folded);
		if (text_has(s->folded, n))
			return 1;
	}
	return 0;
}

/* internal_day: INTERNALDATE's day in the box's zone. */
static long internal_day(const imapsearch *p)
{
	struct imapdate_day d = imapdate_day_of(p->msg.m->internaldate, p->box.zone_minutes);

	return imapdate_day_number(&d);
}

/* sent_day: the Date: header's day; without a readable one, INTERNALDATE's
 * (as RFC 5256 does for SORT). -1 when the header cannot be read. */
static int sent_day(imapsearch *p, long *day_r)
{
	struct search_msg *s = &p->msg;
	const mime_msg *mm;
	const struct mime_part *root;

	if (!s->have_sent) {
		if ((mm = msg_header(p)) == NULL)
			return -1;
		root = mime_root(mm);
		s->sent_day = internal_day(p);
		for (size_t i = 0; i < root->nfields; i++) {
			if (!field_named(mm, &root->fields[i], "Date"))
				continue;
			buf_reset(s->scratch);
			mime_field_value(mm, &root->fields[i], s->scratch);
			(void)imapsearch_sent_day(buf_cstr(s->scratch), buf_len(s->scratch),
						  &s->sent_day);
			break;
		}
		s->have_sent = true;
	}
	*day_r = s->sent_day;
	return 0;
}

static int eval_day(imapsearch *p, const struct search_node *n)
{
	long day;

	if (n->op == SEARCH_BEFORE || n->op == SEARCH_ON || n->op == SEARCH_SINCE)
		day = internal_day(p);
	else if (sent_day(p, &day) < 0)
		return -1;
	switch (n->op) {
	case SEARCH_BEFORE:
	case SEARCH_SENTBEFORE:
		return day < n->day;
	case SEARCH_ON:
	case SEARCH_SENTON:
		return day == n->day;
	default:
		return day >= n->day;
	}
}

static bool has_keyword(const struct imapmsg *m, const char *name)
{
	for (size_t i = 0; i < m->nkeywords; i++)
		if (strcasecmp(m->keywords[i], name) == 0)
			return true;
	return false;
}

static bool in_set(const struct search_node *n, uint32_t num, uint32_t uid)
{
	return imapseq_contains(n->set, num) || (n->saved != NULL && imapseq_contains(n->saved, uid));
}

/* eval_list: AND (stop at the first 0) and OR (stop at the first 1). */
static int eval_list(imapsearch *p, const struct search_node *n)
{
	int stop = n->op == SEARCH_OR ? 1 : 0;

	for (size_t i = 0; i < n->nkids; i++) {
		int r = search_eval(p, n->kids[i]);

		if (r < 0 || r == stop)
			return r;
	}
	return !stop;
}

/* eval_memory: keys answered from struct imapmsg alone. */
static int eval_memory(const imapsearch *p, const struct search_node *n)
{
	const struct imapmsg *m = p->msg.m;
	int64_t age = (int64_t)p->box.now - (int64_t)m->internaldate;

	switch (n->op) {
	case SEARCH_ALL:
		return 1;
	case SEARCH_FLAGS:
		return (m->flags & n->mask) == n->want;
	case SEARCH_KEYWORD:
		return has_keyword(m, n->str);
	case SEARCH_SEQ:
		return in_set(n, m->seq, m->uid);
	case SEARCH_UID:
		return in_set(n, m->uid, m->uid);
	case SEARCH_LARGER:
		return m->size >= 0 && (uint64_t)m->size > n->number;
	case SEARCH_SMALLER:
		return m->size < 0 || (uint64_t)m->size < n->number;
	case SEARCH_OLDER:
		return age > (int64_t)n->number;
	case SEARCH_YOUNGER:
		return age <= (int64_t)n->number;
	case SEARCH_MODSEQ:
		return m->modseq >= n->number;
	default:
		return 0;
	}
}

int search_eval(imapsearch *p, const struct search_node *n)
{
	int r;

	switch (n->op) {
	case SEARCH_AND:
	case SEARCH_OR:
		return eval_list(p, n);
	case SEARCH_NOT:
		r = search_eval(p, n->kids[0]);
		return r < 0 ? r : !r;
	case SEARCH_BEFORE:
	case SEARCH_ON:
	case SEARCH_SINCE:
	case SEARCH_SENTBEFORE:
	case SEARCH_SENTON:
	case SEARCH_SENTSINCE:
		return eval_day(p, n);
	case SEARCH_HEADER:
		return eval_header(p, n);
	case SEARCH_BODY:
	case SEARCH_TEXT:
		return eval_body(p, n);
	default:
		return eval_memory(p, n);
	}
}
