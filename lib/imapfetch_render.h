/* imapfetch_render.h: the renderer's state, shared by imapfetch_render.c
 * (pieces and streaming) and imapfetch_items.c (the text of each item).
 * Not for use outside lib/imapfetch*.c. */
#ifndef POSTERN_IMAPFETCH_RENDER_H
#define POSTERN_IMAPFETCH_RENDER_H

#include "imapfetch_int.h"

/* BINARY's decoding cursor (imapfetch_decode.c). */
enum imapfetch_cte { IMAPFETCH_CTE_BASE64, IMAPFETCH_CTE_QP };

struct imapfetch_decoder {
	const char *data;
	size_t pos, stop;
	enum imapfetch_cte cte;
	char pend[3]; /* decoded bytes not sent yet */
	size_t npend, ipend;
};

void imapfetch_decoder_init(struct imapfetch_decoder *d, const char *data,
			    const struct mime_range *range, enum imapfetch_cte cte);
/* imapfetch_decoder_emit: up to budget decoded octets appended to out
 * (dropped when out is NULL); returns how many, 0 at the end. */
size_t imapfetch_decoder_emit(struct imapfetch_decoder *d, buf *out, size_t budget);
/* imapfetch_decoded_size: the decoded size of range; *nul_r tells whether
 * a NUL lies at a decoded offset in [from, to) (a literal8 is needed). */
size_t imapfetch_decoded_size(const char *data, const struct mime_range *range,
			      enum imapfetch_cte cte, size_t from, size_t to, bool *nul_r);

/* A piece of the reply: text (owned, sent from sent on), or a range of the
 * message's bytes sent in CRLF form: raw [pos, stop) of data, start being
 * the range's first byte (a LF there is bare), left octets still to send. */
struct imapfetch_piece {
	buf *text;
	size_t sent;
	const char *data;
	size_t start, pos, stop, left;
	bool cr_sent; /* the CR of a bare LF at pos went out */
	bool decoding; /* a BINARY piece: dec sends it */
	struct imapfetch_decoder dec;
};

struct imapfetch_render {
	const imapfetch_spec *spec;
	const struct imapmsg *m;
	enum imapfetch_result result;
	struct imapfetch_piece *pieces;
	size_t npieces, apieces, next;
	/* The message, once imapfetch_data loaded it. */
	bool data_held;
	const char *data;
	size_t len;
	mime_msg *mime;
	/* The header block (CRLF form), once header_block got it
	 * (have_header); the buffer is kept for the next render. */
	buf *header;
	bool have_header;
	buf *scratch; /* HEADER.FIELDS built here before it is sent */
	/* Text buffers of a finished render, reused by the next one. */
	buf **spare_texts;
	size_t nspare_texts, aspare_texts;
};

/* imapfetch_put_u64: v in decimal appended to out (no printf: FETCH
 * writes a few numbers for every message). */
void imapfetch_put_u64(buf *out, uint64_t v);
/* imapfetch_text: the text piece to append to. */
buf *imapfetch_text(imapfetch_render *r);
/* imapfetch_range: a range of the message's bytes, skip octets of its
 * CRLF form left out, count octets sent (the caller wrote the literal's
 * size already). */
void imapfetch_range(imapfetch_render *r, const struct mime_range *range, size_t skip,
		     size_t count);
/* imapfetch_decoded: a part's body sent decoded, skip decoded octets left
 * out, count sent. */
void imapfetch_decoded(imapfetch_render *r, const struct mime_range *range,
		       enum imapfetch_cte cte, size_t skip, size_t count);
/* imapfetch_data: loads and parses the message's bytes; 0, or -1 with
 * r->result set (expunged, I/O). */
int imapfetch_data(imapfetch_render *r);
/* imapfetch_item_render: appends one item ("NAME value") to the reply;
 * sets r->result on trouble. */
void imapfetch_item_render(imapfetch_render *r, const struct imapfetch_item *it);
/* imapfetch_spec_has_flags: the spec already answers FLAGS. */
bool imapfetch_spec_has_flags(const imapfetch_spec *spec);
/* imapfetch_spec_uses_item_modseq: the spec already answers MODSEQ. */
bool imapfetch_spec_uses_item_modseq(const imapfetch_spec *spec);

#endif
