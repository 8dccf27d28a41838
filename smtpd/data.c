/* data.c: message content from DATA (dot-stuffed, decoded by lib/dot.c's
 * dot_decode) and BDAT chunks (exact byte counts, CRLF -> LF here)
 * into the queue file. The header is held in memory until its end (a
 * blank line, or the first line that is not a header field) so its size
 * can be limited and, for local submissions, missing From:, Date: and
 * Message-ID: added. message_size_limit is enforced while reading: past
 * it, or past header_size_limit, or after a queue write error, the rest
 * is read and discarded and the reply comes at the end (552 5.3.4 /
 * 452 4.3.1). A message that got no 250 is never left in the queue.
 * For mail from outside (authres.c) the header block goes to DKIM at its
 * end and the body as it is written, Authentication-Results fields that
 * carry our authserv-id are dropped from the header (forgeries), and the
 * commit waits for the verdicts. Mail of AUTH and trusted clients goes to
 * the DKIM signer the same way (dkimsign.c), signed before the commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authres.h"
#include "dkimsign.h"
#include "log.h"
#include "mem.h"
#include "smtpd.h"

/* Header line scanner states. */
enum { HL_START = 0, HL_NAME, HL_FIELD };

bool smtpd_data_start(struct session *s)
{
	struct smtpd_txn *t = s->txn;

	if (smtpd_queue_open(s) < 0)
		return false;
	t->fail = FAIL_NONE;
	t->size = 0;
	t->in_header = true;
	t->hline = HL_START;
	t->hline_start = 0;
	t->hops = 0;
	t->bdat_cr = false;
	t->header = buf_new(1024);
	t->scratch = buf_new(16 * 1024);
	return true;
}

static void write_content(struct session *s, const char *data, size_t len)
{
	struct smtpd_txn *t = s->txn;
	char *err = NULL;

	if (t->fail != FAIL_NONE || len == 0)
		return;
	if (q_writer_content(t->writer, data, len, &err) < 0) {
		log_warn("%s: queue file write error: %s", t->qid, err);
		free(err);
		t->fail = FAIL_STORAGE;
	}
}

/* ---- header ---- */

/* header_has: a field of that name (with the colon) starts a line. */
static bool header_has(const char *h, size_t len, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i + n <= len;) {
		if (strncasecmp(h + i, name, n) == 0)
			return true;
		const char *lf = memchr(h + i, '\n', len - i);
		if (lf == NULL)
			break;
		i = (size_t)(lf - h) + 1;
	}
	return false;
}

/* add_local_headers: sendmail-submitted mail gets what it lacks, written
 * and appended to add. Returns true when something was added. */
static bool add_local_headers(struct session *s, const char *h, size_t len, buf *add)
{
	struct smtpd_txn *t = s->txn;
	char date[64];

	if (!header_has(h, len, "from:"))
		buf_printf(add, "From: %s\n", t->sender[0] ? t->sender : "MAILER-DAEMON");
	if (!header_has(h, len, "date:")) {
		smtpd_rfc2822_date(date, sizeof(date));
		buf_printf(add, "Date: %s\n", date);
	}
	if (!header_has(h, len, "message-id:"))
		buf_printf(add, "Message-ID: <%s@%s>\n", t->qid, s->srv->myhostname);
	write_content(s, buf_cstr(add), buf_len(add));
	return buf_len(add) > 0;
}

/* write_header: the header block, without the Authentication-Results
 * fields that claim our authserv-id when the client is not trusted. */
static void write_header(struct session *s, const char *h, size_t len)
{
	size_t kept = 0, i = 0;

	if (!smtpd_authres_strip(s)) {
		write_content(s, h, len);
		return;
	}
	while (i < len) {
		size_t end = i;
		do { /* the field: its first line and the folded ones */
			const char *lf = memchr(h + end, '\n', len - end);
			end = lf != NULL ? (size_t)(lf - h) + 1 : len;
		} while (end < len && (h[end] == ' ' || h[end] == '\t'));
		if ((h[i] == 'A' || h[i] == 'a') &&
		    authres_is_ours(h + i, end - i, s->srv->authserv_id)) {
			write_content(s, h + kept, i - kept);
			log_info("%s: removed a forged Authentication-Results field from %s",
				 s->txn->qid, s->client);
			kept = end;
		}
		i = end;
	}
	write_content(s, h + kept, len - kept);
}

