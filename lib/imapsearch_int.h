/* imapsearch_int.h: the inside of a compiled SEARCH program, shared by
 * imapsearch.c (results and reply), imapsearch_parse.c (keys -> tree) and
 * imapsearch_eval.c (tree -> match for one message). A program is a tree
 * of nodes; AND children are ordered cheapest first so that the message's
 * header or bytes are only fetched when the keys that need no I/O pass. */
#ifndef POSTERN_IMAPSEARCH_INT_H
#define POSTERN_IMAPSEARCH_INT_H

#include "imapsearch.h"
#include "mime.h"

enum search_op {
	SEARCH_ALL,	   /* ALL, and an empty AND */
	SEARCH_AND,	   /* the keys of the command, or a parenthesised list */
	SEARCH_OR,	   /* exactly two children */
	SEARCH_NOT,	   /* one child */
	SEARCH_FLAGS,	   /* (flags & mask) == want */
	SEARCH_KEYWORD,	   /* KEYWORD (UNKEYWORD is NOT KEYWORD) */
	SEARCH_SEQ,	   /* message set; with "$" also the saved UIDs */
	SEARCH_UID,	   /* UID set; with "$" also the saved UIDs */
	SEARCH_LARGER,	   /* size > number */
	SEARCH_SMALLER,	   /* size < number */
	SEARCH_BEFORE,	   /* INTERNALDATE's day < day */
	SEARCH_ON,
	SEARCH_SINCE,	   /* INTERNALDATE's day >= day */
	SEARCH_SENTBEFORE, /* the same on the Date: header's day */
	SEARCH_SENTON,
	SEARCH_SENTSINCE,
	SEARCH_OLDER,	   /* now - INTERNALDATE > number (seconds) */
	SEARCH_YOUNGER,	   /* now - INTERNALDATE <= number */
	SEARCH_MODSEQ,	   /* MODSEQ >= number */
	SEARCH_HEADER,	   /* field contains text (FROM, TO, CC, BCC, SUBJECT, HEADER) */
	SEARCH_BODY,	   /* the decoded body text contains text */
	SEARCH_TEXT,	   /* header or body contains text */
};

/* How much a node costs: what it needs (enum imapsearch_need order). */
struct search_node {
	enum search_op op;
	enum imapsearch_need need;
	struct search_node **kids;
	size_t nkids;
	unsigned mask, want;  /* SEARCH_FLAGS */
	char *str;	      /* KEYWORD name; folded search text */
	size_t len;
	char *field;	      /* SEARCH_HEADER field name */
	imapseq *set;	      /* SEARCH_SEQ, SEARCH_UID */
	imapseq *saved;	      /* "$" in the set: the saved UIDs (may be empty) */
	uint64_t number;      /* sizes, seconds, MODSEQ, day numbers (as long) */
	long day;
};

/* What has been got for the message being matched: loaded on first use,
 * dropped by search_msg_done. */
struct search_msg {
	const struct imapmsg *m;
	bool tried_data;      /* data() was called (ok or not) */
	int data_errno;	      /* its errno when it failed, else 0 */
	const char *data;
	size_t len;
	buf *header;	      /* the cached header block, when used */
	mime_msg *hmime;      /* header only (cache block or data) */
	mime_msg *mime;	      /* the whole message */
	buf *hdr_text;	      /* every header field decoded and folded */
	buf *body_text;	      /* the body's text decoded and folded */
	bool have_hdr_text, have_body_text;
	bool have_sent;
	long sent_day;
	buf *scratch;
	buf *folded;	      /* one field's value, folded */
};

struct imapsearch {
	struct search_node *root;
	bool uid;
	bool esearch;
	unsigned ret;		/* SEARCH_RET_ bits */
	bool modseq_used;
	size_t nkeys;
	struct imapsearch_box box;
	imapseq *result;	/* seq numbers or UIDs */
	imapseq *uids;		/* UIDs of the matches, for SAVE */
	imapseq *saved;		/* what SAVE keeps, made by imapsearch_saved */
	uint32_t min_uid, max_uid_found; /* UIDs of the first and last match */
	uint64_t highest_modseq;
	uint64_t modseq_min, modseq_max; /* MODSEQs of the first and last match */
	struct search_msg msg;
};

#define SEARCH_RET_MIN (1u << 0)
#define SEARCH_RET_MAX (1u << 1)
#define SEARCH_RET_ALL (1u << 2)
#define SEARCH_RET_COUNT (1u << 3)
#define SEARCH_RET_SAVE (1u << 4)

/* imapsearch_parse.c */
void search_node_free(struct search_node *n);

/* The parser's cursor over the arguments. */
struct search_parser {
	const struct imapcmd_arg *args;
	size_t count, pos;
	imapsearch *prog;
	const char *error;
};

/* imapsearch_args.c: one key's arguments; 0 or -1 with sp->error set. */
const struct imapcmd_arg *search_next_arg(struct search_parser *sp, const char *missing);
const struct imapcmd_arg *search_arg_string(struct search_parser *sp);
int search_arg_number(struct search_parser *sp, uint64_t min, uint64_t *n_r);
int search_arg_date(struct search_parser *sp, long *day_r);
int search_arg_set(struct search_parser *sp, struct search_node *n, const struct imapcmd_arg *a);
int search_arg_keyword(struct search_parser *sp, struct search_node *n);
void search_arg_text(struct search_node *n, const struct imapcmd_arg *a);
int search_arg_header(struct search_parser *sp, struct search_node *n);
int search_arg_modseq(struct search_parser *sp, struct search_node *n);

/* imapsearch_eval.c: search_eval gives 1, 0, or -1 (data errno in the
 * message state); search_msg_done releases what was loaded. */
int search_eval(imapsearch *p, const struct search_node *n);
void search_msg_done(imapsearch *p);

#endif
