/* dot.c: the dot-stuffing codec (see dot.h). The decoder is a small
 * state machine over what came last, but inside a line it jumps from one
 * LF to the next with memchr and copies the run in one piece; the encoder
 * works a line at a time the same way. */
#include "dot.h"

#include <string.h>

/* Decoder states, by what came last:
 *   BOL     start of a line after CRLF (or of the data): '.' may follow
 *   DOT     a '.' at BOL (held back: unstuffed, or the end line)
 *   DOT_CR  ".\r" at BOL: LF now ends the data
 *   TEXT    inside a line, or after a bare LF (no unstuffing, no end)
 *   CR      a CR ended the last piece: held until we see if LF follows */
enum { DOT_BOL = 0, DOT_DOT, DOT_DOT_CR, DOT_TEXT, DOT_CR };

void dot_decoder_init(struct dot_decoder *d)
{
	d->state = DOT_BOL;
}

/* decode_text: TEXT state at in[0..len), len > 0: copies up to and
 * including the next LF (CRLF -> LF; after a bare LF the state stays
 * TEXT), or the whole piece minus a trailing CR, which is held. Returns
 * the bytes used. */
static size_t decode_text(struct dot_decoder *d, const char *in, size_t len, buf *out)
{
	const char *lf = memchr(in, '\n', len);
	size_t n;

	if (lf == NULL) {
		if (in[len - 1] == '\r') {
			buf_append(out, in, len - 1);
			d->state = DOT_CR;
		} else {
			buf_append(out, in, len);
		}
		return len;
	}
	n = (size_t)(lf - in);
	if (n > 0 && in[n - 1] == '\r') {
		buf_append(out, in, n - 1);
		d->state = DOT_BOL;
	} else {
		buf_append(out, in, n); /* a bare LF is stored as a line end */
	}
	buf_putc(out, '\n');
	return n + 1;
}

/* decode_step: one transition at in[0] (len > 0). Returns the bytes used
 * (0 when only the state changed), or (size_t)-1 at the end of data. */
static size_t decode_step(struct dot_decoder *d, const char *in, size_t len, buf *out)
{
	switch (d->state) {
	case DOT_BOL:
		d->state = in[0] == '.' ? DOT_DOT : DOT_TEXT;
		return in[0] == '.';
	case DOT_DOT: /* the stuffed dot is dropped either way */
		d->state = in[0] == '\r' ? DOT_DOT_CR : DOT_TEXT;
		return in[0] == '\r';
	case DOT_DOT_CR:
		if (in[0] == '\n') {
			d->state = DOT_BOL;
			return (size_t)-1;
		}
		buf_putc(out, '\r'); /* ".\rX": dot dropped, bare CR kept */
		d->state = DOT_TEXT;
		return 0;
	case DOT_CR:
		if (in[0] == '\n') {
			buf_putc(out, '\n');
			d->state = DOT_BOL;
			return 1;
		}
		buf_putc(out, '\r');
		d->state = DOT_TEXT;
		return 0;
	default:
		return decode_text(d, in, len, out);
	}
}

int dot_decode(struct dot_decoder *d, const char *in, size_t len, buf *out, size_t *used_r)
{
	size_t i = 0;

	while (i < len) {
		size_t n = decode_step(d, in + i, len - i, out);

		if (n == (size_t)-1) {
			*used_r = i + 1;
			return 1;
		}
		i += n;
	}
	*used_r = len;
	return 0;
}

void dot_encoder_init(struct dot_encoder *e)
{
	e->mid_line = false;
	e->prev_cr = false;
}

/* encode_piece: seg[0..len) holds no LF: copied, a leading dot doubled
 * when it starts a line. */
static inline void encode_piece(struct dot_encoder *e, const char *seg, size_t len, buf *out)
{
	if (len == 0)
		return;
	if (!e->mid_line && seg[0] == '.')
		buf_putc(out, '.');
	buf_append(out, seg, len);
	e->prev_cr = seg[len - 1] == '\r';
	e->mid_line = true;
}

static inline void encode_line_end(struct dot_encoder *e, buf *out)
{
	buf_append(out, e->prev_cr ? "\n" : "\r\n", e->prev_cr ? 1 : 2);
	e->mid_line = false;
	e->prev_cr = false;
}

/* encode_line: in up to and including the first LF, or all of it. */
static inline size_t encode_line(struct dot_encoder *e, const char *in, size_t len, buf *out)
{
	const char *lf = memchr(in, '\n', len);
	size_t n = lf != NULL ? (size_t)(lf - in) : len;

	encode_piece(e, in, n, out);
	if (lf == NULL)
		return len;
	encode_line_end(e, out);
	return n + 1;
}

size_t dot_encode_line(struct dot_encoder *e, const char *in, size_t len, buf *out)
{
	return encode_line(e, in, len, out);
}

void dot_encode(struct dot_encoder *e, const char *in, size_t len, buf *out)
{
	size_t used = 0;

	while (used < len)
		used += encode_line(e, in + used, len - used, out);
}

void dot_encode_finish(struct dot_encoder *e, buf *out)
{
	if (e->mid_line)
		encode_line_end(e, out);
	buf_append(out, ".\r\n", 3);
}

/* ---- CRLF -> LF ---------------------------------------------------------- */

void dot_lf_decoder_init(struct dot_lf_decoder *d)
{
	d->cr = false;
}

void dot_lf_decode(struct dot_lf_decoder *d, const char *in, size_t len, buf *out)
{
	const char *p = in, *end = in + len;

	while (p < end) {
		const char *cr;

		if (d->cr) {
			d->cr = false;
			if (*p != '\n')
				buf_putc(out, '\r');
		}
		cr = memchr(p, '\r', (size_t)(end - p));
		if (cr == NULL) {
			buf_append(out, p, (size_t)(end - p));
			return;
		}
		buf_append(out, p, (size_t)(cr - p));
		d->cr = true;
		p = cr + 1;
	}
}

void dot_lf_finish(struct dot_lf_decoder *d, buf *out)
{
	if (d->cr)
		buf_putc(out, '\r');
	d->cr = false;
}
