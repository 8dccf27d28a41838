/* imapsearch_parse.c: SEARCH arguments (lib/imapcmd's tree) into a program
 * tree: the RETURN options and CHARSET in front, then RFC 3501's keys from
 * a table, OR / NOT / parenthesised lists recursively within the depth
 * and key limits; each key's own arguments (strings, numbers, dates, sets,
 * keywords) are imapsearch_args.c's. Finally each AND / OR orders its
 * children by cost. */
#include "imapsearch_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"

/* What a key takes after its name. */
enum key_arg {
	KEY_ARG_NONE,
	KEY_ARG_STRING, /* astring, compared as text */
	KEY_ARG_DATE,	/* date */
	KEY_ARG_NUMBER, /* number (0 allowed) */
	KEY_ARG_NZ,	/* nz-number */
	KEY_ARG_SET,	/* sequence set (UID) */
	KEY_ARG_FLAG,	/* flag keyword */
	KEY_ARG_HEADER, /* field name and astring (HEADER) */
	KEY_ARG_SPECIAL /* NOT, OR, MODSEQ: their own parser */
};

struct search_key {
	const char *name;
	enum search_op op;
	enum key_arg arg;
	unsigned mask, want; /* SEARCH_FLAGS */
	const char *field;   /* SEARCH_HEADER of FROM, TO, ... */
	bool negate;	     /* UNKEYWORD */
};

#define FLAG_KEY(name, bit) { name, SEARCH_FLAGS, KEY_ARG_NONE, bit, bit, NULL, false }
#define UNFLAG_KEY(name, bit) { name, SEARCH_FLAGS, KEY_ARG_NONE, bit, 0, NULL, false }
#define FIELD_KEY(name, field) { name, SEARCH_HEADER, KEY_ARG_STRING, 0, 0, field, false }
#define ARG_KEY(name, op, arg) { name, op, arg, 0, 0, NULL, false }

static const struct search_key search_keys[] = {
	ARG_KEY("ALL", SEARCH_ALL, KEY_ARG_NONE),
	FLAG_KEY("ANSWERED", IMAPMSG_ANSWERED),
	FIELD_KEY("BCC", "Bcc"),
	ARG_KEY("BEFORE", SEARCH_BEFORE, KEY_ARG_DATE),
	ARG_KEY("BODY", SEARCH_BODY, KEY_ARG_STRING),
	FIELD_KEY("CC", "Cc"),
	FLAG_KEY("DELETED", IMAPMSG_DELETED),
	FLAG_KEY("DRAFT", IMAPMSG_DRAFT),
	FLAG_KEY("FLAGGED", IMAPMSG_FLAGGED),
	FIELD_KEY("FROM", "From"),
	ARG_KEY("HEADER", SEARCH_HEADER, KEY_ARG_HEADER),
	ARG_KEY("KEYWORD", SEARCH_KEYWORD, KEY_ARG_FLAG),
	ARG_KEY("LARGER", SEARCH_LARGER, KEY_ARG_NUMBER),
	ARG_KEY("MODSEQ", SEARCH_MODSEQ, KEY_ARG_SPECIAL),
	{ "NEW", SEARCH_FLAGS, KEY_ARG_NONE, IMAPMSG_RECENT | IMAPMSG_SEEN, IMAPMSG_RECENT, NULL,
	  false },
	ARG_KEY("NOT", SEARCH_NOT, KEY_ARG_SPECIAL),
	UNFLAG_KEY("OLD", IMAPMSG_RECENT),
	ARG_KEY("OLDER", SEARCH_OLDER, KEY_ARG_NZ),
	ARG_KEY("ON", SEARCH_ON, KEY_ARG_DATE),
	ARG_KEY("OR", SEARCH_OR, KEY_ARG_SPECIAL),
	FLAG_KEY("RECENT", IMAPMSG_RECENT),
	FLAG_KEY("SEEN", IMAPMSG_SEEN),
	ARG_KEY("SENTBEFORE", SEARCH_SENTBEFORE, KEY_ARG_DATE),
	ARG_KEY("SENTON", SEARCH_SENTON, KEY_ARG_DATE),
	ARG_KEY("SENTSINCE", SEARCH_SENTSINCE, KEY_ARG_DATE),
	ARG_KEY("SINCE", SEARCH_SINCE, KEY_ARG_DATE),
	ARG_KEY("SMALLER", SEARCH_SMALLER, KEY_ARG_NUMBER),
	FIELD_KEY("SUBJECT", "Subject"),
	ARG_KEY("TEXT", SEARCH_TEXT, KEY_ARG_STRING),
	FIELD_KEY("TO", "To"),
	ARG_KEY("UID", SEARCH_UID, KEY_ARG_SET),
	UNFLAG_KEY("UNANSWERED", IMAPMSG_ANSWERED),
	UNFLAG_KEY("UNDELETED", IMAPMSG_DELETED),
	UNFLAG_KEY("UNDRAFT", IMAPMSG_DRAFT),
	UNFLAG_KEY("UNFLAGGED", IMAPMSG_FLAGGED),
	{ "UNKEYWORD", SEARCH_KEYWORD, KEY_ARG_FLAG, 0, 0, NULL, true },
	UNFLAG_KEY("UNSEEN", IMAPMSG_SEEN),
	ARG_KEY("YOUNGER", SEARCH_YOUNGER, KEY_ARG_NZ),
};


