/* mfolder.h: the folder namespace of one user's Maildir++ (Dovecot 2.3
 * layout): wire names (modified UTF-7, '.' separator, INBOX in any case)
 * <-> directories, name validation that no name can escape the Maildir,
 * LIST/LSUB pattern matching (RFC 3501 6.3.8/6.3.9, RFC 5258), folder
 * enumeration with attributes (CHILDREN, SPECIAL-USE, \Subscribed,
 * \NonExistent), CREATE/DELETE/RENAME and SUBSCRIBE/UNSUBSCRIBE. It does
 * not open folders' messages (lib/mbx, lib/imapbox do) nor talk IMAP: the
 * caller parses commands and sends replies (mfolder_format helps).
 *
 * On disk (Maildir root R):
 *   INBOX        R itself (new/ cur/ tmp/)
 *   folder a.b   R/.a.b/ with new/ cur/ tmp/ and an empty "maildirfolder"
 *   subscriptions  R/subscriptions, Dovecot's format: version 1 (one name
 *                per line, as on the wire) is written for a new file; a
 *                file Dovecot wrote as version 2 ("V\t2\n\n" then names
 *                with TAB as separator, TAB-escaped) is read and kept v2.
 *                Rewritten whole under the dot-lock "subscriptions.lock"
 *                (O_EXCL, written, fsynced, renamed over), as Dovecot does,
 *                so Postern and Dovecot processes exclude each other.
 *   special-use  R/postern-special-use, Postern's own: lines
 *                "name<TAB>\Attr[ \Attr...]" (same dot-lock scheme). Top
 *                level folders named Sent, Drafts, Trash, Junk, Archive have
 *                their attribute without an entry.
 *   deleting     a deleted folder is first renamed into R/tmp/ as
 *                "postern-deleted.<time>.<pid>.<n>" (atomic: it vanishes
 *                from LIST at once) and then removed; leftovers of a crash
 *                are removed by the next DELETE in that Maildir.
 *
 * Wiring in imapd (each name from the client goes through a check first;
 * with UTF8=ACCEPT a UTF-8 name is mutf7_encode'd before the check):
 *   LIST ref pat / LIST (sel) ref (pats) RETURN (ret): mfolder_match_new,
 *     mfolder_match_add per pattern, option atoms by mfolder_select_option
 *     / mfolder_return_option (0: BAD), mfolder_select_valid, then
 *     mfolder_list_run and mfolder_format per entry (MFOLDER_FMT_EXTENDED
 *     for the extended syntax); pattern "": mfolder_list_root, reply
 *     (\Noselect) "." root.  LSUB: the same with ret MFOLDER_LSUB.
 *   CREATE: mfolder_create_name, mfolder_special_parse for USE (...)
 *     (0: NO [USEATTR]), mfolder_create.  DELETE, RENAME, (UN)SUBSCRIBE:
 *     mfolder_name_check, then the call.  SELECT/EXAMINE/STATUS/APPEND/
 *     COPY: mfolder_name_check, mfolder_exists (0: NO [NONEXISTENT] or
 *     [TRYCREATE]), mfolder_path for mbx_open.
 *   Replies: MFOLDER_OK -> OK; otherwise NO [mfolder_result_code(res)]
 *     reason, and log err for MFOLDER_ERR_TEMP.
 *
 * Every function blocks on file I/O (short operations; callers on an
 * event loop accept that, as with lib/mbx). Results: enum mfolder_result,
 * with a reason text for the client in *reason_r (static string) and, for
 * MFOLDER_ERR_TEMP, a detail for the log in *err_r (heap). */
#ifndef POSTERN_MFOLDER_H
#define POSTERN_MFOLDER_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* The hierarchy separator, on disk and on the wire. */
#define MFOLDER_SEP '.'
/* Longest wire name in bytes: ".name" must fit one file name (NAME_MAX
 * 255) with room to spare. */
#define MFOLDER_NAME_MAX 240
/* Most hierarchy levels in one name. */
#define MFOLDER_DEPTH_MAX 32
/* Longest LIST reference + pattern, in bytes, and most patterns in one
 * LIST-EXTENDED command. */
#define MFOLDER_PATTERN_MAX 1024
#define MFOLDER_PATTERNS_MAX 32
/* Most folders (directories) mfolder_list reads in one Maildir; more gives
 * MFOLDER_ERR_LIMIT. Also the most lines read from subscriptions. */
