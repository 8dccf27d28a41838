/* json.h: the little JSON writing Postern needs (mailctl queue list
 * --json, one object per line as Postfix's postqueue -j prints). It only
 * writes: strings escaped so any byte sequence gives valid JSON text (UTF-8
 * passed through, control bytes as \uXXXX, bytes that are not UTF-8 as
 * U+FFFD), and numbers. It does not parse JSON. */
#ifndef POSTERN_JSON_H
#define POSTERN_JSON_H

#include <stddef.h>

#include "buf.h"

/* json_put_string: appends the len bytes of s as one quoted JSON string. */
void json_put_string(buf *out, const char *s, size_t len);
/* json_put_cstr: the same for a NUL-terminated string; NULL gives null. */
void json_put_cstr(buf *out, const char *s);
/* json_put_member: appends "name": (name is a plain ASCII literal) after
 * a comma unless first. */
void json_put_member(buf *out, const char *name, int first);

#endif
