/* imapmsg.h: one message of a selected IMAP folder as FETCH (lib/imapfetch)
 * and SEARCH (lib/imapsearch) see it: the facts imapd keeps in memory for
 * every message (sequence number, UID, flags, keywords, dates, sizes,
 * MODSEQ), and a source that gives the rest on demand: values kept in the
 * per-folder cache (lib/imapcache) and the message's bytes. FETCH and SEARCH
 * ask the cache first and read the message only when it has no answer, so
 * a second FETCH ENVELOPE over a big folder opens no message file.
 * Header only: imapd fills these from lib/imapbox and lib/imapcache. */
#ifndef POSTERN_IMAPMSG_H
#define POSTERN_IMAPMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

/* The system flags, as bits. The first six are lib/mbx's enum mbx_flag
 * (Maildir letters D F P R S T: \Draft \Flagged, P "passed", \Answered
 * \Seen \Deleted); P is kept on disk as Dovecot does (lib/imapbox says how
 * it shows). IMAPMSG_RECENT is the session's \Recent. */
#define IMAPMSG_DRAFT (1u << 0)	   /* \Draft    (D) */
#define IMAPMSG_FLAGGED (1u << 1)  /* \Flagged  (F) */
#define IMAPMSG_PASSED (1u << 2)   /* P */
#define IMAPMSG_ANSWERED (1u << 3) /* \Answered (R) */
#define IMAPMSG_SEEN (1u << 4)	   /* \Seen     (S) */
#define IMAPMSG_DELETED (1u << 5)  /* \Deleted  (T) */
#define IMAPMSG_RECENT (1u << 8)   /* \Recent: first session to see it */

/* What the cache may hold for a message (imapcache fields). */
enum imapmsg_field {
	IMAPMSG_ENVELOPE,      /* the ENVELOPE list, IMAP syntax */
	IMAPMSG_BODY,	       /* BODY (non-extensible BODYSTRUCTURE) */
	IMAPMSG_BODYSTRUCTURE, /* BODYSTRUCTURE with extension data */
	IMAPMSG_HEADER,	       /* the raw header block, CRLF line ends, with
				* its blank line (BODY[HEADER]) */
	IMAPMSG_NFIELDS
};

struct imapmsg;

/* Where the data beyond struct imapmsg comes from (imapd implements it). */
struct imapmsg_source {
	/* cached: appends the cached value of field to out and returns 1, or
	 * returns 0 when the cache has none (the caller then computes it from
	 * the message and may hand it back through store). */
	int (*cached)(void *ctx, const struct imapmsg *m, enum imapmsg_field field, buf *out);
	/* store: a value computed from the message, for the cache (may be NULL;
	 * failing to store is not an error). */
	void (*store)(void *ctx, const struct imapmsg *m, enum imapmsg_field field,
		      const char *value, size_t len);
	/* data: the message's bytes as on disk (LF or CRLF line ends), valid
	 * until release or the next data call for another message. 0, or -1
	 * with errno: ENOENT when the message was expunged by another process
	 * (FETCH then answers NO for it, never another message's bytes). */
	int (*data)(void *ctx, const struct imapmsg *m, const char **data_r, size_t *len_r);
	void (*release)(void *ctx, const struct imapmsg *m);
	/* cached_ref (may be NULL): cached, without the copy: points *val_r
	 * and *len_r at the value where the source keeps it, valid until the
	 * next call of any of these functions; 1, or 0 when not cached. */
	int (*cached_ref)(void *ctx, const struct imapmsg *m, enum imapmsg_field field,
			  const char **val_r, size_t *len_r);
};

struct imapmsg {
	uint32_t seq;		  /* message sequence number, from 1 */
	uint32_t uid;
	unsigned flags;		  /* IMAPMSG_ bits */
	const char *const *keywords; /* keyword names ("$Junk", "work"), no
				      * duplicates, nkeywords of them */
	size_t nkeywords;
	time_t internaldate;	  /* INTERNALDATE (the file's mtime) */
	long long size;		  /* RFC822.SIZE: octets with CRLF line ends */
	uint64_t modseq;	  /* CONDSTORE MODSEQ, >= 1 */
	const struct imapmsg_source *source;
	void *source_ctx;
};

#endif
