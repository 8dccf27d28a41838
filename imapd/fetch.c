/* fetch.c: FETCH and UID FETCH (RFC 3501 6.4.5, BINARY of RFC 3516,
 * MODSEQ and CHANGEDSINCE of RFC 7162) through lib/imapfetch. The command
 * resolves its set, then streams the replies: a message's "* n FETCH
 * (...)" is rendered in chunks only while the stream holds less than
 * IMAPD_FETCH_HIGH_WATER unsent bytes; the session's step resumes it when
 * the output drained (lib/conn calls the step again), and pipelined
 * commands wait until it is done. \Seen is set on the messages a non-PEEK
 * body item reads (read-write folder) as the replies go out, one
 * imapbox_store per IMAPD_SEEN_BATCH messages just before theirs (FETCH
 * 1:* BODY[] over 100,000 messages renames at most one batch ahead of
 * what it sent); a reply whose message got \Seen carries FLAGS, and
 * MODSEQ under CONDSTORE. A message expunged by another process (or whose
 * file vanished) gets no reply and the tagged answer is NO, as is an
 * unknown transfer encoding under BINARY ([UNKNOWN-CTE]); the other
 * messages are still sent. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "imapfetch.h"
#include "log.h"
#include "mem.h"

struct imapd_fetch {
	imapfetch_spec *spec;
	uint32_t *seqs;
	size_t n, next;
	bool sets_seen;     /* \Seen to be set on the messages sent */
	size_t seen_upto;   /* seqs[0..seen_upto) had it set */
	uint32_t *seen_seqs; /* \Seen set by the last batch (ascending) */
	size_t nseen;
	unsigned need;      /* IMAPBOX_NEED_ bits */
	struct imapmsg m;
	imapfetch_render *render;
	buf *chunk;
	size_t gone;        /* messages not sent: expunged or unreadable */
	bool unknown_cte;
	bool uid;
	bool record_sizes;  /* have the sizes recorded when done */
};

static bool is_uid_command(const struct imapcmd *cmd)
{
	return strncasecmp(cmd->name, "UID", 3) == 0;
}

static void fetch_free(struct session *s, struct imapd_fetch **fp)
{
	struct imapd_fetch *f = *fp;

	if (f == NULL)
		return;
	imapfetch_render_end(&f->render);
	imapd_msg_release(s);
	imapfetch_spec_free(&f->spec);
	buf_free(&f->chunk);
	free(f->seqs);
	free(f->seen_seqs);
	free(f);
	*fp = NULL;
}

void imapd_fetch_abort(struct session *s)
{
	fetch_free(s, &s->fetch);
}

static bool seen_now(const struct imapd_fetch *f, uint32_t seq)
{
	return f->nseen > 0 &&
	       bsearch(&seq, f->seen_seqs, f->nseen, sizeof(seq), imapd_cmp_u32) != NULL;
}

/* set_seen_batch: \Seen on the next IMAPD_SEEN_BATCH messages of the set
 * that lack it, before their replies are rendered. */
static void set_seen_batch(struct session *s, struct imapd_fetch *f)
{
	struct imapbox_store st = { .op = IMAPBOX_STORE_ADD, .flags = IMAPMSG_SEEN };
	struct imapbox_store_result res;
	size_t end = f->n - f->next > IMAPD_SEEN_BATCH ? f->next + IMAPD_SEEN_BATCH : f->n;
	uint32_t todo[IMAPD_SEEN_BATCH];
	size_t k = 0;
	char *err = NULL;

	memset(&res, 0, sizeof(res)); /* what was stored, also after an error */
	for (size_t i = f->next; i < end; i++)
		if (!imapbox_expunged(s->box, f->seqs[i]) &&
		    !(imapbox_flags(s->box, f->seqs[i]) & IMAPMSG_SEEN))
			todo[k++] = f->seqs[i];
	f->seen_upto = end;
	f->nseen = 0;
	if (k > 0 && imapbox_store(s->box, todo, k, &st, &res, &err) != IMAPBOX_OK) {
		log_warn("%s: user=%s: FETCH: cannot set \\Seen: %s", s->client, s->login,
			 err != NULL ? err : "?");
		free(err);
	}
	if (res.nchanged > 0) {
		if (f->seen_seqs == NULL)
			f->seen_seqs = xcalloc(IMAPD_SEEN_BATCH, sizeof(*f->seen_seqs));
		memcpy(f->seen_seqs, res.changed_seqs, res.nchanged * sizeof(*f->seen_seqs));
		f->nseen = res.nchanged;
	}
}