static struct search_node *parse_key(struct search_parser *sp, size_t depth);

void search_node_free(struct search_node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		search_node_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n->field);
	imapseq_free(&n->set);
	imapseq_free(&n->saved);
	free(n);
}

/* node_new: a node, counted against IMAPSEARCH_MAX_KEYS. */
static struct search_node *node_new(struct search_parser *sp, enum search_op op)
{
	struct search_node *n;

	if (++sp->prog->nkeys > IMAPSEARCH_MAX_KEYS) {
		sp->error = "Too many search keys";
		return NULL;
	}
	n = xcalloc(1, sizeof(*n));
	n->op = op;
	return n;
}

static void node_add_kid(struct search_node *parent, struct search_node *kid)
{
	parent->kids = xrealloc(parent->kids, (parent->nkids + 1) * sizeof(*parent->kids));
	parent->kids[parent->nkids++] = kid;
}

/* parse_kids: NOT's one and OR's two operands. */
static int parse_kids(struct search_parser *sp, struct search_node *n, size_t count,
		      size_t depth)
{
	if (depth >= IMAPSEARCH_MAX_DEPTH) {
		sp->error = "Search keys nested too deeply";
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		struct search_node *kid = parse_key(sp, depth + 1);

		if (kid == NULL)
			return -1;
		node_add_kid(n, kid);
	}
	return 0;
}

/* parse_args: the argument part of a key from the table. */
static int parse_args(struct search_parser *sp, const struct search_key *k,
		      struct search_node *n, size_t depth)
{
	const struct imapcmd_arg *a;

	switch (k->arg) {
	case KEY_ARG_NONE:
		return 0;
	case KEY_ARG_STRING:
		if ((a = search_arg_string(sp)) == NULL)
			return -1;
		search_arg_text(n, a);
		if (k->field != NULL)
			n->field = xstrdup(k->field);
		return 0;
	case KEY_ARG_HEADER:
		return search_arg_header(sp, n);
	case KEY_ARG_DATE:
		return search_arg_date(sp, &n->day);
	case KEY_ARG_NUMBER:
		return search_arg_number(sp, 0, &n->number);
	case KEY_ARG_NZ:
		return search_arg_number(sp, 1, &n->number);
	case KEY_ARG_SET:
		if ((a = search_next_arg(sp, "Missing UID set")) == NULL)
			return -1;
		return search_arg_set(sp, n, a);
	case KEY_ARG_FLAG:
		return search_arg_keyword(sp, n);
	case KEY_ARG_SPECIAL:
		break;
	}
	if (k->op == SEARCH_MODSEQ)
		return search_arg_modseq(sp, n);
	return parse_kids(sp, n, k->op == SEARCH_OR ? 2 : 1, depth);
}

