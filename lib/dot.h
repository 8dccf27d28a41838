/* dot.h: the SMTP/POP3 dot-stuffing codec, both directions, shared by
 * smtpd (DATA in), pop3d (RETR/TOP out), sendmail and lib/smtpc (DATA
 * out). Pure byte conversion into a buf, no I/O; both sides are fed
 * pieces of any size and keep their state between them. Whole runs are
 * copied with memchr, one call per line, never one per byte.
 *
 * The message side uses LF line ends (queue files, Maildir); the network
 * side uses CRLF, a leading '.' doubled, and ".CRLF" at the end. */
#ifndef POSTERN_DOT_H
#define POSTERN_DOT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* ---- network -> message (smtpd DATA) ----
 * The decoder appends the content to out with dot-stuffing undone and
 * CRLF turned into LF, and stops at the end-of-data line.
 *
 * Only <CRLF>.<CRLF> ends the data (RFC 5321 4.1.1.4; the start of the
 * data counts as after a CRLF). A bare LF is kept as a line end in the
 * content but never starts an end-of-data sequence, and a line that
 * follows a bare LF is not dot-unstuffed (<LF>.<LF>, <LF>.<CRLF>,
 * <CR>.<CR> are content: the SMTP smuggling defence). A bare CR is
 * content; ".<CR>x" at a line start drops the dot and keeps the CR. */
struct dot_decoder {
	int state;
};

void dot_decoder_init(struct dot_decoder *d);
/* dot_decode: returns 1 when the end of data was reached (*used_r bytes
 * of in were consumed, the final CRLF.CRLF included; the rest belongs to
 * the next command), 0 when all of in was consumed and more is needed. */
int dot_decode(struct dot_decoder *d, const char *in, size_t len, buf *out, size_t *used_r);

/* ---- message -> network (POP3 RETR/TOP, SMTP DATA) ----
 * Every LF becomes CRLF unless a CR already comes before it (a CRLF in
 * the input stays one CRLF, also across pieces), a bare CR is copied, a
 * line starting with '.' gets one more '.'. dot_encode_finish ends the
 * text: a CRLF when the last line had no line end, then ".CRLF". */
struct dot_encoder {
	bool mid_line; /* the last byte fed was not a line end */
	bool prev_cr; /* ... and it was a CR */
};

void dot_encoder_init(struct dot_encoder *e);
/* dot_encode: converts all of in[0..len), appending to out. */
void dot_encode(struct dot_encoder *e, const char *in, size_t len, buf *out);
/* dot_encode_line: converts in up to and including the first LF (or all
 * of it when there is none); returns the bytes used. For callers that
 * count lines (TOP): the line ended when the last byte used is an LF. */
size_t dot_encode_line(struct dot_encoder *e, const char *in, size_t len, buf *out);
void dot_encode_finish(struct dot_encoder *e, buf *out);

/* ---- CRLF message -> LF message (IMAP APPEND) ----
 * Every CRLF becomes LF, also when the CR ends one piece and the LF starts
 * the next; a bare CR or bare LF is copied. No dot-stuffing. */
struct dot_lf_decoder {
	bool cr; /* a CR ended the last piece: held back */
};

void dot_lf_decoder_init(struct dot_lf_decoder *d);
/* dot_lf_decode: converts in[0..len), appending to out. */
void dot_lf_decode(struct dot_lf_decoder *d, const char *in, size_t len, buf *out);
/* dot_lf_finish: the end of the text: a CR held back is appended. */
void dot_lf_finish(struct dot_lf_decoder *d, buf *out);

#endif
