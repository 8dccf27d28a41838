/* imapd.h: the IMAP server's shared declarations: the server (one per
 * process), a session (one per connection) and what the files of imapd/
 * offer each other:
 *   imapd.c     main, configuration, the svc hooks
 *   session.c   imapd's part of a session (lib/sess): the command reader
 *               fed from the stream, goodbyes, timeouts
 *   reply.c     tagged and untagged replies, strings, CAPABILITY text
 *   commands.c  the command table (states), dispatch, the any-state and
 *               authenticated-state commands (NOOP, ID, ENABLE, ...)
 *   login.c     LOGIN, AUTHENTICATE (SASL, SASL-IR), STARTTLS, the Maildir
 *   folders.c   LIST, LSUB, CREATE, DELETE, RENAME, (UN)SUBSCRIBE (lib/mfolder)
 *   mailbox.c   SELECT, EXAMINE, STATUS, CLOSE, UNSELECT, EXPUNGE, CHECK,
 *               untagged updates (lib/imapbox), IDLE wake-ups (lib/watch)
 *   idle.c      IDLE (RFC 2177): "+ idling", DONE, wake-ups (lib/watch)
 *   append.c    APPEND: checks before "+", the message streamed to tmp/
 *   copy.c      COPY, MOVE, UID COPY/MOVE/EXPUNGE (UIDPLUS, RFC 6851)
 *   quota.c     GETQUOTAROOT, GETQUOTA, SETQUOTA (RFC 9208, maildirsize)
 *   msgsource.c the imapmsg source (lib/imapcache, mmap'd files), message sets
 *   fetch.c     FETCH, UID FETCH (lib/imapfetch), streamed with backpressure
 *   store.c     STORE, UID STORE (UNCHANGEDSINCE)
 *   search.c    SEARCH, UID SEARCH (lib/imapsearch: ESEARCH, SEARCHRES) */
#ifndef POSTERN_IMAPD_H
#define POSTERN_IMAPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authfail.h"
#include "buf.h"
#include "cfg.h"
#include "ev.h"
#include "imapbox.h"
#include "imapcache.h"
#include "imapcmd.h"
#include "imapseq.h"
#include "mfolder.h"
#include "passdb.h"
#include "resolve.h"
#include "sasl.h"
#include "sess.h"
#include "strm.h"
#include "svc.h"
#include "tls.h"
#include "watch.h"

/* Open files a session may need, and those the process needs besides
 * (fit_open_limit in imapd.c). */
#define IMAPD_FILES_PER_SESSION 3
/* Before login a literal can only carry a user name or password (LOGIN):
 * bigger ones are refused before "+", so nobody unauthenticated makes the
 * server hold an APPENDLIMIT-sized literal. */
#define IMAPD_PRELOGIN_LITERAL_MAX 8192
#define IMAPD_SPARE_FILES 64
/* Input bytes taken from the stream per step (the reader keeps what it
 * needs; the rest waits in the session's pending buffer). */
#define IMAPD_READ_CHUNK (16 * 1024)
/* The longest IDLE continuation line ("DONE") worth reading. */
#define IMAPD_IDLE_LINE_MAX 64
/* Fields of an ID command logged, and bytes of each. */
#define IMAPD_ID_FIELDS_MAX 30
#define IMAPD_ID_VALUE_MAX 128
/* The wait before each BAD from half of imapd_error_limit on. */
#define IMAPD_ERROR_SLEEP_MS 1000
/* FETCH renders while fewer bytes than this wait unsent, a chunk at a time. */
#define IMAPD_FETCH_HIGH_WATER (128 * 1024)
#define IMAPD_FETCH_CHUNK (32 * 1024)
/* A FETCH that sets \Seen sets it on this many messages at a time, just
 * before their replies. */
#define IMAPD_SEEN_BATCH 256
/* A long FETCH or SEARCH works this long per turn, then lets the
 * process's other sessions run (imapd_yield). */
#define IMAPD_SLICE_MS 20
/* Message files up to this size are read into memory, bigger ones mmap'd. */
#define IMAPD_READ_SMALL (256 * 1024)