static const struct search_key *key_find(const struct imapcmd_arg *a)
{
	if (a->type != IMAPCMD_ATOM)
		return NULL;
	for (size_t i = 0; i < sizeof(search_keys) / sizeof(search_keys[0]); i++)
		if (strcasecmp(a->str, search_keys[i].name) == 0)
			return &search_keys[i];
	return NULL;
}

/* parse_named: a key from the table; UNKEYWORD becomes NOT KEYWORD. */
static struct search_node *parse_named(struct search_parser *sp, const struct search_key *k,
				       size_t depth)
{
	struct search_node *n = node_new(sp, k->op), *not;

	if (n == NULL)
		return NULL;
	n->mask = k->mask;
	n->want = k->want;
	if (parse_args(sp, k, n, depth) < 0) {
		search_node_free(n);
		return NULL;
	}
	if (!k->negate)
		return n;
	not = xcalloc(1, sizeof(*not));
	not->op = SEARCH_NOT;
	node_add_kid(not, n);
	return not;
}

/* parse_list: a parenthesised list of keys, ANDed. */
static struct search_node *parse_list(struct search_parser *sp, const struct imapcmd_arg *a,
				      size_t depth)
{
	struct search_parser inner = { a->list, a->count, 0, sp->prog, NULL };
	struct search_node *n;

	if (a->count == 0) {
		sp->error = "Empty search key list";
		return NULL;
	}
	if (depth >= IMAPSEARCH_MAX_DEPTH) {
		sp->error = "Search keys nested too deeply";
		return NULL;
	}
	if ((n = node_new(sp, SEARCH_AND)) == NULL)
		return NULL;
	while (inner.pos < inner.count) {
		struct search_node *kid = parse_key(&inner, depth + 1);

		if (kid == NULL) {
			sp->error = inner.error;
			search_node_free(n);
			return NULL;
		}
		node_add_kid(n, kid);
	}
	return n;
}

static struct search_node *parse_key(struct search_parser *sp, size_t depth)
{
	const struct imapcmd_arg *a = search_next_arg(sp, "Missing search key");
	const struct search_key *k;
	struct search_node *n;

	if (a == NULL)
		return NULL;
	if (a->type == IMAPCMD_LIST)
		return parse_list(sp, a, depth);
	if ((k = key_find(a)) != NULL)
		return parse_named(sp, k, depth);
	if (a->type == IMAPCMD_ATOM && a->len > 0 &&
	    (isdigit((unsigned char)a->str[0]) || a->str[0] == '*' || a->str[0] == '$')) {
		if ((n = node_new(sp, SEARCH_SEQ)) == NULL)
			return NULL;
		if (search_arg_set(sp, n, a) == 0)
			return n;
		search_node_free(n);
		return NULL;
	}
	sp->error = "Unknown search key";
	return NULL;
}

/* parse_return: RETURN (options) of RFC 4731 / 5182. */
static int parse_return(struct search_parser *sp)
{
	static const char *const names[] = { "MIN", "MAX", "ALL", "COUNT", "SAVE" };
	const struct imapcmd_arg *a = search_next_arg(sp, "Missing RETURN options");
	imapsearch *p = sp->prog;

	if (a == NULL)
		return -1;
	if (a->type != IMAPCMD_LIST) {
		sp->error = "RETURN options must be a list";
		return -1;
	}
	p->esearch = true;
	for (size_t i = 0; i < a->count; i++) {
		size_t j = 0;

		while (j < 5 && !imapcmd_is_atom(&a->list[i], names[j]))
			j++;
		if (j == 5 || a->list[i].type != IMAPCMD_ATOM) {
			sp->error = "Unknown RETURN option";
			return -1;
		}
		p->ret |= 1u << j;
	}
	if (p->ret == 0)
		p->ret = SEARCH_RET_ALL;
	return 0;
}