#define MFOLDER_FOLDERS_MAX 100000
/* Largest subscriptions / postern-special-use file read. */
#define MFOLDER_FILE_MAX (4 * 1024 * 1024)
/* Dot-lock: wait at most this long, and take a lock older than
 * MFOLDER_LOCK_STALE seconds as left by a crash (Dovecot: 30 s). */
#define MFOLDER_LOCK_WAIT_MS 5000
#define MFOLDER_LOCK_STALE 30

#define MFOLDER_SUBSCRIPTIONS "subscriptions"
#define MFOLDER_SPECIAL_USE "postern-special-use"
#define MFOLDER_DELETED_PREFIX "postern-deleted."
/* The directory ".DOVECOT-TRASHED" is Dovecot's folder being deleted:
 * never listed, never created. */
#define MFOLDER_DOVECOT_TRASHED "DOVECOT-TRASHED"

enum mfolder_result {
	MFOLDER_OK = 0,
	MFOLDER_ERR_NAME,        /* invalid name:          NO [CANNOT] */
	MFOLDER_ERR_EXISTS,      /* target exists:         NO [ALREADYEXISTS] */
	MFOLDER_ERR_NONEXISTENT, /* no such folder:        NO [NONEXISTENT] */
	MFOLDER_ERR_INBOX,       /* not allowed on INBOX:  NO [CANNOT] */
	MFOLDER_ERR_USEATTR,     /* bad USE attribute:     NO [USEATTR] */
	MFOLDER_ERR_LIMIT,       /* a limit above:         NO [LIMIT] */
	MFOLDER_ERR_TEMP,        /* I/O, lock timeout:     NO [UNAVAILABLE] (log err) */
};

/* mfolder_result_code: the response code for a result ("CANNOT",
 * "ALREADYEXISTS", ...), NULL for MFOLDER_OK. */
const char *mfolder_result_code(enum mfolder_result res);

/* Attributes of a listed name (RFC 3501, 3348, 5258, 6154). */
enum mfolder_attr {
	MFOLDER_NOSELECT = 1 << 0,      /* a directory without cur/ */
	MFOLDER_NONEXISTENT = 1 << 1,   /* no directory: a parent only, or a
					   subscribed name (implies \Noselect) */
	MFOLDER_HASCHILDREN = 1 << 2,
	MFOLDER_HASNOCHILDREN = 1 << 3,
	MFOLDER_SUBSCRIBED = 1 << 4,
	MFOLDER_CHILD_SUBSCRIBED = 1 << 5, /* RECURSIVEMATCH: CHILDINFO ("SUBSCRIBED") */
	MFOLDER_SENT = 1 << 8,
	MFOLDER_DRAFTS = 1 << 9,
	MFOLDER_TRASH = 1 << 10,
	MFOLDER_JUNK = 1 << 11,
	MFOLDER_ARCHIVE = 1 << 12,
	MFOLDER_ALL = 1 << 13,
	MFOLDER_FLAGGED = 1 << 14,
};
#define MFOLDER_SPECIAL_MASK (0x7fu << 8)

/* mfolder_special_parse: the bit of a special-use attribute ("\Sent",
 * any case), 0 when unknown. mfolder_special_name: "\Sent" for the bit
 * (one bit), NULL otherwise. */
unsigned mfolder_special_parse(const char *attr, size_t len);
const char *mfolder_special_name(unsigned bit);

/* ---- names (mfolder_name.c) ---- */

/* mfolder_name_check: checks the wire name in[0..len) (bytes as the
 * client sent them, mUTF-7) and appends its canonical form to canon
 * (INBOX as first level in any case -> "INBOX"). Refused, with a static
 * reason for NO: empty, longer than MFOLDER_NAME_MAX, deeper than
 * MFOLDER_DEPTH_MAX, a byte outside printable ASCII, '/', the wildcards
 * '*' and '%', an empty level (leading, trailing or doubled '.'),
 * invalid modified UTF-7. Returns 0, or -1 (canon unchanged). */
int mfolder_name_check(const char *in, size_t len, buf *canon, const char **reason_r);

/* mfolder_create_name: mfolder_name_check for CREATE: one trailing
 * separator is dropped first ("a." creates "a", RFC 3501 6.3.3), and
 * Dovecot's reserved MFOLDER_DOVECOT_TRASHED is refused. */
int mfolder_create_name(const char *in, size_t len, buf *canon, const char **reason_r);

/* mfolder_is_inbox: whether canonical name is "INBOX". */
bool mfolder_is_inbox(const char *canon);

/* mfolder_dir_name: the directory entry of a folder (".a.b") as a heap
 * string; INBOX gives "" (the root). canon must have passed
 * mfolder_name_check. */
