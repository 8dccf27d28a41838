/* jsonread.h: a minimal JSON reader for test drivers (the SPF conformance
 * suite): parses a whole text into a tree of values. Strings become UTF-8
 * (\u escapes and surrogate pairs decoded); numbers are doubles. Test-only:
 * libpostern itself writes JSON (lib/json) but never reads it. */
#ifndef POSTERN_JSONREAD_H
#define POSTERN_JSONREAD_H

#include <stdbool.h>
#include <stddef.h>

enum jv_type { JV_NULL, JV_BOOL, JV_NUMBER, JV_STRING, JV_ARRAY, JV_OBJECT };

/* A value. STRING: str (NUL-ended, len bytes). ARRAY: items[count].
 * OBJECT: keys[count] and items[count], in the text's order. */
struct jv {
	enum jv_type type;
	bool boolean;
	double number;
	char *str;
	size_t len;
	size_t count;
	char **keys;
	struct jv **items;
};

/* jv_parse: the value of text (len bytes), or NULL with *err_r (static
 * text) and *pos_r (the byte offset) for malformed JSON. */
struct jv *jv_parse(const char *text, size_t len, const char **err_r, size_t *pos_r);
void jv_free(struct jv **v);
/* jv_get: the member named key of an object, else NULL. */
const struct jv *jv_get(const struct jv *obj, const char *key);

#endif
