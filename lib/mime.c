/* mime.c: builds the part tree of a message: header and body ranges with
 * their CRLF sizes, multipart children found by boundary lines, embedded
 * message/rfc822 messages, and the limits that turn the rest of an
 * over-deep or over-large message into text/plain leaves. Header fields
 * and their meaning are mime_hdr.c's; IMAP output is mime_imap.c's. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "mime_int.h"

static struct mime_part *parse_entity(mime_msg *m, struct mime_part *parent, size_t off,
				      size_t end, bool default_message);

void mime_range_set(const char *data, size_t off, size_t end, struct mime_range *r)
{
	size_t bare = 0, lines = 0;
	const char *nl;

	for (size_t p = off; p < end && (nl = memchr(data + p, '\n', end - p)) != NULL;
	     p = (size_t)(nl - data) + 1) {
		lines++;
		if ((size_t)(nl - data) == off || nl[-1] != '\r')
			bare++;
	}
	if (end > off && data[end - 1] != '\n')
		lines++;
	r->off = off;
	r->len = end - off;
	r->size = r->len + bare;
	r->lines = lines;
}

/* boundary_line: whether the line at p starts with "--boundary" (a close
 * delimiter when "--" follows). What else is on the line does not matter:
 * RFC 2046 5.1.1 tells implementors to compare the boundary with the
 * beginning of each line only, which also takes transport padding. */
static bool boundary_line(const char *data, size_t p, size_t end, const char *bnd, size_t blen,
			  bool *close_r)
{
	size_t q = p + 2 + blen;

	if (end - p < 2 + blen || data[p] != '-' || data[p + 1] != '-' ||
	    memcmp(data + p + 2, bnd, blen) != 0)
		return false;
	*close_r = end - q >= 2 && data[q] == '-' && data[q + 1] == '-';
	return true;
}

static size_t next_line(const char *data, size_t p, size_t end)
{
	const char *nl = memchr(data + p, '\n', end - p);

	return nl == NULL ? end : (size_t)(nl - data) + 1;
}

/* body_end_before: a part ends before the line end that precedes its
 * boundary line; that line end belongs to the boundary (RFC 2046 5.1.1). */
static size_t body_end_before(const char *data, size_t start, size_t p)
{
	if (p > start && data[p - 1] == '\n')
		p--;
	if (p > start && data[p - 1] == '\r')
		p--;
	return p;
}

static void add_child(struct mime_part *parent, struct mime_part *child)
{
	parent->children = xrealloc(parent->children,
				    (parent->nchildren + 1) * sizeof(*parent->children));
	parent->children[parent->nchildren++] = child;
}

static void add_body_part(mime_msg *m, struct mime_part *part, size_t start, size_t end,
			  bool digest)
{
	if (m->nparts >= MIME_MAX_PARTS)
		return;
	add_child(part, parse_entity(m, part, start, end, digest));
}

/* split_multipart: finds part's children between boundary lines. The
 * preamble and epilogue are skipped; a missing close delimiter ends the
 * last child at the end of the body. */
static void split_multipart(mime_msg *m, struct mime_part *part, const char *bnd)
{
	size_t blen = strlen(bnd), end = part->body.off + part->body.len;
	size_t p = part->body.off, start = 0;
	bool open = false, close = false;
	bool digest = strcasecmp(part->subtype, "digest") == 0;

	while (p < end && !close) {
		size_t next = next_line(m->data, p, end);

		if (boundary_line(m->data, p, end, bnd, blen, &close)) {
			if (open)
				add_body_part(m, part, start,
					      body_end_before(m->data, start, p), digest);
			open = true;
			start = next;
		}
		p = next;
	}
	if (open && !close)
		add_body_part(m, part, start, end, digest);
}

/* flatten: a part we will not look into is text/plain from now on, so
 * that BODYSTRUCTURE never shows a multipart without parts. */
static void flatten(struct mime_part *part)
{
	free(part->type);
	free(part->subtype);
	mime_params_free(&part->params, part->nparams);
	part->nparams = 0;
	part->type = xstrdup("text");
	part->subtype = xstrdup("plain");
	part->flattened = true;
}

