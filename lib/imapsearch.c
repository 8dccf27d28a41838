/* imapsearch.c: a compiled SEARCH program's life after parsing: matching
 * one message after another and keeping what matched (numbers, UIDs for
 * SAVE, MODSEQs), then the reply, "* SEARCH" (RFC 3501, with CONDSTORE's
 * MODSEQ) or "* ESEARCH" (RFC 4731, RFC 5182, RFC 7162 3.1.5), and the
 * result SAVE keeps as "$". Parsing is imapsearch_parse.c, evaluation
 * imapsearch_eval.c. */
#include "imapsearch_int.h"

#include <errno.h>
#include <stdlib.h>

#include "mem.h"

void imapsearch_free(imapsearch **prog)
{
	imapsearch *p = *prog;

	if (p == NULL)
		return;
	search_node_free(p->root);
	imapseq_free(&p->result);
	imapseq_free(&p->uids);
	imapseq_free(&p->saved);
	buf_free(&p->msg.header);
	buf_free(&p->msg.hdr_text);
	buf_free(&p->msg.body_text);
	buf_free(&p->msg.scratch);
	buf_free(&p->msg.folded);
	free(p);
	*prog = NULL;
}

enum imapsearch_need imapsearch_need(const imapsearch *prog)
{
	return prog->root->need;
}

bool imapsearch_uses_modseq(const imapsearch *prog)
{
	return prog->modseq_used;
}

bool imapsearch_is_esearch(const imapsearch *prog)
{
	return prog->esearch;
}

bool imapsearch_saves(const imapsearch *prog)
{
	return (prog->ret & SEARCH_RET_SAVE) != 0;
}

/* top_set: the set of the first top-level key of op without "$". */
static const imapseq *top_set(const imapsearch *prog, enum search_op op)
{
	const struct search_node *root = prog->root;

	for (size_t i = 0; i < root->nkids; i++)
		if (root->kids[i]->op == op && root->kids[i]->saved == NULL)
			return root->kids[i]->set;
	return NULL;
}

const imapseq *imapsearch_candidates(const imapsearch *prog)
{
	return top_set(prog, SEARCH_SEQ);
}

const imapseq *imapsearch_uid_candidates(const imapsearch *prog)
{
	return top_set(prog, SEARCH_UID);
}

/* saves_min_max: SAVE keeps only what MIN / MAX name (RFC 5182 2.4). */
static bool saves_min_max(const imapsearch *p)
{
	return (p->ret & (SEARCH_RET_MIN | SEARCH_RET_MAX)) != 0 &&
	       (p->ret & (SEARCH_RET_ALL | SEARCH_RET_COUNT)) == 0;
}

/* record: m matched. */
static void record(imapsearch *p, const struct imapmsg *m)
{
	bool first = imapseq_is_empty(p->uids);

	imapseq_add(p->result, p->uid ? m->uid : m->seq);
	imapseq_add(p->uids, m->uid);
	if (first) {
		p->min_uid = m->uid;
		p->modseq_min = m->modseq;
	}
	p->max_uid_found = m->uid;
	p->modseq_max = m->modseq;
	if (m->modseq > p->highest_modseq)
		p->highest_modseq = m->modseq;
	if ((p->ret & SEARCH_RET_SAVE) && saves_min_max(p)) {
		if (p->saved == NULL)
			p->saved = imapseq_new();
		imapseq_clear(p->saved);
		if (p->ret & SEARCH_RET_MIN)
			imapseq_add(p->saved, p->min_uid);
		if (p->ret & SEARCH_RET_MAX)
			imapseq_add(p->saved, p->max_uid_found);
	}
}

int imapsearch_match(imapsearch *prog, const struct imapmsg *m)
{
	struct search_msg *s = &prog->msg;
	int r, err;

	if (s->scratch == NULL) {
		s->header = buf_new(1024);
		s->hdr_text = buf_new(1024);
		s->body_text = buf_new(4096);
		s->scratch = buf_new(1024);
		s->folded = buf_new(1024);
	}
	s->m = m;
	r = search_eval(prog, prog->root);
	err = s->data_errno;
	search_msg_done(prog);
	if (r < 0) {
		errno = err != 0 ? err : EIO;
		return -1;
	}
	if (r > 0)
		record(prog, m);
	return r;
}

const imapseq *imapsearch_result(const imapsearch *prog)
{
	return prog->result;
}

const imapseq *imapsearch_saved(const imapsearch *prog)
{
	if (!(prog->ret & SEARCH_RET_SAVE))
		return NULL;
	if (saves_min_max(prog) && prog->saved != NULL)
		return prog->saved;
	return prog->uids; /* all matches, or none matched */
}

uint64_t imapsearch_highest_modseq(const imapsearch *prog)
{
	return prog->highest_modseq;
}
