/* imapfetch_decode.c: BINARY's content-transfer decoding (RFC 3516) as a
 * resumable cursor over a part's raw body, so a decoded attachment is sent
 * a chunk at a time like any other body, never held whole. base64 is read
 * leniently (characters outside the alphabet skipped, '=' ends it);
 * quoted-printable undoes =XX and soft breaks and sends hard line breaks as
 * CRLF, the canonical form. The same cursor counts the decoded size first,
 * so a literal's announced size always matches what is sent. */
#include "imapfetch_render.h"

#include <string.h>

#include "base64.h"
#include "qp.h"

void imapfetch_decoder_init(struct imapfetch_decoder *d, const char *data,
			    const struct mime_range *range, enum imapfetch_cte cte)
{
	memset(d, 0, sizeof(*d));
	d->data = data;
	d->pos = range->off;
	d->stop = range->off + range->len;
	d->cte = cte;
}

/* b64_unit: the next up to 3 bytes into d->pend. */
static void b64_unit(struct imapfetch_decoder *d)
{
	unsigned acc = 0;
	int n = 0;

	while (n < 4 && d->pos < d->stop) {
		unsigned char c = (unsigned char)d->data[d->pos++];
		int v = base64_char_value(c);

		if (c == '=') {
			d->pos = d->stop; /* padding: the end */
			break;
		}
		if (v < 0)
			continue;
		acc = acc << 6 | (unsigned)v;
		n++;
	}
	if (n < 4)
		acc <<= 6 * (4 - n);
	for (int i = 0; i < n - 1; i++)
		d->pend[d->npend++] = (char)(acc >> (16 - 8 * i) & 0xff);
}

/* qp_equals: at '=': an encoded byte, a soft line break, or a lone '='
 * (lib/qp). */
static void qp_equals(struct imapfetch_decoder *d)
{
	size_t used;
	int c = qp_escape(d->data + d->pos, d->stop - d->pos, &used);

	if (c >= 0)
		d->pend[d->npend++] = (char)c;
	d->pos += used;
}

/* qp_unit: the next decoded byte or line break into d->pend. */
static void qp_unit(struct imapfetch_decoder *d)
{
	char c = d->data[d->pos];

	if (c == '=') {
		qp_equals(d);
	} else if (c == '\n' || (c == '\r' && d->pos + 1 < d->stop && d->data[d->pos + 1] == '\n')) {
		d->pend[d->npend++] = '\r';
		d->pend[d->npend++] = '\n';
		d->pos += c == '\r' ? 2 : 1;
	} else {
		d->pend[d->npend++] = c;
		d->pos++;
	}
}

size_t imapfetch_decoder_emit(struct imapfetch_decoder *d, buf *out, size_t budget)
{
	size_t done = 0;

	while (done < budget) {
		if (d->ipend == d->npend) {
			d->ipend = d->npend = 0;
			if (d->pos >= d->stop)
				break;
			if (d->cte == IMAPFETCH_CTE_BASE64)
				b64_unit(d);
			else
				qp_unit(d);
			continue;
		}
		if (out != NULL)
			buf_putc(out, d->pend[d->ipend]);
		d->ipend++;
		done++;
	}
	return done;
}

#define SCAN_CHUNK 65536

size_t imapfetch_decoded_size(const char *data, const struct mime_range *range,
			      enum imapfetch_cte cte, size_t from, size_t to, bool *nul_r)
{
	struct imapfetch_decoder d;
	buf *scratch = buf_new(SCAN_CHUNK);
	size_t total = 0, n;

	*nul_r = false;
	imapfetch_decoder_init(&d, data, range, cte);
	while ((n = imapfetch_decoder_emit(&d, scratch, SCAN_CHUNK)) > 0) {
		const char *s = buf_cstr(scratch);

		for (size_t i = 0; i < n && !*nul_r; i++)
			if (s[i] == '\0' && total + i >= from && total + i < to)
				*nul_r = true;
		total += n;
		buf_reset(scratch);
	}
	buf_free(&scratch);
	return total;
}