/* add_empty_child: a multipart in which no part was found gets one empty
 * text/plain part at the end of its body, as Dovecot shows it, so that
 * BODYSTRUCTURE never has a multipart without parts. */
static void add_empty_child(mime_msg *m, struct mime_part *part)
{
	size_t end = part->body.off + part->body.len;

	add_child(part, parse_entity(m, part, end, end, false));
}

static bool encoding_is_identity(const char *enc)
{
	return enc == NULL || strcasecmp(enc, "7bit") == 0 || strcasecmp(enc, "8bit") == 0 ||
	       strcasecmp(enc, "binary") == 0;
}

static void parse_inside(mime_msg *m, struct mime_part *part)
{
	const struct mime_param *bnd;
	bool can_nest = part->depth < MIME_MAX_DEPTH && m->nparts < MIME_MAX_PARTS;

	if (m->header_only)
		return;
	if (strcasecmp(part->type, "multipart") == 0) {
		bnd = mime_param_get(part->params, part->nparams, "boundary");
		if (!can_nest) {
			flatten(part);
			return;
		}
		if (bnd != NULL && bnd->value[0] != '\0' && strlen(bnd->value) <= MIME_MAX_BOUNDARY)
			split_multipart(m, part, bnd->value);
		if (part->nchildren == 0)
			add_empty_child(m, part);
		part->is_multipart = true;
	} else if (strcasecmp(part->type, "message") == 0 &&
		   strcasecmp(part->subtype, "rfc822") == 0 && encoding_is_identity(part->encoding)) {
		if (!can_nest) {
			flatten(part);
			return;
		}
		add_child(part, parse_entity(m, part, part->body.off,
					     part->body.off + part->body.len, false));
		part->is_message = true;
	}
}

static struct mime_part *parse_entity(mime_msg *m, struct mime_part *parent, size_t off,
				      size_t end, bool default_message)
{
	struct mime_part *part = xcalloc(1, sizeof(*part));
	size_t body;

	m->nparts++;
	part->parent = parent;
	part->depth = parent == NULL ? 0 : parent->depth + 1;
	body = mime_hdr_read(m, part, off, end);
	mime_range_set(m->data, off, body, &part->header);
	mime_range_set(m->data, body, end, &part->body);
	mime_hdr_apply(m, part, default_message);
	parse_inside(m, part);
	return part;
}

static mime_msg *parse_message(const char *data, size_t len, bool header_only)
{
	mime_msg *m = xcalloc(1, sizeof(*m));

	m->data = data;
	m->len = len;
	m->header_only = header_only;
	m->root = parse_entity(m, NULL, 0, len, false);
	return m;
}

mime_msg *mime_parse(const char *data, size_t len)
{
	return parse_message(data, len, false);
}

mime_msg *mime_parse_header(const char *data, size_t len)
{
	return parse_message(data, len, true);
}

static void part_free(struct mime_part *part)
{
	for (size_t i = 0; i < part->nchildren; i++)
		part_free(part->children[i]);
	free(part->children);
	free(part->fields);
	free(part->type);
	free(part->subtype);
	mime_params_free(&part->params, part->nparams);
	mime_params_free(&part->disp_params, part->ndisp_params);
	free(part->id);
	free(part->description);
	free(part->encoding);
	free(part->md5);
	free(part->disposition);
	free(part->language);
	free(part->location);
	free(part);
}

void mime_free(mime_msg **m)
{
	if (*m == NULL)
		return;
	part_free((*m)->root);
	free(*m);
	*m = NULL;
}

const struct mime_part *mime_root(const mime_msg *m)
{
	return m->root;
}

const char *mime_data(const mime_msg *m)
{
	return m->data;
}

size_t mime_size(const mime_msg *m)
{
	return m->root->header.size + m->root->body.size;
}

size_t mime_nparts(const mime_msg *m)
{
	return m->nparts;
}
