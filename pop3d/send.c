/* send.c: RETR and TOP output. The message file is read in chunks,
 * converted to the wire form (msgout.c) and queued on the stream only
 * while the stream has less than POP3_OUTPUT_HIGH_WATER unsent, so a
 * large message or a slow client costs bounded memory. The session reads
 * no commands meanwhile (SESS_IN_OWN). A read error in the middle of a
 * message cannot be reported in POP3 (the +OK is gone): the connection
 * is closed, which a client sees as a failed download, never as a short
 * message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "pop3d.h"

#define SEND_CHUNK (128 * 1024)

void pop3d_send_start(struct session *s, size_t msg, int fd, long long body_lines)
{
	struct sender *snd = xcalloc(1, sizeof(*snd));

	snd->fd = fd;
	snd->msg = msg;
	msgout_init(&snd->conv, body_lines);
	s->send = snd;
	sess_set_input(s->base, SESS_IN_OWN);
}

void pop3d_send_abort(struct session *s)
{
	struct sender *snd = s->send;

	if (snd == NULL)
		return;
	close(snd->fd);
	free(snd);
	s->send = NULL;
	if (sess_input(s->base) == SESS_IN_OWN)
		sess_set_input(s->base, SESS_IN_COMMAND);
}

/* send_chunk: reads and converts one chunk. 1 = more to come, 0 = the
 * message is complete, -1 = read error. */
static int send_chunk(struct session *s, struct sender *snd)
{
	char raw[SEND_CHUNK];
	buf *out = s->srv->send_scratch; /* one per process: sessions take turns */
	ssize_t n = read(snd->fd, raw, sizeof(raw));
	bool end;

	if (n < 0 && errno == EINTR)
		return 1;
	if (n < 0)
		return -1;
	buf_reset(out);
	if (n > 0)
		msgout_feed(&snd->conv, raw, (size_t)n, out);
	/* a short read of a regular file is its end: no read(2) just for EOF */
	end = (size_t)n < sizeof(raw) || snd->conv.done;
	if (end)
		msgout_finish(&snd->conv, out);
	strm_write(s->stream, buf_cstr(out), buf_len(out));
	return end ? 0 : 1;
}

/* pop3d_send_step: queues output until the stream is full or the message
 * is done. STRM_AGAIN while the stream must drain first. */
int pop3d_send_step(struct session *s)
{
	struct sender *snd = s->send;

	while (strm_unflushed(s->stream) < POP3_OUTPUT_HIGH_WATER) {
		int r = send_chunk(s, snd);

		if (r == 0) {
			pop3d_send_abort(s); /* done: back to commands */
			return STRM_OK;
		}
		if (r < 0) {
			log_warn("%s: user=%s: read error in message UID %u: %s: disconnecting",
				 s->client, s->login, mbx_msg(s->mb, snd->msg)->uid, strerror(errno));
			pop3d_send_abort(s);
			sess_close(s->base);
			return STRM_OK;
		}
	}
	return strm_flush(s->stream); /* OK: all sent, go on; AGAIN: wait to write */
}