struct imapd_server {
	svc *service;
	ev_loop *loop;
	char *myhostname;
	bool implicit_tls;     /* imapd_service = imaps */
	bool tls_auth_only;    /* imapd_tls_auth_only */
	tls_server *tls;       /* NULL: no TLS configured */
	passdb *passdb;
	resolver *resolver;
	struct sasl_backend sasl_backend;
	struct sess_auth auth;  /* the SASL glue (lib/sess) */
	uint64_t timeout_ms;        /* imapd_timeout: logged in */
	uint64_t login_timeout_ms;  /* imapd_login_timeout: before */
	uint64_t handshake_timeout_ms;
	int error_limit;
	uint64_t error_sleep_ms; /* IMAPD_ERROR_SLEEP_MS (0: no wait, the fuzz target) */
	int session_limit;
	struct imapcmd_limits limits;          /* after login (APPENDLIMIT) */
	struct imapcmd_limits prelogin_limits; /* before: literals only for
					        * credentials */
	sess_server *sessions;  /* the session layer (lib/sess) */
	watch_hub *watches;     /* IDLE wake-ups; NULL without inotify */
};

enum imap_state {
	IST_NOAUTH = 1,   /* not authenticated */
	IST_AUTH = 2,     /* authenticated */
	IST_SELECTED = 4, /* a folder selected */
	IST_LOGOUT = 8,   /* closing */
};

struct session {
	struct imapd_server *srv;
	sess *base;             /* the shared session: conn, errors, TLS, SASL */
	strm *stream;           /* sess_strm(base) */
	const char *client;     /* "[addr]" for logs (sess_client) */
	enum imap_state state;
	imapcmd_reader *reader;
	buf *pending;           /* input read from the stream, not yet fed */
	char *tag;              /* the tag of the command being answered */
	char *login;            /* the authenticated user */
	char *maildir;          /* and its Maildir */
	mfolder *mf;            /* its folder namespace */
	imapbox *box;           /* the selected folder (IST_SELECTED) */
	watch *watch;           /* its changes, while idling */
	uint64_t login_gen;     /* map generation the login was last known valid at */
	bool idling;            /* IDLE: waiting for DONE */
	struct imapd_append *append; /* an APPEND's message being streamed */
	bool condstore;         /* CONDSTORE enabled (RFC 7162 3.1) */
	struct imapd_fetch *fetch;  /* a FETCH being streamed (fetch.c) */
	struct imapd_search *search; /* a SEARCH being run (search.c) */
	ev_timer *resume;       /* imapd_yield's wake-up */
	struct imapd_folder_cache *fcache; /* the selected folder's cache */
	const char *map;        /* the message mmap'd for FETCH/SEARCH */
	size_t maplen;
	uint32_t map_uid;       /* whose bytes map holds */
	bool map_heap;          /* map was read into the heap (else mmap'd) */
	int map_guard;          /* its lib/mapguard slot when mmap'd */
	imapseq *saved;         /* SEARCHRES "$", as UIDs (NULL: empty) */
};

/* session.c */
void imapd_session_init(struct imapd_server *srv);
/* imapd_yield: from a step of a long command: no more steps until the
 * event loop served the others, then the session runs again. */
void imapd_yield(struct session *s);
/* imapd_clock_ms: monotonic milliseconds, not cached (turns of work). */
uint64_t imapd_clock_ms(void);
/* imapd_discard_input: drops what was read but not yet run (STARTTLS). */
void imapd_discard_input(struct session *s);

/* reply.c */
/* imapd_tagged: "<tag> <status> [code] text"; code may be NULL. BAD
 * counts as an error (lib/sess slow-down and cut-off). */
void imapd_tagged(struct session *s, const char *status, const char *code, const char *fmt,
		  ...) __attribute__((format(printf, 4, 5)));
