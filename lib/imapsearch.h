/* imapsearch.h: SEARCH and UID SEARCH (RFC 3501 6.4.4) with ESEARCH's
 * RETURN options (RFC 4731), SEARCHRES's SAVE and "$" (RFC 5182), WITHIN's
 * OLDER/YOUNGER (RFC 5032) and CONDSTORE's MODSEQ key (RFC 7162 3.1.5).
 * The command's arguments (lib/imapcmd) are compiled once into a program;
 * imapd runs it over the messages of its view (struct imapmsg, imapmsg.h)
 * in ascending sequence order; the program keeps the matches and writes
 * the untagged reply. Flags, sizes, dates, UIDs and MODSEQs come from
 * memory, headers from the cached header block or the message, BODY and
 * TEXT from the message through lib/mime. It does no I/O of its own. */
#ifndef POSTERN_IMAPSEARCH_H
#define POSTERN_IMAPSEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "imapcmd.h"
#include "imapmsg.h"
#include "imapseq.h"

/* Limits of one command; past them the command is refused with BAD. */
#define IMAPSEARCH_MAX_KEYS 1000	/* search keys, OR / NOT / lists counted */
#define IMAPSEARCH_MAX_DEPTH 32		/* nesting of OR, NOT and parentheses */
#define IMAPSEARCH_MAX_STRING 4096	/* bytes of one search string */
#define IMAPSEARCH_MAX_SET_ITEMS 10000	/* items of one sequence or UID set */

/* The text of the NO for an unknown CHARSET (RFC 3501 6.4.4). */
#define IMAPSEARCH_BADCHARSET_TEXT "[BADCHARSET (UTF-8 US-ASCII)] Unknown charset"

typedef struct imapsearch imapsearch;

/* What the caller's view of the selected folder looks like when the
 * command is parsed. */
struct imapsearch_box {
	uint32_t messages;    /* messages in the view: "*" of a message set */
	uint32_t max_uid;     /* highest UID in the view, "*" of a UID set (0:
			       * empty folder) */
	const imapseq *saved; /* SEARCHRES "$": the saved result as UIDs (the
			       * program copies it; NULL: empty) */
	time_t now;	      /* the present, for OLDER and YOUNGER */
	int zone_minutes;     /* the zone (minutes east of UTC) in which
			       * INTERNALDATE's day is taken for BEFORE, ON and
			       * SINCE; imapd shows INTERNALDATE in the same */
};

enum imapsearch_status {
	IMAPSEARCH_OK,
	IMAPSEARCH_BAD,	       /* syntax or limit: tagged BAD, the reason in
				* *error_r */
	IMAPSEARCH_BADCHARSET, /* CHARSET other than UTF-8 / US-ASCII: tagged
				* NO IMAPSEARCH_BADCHARSET_TEXT */
};

/* imapsearch_parse: compiles the arguments of SEARCH (uid false) or UID
 * SEARCH (uid true): args[0..count) are what follows the command name,
 * [RETURN (options)] [CHARSET name] keys. Every RFC 3501 key, OR, NOT,
 * parenthesised groups, sequence sets and UID sets with "*" and "$",
 * OLDER/YOUNGER n, MODSEQ ["entry" type] n. RETURN () means RETURN (ALL);
 * options are MIN MAX ALL COUNT SAVE. Search strings are compared as
 * UTF-8 whatever the CHARSET (US-ASCII is a subset). On IMAPSEARCH_OK sets
 * *prog_r (free with imapsearch_free); otherwise *prog_r is NULL and
 * *error_r (may be NULL) a static reason for the reply. RFC 5182: when a
 * command with SAVE fails, the caller empties its saved result. */
enum imapsearch_status imapsearch_parse(const struct imapcmd_arg *args, size_t count, bool uid,
					const struct imapsearch_box *box, imapsearch **prog_r,
					const char **error_r);
void imapsearch_free(imapsearch **prog);

/* What evaluating a program needs beyond struct imapmsg's fields. */
enum imapsearch_need {
	IMAPSEARCH_NEED_MEMORY, /* flags, sizes, dates, UIDs, MODSEQs only */
	IMAPSEARCH_NEED_HEADER, /* header keys or SENTxxx: the cached header
				 * block (IMAPMSG_HEADER) or the message */
	IMAPSEARCH_NEED_BODY,	/* BODY or TEXT: the message's bytes */
};
enum imapsearch_need imapsearch_need(const imapsearch *prog);
/* imapsearch_uses_modseq: a MODSEQ key was given (the reply then carries
 * the highest MODSEQ found; CONDSTORE is enabled by it, RFC 7162 3.1). */