/* body_out: body bytes: to the queue file, to DKIM verification and to
 * the DKIM signer. */
static void body_out(struct session *s, const char *data, size_t len)
{
	write_content(s, data, len);
	if (s->txn->auth != NULL)
		smtpd_authres_body(s, data, len);
	smtpd_sign_body(s, data, len);
}

/* end_header: writes the header (the first hlen bytes of t->header); what
 * follows in t->header is the start of the body. */
static void end_header(struct session *s, size_t hlen, bool at_blank_line)
{
	struct smtpd_txn *t = s->txn;
	const char *h = buf_cstr(t->header);
	size_t total = buf_len(t->header);
	buf *add = buf_new(256);

	t->in_header = false;
	smtpd_authres_header(s, h, hlen, at_blank_line);
	write_header(s, h, hlen);
	if (s->srv->local_service && add_local_headers(s, h, hlen, add) && !at_blank_line &&
	    total > hlen)
		write_content(s, "\n", 1); /* keep the body apart from the added fields */
	/* XXX: signed as received: a forged Authentication-Results that
	 * write_header drops is in the signer's copy, harmless unless an
	 * admin lists that field in dkim_signed_headers */
	smtpd_sign_header(s, h, hlen, add, at_blank_line);
	buf_free(&add);
	body_out(s, h + hlen, total - hlen);
	buf_free(&t->header);
}

