/* msgout.c: the wire form of a message for RETR and TOP (see msgout.h).
 * The conversion itself is lib/dot.c's encoder; RETR hands it whole
 * chunks, TOP a line at a time so it can count header and body lines. */
#include "msgout.h"

#include <string.h>

void msgout_init(struct msgout *m, long long body_lines)
{
	memset(m, 0, sizeof(*m));
	dot_encoder_init(&m->enc);
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
	m->line_has_text = false;
}

/* feed_top: TOP, a line at a time until the line count is reached. */
static size_t feed_top(struct msgout *m, const char *in, size_t len, buf *out)
{
	size_t used = 0;

	while (used < len && !m->done) {
		size_t n = dot_encode_line(&m->enc, in + used, len - used, out);
		bool ended = in[used + n - 1] == '\n';

		if (!m->line_has_text)
			m->line_has_text = line_text(in + used, n - ended);
		used += n;
		if (ended)
			line_ended(m);
	}
	return used;
}

size_t msgout_feed(struct msgout *m, const char *in, size_t len, buf *out)
{
	if (m->body_left >= 0)
		return feed_top(m, in, len, out);
	dot_encode(&m->enc, in, len, out); /* RETR: the hot path */
	return len;
}

void msgout_finish(struct msgout *m, buf *out)
{
	dot_encode_finish(&m->enc, out);
}
