/* imapsearch_reply.c: the untagged reply of a SEARCH program written in
 * pieces of about a given size, so a reply naming 100,000 messages goes
 * out through the caller's backpressured stream a chunk at a time instead
 * of being built whole: "* SEARCH n n ..." (RFC 3501, CONDSTORE's
 * "(MODSEQ n)") or "* ESEARCH ..." with its ALL set (RFC 4731, RFC 5182,
 * RFC 7162 3.1.5). The numbers come straight from the program's result
 * set; the reply holds only a cursor into it. */
#include "imapsearch_int.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

enum reply_stage {
	REPLY_HEAD,  /* "* SEARCH" or "* ESEARCH ... [ALL ]" */
	REPLY_LIST,  /* the numbers, or the ALL set's ranges */
	REPLY_TAIL,  /* MODSEQ and CRLF */
	REPLY_DONE,
};

struct imapsearch_reply {
	const imapsearch *prog;
	char *tag;
	enum reply_stage stage;
	struct imapseq_iter it; /* SEARCH: the next number */
	size_t range;		/* ESEARCH ALL: the next range */
};

imapsearch_reply *imapsearch_reply_new(const imapsearch *prog, const char *tag)
{
	imapsearch_reply *r = xcalloc(1, sizeof(*r));

	r->prog = prog;
	r->tag = tag != NULL ? xstrdup(tag) : NULL;
	/* RFC 5182 2.4: SAVE alone gives no ESEARCH reply */
	r->stage = prog->esearch && prog->ret == SEARCH_RET_SAVE ? REPLY_DONE : REPLY_HEAD;
	imapseq_iter_init(&r->it, prog->result);
	return r;
}

void imapsearch_reply_free(imapsearch_reply **r)
{
	if (*r == NULL)
		return;
	free((*r)->tag);
	free(*r);
	*r = NULL;
}

/* reply_modseq: the MODSEQ an ESEARCH reply carries (RFC 7162 3.1.5):
 * the found message's for one of MIN / MAX alone, the larger of both for
 * MIN and MAX, else the highest of all matches. */
static uint64_t reply_modseq(const imapsearch *p)
{
	bool min_max = (p->ret & (SEARCH_RET_MIN | SEARCH_RET_MAX)) != 0 &&
		       (p->ret & (SEARCH_RET_ALL | SEARCH_RET_COUNT)) == 0;

	if (!min_max)
		return p->highest_modseq;
	if ((p->ret & SEARCH_RET_MIN) && (p->ret & SEARCH_RET_MAX))
		return p->modseq_min > p->modseq_max ? p->modseq_min : p->modseq_max;
	return (p->ret & SEARCH_RET_MIN) ? p->modseq_min : p->modseq_max;
}

/* esearch_head: everything before the ALL set; true when the set follows. */
static bool esearch_head(const imapsearch_reply *r, buf *out)
{
	const imapsearch *p = r->prog;
	bool found = !imapseq_is_empty(p->result);

	buf_puts(out, "* ESEARCH");
	if (r->tag != NULL) {
		buf_puts(out, " (TAG ");
		mime_imap_cstring(out, r->tag);
		buf_putc(out, ')');
	}
	if (p->uid)
		buf_puts(out, " UID");
	if (found && (p->ret & SEARCH_RET_MIN))
		buf_printf(out, " MIN %u", imapseq_min(p->result));
	if (found && (p->ret & SEARCH_RET_MAX))
		buf_printf(out, " MAX %u", imapseq_max(p->result));
	if (p->ret & SEARCH_RET_COUNT)
		buf_printf(out, " COUNT %llu", (unsigned long long)imapseq_count(p->result));
	if (!found || !(p->ret & SEARCH_RET_ALL))
		return false;
	buf_puts(out, " ALL ");
	return true;
}

static void put_head(imapsearch_reply *r, buf *out)
{
	if (!r->prog->esearch) {
		buf_puts(out, "* SEARCH");
		r->stage = REPLY_LIST;
		return;
	}
	r->stage = esearch_head(r, out) ? REPLY_LIST : REPLY_TAIL;
}

/* put_list: numbers (or ranges) until out grew by max bytes or the list
 * ended. */
static void put_list(imapsearch_reply *r, buf *out, size_t start, size_t max)
{
	size_t count;
	const struct imapseq_range *rg = imapseq_ranges(r->prog->result, &count);
	uint32_t n;

	while (buf_len(out) - start < max) {
		if (!r->prog->esearch) {
			if (!imapseq_iter_next(&r->it, &n))
				break;
			buf_printf(out, " %u", n);
			continue;
		}
		if (r->range >= count)
			break;
		if (r->range > 0)
			buf_putc(out, ',');
		if (rg[r->range].lo == rg[r->range].hi)
			buf_printf(out, "%u", rg[r->range].lo);
		else
			buf_printf(out, "%u:%u", rg[r->range].lo, rg[r->range].hi);
		r->range++;
	}
	if (buf_len(out) - start < max)
		r->stage = REPLY_TAIL;
}

static void put_tail(imapsearch_reply *r, buf *out)
{
	const imapsearch *p = r->prog;
	bool found = !imapseq_is_empty(p->result);

	if (found && p->modseq_used && !p->esearch)
		buf_printf(out, " (MODSEQ %llu)", (unsigned long long)p->highest_modseq);
	else if (found && p->modseq_used)
		buf_printf(out, " MODSEQ %llu", (unsigned long long)reply_modseq(p));
	buf_puts(out, "\r\n");
	r->stage = REPLY_DONE;
}

bool imapsearch_reply_next(imapsearch_reply *r, buf *out, size_t max)
{
	size_t start = buf_len(out);

	while (r->stage != REPLY_DONE && buf_len(out) - start < max) {
		switch (r->stage) {
		case REPLY_HEAD: put_head(r, out); break;
		case REPLY_LIST: put_list(r, out, start, max); break;
		case REPLY_TAIL: put_tail(r, out); break;
		case REPLY_DONE: break;
		}
	}
	return r->stage != REPLY_DONE;
}

void imapsearch_format(const imapsearch *prog, const char *tag, buf *out)
{
	imapsearch_reply *r = imapsearch_reply_new(prog, tag);

	while (imapsearch_reply_next(r, out, (size_t)-1))
		;
	imapsearch_reply_free(&r);
}