char *mfolder_dir_name(const char *canon);

/* mfolder_name_of_dir: for a directory entry of the root ("." + name),
 * appends the canonical folder name to out and returns 0; -1 when the
 * entry is no valid folder ("." "..", invalid names, names that are not
 * canonical such as ".inbox.x"). */
int mfolder_name_of_dir(const char *dirent, buf *out);

/* ---- LIST patterns (mfolder_match.c) ---- */

typedef struct mfolder_match mfolder_match;

/* mfolder_match_new: a matcher for LIST reference ref[0..ref_len) and
 * the patterns added next. mfolder_match_add: adds pattern pat (RFC 3501
 * 6.3.8: the reference is prefixed; '*' matches anything, '%' anything
 * but '.'; "INBOX" matches in any case). Returns 0, or -1 with a static
 * reason (too long, too many patterns; the caller answers BAD). A pattern
 * that can match nothing is fine. */
mfolder_match *mfolder_match_new(const char *ref, size_t ref_len);
int mfolder_match_add(mfolder_match *m, const char *pat, size_t len, const char **reason_r);
void mfolder_match_free(mfolder_match **m);

/* mfolder_match_name: whether canonical name matches one of the patterns. */
bool mfolder_match_name(const mfolder_match *m, const char *canon);

/* mfolder_match_has_percent_only: whether some pattern of m has '%' and
 * no '*' (LSUB then lists an unsubscribed parent of a subscribed name as
 * \Noselect, RFC 3501 6.3.9). */
bool mfolder_match_has_percent_only(const mfolder_match *m);

/* mfolder_list_root: for LIST ref "" (empty pattern), appends to out the
 * root name to report with (\Noselect) "." : the reference's first level
 * plus separator ("a.b" -> "a."), nothing for a reference without a
 * separator (RFC 3501 6.3.8). */
void mfolder_list_root(const char *ref, size_t ref_len, buf *out);

/* ---- the namespace (mfolder.c) ---- */

typedef struct mfolder mfolder;

/* mfolder_open: the namespace of the Maildir root maildir (it must be a
 * directory). Reads nothing else; cheap. 0, or -1 with *err_r (heap). */
int mfolder_open(const char *maildir, mfolder **mf_r, char **err_r);
void mfolder_free(mfolder **mf);
const char *mfolder_root(const mfolder *mf);

/* mfolder_path: the folder's directory (the root for INBOX) as a heap
 * string, for mbx_open. canon must have passed mfolder_name_check. */
char *mfolder_path(const mfolder *mf, const char *canon);

/* mfolder_exists: 1 when the folder is selectable (INBOX, or its
 * directory has cur/), 0 when not (SELECT: NO [NONEXISTENT]; APPEND/COPY:
 * NO [TRYCREATE]), -1 on I/O errors other than ENOENT (errno). */
int mfolder_exists(const mfolder *mf, const char *canon);

/* ---- enumeration (mfolder_list.c) ---- */

/* LIST-EXTENDED selection options (RFC 5258). RECURSIVEMATCH needs
 * another selection option (the caller answers BAD otherwise); REMOTE
 * changes nothing (no remote folders). */
enum mfolder_select {
	MFOLDER_SEL_SUBSCRIBED = 1 << 0,
	MFOLDER_SEL_REMOTE = 1 << 1,
	MFOLDER_SEL_RECURSIVEMATCH = 1 << 2,
	MFOLDER_SEL_SPECIAL_USE = 1 << 3,
};
/* Return options, and the LSUB mode. CHILDREN attributes are always
 * given (CHILDREN capability), special-use ones always in LIST. */
enum mfolder_return {
	MFOLDER_RET_CHILDREN = 1 << 0,
	MFOLDER_RET_SUBSCRIBED = 1 << 1,
	MFOLDER_RET_SPECIAL_USE = 1 << 2,
	MFOLDER_LSUB = 1 << 8,  /* LSUB: subscribed names, RFC 3501 6.3.9 */
};

/* mfolder_select_option / mfolder_return_option: the bit of a LIST
 * selection / return option atom (any case), 0 when unknown (the caller
 * answers BAD; the return option STATUS of LIST-STATUS is the caller's
 * and gives 0 here). mfolder_select_valid: false for RECURSIVEMATCH
 * without another selection option (BAD, RFC 5258 section 3). */
unsigned mfolder_select_option(const char *atom, size_t len);
unsigned mfolder_return_option(const char *atom, size_t len);
bool mfolder_select_valid(unsigned select);

