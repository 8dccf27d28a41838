/* imapsearch_args.c: the arguments of single SEARCH keys: search strings
 * (astrings, folded for matching), numbers, dates (lib/imapdate), message
 * and UID sets (lib/imapseq, with "$" replaced by a copy of the saved
 * result), keywords (system flags named as keywords become flag tests),
 * HEADER's field name and MODSEQ's optional entry. Each takes its
 * arguments from the parser's cursor and sets its error on trouble. */
#include "imapsearch_int.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "imapdate.h"
#include "mem.h"

/* System flags a KEYWORD may name: "KEYWORD \Seen" is SEEN. */
static const struct {
	const char *name;
	unsigned bit;
} search_sysflags[] = {
	{ "\\Answered", IMAPMSG_ANSWERED }, { "\\Deleted", IMAPMSG_DELETED },
	{ "\\Draft", IMAPMSG_DRAFT },	    { "\\Flagged", IMAPMSG_FLAGGED },
	{ "\\Recent", IMAPMSG_RECENT },	    { "\\Seen", IMAPMSG_SEEN },
};

/* search_next_arg: the next argument, or NULL (error set) when there is none. */
const struct imapcmd_arg *search_next_arg(struct search_parser *sp, const char *missing)
{
	if (sp->pos >= sp->count) {
		sp->error = missing;
		return NULL;
	}
	return &sp->args[sp->pos++];
}

/* search_arg_string: an astring within IMAPSEARCH_MAX_STRING, or NULL. */
const struct imapcmd_arg *search_arg_string(struct search_parser *sp)
{
	const struct imapcmd_arg *a = search_next_arg(sp, "Missing search string");

	if (a == NULL)
		return NULL;
	if (!imapcmd_is_astring(a) || a->streamed) {
		sp->error = "Search string expected";
		return NULL;
	}
	if (a->len > IMAPSEARCH_MAX_STRING) {
		sp->error = "Search string too long";
		return NULL;
	}
	return a;
}

/* search_arg_number: digits only, at most 2^63-1, at least min. */
int search_arg_number(struct search_parser *sp, uint64_t min, uint64_t *n_r)
{
	const struct imapcmd_arg *a = search_next_arg(sp, "Missing number");
	uint64_t n = 0;

	if (a == NULL)
		return -1;
	if (a->type != IMAPCMD_ATOM || a->len == 0 || a->len > 19)
		goto bad;
	for (size_t i = 0; i < a->len; i++) {
		if (!isdigit((unsigned char)a->str[i]))
			goto bad;
		n = n * 10 + (uint64_t)(a->str[i] - '0');
	}
	if (n > INT64_MAX || n < min)
		goto bad;
	*n_r = n;
	return 0;
bad:
	sp->error = "Invalid number";
	return -1;
}

int search_arg_date(struct search_parser *sp, long *day_r)
{
	const struct imapcmd_arg *a = search_next_arg(sp, "Missing date");
	struct imapdate_day day;

	if (a == NULL)
		return -1;
	if ((a->type != IMAPCMD_ATOM && a->type != IMAPCMD_QUOTED) ||
	    imapdate_parse_day(a->str, a->len, &day) < 0) {
		sp->error = "Invalid date";
		return -1;
	}
	*day_r = imapdate_day_number(&day);
	return 0;
}

static bool set_text_ok(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]) && strchr(",:*$", s[i]) == NULL)
			return false;
	return true;
}

/* search_arg_set: a message set (SEARCH_SEQ) or UID set (SEARCH_UID) from a. */
int search_arg_set(struct search_parser *sp, struct search_node *n, const struct imapcmd_arg *a)
{
	const imapsearch *p = sp->prog;
	uint32_t max = n->op == SEARCH_UID ? p->box.max_uid : p->box.messages;
	const char *err = "Invalid sequence set";

	if (a->type != IMAPCMD_ATOM || !set_text_ok(a->str, a->len)) {
		sp->error = err;
		return -1;
	}
	n->set = imapseq_new();
	if (imapseq_parse(n->set, a->str, a->len, max, IMAPSEARCH_MAX_SET_ITEMS, &err) < 0) {
		sp->error = err;
		return -1;
	}
	if (imapseq_has_saved(n->set)) {
		n->saved = imapseq_new();
		if (p->box.saved != NULL)
			imapseq_add_set(n->saved, p->box.saved);
	}
	return 0;
}

int search_arg_keyword(struct search_parser *sp, struct search_node *n)
{
	const struct imapcmd_arg *a = search_next_arg(sp, "Missing keyword");

	if (a == NULL)
		return -1;
	if (a->type != IMAPCMD_ATOM || a->len == 0) {
		sp->error = "Invalid keyword";
		return -1;
	}
	for (size_t i = 0; i < sizeof(search_sysflags) / sizeof(search_sysflags[0]); i++) {
		if (strcasecmp(a->str, search_sysflags[i].name) == 0) {
			n->op = SEARCH_FLAGS;
			n->mask = n->want = search_sysflags[i].bit;
			return 0;
		}
	}
	n->str = xstrndup(a->str, a->len);
	n->len = a->len;
	return 0;
}

/* search_arg_text: the folded search text of a string argument. */
void search_arg_text(struct search_node *n, const struct imapcmd_arg *a)
{
	buf *b = buf_new(a->len + 8);

	imapsearch_fold(a->str, a->len, b);
	n->len = buf_len(b);
	n->str = buf_steal_free(&b);
}

/* search_arg_header: HEADER field-name string. */
int search_arg_header(struct search_parser *sp, struct search_node *n)
{
	const struct imapcmd_arg *name = search_arg_string(sp), *text;

	if (name == NULL)
		return -1;
	if (name->len == 0 || memchr(name->str, ':', name->len) != NULL ||
	    memchr(name->str, '\0', name->len) != NULL) {
		sp->error = "Invalid header field name";
		return -1;
	}
	if ((text = search_arg_string(sp)) == NULL)
		return -1;
	n->field = xstrndup(name->str, name->len);
	search_arg_text(n, text);
	return 0;
}

/* search_arg_modseq: MODSEQ ["entry-name" entry-type] n (RFC 7162 3.1.5); the
 * entry is checked and then ignored, as the RFC allows. */
int search_arg_modseq(struct search_parser *sp, struct search_node *n)
{
	const struct imapcmd_arg *a;

	if (sp->pos < sp->count && sp->args[sp->pos].type != IMAPCMD_ATOM) {
		a = &sp->args[sp->pos++];
		if (a->type != IMAPCMD_QUOTED || strncasecmp(a->str, "/flags/", 7) != 0) {
			sp->error = "Invalid MODSEQ entry name";
			return -1;
		}
		a = search_next_arg(sp, "Missing MODSEQ entry type");
		if (a == NULL)
			return -1;
		if (!imapcmd_is_atom(a, "priv") && !imapcmd_is_atom(a, "shared") &&
		    !imapcmd_is_atom(a, "all")) {
			sp->error = "Invalid MODSEQ entry type";
			return -1;
		}
	}
	sp->prog->modseq_used = true;
	return search_arg_number(sp, 0, &n->number);
}

