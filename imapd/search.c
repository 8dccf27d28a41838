/* search.c: SEARCH and UID SEARCH (RFC 3501 6.4.4) through
 * lib/imapsearch, with ESEARCH's RETURN (RFC 4731), SEARCHRES's SAVE and
 * "$" (RFC 5182: the session keeps the saved result as UIDs, usable in
 * FETCH, STORE, COPY and SEARCH sets), WITHIN (RFC 5032), CONDSTORE's
 * MODSEQ key (RFC 7162) and CHARSET (UTF-8, US-ASCII; others NO
 * [BADCHARSET]). The program runs over the view in ascending order, in
 * turns of IMAPD_SLICE_MS between which the process's other sessions run
 * (the session reads no command meanwhile); a message expunged meanwhile
 * is no match. The untagged reply then goes out as FETCH's replies do, a
 * chunk at a time while the stream holds less than IMAPD_FETCH_HIGH_WATER
 * unsent bytes (lib/imapsearch_reply), so 100,000 matches never make one
 * big buffer and a slow reader holds up nothing but its own session. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imapd.h"
#include "imapsearch.h"
#include "log.h"
#include "mem.h"

/* has_atom: whether an atom of args (lists too) is one of words. */
static bool has_atom(const struct imapcmd_arg *args, size_t n, const char *const *words)
{
	for (size_t i = 0; i < n; i++) {
		if (args[i].type == IMAPCMD_LIST && has_atom(args[i].list, args[i].count, words))
			return true;
		for (size_t w = 0; args[i].type == IMAPCMD_ATOM && words[w] != NULL; w++)
			if (strcasecmp(args[i].str, words[w]) == 0)
				return true;
	}
	return false;
}

/* box_need: the date for INTERNALDATE keys, the size for LARGER/SMALLER. */
static unsigned box_need(const struct imapcmd *cmd)
{
	static const char *const dates[] = { "BEFORE", "ON", "SINCE", "OLDER", "YOUNGER", NULL };
	static const char *const sizes[] = { "LARGER", "SMALLER", NULL };
	unsigned need = 0;

	if (has_atom(cmd->args, cmd->count, dates))
		need |= IMAPBOX_NEED_DATE;
	if (has_atom(cmd->args, cmd->count, sizes))
		need |= IMAPBOX_NEED_SIZE;
	return need;
}

/* wants_save: RETURN (... SAVE ...) in a command that failed (RFC 5182:
 * the saved result is then emptied). */
static bool wants_save(const struct imapcmd *cmd)
{
	static const char *const save[] = { "SAVE", NULL };

	return cmd->count >= 2 && imapcmd_is_atom(&cmd->args[0], "RETURN") &&
	       cmd->args[1].type == IMAPCMD_LIST && has_atom(cmd->args[1].list, cmd->args[1].count, save);
}

static int local_zone_minutes(time_t now)
{
	struct tm tm;

	return localtime_r(&now, &tm) != NULL ? (int)(tm.tm_gmtoff / 60) : 0;
}

struct imapd_search {
	imapsearch *prog;
	const imapseq *cand, *ucand; /* the program's candidate sets */
	unsigned need;   /* IMAPBOX_NEED_ bits */
	uint32_t next;   /* the next sequence number to look at */
	bool uid;
	imapsearch_reply *reply; /* the untagged reply being sent, after the run */
	buf *chunk;
};

void imapd_search_abort(struct session *s)
{
	if (s->search == NULL)
		return;
	imapsearch_reply_free(&s->search->reply);
	imapsearch_free(&s->search->prog);
	buf_free(&s->search->chunk);
	free(s->search);
	s->search = NULL;
}

/* match_one: the program on message seq (unless a candidate set rules it
 * out); a message expunged meanwhile is no match. */
