/* idle.c: IDLE (RFC 2177): "+ idling", then the session reads lines
 * instead of commands until the client's DONE, which gets the tagged OK;
 * any other line ends the IDLE with BAD. While idling the autologout
 * timer (imapd_timeout, RFC 3501 5.4: at least 30 minutes) runs as for
 * any logged-in session; the client renews its IDLE before it. In the
 * selected state changes of the folder (a delivery, another session's
 * STORE or EXPUNGE) wake the session through lib/watch (mailbox.c), which
 * sends the untagged replies at once. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "log.h"
#include "mem.h"

void imapd_cmd_idle(struct session *s, const struct imapcmd *cmd)
{
	if (cmd->count != 0) {
		imapd_bad(s, "IDLE takes no arguments.");
		return;
	}
	s->idling = true;
	imapd_raw(s, "+ idling\r\n");
	imapd_report_changes(s);
	imapd_mailbox_watch(s, true);
}

void imapd_idle_end(struct session *s)
{
	s->idling = false;
	imapd_mailbox_watch(s, false);
}

/* line_from: a whole line at the start of data[0..len): its length
 * without the line end in *n_r and the bytes to drop in *used_r. */
static bool line_from(const char *data, size_t len, size_t *n_r, size_t *used_r)
{
	const char *lf = memchr(data, '\n', len);

	if (lf == NULL)
		return false;
	*used_r = (size_t)(lf - data) + 1;
	*n_r = (size_t)(lf - data);
	if (*n_r > 0 && data[*n_r - 1] == '\r')
		(*n_r)--;
	return true;
}

static void idle_line(struct session *s, const char *line, size_t n)
{
	imapd_idle_end(s);
	if (n == 4 && strncasecmp(line, "DONE", 4) == 0) {
		imapd_ok(s, "IDLE completed.");
		return;
	}
	log_info("%s: IDLE ended by something else than DONE", s->client);
	imapd_bad(s, "Expected DONE.");
}

int imapd_idle_step(struct session *s)
{
	const char *data;
	size_t len, n, used;
	int r;

	for (;;) {
		if (s->pending != NULL &&
		    line_from(buf_cstr(s->pending), buf_len(s->pending), &n, &used)) {
			idle_line(s, buf_cstr(s->pending), n);
			buf_consume(s->pending, used);
			if (buf_len(s->pending) == 0)
				buf_free(&s->pending);
			return STRM_OK;
		}
		if (s->pending != NULL && buf_len(s->pending) > IMAPD_IDLE_LINE_MAX) {
			imapd_idle_end(s);
			log_warn("%s: IDLE continuation line too long", s->client);
			imapd_untagged(s, "BYE IDLE continuation line too long.");
			sess_close(s->base);
			return STRM_OK;
		}
		r = strm_read_bytes(s->stream, IMAPD_READ_CHUNK, &data, &len);
		if (r != STRM_OK)
			return r;
		if (len == 0)
			return STRM_AGAIN;
		if (s->pending == NULL)
			s->pending = buf_new(len);
		buf_append(s->pending, data, len);
	}
}
