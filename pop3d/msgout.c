/* msgout.c: the wire form of a message for RETR and TOP (see msgout.h).
 * Works a line at a time with memchr, copying each line in one piece. */
#include "msgout.h"

#include <string.h>

void msgout_init(struct msgout *m, long long body_lines)
{
	memset(m, 0, sizeof(*m));
	m->body_left = body_lines; /* 0: stop right after the blank line */
}

/* line_text: does seg[0..len) (a piece of the current line, no LF) add
 * anything but CRs to it? */
static bool line_text(const char *seg, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (seg[i] != '\r')
			return true;
	return false;
}

/* line_ended: the line just ended; header/body bookkeeping for TOP. */
static void line_ended(struct msgout *m)
{
	if (!m->in_body) {
		if (!m->line_has_text) {
			m->in_body = true;
			if (m->body_left == 0)
				m->done = true;
		}
	} else if (m->body_left > 0 && --m->body_left == 0) {
		m->done = true;
	}
	m->mid_line = false;
	m->prev_cr = false;
	m->line_has_text = false;
}

/* piece: copies seg[0..len) (no LF inside) into out, stuffing a leading
 * dot when it starts a line. */
static void piece(struct msgout *m, const char *seg, size_t len, buf *out)
{
	if (len == 0)
		return;
	if (!m->mid_line && seg[0] == '.')
		buf_putc(out, '.');
	buf_append(out, seg, len);
	if (!m->line_has_text)
		m->line_has_text = line_text(seg, len);
	m->prev_cr = seg[len - 1] == '\r';
	m->mid_line = true;
}

size_t msgout_feed(struct msgout *m, const char *in, size_t len, buf *out)
{
	size_t used = 0;

	while (used < len && !m->done) {
		const char *lf = memchr(in + used, '\n', len - used);
		size_t seg = lf != NULL ? (size_t)(lf - (in + used)) : len - used;

		piece(m, in + used, seg, out);
		used += seg;
		if (lf == NULL)
			break;
		buf_append(out, m->prev_cr ? "\n" : "\r\n", m->prev_cr ? 1 : 2);
		used++;
		line_ended(m);
	}
	return used;
}

void msgout_finish(struct msgout *m, buf *out)
{
	if (m->mid_line)
		buf_append(out, m->prev_cr ? "\n" : "\r\n", m->prev_cr ? 1 : 2);
	buf_append(out, ".\r\n", 3);
}