static void match_one(struct session *s, struct imapd_search *q, uint32_t seq)
{
	struct imapmsg m;

	if (q->cand != NULL && !imapseq_contains(q->cand, seq))
		return;
	if (q->ucand != NULL && !imapseq_contains(q->ucand, imapbox_uid(s->box, seq)))
		return;
	if (imapd_msg(s, seq, q->need, &m) < 0)
		return;
	if (imapsearch_match(q->prog, &m) < 0 && errno != ENOENT)
		log_warn("%s: user=%s: SEARCH: UID %u unreadable: %s", s->client, s->login, m.uid,
			 strerror(errno));
}

/* search_done: "$" kept, the tagged OK (the untagged reply was sent). */
static void search_done(struct session *s)
{
	struct imapd_search *q = s->search;
	bool uid = q->uid;

	if (imapsearch_saves(q->prog)) {
		imapseq_free(&s->saved);
		s->saved = imapseq_new();
		if (imapsearch_saved(q->prog) != NULL)
			imapseq_add_set(s->saved, imapsearch_saved(q->prog));
	}
	imapd_search_abort(s);
	imapd_msgsource_flush(s);
	imapd_report(s, false);
	imapd_ok(s, "%sSearch completed.", uid ? "UID " : "");
}

/* send_reply: the untagged reply, a chunk at a time while the stream
 * takes it; search_done when all of it went. */
static int send_reply(struct session *s, struct imapd_search *q)
{
	while (strm_unflushed(s->stream) < IMAPD_FETCH_HIGH_WATER) {
		bool more;

		buf_reset(q->chunk);
		more = imapsearch_reply_next(q->reply, q->chunk, IMAPD_FETCH_CHUNK);
		if (buf_len(q->chunk) > 0)
			strm_write(s->stream, buf_cstr(q->chunk), buf_len(q->chunk));
		if (!more) {
			search_done(s);
			return STRM_OK;
		}
	}
	return strm_flush(s->stream);
}

int imapd_search_step(struct session *s)
{
	struct imapd_search *q = s->search;
	uint32_t count = imapbox_count(s->box);
	uint64_t until = imapd_clock_ms() + IMAPD_SLICE_MS;

	if (q->reply != NULL)
		return send_reply(s, q);
	while (q->next <= count) {
		match_one(s, q, q->next++);
		if (q->next % 64 == 0 && imapd_clock_ms() >= until) {
			imapd_yield(s); /* the process's other sessions first */
			return STRM_OK;
		}
	}
	q->reply = imapsearch_reply_new(q->prog, s->tag != NULL ? s->tag : "");
	q->chunk = buf_new(IMAPD_FETCH_CHUNK + 64);
	return send_reply(s, q);
}

void imapd_cmd_search(struct session *s, const struct imapcmd *cmd)
{
	bool uid = strncasecmp(cmd->name, "UID", 3) == 0;
	uint32_t count = imapbox_count(s->box);
	struct imapsearch_box box = {
		.messages = count,
		.max_uid = count > 0 ? imapbox_uid(s->box, count) : 0,
		.saved = s->saved,
		.now = time(NULL),
	};
	const char *why = NULL;
	imapsearch *prog = NULL;
	enum imapsearch_status st;
	struct imapd_search *q;

	box.zone_minutes = local_zone_minutes(box.now);
	st = imapsearch_parse(cmd->args, cmd->count, uid, &box, &prog, &why);
	if (st != IMAPSEARCH_OK) {
		if (wants_save(cmd))
			imapseq_free(&s->saved);
		if (st == IMAPSEARCH_BADCHARSET)
			imapd_tagged(s, "NO", NULL, "%s", IMAPSEARCH_BADCHARSET_TEXT);
		else
			imapd_bad(s, "SEARCH: %s", why != NULL ? why : "syntax error");
		return;
	}
	if (imapsearch_uses_modseq(prog))
		s->condstore = true;
	q = xcalloc(1, sizeof(*q));
	q->prog = prog;
	q->cand = imapsearch_candidates(prog);
	q->ucand = imapsearch_uid_candidates(prog);
	q->need = box_need(cmd);
	q->next = 1;
	q->uid = uid;
	s->search = q; /* imapd_search_step runs it, in turns */
}
