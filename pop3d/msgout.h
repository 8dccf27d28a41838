/* msgout.h: a stored message turned into a POP3 multi-line answer (RFC
 * 1939 section 3): every line end becomes CRLF (Maildir files usually
 * have bare LF), a line starting with '.' gets one more '.', and the
 * answer ends with ".CRLF" (after a CRLF of its own when the message does
 * not end with a line end). For TOP it stops after the header, the blank
 * line and n lines of the body. Pure conversion with no I/O, fed in pieces
 * of any size, so it is unit tested alone; the line conversion is
 * lib/dot.c's encoder, this file adds TOP's line counting. */
#ifndef POSTERN_POP3D_MSGOUT_H
#define POSTERN_POP3D_MSGOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "dot.h"

struct msgout {
	struct dot_encoder enc;
	bool line_has_text;  /* the current line has bytes other than CR */
	bool in_body;        /* the blank line after the header was passed */
	long long body_left; /* body lines still to send; -1 = all (RETR) */
	bool done;           /* TOP's line count is reached: feed no more */
};

/* msgout_init: body_lines < 0 for RETR (the whole message), else TOP's n. */
void msgout_init(struct msgout *m, long long body_lines);

/* msgout_feed: converts in[0..len) and appends the result to out. Returns
 * the bytes used: all of len unless TOP's end came first (m->done). */
size_t msgout_feed(struct msgout *m, const char *in, size_t len, buf *out);

/* msgout_finish: appends the end of the answer (CRLF if the message did
 * not end with a line end, then ".CRLF"). */
void msgout_finish(struct msgout *m, buf *out);

#endif