struct mfolder_entry {
	const char *name;  /* canonical wire name */
	unsigned attrs;    /* enum mfolder_attr bits */
};

typedef struct mfolder_list mfolder_list;

/* mfolder_list: the names matching m under the selection and return
 * options, INBOX first then in byte order, with their attributes.
 * Folders are the directories ".name" of the root with a valid name
 * (anything else, e.g. Dovecot's index files, is ignored); every parent
 * level of a folder is listed too, \NonExistent when it has no directory.
 * Returns MFOLDER_OK, or MFOLDER_ERR_TEMP / _LIMIT with *err_r (heap). */
enum mfolder_result mfolder_list_run(mfolder *mf, const mfolder_match *m, unsigned select,
				     unsigned ret, mfolder_list **list_r, char **err_r);
size_t mfolder_list_count(const mfolder_list *l);
const struct mfolder_entry *mfolder_list_entry(const mfolder_list *l, size_t i);
void mfolder_list_free(mfolder_list **l);

/* Formatting flags: MFOLDER_FMT_EXTENDED writes \NonExistent (RFC 5258)
 * instead of \Noselect for a name without directory, and the CHILDINFO
 * extended data. */
#define MFOLDER_FMT_EXTENDED 1u

/* mfolder_format: appends "* <verb> (<attrs>) \".\" <quoted name>[ ext]\r\n"
 * for e (verb "LIST" or "LSUB"). */
void mfolder_format(buf *out, const char *verb, const struct mfolder_entry *e, unsigned fmt);

/* mfolder_quote: appends name as an IMAP quoted string. */
void mfolder_quote(buf *out, const char *name);

/* ---- changes (mfolder_ops.c) ---- */

/* mfolder_create: CREATE canon (checked by mfolder_create_name, which
 * drops a trailing '.': RFC 3501 says "a." creates "a"). Parents get no
 * directory (Maildir++ needs none; they list as \NonExistent). Makes
 * ".name" with tmp/ new/ cur/ and "maildirfolder", fsynced, via a
 * temporary name in tmp/ so a half-made folder is never listed. special
 * (enum mfolder_attr special-use bits, 0 for none) is recorded in
 * postern-special-use (CREATE-SPECIAL-USE). INBOX or an existing folder:
 * MFOLDER_ERR_EXISTS. */
enum mfolder_result mfolder_create(mfolder *mf, const char *canon, unsigned special,
				   const char **reason_r, char **err_r);

/* mfolder_delete: DELETE canon: the directory is renamed aside into tmp/
 * and removed; its children stay (their parent is then \NonExistent, the
 * RFC 3501 \Noselect rule). Its special-use entry is dropped;
 * subscriptions are kept (RFC 3501). INBOX: MFOLDER_ERR_INBOX; a name
 * without directory: MFOLDER_ERR_NONEXISTENT. */
enum mfolder_result mfolder_delete(mfolder *mf, const char *canon, const char **reason_r,
				   char **err_r);

/* mfolder_rename: RENAME from to: the folder and every child (a.x ->
 * b.x) move, with their subscriptions and special-use entries. to (or
 * one of the children's new names) existing: MFOLDER_ERR_EXISTS; to inside
 * from: MFOLDER_ERR_NAME; to INBOX: MFOLDER_ERR_EXISTS. from INBOX: a new
 * folder to is created and INBOX's messages (new/ and cur/, with
 * dovecot-keywords copied so keyword letters keep their meaning) are
 * moved into it; INBOX stays, empty; its children do not move (RFC 3501
 * 6.3.5). Several renames are not one atomic step: a crash in between
 * leaves some children under the old name, none lost. */
enum mfolder_result mfolder_rename(mfolder *mf, const char *from, const char *to,
				   const char **reason_r, char **err_r);

/* mfolder_subscribe: adds (on) or removes canon in subscriptions. The
 * folder need not exist. Unchanged file: not rewritten. */
enum mfolder_result mfolder_subscribe(mfolder *mf, const char *canon, bool on,
				      const char **reason_r, char **err_r);

/* mfolder_special_use: the special-use bits of canon (entry in
 * postern-special-use, or the default for the top-level names). */
unsigned mfolder_special_use(mfolder *mf, const char *canon);

/* mfolder_create_defaults: for a new user: creates (when missing) and
 * subscribes Sent, Drafts, Trash, Junk and Archive in the Maildir root
 * maildir. 0, or -1 with *err_r (heap). */
int mfolder_create_defaults(const char *maildir, char **err_r);

#endif
