/* imapfetch_render.c: one message's FETCH reply as a list of pieces: text
 * built at imapfetch_render_begin (everything small: flags, dates, cached
 * or computed ENVELOPE / BODYSTRUCTURE, headers, decoded BINARY) and ranges
 * of the message's bytes that are sent later in their CRLF form, a chunk
 * at a time, as the caller pulls them (imapfetch_render_next). The item
 * texts themselves are imapfetch_items.c's. */
#include "imapfetch_render.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"

static struct imapfetch_piece *piece_add(imapfetch_render *r)
{
	if (r->npieces == r->apieces) {
		r->apieces = r->apieces == 0 ? 4 : r->apieces * 2;
		r->pieces = xrealloc(r->pieces, r->apieces * sizeof(*r->pieces));
	}
	memset(&r->pieces[r->npieces], 0, sizeof(r->pieces[0]));
	return &r->pieces[r->npieces++];
}

void imapfetch_put_u64(buf *out, uint64_t v)
{
	char digits[20];
	size_t n = 0;

	do {
		digits[sizeof(digits) - ++n] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	buf_append(out, digits + sizeof(digits) - n, n);
}

/* text_piece: the text piece being written to (a new one after a range). */
buf *imapfetch_text(imapfetch_render *r)
{
	if (r->npieces == 0 || r->pieces[r->npieces - 1].text == NULL) {
		buf *t = r->nspare_texts > 0 ? r->spare_texts[--r->nspare_texts] : buf_new(256);

		piece_add(r)->text = t;
	}
	return r->pieces[r->npieces - 1].text;
}

/* A FETCH renders one message after another: the last finished render is
 * kept (its pieces array and buffers emptied) and serves the next one, so
 * a message costs no allocation when its reply fits what the previous one
 * used. One spare for the process (lib/ is single-threaded). */
static imapfetch_render *spare_render;

static imapfetch_render *render_new(void)
{
	imapfetch_render *r = spare_render;

	if (r == NULL) {
		r = xcalloc(1, sizeof(*r));
		r->header = buf_new(1024);
		r->scratch = buf_new(256);
		return r;
	}
	spare_render = NULL;
	return r;
}

static void render_destroy(imapfetch_render *r)
{
	for (size_t i = 0; i < r->npieces; i++)
		buf_free(&r->pieces[i].text);
	for (size_t i = 0; i < r->nspare_texts; i++)
		buf_free(&r->spare_texts[i]);
	free(r->spare_texts);
	free(r->pieces);
	buf_free(&r->header);
	buf_free(&r->scratch);
	free(r);
}

/* render_recycle: r emptied for the next render (or freed when a spare is
 * kept already, or its buffers grew big on a large reply). */
static void render_recycle(imapfetch_render *r)
{
	if (spare_render != NULL || buf_len(r->header) > 65536 || r->npieces > 64) {
		render_destroy(r);
		return;
	}
	for (size_t i = 0; i < r->npieces; i++) {
		buf *t = r->pieces[i].text;

		if (t == NULL)
			continue;
		r->pieces[i].text = NULL;
		if (buf_len(t) > 65536 || r->nspare_texts == 8) {
			buf_free(&t);
			continue;
		}
		if (r->nspare_texts == r->aspare_texts) {
			r->aspare_texts = r->aspare_texts == 0 ? 4 : r->aspare_texts * 2;
			r->spare_texts = xrealloc(r->spare_texts,
						  r->aspare_texts * sizeof(*r->spare_texts));
		}
		buf_reset(t);
		r->spare_texts[r->nspare_texts++] = t;
	}
	r->npieces = r->next = 0;
	r->spec = NULL;
	r->m = NULL;
	r->result = IMAPFETCH_OK;
	r->data_held = false;
	r->data = NULL;
	r->len = 0;
	buf_reset(r->header);
	r->have_header = false;
	buf_reset(r->scratch);
	spare_render = r;
}

/* crlf_emit: up to budget octets of the cursor's range in CRLF form
 * appended to out (dropped when out is NULL); returns how many. A LF with
 * no CR before it inside the range becomes CRLF, as mime_range_set counts. */
static size_t crlf_emit(struct imapfetch_piece *c, buf *out, size_t budget)
{
	size_t done = 0;

	while (done < budget && c->pos < c->stop) {
		if (c->data[c->pos] == '\n') {
			bool bare = c->pos == c->start || c->data[c->pos - 1] != '\r';

			if (bare && !c->cr_sent) {
				if (out != NULL)
					buf_putc(out, '\r');
				c->cr_sent = true;
			} else {
				if (out != NULL)
					buf_putc(out, '\n');
				c->cr_sent = false;
				c->pos++;
			}
			done++;
			continue;
		}
		const char *nl = memchr(c->data + c->pos, '\n', c->stop - c->pos);
		size_t end = nl != NULL ? (size_t)(nl - c->data) : c->stop;
		size_t n = end - c->pos < budget - done ? end - c->pos : budget - done;

		if (out != NULL)
			buf_append(out, c->data + c->pos, n);
		c->pos += n;
		done += n;
	}
	return done;
}

void imapfetch_range(imapfetch_render *r, const struct mime_range *range, size_t skip,
		     size_t count)
{
	struct imapfetch_piece *p = piece_add(r);

	p->data = r->data;
	p->start = p->pos = range->off;
	p->stop = range->off + range->len;
	p->left = count;
	if (skip > 0 && crlf_emit(p, NULL, skip) < skip)
		p->left = 0; /* past the end: nothing to send (count is 0 then) */
}

void imapfetch_decoded(imapfetch_render *r, const struct mime_range *range,
		       enum imapfetch_cte cte, size_t skip, size_t count)
{
	struct imapfetch_piece *p = piece_add(r);

	p->decoding = true;
	p->left = count;
	imapfetch_decoder_init(&p->dec, r->data, range, cte);
	if (skip > 0 && imapfetch_decoder_emit(&p->dec, NULL, skip) < skip)
		p->left = 0;
}

imapfetch_render *imapfetch_render_begin(const imapfetch_spec *spec, const struct imapmsg *m,
					 unsigned options, enum imapfetch_result *result_r)
{
	imapfetch_render *r = render_new();

	r->spec = spec;
	r->m = m;
	r->result = IMAPFETCH_OK;
	buf_puts(imapfetch_text(r), "* ");
	imapfetch_put_u64(imapfetch_text(r), m->seq);
	buf_puts(imapfetch_text(r), " FETCH (");
	for (size_t i = 0; i < spec->nitems && r->result == IMAPFETCH_OK; i++) {
		if (i > 0)
			buf_putc(imapfetch_text(r), ' ');
		imapfetch_item_render(r, &spec->items[i]);
	}
	if (r->result == IMAPFETCH_OK && (options & IMAPFETCH_RENDER_FLAGS) != 0 &&
	    !imapfetch_spec_has_flags(spec)) {
		buf_puts(imapfetch_text(r), " FLAGS ");
		imapfetch_flags(imapfetch_text(r), m->flags, m->keywords, m->nkeywords);
	}
	if (r->result == IMAPFETCH_OK && (options & IMAPFETCH_RENDER_MODSEQ) != 0 &&
	    !imapfetch_spec_uses_item_modseq(spec))
		buf_printf(imapfetch_text(r), " MODSEQ (%llu)", (unsigned long long)m->modseq);
	buf_puts(imapfetch_text(r), ")\r\n");
	if (r->result != IMAPFETCH_OK)
		r->next = r->npieces; /* nothing to send */
	*result_r = r->result;
	return r;
}

/* piece_next: up to max bytes of piece p into out; returns how many. */
static size_t piece_next(struct imapfetch_piece *p, buf *out, size_t max)
{
	size_t n;

	if (p->text != NULL) {
		n = buf_len(p->text) - p->sent < max ? buf_len(p->text) - p->sent : max;
		buf_append(out, buf_cstr(p->text) + p->sent, n);
		p->sent += n;
		return n;
	}
	if (p->decoding)
		n = imapfetch_decoder_emit(&p->dec, out, p->left < max ? p->left : max);
	else
		n = crlf_emit(p, out, p->left < max ? p->left : max);
	if (n == 0 && p->left > 0) {
		/* The bytes are shorter than their counted size: never let a
		 * literal come out short, the client would lose sync. */
		log_warn("imapfetch: message bytes shorter than counted, padding %zu", p->left);
		n = p->left < max ? p->left : max;
		memset(buf_reserve(out, n), ' ', n);
		buf_commit(out, n);
	}
	p->left -= n;
	return n;
}

static bool piece_done(const struct imapfetch_piece *p)
{
	return p->text != NULL ? p->sent == buf_len(p->text) : p->left == 0;
}

int imapfetch_render_next(imapfetch_render *r, buf *out, size_t max)
{
	size_t done = 0;

	while (r->next < r->npieces && done < max) {
		struct imapfetch_piece *p = &r->pieces[r->next];

		done += piece_next(p, out, max - done);
		if (piece_done(p))
			r->next++;
	}
	return r->next < r->npieces;
}

void imapfetch_render_end(imapfetch_render **r)
{
	imapfetch_render *x = *r;

	if (x == NULL)
		return;
	mime_free(&x->mime);
	if (x->data_held && x->m->source->release != NULL)
		x->m->source->release(x->m->source_ctx, x->m);
	render_recycle(x);
	*r = NULL;
}

enum imapfetch_result imapfetch_render_all(const imapfetch_spec *spec, const struct imapmsg *m,
					   unsigned options, buf *out)
{
	enum imapfetch_result result;
	imapfetch_render *r = imapfetch_render_begin(spec, m, options, &result);

	while (imapfetch_render_next(r, out, 65536))
		;
	imapfetch_render_end(&r);
	return result;
}

/* imapfetch_data: the message's bytes, parsed; 0, or -1 with r->result set. */
int imapfetch_data(imapfetch_render *r)
{
	const struct imapmsg_source *src = r->m->source;

	if (r->mime != NULL)
		return 0;
	if (src == NULL || src->data == NULL) {
		errno = EIO;
		r->result = IMAPFETCH_IO;
		return -1;
	}
	if (src->data(r->m->source_ctx, r->m, &r->data, &r->len) < 0) {
		r->result = errno == ENOENT ? IMAPFETCH_EXPUNGED : IMAPFETCH_IO;
		return -1;
	}
	r->data_held = true;
	r->mime = r->spec->full_parse ? mime_parse(r->data, r->len)
				      : mime_parse_header(r->data, r->len);
	return 0;
}