static bool is_field_name_char(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/* count_hop: the field whose name just ended is one more Received:; a
 * message that has passed more than hopcount_limit hosts is in a loop. */
static void count_hop(struct session *s)
{
	struct smtpd_txn *t = s->txn;
	size_t len = buf_len(t->header) - t->hline_start;

	if (len == 8 && strncasecmp(buf_cstr(t->header) + t->hline_start, "Received", 8) == 0 &&
	    ++t->hops > s->srv->hop_limit && t->fail == FAIL_NONE)
		t->fail = FAIL_HOPS;
}

/* header_byte: scans one header byte; false when the header ended
 * before it (c itself is then the body's first byte, not yet stored). */
static bool header_byte(struct session *s, unsigned char c)
{
	struct smtpd_txn *t = s->txn;

	if (t->hline == HL_START) {
		t->hline_start = buf_len(t->header);
		if (c == '\n') {
			end_header(s, t->hline_start, true);
			return false;
		}
		t->hline = (c == ' ' || c == '\t') && t->hline_start > 0 ? HL_FIELD : HL_NAME;
	}
	if (t->hline == HL_NAME && !is_field_name_char(c)) {
		if (c == ':' && buf_len(t->header) > t->hline_start) {
			t->hline = HL_FIELD;
			count_hop(s);
		} else { /* not a header field: the body starts at this line */
			buf_putc(t->header, (char)c);
			end_header(s, t->hline_start, false);
			return true;
		}
	}
	buf_putc(t->header, (char)c);
	if (c == '\n')
		t->hline = HL_START;
	return true;
}

/* header_input: feeds header bytes; returns how many were taken before
 * the header ended (the rest is body). */
static size_t header_input(struct session *s, const char *data, size_t len)
{
	struct smtpd_txn *t = s->txn;
	size_t i;

	for (i = 0; i < len && t->in_header; i++)
		if (!header_byte(s, (unsigned char)data[i]))
			break; /* the blank line is body: not consumed here */
	if (t->in_header && (long long)buf_len(t->header) > s->srv->header_limit)
		t->fail = FAIL_HEADER;
	return i;
}

/* content_put: decoded content (LF line ends) in any pieces. */
static void content_put(struct session *s, const char *data, size_t len)
{
	struct smtpd_txn *t = s->txn;
	size_t used;

	if (t->fail != FAIL_NONE)
		return;
	t->size += (long long)len;
	if (s->srv->size_limit > 0 && t->size > s->srv->size_limit) {
		t->fail = FAIL_SIZE;
		return;
	}
	if (t->in_header) {
		used = header_input(s, data, len);
		data += used;
		len -= used;
	}
	if (!t->in_header)
		body_out(s, data, len);
}

/* ---- DATA and BDAT input ---- */

bool smtpd_data_input(struct session *s, const char *data, size_t len, size_t *used_r)
{
	struct smtpd_txn *t = s->txn;
	int done;

	buf_reset(t->scratch);
	done = dot_decode(&t->dot, data, len, t->scratch, used_r);
	content_put(s, buf_cstr(t->scratch), buf_len(t->scratch));
	return done == 1;
}

/* bdat_normalise: CRLF -> LF, also across chunk ends; bare CR kept. */
static void bdat_normalise(struct smtpd_txn *t, const char *data, size_t len, buf *out)
{
	for (size_t i = 0; i < len; i++) {
		char c = data[i];

		if (t->bdat_cr) {
			t->bdat_cr = false;
			if (c == '\n') {
				buf_putc(out, '\n');
				continue;
			}
			buf_putc(out, '\r');
		}
		if (c == '\r') {
			t->bdat_cr = true;
			continue;
		}
		const char *cr = memchr(data + i, '\r', len - i);
		size_t run = cr != NULL ? (size_t)(cr - (data + i)) : len - i;
		buf_append(out, data + i, run);
		i += run - 1;
	}
}

void smtpd_chunk_input(struct session *s, const char *data, size_t len)
{
	struct smtpd_txn *t = s->txn;

	if (s->chunk_err.code != 0 || t == NULL || s->state != ST_BDAT || t->fail != FAIL_NONE)
		return; /* read and dropped */
	buf_reset(t->scratch);
	bdat_normalise(t, data, len, t->scratch);
	content_put(s, buf_cstr(t->scratch), buf_len(t->scratch));
}

/* ---- the end ---- */

static void reply_failure(struct session *s)
{
	struct smtpd_txn *t = s->txn;

	switch (t->fail) {
	case FAIL_SIZE:
		log_info("%s: reject: message from %s larger than %lld bytes", t->qid, s->client,
			 s->srv->size_limit);
		smtpd_reply(s, 552, "5.3.4", "Error: message file too big");
		break;
	case FAIL_HOPS:
		log_info("%s: reject: too many hops from %s: more than %d Received: fields, a "
			 "mail loop", t->qid, s->client, s->srv->hop_limit);
		smtpd_reply(s, 554, "5.4.6", "Error: too many hops");
		break;
	case FAIL_HEADER:
		log_info("%s: reject: header from %s larger than %lld bytes", t->qid, s->client,
			 s->srv->header_limit);
		smtpd_reply(s, 552, "5.3.4", "Error: message header too big");
		break;
	default:
		smtpd_reply_storage(s);
		break;
	}
}

static void finish_message(struct session *s)
{
	struct smtpd_txn *t = s->txn;

	if (t->bdat_cr) {
		t->bdat_cr = false;
		content_put(s, "\r", 1);
	}
	if (t->fail == FAIL_NONE && t->in_header)
		end_header(s, buf_len(t->header), false);
	if (t->fail != FAIL_NONE) {
		reply_failure(s);
		smtpd_txn_reset(s);
		return;
	}
	if (smtpd_sign_end(s) < 0) {
		smtpd_reply(s, 451, "4.7.0", "Temporary failure: the message cannot be signed now");
		smtpd_txn_reset(s);
		return;
	}
	smtpd_authres_end(s);
}

void smtpd_data_commit(struct session *s)
{
	if (smtpd_queue_commit(s) < 0) {
		smtpd_reply_storage(s);
		smtpd_txn_reset(s);
	}
}

/* finish_chunk: the reply to a BDAT chunk whose bytes are all read. */
static void finish_chunk(struct session *s)
{
	struct smtpd_perr *e = &s->chunk_err;

	if (e->code != 0) {
		smtpd_reply(s, e->code, e->dsn, "%s", e->text);
		if (s->state == ST_BDAT || e->code == 452 || e->code == 552)
			smtpd_txn_reset(s); /* a failed chunk fails the transaction */
		e->code = 0;
		return;
	}
	if (s->txn->fail != FAIL_NONE) {
		reply_failure(s);
		smtpd_txn_reset(s);
		return;
	}
	if (s->chunk_last)
		finish_message(s);
	else
		smtpd_reply(s, 250, "2.0.0", "Ok: %lld bytes", s->txn->size);
}

void smtpd_data_finish(struct session *s)
{
	if (s->state == ST_DATA)
		finish_message(s);
	else
		finish_chunk(s);
}