/* parse_charset: CHARSET name; 1 for an unknown charset. */
static int parse_charset(struct search_parser *sp)
{
	const struct imapcmd_arg *a = search_next_arg(sp, "Missing charset");

	if (a == NULL)
		return -1;
	if (!imapcmd_is_astring(a)) {
		sp->error = "Invalid charset";
		return -1;
	}
	if (strcasecmp(a->str, "UTF-8") == 0 || strcasecmp(a->str, "US-ASCII") == 0)
		return 0;
	sp->error = IMAPSEARCH_BADCHARSET_TEXT;
	return 1;
}

/* order_kids: AND / OR children by cost (stable), the node's need their
 * largest. */
static void order_kids(struct search_node *n)
{
	for (size_t i = 0; i < n->nkids; i++) {
		order_kids(n->kids[i]);
		if (n->kids[i]->need > n->need)
			n->need = n->kids[i]->need;
	}
	for (size_t i = 1; i < n->nkids; i++) {
		struct search_node *k = n->kids[i];
		size_t j = i;

		for (; j > 0 && n->kids[j - 1]->need > k->need; j--)
			n->kids[j] = n->kids[j - 1];
		n->kids[j] = k;
	}
}

static void set_need(struct search_node *n)
{
	switch (n->op) {
	case SEARCH_HEADER:
	case SEARCH_SENTBEFORE:
	case SEARCH_SENTON:
	case SEARCH_SENTSINCE:
		n->need = IMAPSEARCH_NEED_HEADER;
		break;
	case SEARCH_BODY:
	case SEARCH_TEXT:
		n->need = IMAPSEARCH_NEED_BODY;
		break;
	default:
		n->need = IMAPSEARCH_NEED_MEMORY;
		break;
	}
	for (size_t i = 0; i < n->nkids; i++)
		set_need(n->kids[i]);
}

/* parse_top: [RETURN (...)] [CHARSET x] key+; -1 BAD, 1 BADCHARSET. */
static int parse_top(struct search_parser *sp)
{
	imapsearch *p = sp->prog;
	int r;

	if (sp->pos < sp->count && imapcmd_is_atom(&sp->args[sp->pos], "RETURN") &&
	    sp->args[sp->pos].type == IMAPCMD_ATOM) {
		sp->pos++;
		if (parse_return(sp) < 0)
			return -1;
	}
	if (sp->pos < sp->count && sp->args[sp->pos].type == IMAPCMD_ATOM &&
	    imapcmd_is_atom(&sp->args[sp->pos], "CHARSET")) {
		sp->pos++;
		if ((r = parse_charset(sp)) != 0)
			return r;
	}
	if (sp->pos >= sp->count) {
		sp->error = "Missing search key";
		return -1;
	}
	p->root = xcalloc(1, sizeof(*p->root));
	p->root->op = SEARCH_AND;
	while (sp->pos < sp->count) {
		struct search_node *kid = parse_key(sp, 0);

		if (kid == NULL)
			return -1;
		node_add_kid(p->root, kid);
	}
	set_need(p->root);
	order_kids(p->root);
	return 0;
}

enum imapsearch_status imapsearch_parse(const struct imapcmd_arg *args, size_t count, bool uid,
					const struct imapsearch_box *box, imapsearch **prog_r,
					const char **error_r)
{
	imapsearch *p = xcalloc(1, sizeof(*p));
	struct search_parser sp = { args, count, 0, p, NULL };
	int r;

	p->uid = uid;
	p->box = *box;
	p->result = imapseq_new();
	p->uids = imapseq_new();
	r = parse_top(&sp);
	p->box.saved = NULL; /* copied into the nodes of "$"; not kept */
	if (r != 0) {
		imapsearch_free(&p);
		if (error_r != NULL)
			*error_r = sp.error != NULL ? sp.error : "Invalid search";
		*prog_r = NULL;
		return r > 0 ? IMAPSEARCH_BADCHARSET : IMAPSEARCH_BAD;
	}
	*prog_r = p;
	return IMAPSEARCH_OK;
}