bool imapsearch_uses_modseq(const imapsearch *prog);
/* imapsearch_is_esearch: RETURN was given (the reply is ESEARCH). */
bool imapsearch_is_esearch(const imapsearch *prog);
/* imapsearch_saves: RETURN has SAVE (see imapsearch_saved). */
bool imapsearch_saves(const imapsearch *prog);
/* imapsearch_candidates: when every match must lie in a set of sequence
 * numbers (a top-level message set), that set, so the caller may look at
 * those messages only; NULL when any message may match. Valid while the
 * program lives. UID sets are not reported: the caller may skip messages
 * with imapsearch_uid_candidates the same way. */
const imapseq *imapsearch_candidates(const imapsearch *prog);
const imapseq *imapsearch_uid_candidates(const imapsearch *prog);

/* imapsearch_match: runs the program on m, which must come after every
 * message given before it (ascending sequence numbers). Returns 1 (a match,
 * kept for the reply), 0 (none), or -1 with errno when the message's
 * bytes are needed and the source cannot give them (ENOENT: expunged by
 * another process): the message is taken as no match and the caller goes
 * on with the next. Values computed from the message (its header block)
 * are handed to the source's store for the cache. The source's data is
 * released before it returns. */
int imapsearch_match(imapsearch *prog, const struct imapmsg *m);

/* imapsearch_format: appends the untagged reply with its CRLF:
 * "* SEARCH 2 5 9" (plus " (MODSEQ n)" when a MODSEQ key was used and a
 * message matched: the highest MODSEQ among them), or with RETURN
 * "* ESEARCH (TAG "tag") [UID] [MIN n] [MAX n] [COUNT n] [ALL set]
 * [MODSEQ n]" (MIN, MAX and ALL left out when nothing matched), or
 * nothing when SAVE is the only option (RFC 5182 2.4). tag is the
 * command's tag. */
void imapsearch_format(const imapsearch *prog, const char *tag, buf *out);

/* The same reply in pieces (imapsearch_reply.c), for a reply too big to
 * build whole (100,000 numbers): imapsearch_reply_new starts it (the
 * program must outlive it; tag is copied), each imapsearch_reply_next
 * appends about max bytes more (a number is never split; max may be
 * passed by one number or the head) and says whether more remains. */
typedef struct imapsearch_reply imapsearch_reply;
imapsearch_reply *imapsearch_reply_new(const imapsearch *prog, const char *tag);
bool imapsearch_reply_next(imapsearch_reply *r, buf *out, size_t max);
void imapsearch_reply_free(imapsearch_reply **r);

/* Results, after the messages were run. imapsearch_result: matched
 * sequence numbers (SEARCH) or UIDs (UID SEARCH). imapsearch_saved: the
 * UIDs to keep as the new "$" when the program has SAVE (all matches, or
 * only those MIN / MAX name when they are given without ALL or COUNT,
 * RFC 5182 2.4), NULL without SAVE; the caller copies it. Both valid while
 * the program lives. */
const imapseq *imapsearch_result(const imapsearch *prog);
const imapseq *imapsearch_saved(const imapsearch *prog);
uint64_t imapsearch_highest_modseq(const imapsearch *prog);

/* Text matching as SEARCH does it, exported for tests and for other
 * commands: imapsearch_fold appends text[0..len) (UTF-8; invalid bytes are
 * kept as they are) with letters folded to lower case (ASCII, Latin-1,
 * Latin Extended-A, Greek and Cyrillic). imapsearch_text_contains: whether
 * folded needle occurs in text (folded here). */
void imapsearch_fold(const char *text, size_t len, buf *out);
bool imapsearch_text_contains(const char *text, size_t len, const char *folded_needle,
			      size_t needle_len);

/* imapsearch_sent_day: the calendar day written in an RFC 5322 Date:
 * value (time and zone disregarded, RFC 3501 SENTxxx), as
 * imapdate_day_number counts; returns 0, or -1 when no date is found. */
int imapsearch_sent_day(const char *value, size_t len, long *day_r);

#endif
