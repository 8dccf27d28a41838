/* imapfetch.h: the FETCH command's items (RFC 3501 6.4.5 and 7.4.2, BINARY
 * of RFC 3516, MODSEQ and CHANGEDSINCE of RFC 7162). imapfetch_parse turns
 * the arguments of FETCH / UID FETCH (as lib/imapcmd read them) into a
 * spec; the renderer writes one message's "* n FETCH (...)" reply from a
 * struct imapmsg (imapmsg.h), asking its source's cache first and its bytes
 * only when needed, and hands the reply out in bounded chunks so imapd can
 * stop while its output buffer is full. No I/O of its own, no flag changes:
 * imapd sets \Seen (imapfetch_sets_seen) through lib/imapbox. */
#ifndef POSTERN_IMAPFETCH_H
#define POSTERN_IMAPFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "imapcmd.h"
#include "imapmsg.h"
#include "mime.h"

/* Items in one FETCH (after the macros are expanded and the implied UID /
 * MODSEQ added); more is BAD. */
#define IMAPFETCH_MAX_ITEMS 64
/* CHANGEDSINCE / MODSEQ values are 63-bit (RFC 7162 mod-sequence-value). */
#define IMAPFETCH_MODSEQ_MAX INT64_MAX

/* What a message needs for a spec, from cheapest to dearest. */
enum imapfetch_need {
	IMAPFETCH_NEED_MEMORY, /* struct imapmsg alone: FLAGS UID MODSEQ ... */
	IMAPFETCH_NEED_CACHE,  /* cached fields; the bytes only on a miss */
	IMAPFETCH_NEED_DATA,   /* the message's bytes */
};

typedef struct imapfetch_spec imapfetch_spec;

/* imapfetch_parse: parses what follows the sequence set of FETCH or UID
 * FETCH: args[0] is one item or macro (ALL FAST FULL) or a parenthesized
 * list of items (no macros inside), args[1], if present, the modifier list
 * "(CHANGEDSINCE n)". uid_command: UID FETCH, which always answers UID.
 * CHANGEDSINCE implies MODSEQ. Returns a spec (free with
 * imapfetch_spec_free) or NULL with a static reason for BAD in *error_r:
 * an unknown item, a macro inside a list, an empty list, too many items, a
 * BINARY section with a text part (imapcmd refuses it already), a bad or
 * unknown modifier. */
imapfetch_spec *imapfetch_parse(const struct imapcmd_arg *args, size_t count, bool uid_command,
				const char **error_r);
void imapfetch_spec_free(imapfetch_spec **spec);

/* imapfetch_sets_seen: whether the spec fetches a body the RFC says sets
 * \Seen (BODY[...], BINARY[...], RFC822, RFC822.TEXT; not their .PEEK
 * forms, RFC822.HEADER or BINARY.SIZE). imapd sets \Seen on a read-write
 * folder before rendering and passes IMAPFETCH_RENDER_FLAGS when that
 * changed the flags. */
bool imapfetch_sets_seen(const imapfetch_spec *spec);
/* imapfetch_need: what the spec reads (enum imapfetch_need). */
enum imapfetch_need imapfetch_need(const imapfetch_spec *spec);
/* imapfetch_cache_fields: the cache fields the spec reads, as bits
 * (1u << IMAPMSG_ENVELOPE ...): what imapd may look up or warm in bulk. */
unsigned imapfetch_cache_fields(const imapfetch_spec *spec);
/* imapfetch_changedsince: the CHANGEDSINCE value, or 0 without it (imapd
 * then skips messages whose modseq is not above it). */
uint64_t imapfetch_changedsince(const imapfetch_spec *spec);
/* imapfetch_uses_modseq: MODSEQ or CHANGEDSINCE was used (CONDSTORE is
 * enabled by it, RFC 7162 3.1). */
bool imapfetch_uses_modseq(const imapfetch_spec *spec);

/* What a render produced. */
enum imapfetch_result {
	IMAPFETCH_OK,		/* the reply is ready to be pulled */
	IMAPFETCH_EXPUNGED,	/* the bytes are gone (source data ENOENT):
				 * answer NO for this message, nothing sent */
	IMAPFETCH_IO,		/* the bytes could not be read (errno kept):
				 * NO, nothing sent */
	IMAPFETCH_UNKNOWN_CTE,	/* BINARY of a part whose Content-Transfer-
				 * Encoding is unknown: NO [UNKNOWN-CTE] */
};

/* Render options (bits). */
#define IMAPFETCH_RENDER_FLAGS 1u  /* add FLAGS (\Seen just set by this fetch) */
#define IMAPFETCH_RENDER_MODSEQ 2u /* add MODSEQ (that change, CONDSTORE on) */

typedef struct imapfetch_render imapfetch_render;

/* imapfetch_render_begin: prepares message m's reply to spec. Everything
 * but message bytes to be sent verbatim is computed now (cache look-ups,
 * parsing, BINARY decoding), so a result other than IMAPFETCH_OK comes
 * before a byte of the reply. Values computed from the bytes are given to
 * the source's store. Sets *result_r and returns the render (also on
 * error: then imapfetch_render_next produces nothing). The source's data
 * stays held until imapfetch_render_end, so a caller renders one message
 * of a source at a time. The spec must outlive the render. */
imapfetch_render *imapfetch_render_begin(const imapfetch_spec *spec, const struct imapmsg *m,
					 unsigned options, enum imapfetch_result *result_r);
/* imapfetch_render_next: appends at most max bytes (max >= 1) of the
 * reply, "* n FETCH (...)\r\n", to out. Returns 1 while more remains, 0
 * when the reply is complete. Bodies (BINARY's decoded ones too) are
 * streamed from the message bytes: memory stays bounded by max plus the
 * computed values (ENVELOPE, headers ...), whatever the message size. */
int imapfetch_render_next(imapfetch_render *r, buf *out, size_t max);
/* imapfetch_render_end: releases the source's data and frees *r; NULL is
 * fine. */
void imapfetch_render_end(imapfetch_render **r);

/* imapfetch_render_all: begin, next until done, end: the whole reply in out
 * (for tests and small replies). */
enum imapfetch_result imapfetch_render_all(const imapfetch_spec *spec, const struct imapmsg *m,
					   unsigned options, buf *out);

/* Pieces other imapd code may use. */
/* imapfetch_flags: appends "(\Answered \Flagged ... keyword ...)": the
 * system flags of IMAPMSG_ bits (P is not shown), then m's keywords. */
void imapfetch_flags(buf *out, unsigned flags, const char *const *keywords, size_t nkeywords);
/* imapfetch_section_to_mime: the imapcmd section as lib/mime takes it. The
 * result points into in (parts and fields) and parts_r, an array of at
 * least IMAPCMD_MAX_SECTION_PARTS the caller gives. */
void imapfetch_section_to_mime(const struct imapcmd_section *in, unsigned *parts_r,
			       struct mime_section *out);

#endif
