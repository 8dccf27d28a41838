/* imapfetch_int.h: what the parts of lib/imapfetch share: the parsed spec
 * (a list of items, each with its response name and, for body sections,
 * a copy of the section the command reader parsed) and the renderer's
 * state. Not for use outside lib/imapfetch*.c. */
#ifndef POSTERN_IMAPFETCH_INT_H
#define POSTERN_IMAPFETCH_INT_H

#include "imapfetch.h"

enum imapfetch_kind {
	IMAPFETCH_UID,
	IMAPFETCH_FLAGS,
	IMAPFETCH_INTERNALDATE,
	IMAPFETCH_RFC822_SIZE,
	IMAPFETCH_MODSEQ,
	IMAPFETCH_ENVELOPE,
	IMAPFETCH_BODY,		 /* BODY without a section */
	IMAPFETCH_BODYSTRUCTURE,
	IMAPFETCH_RFC822,	 /* BODY[] under its old name */
	IMAPFETCH_RFC822_HEADER, /* BODY.PEEK[HEADER] under its old name */
	IMAPFETCH_RFC822_TEXT,	 /* BODY[TEXT] under its old name */
	IMAPFETCH_SECTION,	 /* BODY[...] and BODY.PEEK[...] */
	IMAPFETCH_BINARY,	 /* BINARY[...] and BINARY.PEEK[...] */
	IMAPFETCH_BINARY_SIZE,
};

struct imapfetch_item {
	enum imapfetch_kind kind;
	char *name; /* as the reply names it: "BODY[1.MIME]<0>", "RFC822" */
	/* Sections (SECTION, BINARY, BINARY_SIZE and the RFC822 forms). */
	unsigned parts[IMAPCMD_MAX_SECTION_PARTS];
	struct mime_section section; /* parts and fields point into this item */
	char **fields;
	bool partial;
	uint32_t origin, length;
};

struct imapfetch_spec {
	struct imapfetch_item items[IMAPFETCH_MAX_ITEMS];
	size_t nitems;
	bool sets_seen, uses_modseq, full_parse;
	enum imapfetch_need need;
	uint64_t changedsince;
};

/* imapfetch_item_need: what one item reads. */
enum imapfetch_need imapfetch_item_need(const struct imapfetch_item *it);

/* imapfetch_string_atom: whether s can go out as an atom (astring-char). */
bool imapfetch_string_atom(const char *s);

#endif
