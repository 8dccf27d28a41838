/* taglist.h: the "tag=value; tag=value" list of RFC 6376 section 3.2, as
 * DKIM signatures, DKIM key records, ARC sets and DMARC records use it.
 * Parsing checks the grammar (tag names, value characters, folding white
 * space), refuses duplicate tags and bounds the number of tags and the
 * length of each value. Values are kept as written, less the white space
 * around them; white space inside a value (b=, h=, p=) is the caller's. */
#ifndef POSTERN_TAGLIST_H
#define POSTERN_TAGLIST_H

#include <stddef.h>

#define TAGLIST_MAX_TAGS 64
#define TAGLIST_MAX_VALUE 16384

typedef struct taglist taglist;

/* taglist_parse: parses text[0..len) (it may be folded with CRLF or LF
 * followed by white space, and may end with ";"). Returns the list, or
 * NULL with *err_r (heap) naming what is wrong: a bad tag name, a
 * character a value may not hold, a missing "=", a duplicate tag, more
 * than TAGLIST_MAX_TAGS tags or a value longer than TAGLIST_MAX_VALUE. */
taglist *taglist_parse(const char *text, size_t len, char **err_r);
/* taglist_parse_lenient: taglist_parse that also skips empty tag-specs
 * (";;", a ";" first, "; ;"), which DMARC records in the wild carry;
 * at least one tag is still required. */
taglist *taglist_parse_lenient(const char *text, size_t len, char **err_r);
void taglist_free(taglist **tl);

/* taglist_get: the value of tag name (compared case-sensitively, as the
 * RFC says), or NULL when absent. The string lives as long as tl. */
const char *taglist_get(const taglist *tl, const char *name);
/* taglist_count, taglist_name, taglist_value: the tags in their order. */
size_t taglist_count(const taglist *tl);
const char *taglist_name(const taglist *tl, size_t i);
const char *taglist_value(const taglist *tl, size_t i);

/* taglist_strip_ws: a heap copy of value without any white space (CR, LF,
 * SP, HTAB): the form of base64 values (b=, bh=, p=) and of h=. */
char *taglist_strip_ws(const char *value);

#endif