/* changedsince: keeps only the messages whose MODSEQ is above it. */
static void filter_changedsince(struct session *s, struct imapd_fetch *f, uint64_t since)
{
	size_t k = 0;

	for (size_t i = 0; i < f->n; i++)
		if (imapbox_modseq(s->box, f->seqs[i]) > since)
			f->seqs[k++] = f->seqs[i];
	f->n = k;
}

/* arg_names: whether an atom in args (lists too) starts with word. */
static bool arg_names(const struct imapcmd_arg *args, size_t n, const char *word)
{
	for (size_t i = 0; i < n; i++) {
		if (args[i].type == IMAPCMD_LIST && arg_names(args[i].list, args[i].count, word))
			return true;
		if (args[i].type == IMAPCMD_ATOM && strncasecmp(args[i].str, word, strlen(word)) == 0)
			return true;
	}
	return false;
}

/* box_need: what imapbox_msg must learn: the date for INTERNALDATE (or
 * the ALL / FAST / FULL macros), the size for RFC822.SIZE and macros. */
static unsigned box_need(const imapfetch_spec *spec, const struct imapcmd_arg *args, size_t n)
{
	unsigned need = 0;

	(void)spec;
	if (arg_names(args, n, "INTERNALDATE") || arg_names(args, n, "ALL") ||
	    arg_names(args, n, "FAST") || arg_names(args, n, "FULL"))
		need |= IMAPBOX_NEED_DATE;
	if (arg_names(args, n, "RFC822.SIZE") || arg_names(args, n, "ALL") ||
	    arg_names(args, n, "FAST") || arg_names(args, n, "FULL"))
		need |= IMAPBOX_NEED_SIZE;
	return need;
}

void imapd_cmd_fetch(struct session *s, const struct imapcmd *cmd)
{
	bool uid = is_uid_command(cmd);
	struct imapd_fetch *f;
	const char *why = NULL;
	imapfetch_spec *spec;
	uint32_t *seqs;
	size_t n;

	if (cmd->count < 2 || cmd->count > 3) {
		imapd_bad(s, "Syntax: %sFETCH set items [(CHANGEDSINCE n)]", uid ? "UID " : "");
		return;
	}
	spec = imapfetch_parse(cmd->args + 1, cmd->count - 1, uid, &why);
	if (spec == NULL) {
		imapd_bad(s, "FETCH: %s", why);
		return;
	}
	if (!imapd_msgset(s, &cmd->args[0], uid, &seqs, &n)) {
		imapfetch_spec_free(&spec);
		return;
	}
	if (imapfetch_uses_modseq(spec))
		s->condstore = true;
	f = xcalloc(1, sizeof(*f));
	f->spec = spec;
	f->seqs = seqs;
	f->n = n;
	f->uid = uid;
	f->need = box_need(spec, cmd->args + 1, cmd->count - 1);
	f->chunk = buf_new(IMAPD_FETCH_CHUNK + 256);
	f->record_sizes = (f->need & IMAPBOX_NEED_SIZE) && imapd_msgsource_sizes_unknown(s, seqs, n);
	if (imapfetch_changedsince(spec) > 0)
		filter_changedsince(s, f, imapfetch_changedsince(spec));
	f->sets_seen = imapfetch_sets_seen(spec) && imapbox_read_write(s->box);
	s->fetch = f; /* imapd_fetch_step streams it */
}

/* fetch_done: the tagged reply, after the changes others made (no
 * expunges during FETCH, RFC 3501 7.4.1). */