void imapd_ok(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imapd_no(struct session *s, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void imapd_bad(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* imapd_untagged: "* text" and CRLF. */
void imapd_untagged(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imapd_raw(struct session *s, const char *text);
/* imapd_put_string: str as an IMAP string into out: quoted when it can
 * be, else a literal; NULL is NIL. */
void imapd_put_string(buf *out, const char *str, size_t len);
/* imapd_capabilities: the CAPABILITY list for the session's state now. */
void imapd_capabilities(const struct session *s, buf *out);

/* commands.c */
void imapd_command(struct session *s, const struct imapcmd *cmd);

/* login.c */
void imapd_login_init(struct imapd_server *srv, cfg *c);
bool imapd_plaintext_ok(const struct session *s);
void imapd_cmd_login(struct session *s, const struct imapcmd *cmd);
void imapd_cmd_authenticate(struct session *s, const struct imapcmd *cmd);
void imapd_cmd_starttls(struct session *s, const struct imapcmd *cmd);
void imapd_tls_init(struct imapd_server *srv, cfg *c);
void imapd_tls_reload(struct imapd_server *srv, cfg *c);
void imapd_tls_done(void *ctx);
/* imapd_login_current: before each command of a logged-in session: false
 * (after "* BYE" and closing, or NO) when the user was deleted or the maps
 * cannot answer. */
bool imapd_login_current(struct session *s);
void imapd_logout(struct session *s);

/* folders.c */
void imapd_cmd_list(struct session *s, const struct imapcmd *cmd);
void imapd_cmd_lsub(struct session *s, const struct imapcmd *cmd);
void imapd_cmd_create(struct session *s, const struct imapcmd *cmd);
void imapd_cmd_delete(struct session *s, const struct imapcmd *cmd);
void imapd_cmd_rename(struct session *s, const struct imapcmd *cmd);
void imapd_cmd_subscribe(struct session *s, const struct imapcmd *cmd);
void imapd_cmd_unsubscribe(struct session *s, const struct imapcmd *cmd);

/* mailbox.c */
void imapd_cmd_select(struct session *s, const struct imapcmd *cmd);
void imapd_cmd_examine(struct session *s, const struct imapcmd *cmd);
/* imapd_status_items: the STATUS item list's bits; false for an unknown
 * item. imapd_list_status: the "* STATUS" line of a listed folder for
 * LIST-STATUS (RFC 5819; nothing when it cannot be read). */
bool imapd_status_items(const struct imapcmd_arg *list, unsigned *items_r);
void imapd_list_status(struct session *s, const char *canon, unsigned items);
void imapd_cmd_status(struct session *s, const struct imapcmd *cmd);
/* imapd_cmd_close: CLOSE and UNSELECT. */
void imapd_cmd_close(struct session *s, const struct imapcmd *cmd);
void imapd_cmd_expunge(struct session *s, const struct imapcmd *cmd);
void imapd_cmd_check(struct session *s, const struct imapcmd *cmd);
/* imapd_report_changes: sync the selected folder and send the untagged
 * EXPUNGE / EXISTS / RECENT / FETCH of what changed (nothing unselected). */
void imapd_report_changes(struct session *s);
/* imapd_mailbox_watch: wake-ups on changes of the selected folder (IDLE)
 * on or off. */
void imapd_mailbox_watch(struct session *s, bool on);
void imapd_mailbox_close(struct session *s);
/* imapd_report: imapd_report_changes; with expunges false (during FETCH,
 * STORE, SEARCH) EXPUNGEs wait for a later sync point. */
void imapd_report(struct session *s, bool expunges);

/* msgsource.c */
/* imapd_msg: message seq as FETCH and SEARCH see it (imapbox_msg plus
 * the source: cache, mmap'd bytes). 0, or -1 with errno (ENOENT: gone). */
int imapd_msg(struct session *s, uint32_t seq, unsigned need, struct imapmsg *m);
/* imapd_msg_size: m->size, when imapbox did not know it, counted from the
 * message's bytes, which stay mapped for the render that follows (one read
 * of a file whose size nobody recorded, instead of two). 0, or -1 with
 * errno (ENOENT: gone). */
int imapd_msg_size(struct session *s, struct imapmsg *m);
/* imapd_msg_release: unmaps the message bytes held, if any. */
void imapd_msg_release(struct session *s);
/* imapd_msgsource_open / _close: the selected folder's shared cache. */
void imapd_msgsource_open(struct session *s);
void imapd_msgsource_close(struct session *s);
void imapd_msgsource_refresh(struct session *s);
void imapd_msgsource_flush(struct session *s);
/* imapd_msgsource_cut_short: the mapped message being read was cut short
 * by another process (lib/mapguard): its bytes since are zeros. */
bool imapd_msgsource_cut_short(const struct session *s);
void imapd_msgsource_compact(struct session *s);
/* imapd_msgsource_sizes_unknown: lib/imapbox_sizes says a FETCH of the
 * sizes of seqs (n of them) is worth having the folder's sizes recorded:
 * then, once it is done, imapd_msgsource_record_sizes has lib/imapbox_sizes
 * write them (once per folder per process), so later sessions read no
 * file for RFC822.SIZE. imapd itself never writes the uidlist. */
bool imapd_msgsource_sizes_unknown(struct session *s, const uint32_t *seqs, size_t n);
void imapd_msgsource_record_sizes(struct session *s);
/* imapd_msgset: a sequence set (uid false) or UID set argument as the
 * ascending sequence numbers of the view (heap array); false after BAD
 * (a number above the message count, a bad set). "$" is the saved result. */
bool imapd_msgset(struct session *s, const struct imapcmd_arg *a, bool uid, uint32_t **seqs_r,
		  size_t *n_r);
int imapd_cmp_u32(const void *a, const void *b);

/* fetch.c */
void imapd_cmd_fetch(struct session *s, const struct imapcmd *cmd);
/* imapd_fetch_step: the session's step while s->fetch streams. */
int imapd_fetch_step(struct session *s);
void imapd_fetch_abort(struct session *s);

/* store.c */
void imapd_cmd_store(struct session *s, const struct imapcmd *cmd);

/* search.c */
void imapd_cmd_search(struct session *s, const struct imapcmd *cmd);
/* imapd_search_step: the session's step while s->search runs. */
int imapd_search_step(struct session *s);
void imapd_search_abort(struct session *s);

/* idle.c */
void imapd_cmd_idle(struct session *s, const struct imapcmd *cmd);
/* imapd_idle_step: input while idling: one line, DONE ends it. */
int imapd_idle_step(struct session *s);
void imapd_idle_end(struct session *s);

/* append.c */
/* imapd_literal_announced: the reader stopped at a synchronizing literal
 * (IMAPCMD_CONTINUE): an APPEND is checked now (folder, size, quota) and
 * either refused (NO sent, literal dropped: returns true, no "+") or
 * set to stream its message into the folder's tmp/. Other commands:
 * false (the caller sends "+"). */
bool imapd_literal_announced(struct session *s);
/* imapd_append_discard: drops a streamed APPEND's tmp file (the command
 * was refused or the session ends). */
void imapd_append_discard(struct session *s);
void imapd_cmd_append(struct session *s, const struct imapcmd *cmd);
/* imapd_target_dir: the directory of the folder an APPEND, COPY or MOVE
 * goes to (heap); NULL after the NO ([TRYCREATE] when it does not exist,
 * [CANNOT] for a name mfolder refuses). */
char *imapd_target_dir(struct session *s, const struct imapcmd_arg *name);

/* copy.c: cmd->name is "COPY", "MOVE" or (from the UID command) "UID COPY",
 * "UID MOVE", "UID EXPUNGE". */
void imapd_cmd_copy(struct session *s, const struct imapcmd *cmd);
void imapd_cmd_uid_expunge(struct session *s, const struct imapcmd *cmd);

/* quota.c */
void imapd_cmd_getquotaroot(struct session *s, const struct imapcmd *cmd);
void imapd_cmd_getquota(struct session *s, const struct imapcmd *cmd);
void imapd_cmd_setquota(struct session *s, const struct imapcmd *cmd);
/* imapd_quota_limit: the login's Maildir++ quota in bytes (0: none) into
 * *bytes_r; false after a NO [UNAVAILABLE] when the maps cannot answer. */
bool imapd_quota_limit(struct session *s, long long *bytes_r);
/* imapd_quota_room: whether size more bytes fit the login's quota (the
 * maildirsize usage); false after the NO ([OVERQUOTA] or [UNAVAILABLE]). */
bool imapd_quota_room(struct session *s, long long size);

#endif
