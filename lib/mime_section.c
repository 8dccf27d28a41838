/* mime_section.c: FETCH BODY[section] (RFC 3501 6.4.5): walking part
 * numbers through multiparts and embedded messages, HEADER, TEXT, MIME and
 * HEADER.FIELDS(.NOT), and sending raw bytes in their CRLF form with
 * partial offsets counted as the client counts them. */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "mime_int.h"

/* walk: follows part numbers from the root. A number picks a child of a
 * multipart; at a message (the root or an embedded one) that is no
 * multipart, 1 is its body; a message/rfc822 part passes the next number
 * on to its embedded message. */
static const struct mime_part *walk(const struct mime_part *cur, const unsigned *nums, size_t n)
{
	bool at_message = true;

	for (size_t i = 0; i < n; i++) {
		if (nums[i] == 0)
			return NULL;
		if (!at_message && cur->is_message) {
			cur = cur->children[0];
			at_message = true;
		}
		if (cur->is_multipart) {
			if (nums[i] > cur->nchildren)
				return NULL;
			cur = cur->children[nums[i] - 1];
		} else if (nums[i] != 1 || !at_message) {
			return NULL;
		}
		at_message = false;
	}
	return cur;
}

const struct mime_part *mime_part_find(const mime_msg *m, const unsigned *nums, size_t n)
{
	return walk(m->root, nums, n);
}

static bool name_listed(const mime_msg *m, const struct mime_field *f,
			const struct mime_section *s)
{
	for (size_t i = 0; i < s->nfields; i++)
		if (strlen(s->fields[i]) == f->name_len &&
		    strncasecmp(m->data + f->name_off, s->fields[i], f->name_len) == 0)
			return true;
	return false;
}

static void build_fields(const mime_msg *m, const struct mime_part *msg,
			 const struct mime_section *s, buf *built)
{
	bool want = s->what == MIME_SECTION_FIELDS;

	for (size_t i = 0; i < msg->nfields; i++) {
		const struct mime_field *f = &msg->fields[i];

		if (name_listed(m, f, s) != want)
			continue;
		mime_crlf_append(built, m->data, f->name_off, f->end - f->name_off, 0, SIZE_MAX);
		if (buf_len(built) == 0 || buf_cstr(built)[buf_len(built) - 1] != '\n')
			buf_puts(built, "\r\n");
	}
	buf_puts(built, "\r\n");
}

/* message_of: the message whose HEADER / TEXT a section means. */
static const struct mime_part *message_of(const struct mime_part *part, size_t nparts)
{
	if (nparts == 0)
		return part;
	return part->is_message ? part->children[0] : NULL;
}

static void whole(const mime_msg *m, const struct mime_part *p, struct mime_range *r)
{
	mime_range_set(m->data, p->header.off, p->body.off + p->body.len, r);
}

int mime_section_find(const mime_msg *m, const struct mime_section *s,
		      struct mime_range *range_r, buf *built)
{
	const struct mime_part *part = walk(m->root, s->parts, s->nparts), *msg;

	if (part == NULL)
		return -1;
	if (s->what == MIME_SECTION_ALL) {
		if (s->nparts == 0)
			whole(m, part, range_r);
		else
			*range_r = part->body;
		return 0;
	}
	if (s->what == MIME_SECTION_MIME) {
		if (s->nparts == 0)
			return -1;
		*range_r = part->header;
		return 0;
	}
	if ((msg = message_of(part, s->nparts)) == NULL)
		return -1;
	if (s->what == MIME_SECTION_HEADER)
		*range_r = msg->header;
	else if (s->what == MIME_SECTION_TEXT)
		*range_r = msg->body;
	if (s->what == MIME_SECTION_HEADER || s->what == MIME_SECTION_TEXT)
		return 0;
	build_fields(m, msg, s, built);
	return 1;
}

/* A window [skip, end) over the CRLF form being produced; pos is where in
 * that form the next bytes go. */
struct window {
	buf *out;
	size_t pos, skip, end;
};

static void window_put(struct window *w, const char *s, size_t n)
{
	size_t a = w->pos > w->skip ? w->pos : w->skip;
	size_t b = w->pos + n < w->end ? w->pos + n : w->end;

	if (a < b)
		buf_append(w->out, s + (a - w->pos), b - a);
	w->pos += n;
}

void mime_crlf_append(buf *out, const char *data, size_t off, size_t len, size_t skip,
		      size_t max)
{
	struct window w = { out, 0, skip, max > SIZE_MAX - skip ? SIZE_MAX : skip + max };
	size_t p = off, stop = off + len;

	while (p < stop && w.pos < w.end) {
		const char *nl = memchr(data + p, '\n', stop - p);
		size_t q;

		if (nl == NULL) {
			window_put(&w, data + p, stop - p);
			break;
		}
		q = (size_t)(nl - data);
		if (q > off && data[q - 1] == '\r') {
			window_put(&w, data + p, q + 1 - p);
		} else {
			window_put(&w, data + p, q - p);
			window_put(&w, "\r\n", 2);
		}
		p = q + 1;
	}
}