static void fetch_done(struct session *s)
{
	struct imapd_fetch *f = s->fetch;
	bool uid = f->uid;
	size_t gone = f->gone;
	bool cte = f->unknown_cte;
	bool record = f->record_sizes;

	fetch_free(s, &s->fetch);
	imapd_msgsource_flush(s);
	imapd_report(s, false);
	if (cte)
		imapd_no(s, "UNKNOWN-CTE", "Unknown Content-Transfer-Encoding in a BINARY part.");
	else if (gone > 0)
		imapd_no(s, NULL, "Some messages were expunged meanwhile and are not sent.");
	else
		imapd_ok(s, "%sFetch completed.", uid ? "UID " : "");
	if (record) {
		(void)strm_flush(s->stream); /* the client's answer first */
		imapd_msgsource_record_sizes(s);
	}
}

/* fetch_cut_short: the message being sent shrank under its mapping
 * (lib/mapguard gave zeros for the lost bytes): its literal cannot be
 * finished truthfully, so the session ends without the chunk that holds
 * them and without a tagged reply; a client takes nothing from the FETCH. */
static void fetch_cut_short(struct session *s)
{
	log_warn("%s: FETCH aborted: message UID %u was cut short while it was sent; "
		  "closing the session", s->client, s->map_uid);
	fetch_free(s, &s->fetch);
	sess_close(s->base);
}

/* begin_next: the render of the next message that can be sent; false at
 * the end. */
static bool begin_next(struct session *s, struct imapd_fetch *f)
{
	while (f->next < f->n) {
		uint32_t seq;
		enum imapfetch_result res = IMAPFETCH_OK;
		unsigned opt = 0;

		if (f->sets_seen && f->next >= f->seen_upto)
			set_seen_batch(s, f);
		seq = f->seqs[f->next++];

		if (imapd_msg(s, seq, f->need & ~IMAPBOX_NEED_SIZE, &f->m) < 0 ||
		    ((f->need & IMAPBOX_NEED_SIZE) && imapd_msg_size(s, &f->m) < 0)) {
			if (errno != ENOENT)
				log_warn("%s: user=%s: FETCH of UID %u: %s", s->client, s->login,
					 imapbox_uid(s->box, seq), strerror(errno));
			f->gone++;
			continue;
		}
		if (seen_now(f, seq))
			opt |= IMAPFETCH_RENDER_FLAGS | (s->condstore ? IMAPFETCH_RENDER_MODSEQ : 0);
		f->render = imapfetch_render_begin(f->spec, &f->m, opt, &res);
		if (res == IMAPFETCH_OK)
			return true;
		imapfetch_render_end(&f->render);
		if (res == IMAPFETCH_UNKNOWN_CTE)
			f->unknown_cte = true;
		else
			f->gone++;
		if (res == IMAPFETCH_IO)
			log_warn("%s: user=%s: FETCH of UID %u: cannot read the message", s->client,
				 s->login, f->m.uid);
	}
	return false;
}

int imapd_fetch_step(struct session *s)
{
	struct imapd_fetch *f = s->fetch;
	uint64_t until = imapd_clock_ms() + IMAPD_SLICE_MS;
	unsigned turns = 0;

	while (strm_unflushed(s->stream) < IMAPD_FETCH_HIGH_WATER) {
		int more;

		if (++turns % 64 == 0 && imapd_clock_ms() >= until) {
			imapd_yield(s); /* the process's other sessions first */
			break;
		}
		if (f->render == NULL && !begin_next(s, f)) {
			fetch_done(s);
			return STRM_OK;
		}
		buf_reset(f->chunk);
		more = imapfetch_render_next(f->render, f->chunk, IMAPD_FETCH_CHUNK);
		if (imapd_msgsource_cut_short(s)) {
			fetch_cut_short(s);
			return STRM_OK;
		}
		strm_write(s->stream, buf_cstr(f->chunk), buf_len(f->chunk));
		if (!more)
			imapfetch_render_end(&f->render);
	}
	return strm_flush(s->stream);
}
