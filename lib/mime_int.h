/* mime_int.h: what the files of the MIME module (lib/mime*.c) share and
 * nobody else sees: the message struct, the header field reader, the
 * parameter parser and small string helpers. */
#ifndef POSTERN_MIME_INT_H
#define POSTERN_MIME_INT_H

#include "mime.h"

struct mime_msg {
	const char *data;
	size_t len;
	struct mime_part *root;
	size_t nparts;
	size_t nfields; /* in all parts, for MIME_MAX_MSG_FIELDS */
	bool header_only; /* mime_parse_header: do not look into the body */
};

/* mime_hdr_read: reads the header fields of part from off (limited by end)
 * into part->fields; returns the raw offset where the body starts (after
 * the blank line, or end when there is none). */
size_t mime_hdr_read(mime_msg *m, struct mime_part *part, size_t off, size_t end);
/* mime_hdr_apply: fills type, parameters, id, ... from part's fields;
 * default_type_message makes a missing Content-Type message/rfc822. */
void mime_hdr_apply(mime_msg *m, struct mime_part *part, bool default_type_message);
/* mime_field_string: a field's unfolded, trimmed value as a heap string. */
char *mime_field_string(const mime_msg *m, const struct mime_field *f);
/* mime_first_string: the first field named name as a heap string, or NULL. */
char *mime_first_string(const mime_msg *m, const struct mime_part *part, const char *name);

/* mime_params_parse: parses "value; a=b; c*0*=..." : *value_r gets the
 * token before the first ';' (heap, trimmed), the parameters are joined
 * and decoded (RFC 2231) into *params_r / *n_r. */
void mime_params_parse(const char *text, char **value_r, struct mime_param **params_r,
		       size_t *n_r);
void mime_params_free(struct mime_param **params, size_t n);

/* mime_range_set: sets r to the raw bytes [off, end) with their CRLF size
 * and line count. */
void mime_range_set(const char *data, size_t off, size_t end, struct mime_range *r);

/* mime_unquote_into: appends the RFC 5322 quoted-string content at s
 * (s[0] is the opening quote) to out and returns the position after the
 * closing quote (or end, for an unclosed one). */
size_t mime_unquote_into(const char *s, size_t pos, size_t end, buf *out);

#endif
