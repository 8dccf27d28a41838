/* mime.h: the message parser imapd stands on. Parses an RFC 5322 message
 * with RFC 2045-2047 MIME and RFC 2231 parameters into a tree of parts,
 * writes ENVELOPE, BODY and BODYSTRUCTURE in IMAP syntax (RFC 3501 7.4.2),
 * finds the bytes of a FETCH BODY[section], and decodes headers and bodies
 * to UTF-8 for SEARCH. Broken MIME is parsed leniently; past a limit the
 * rest is plain text. It reads a message held in memory and does no I/O;
 * parsing the section spec of a FETCH command is imapd's job. */
#ifndef POSTERN_MIME_H
#define POSTERN_MIME_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Limits. A part deeper than MIME_MAX_DEPTH, or met when the message has
 * MIME_MAX_PARTS parts, is a text/plain leaf (its multipart children or
 * embedded message are not parsed); children of a multipart past that
 * count are left out (their bytes stay in the multipart's body). A multipart in which no boundary line is found
 * (or without a boundary parameter) gets one empty text/plain part. Header fields past MIME_MAX_FIELDS of one part,
 * past MIME_MAX_MSG_FIELDS in the whole message, and fields longer than
 * MIME_MAX_FIELD_LEN bytes (folded lines included), stay in the header's
 * bytes but are not looked at. Parameters past
 * MIME_MAX_PARAMS and RFC 2231 sections past MIME_MAX_SECTIONS are
 * dropped. Addresses past MIME_MAX_ADDRS in one field are dropped. */
#define MIME_MAX_DEPTH 32
#define MIME_MAX_PARTS 2000
#define MIME_MAX_FIELDS 1000
#define MIME_MAX_MSG_FIELDS 20000 /* in all parts together */
#define MIME_MAX_FIELD_LEN 65536
#define MIME_MAX_PARAMS 64
#define MIME_MAX_SECTIONS 64
#define MIME_MAX_ADDRS 1000
/* RFC 2046 5.1.1 allows 70 characters; longer boundaries are not looked for. */
#define MIME_MAX_BOUNDARY 200

/* Offsets and sizes. The message buffer may use LF or CRLF line ends (our
 * Maildir files use LF); IMAP counts octets as the client sees them, with
 * every line ending in CRLF. So each range keeps two numbers: off/len, raw
 * offsets into the caller's buffer, and size, the octets the same bytes
 * take once every bare LF is sent as CRLF. Lines count line ends; a last
 * line without one counts too. mime_crlf_append sends a raw range as CRLF
 * text, with partial fetches counted in CRLF octets. */
struct mime_range {
	size_t off; /* raw offset into the message buffer */
	size_t len; /* raw length */
	size_t size; /* octets with CRLF line ends */
	size_t lines; /* line count */
};

/* One parameter of Content-Type or Content-Disposition. RFC 2231
 * continuations are joined: name is as given without the section number
 * ("filename*" when the value is charset'lang'%XX encoded, which is how
 * IMAP servers report it), value the joined raw value, quotes removed;
 * decoded is the value in UTF-8 (percent-decoding and charset done). */
struct mime_param {
	char *name;
	char *value;
	char *decoded;
};

/* One header field: raw byte ranges of the name and of the value (the
 * value starts after the colon and keeps its folding). */
struct mime_field {
	size_t name_off, name_len;
	size_t value_off, value_len;
	size_t end; /* raw offset just after the field's last line end */
};

/* A part. Strings are NUL-terminated, unfolded, as they appear in the
 * header (case kept), or NULL when absent; type and subtype are never NULL
 * ("text"/"plain" by default, "message"/"rfc822" inside multipart/digest).
 * For a multipart, children are its parts; for a message/rfc822 part,
 * children[0] is the embedded message (header and body; see
 * mime_section_find for how section numbers walk through it). The tree
 * belongs to the mime_msg: callers read it and never change it. */
struct mime_part {
	struct mime_part *parent;
	struct mime_part **children;
	size_t nchildren;
	bool is_multipart; /* a multipart with children */
	bool is_message; /* message/rfc822 with an embedded message parsed */
	bool flattened; /* a limit made this a text/plain leaf */
	int depth;
	struct mime_range header; /* header fields and the blank line after */
	struct mime_range body;
	struct mime_field *fields;
	size_t nfields;
	char *type, *subtype;
	struct mime_param *params;
	size_t nparams;
	char *id, *description, *encoding, *md5;
	char *disposition;
	struct mime_param *disp_params;
	size_t ndisp_params;
	char *language, *location;
};

typedef struct mime_msg mime_msg;

/* mime_parse: parses the len bytes at data (which may hold NULs). The
 * result points into data, which the caller keeps unchanged and alive until
 * mime_free. Never fails: any input gives a tree. */
mime_msg *mime_parse(const char *data, size_t len);
/* mime_parse_header: like mime_parse, but the root's body is not looked
 * into (no parts): enough for ENVELOPE, HEADER and HEADER.FIELDS, and data
 * may be just the start of the file, through the blank line that ends the
 * header. */
mime_msg *mime_parse_header(const char *data, size_t len);
void mime_free(mime_msg **m);
/* mime_root: the whole message as a part (its header is the message's). */
const struct mime_part *mime_root(const mime_msg *m);
const char *mime_data(const mime_msg *m);
/* mime_size: octets of the whole message with CRLF line ends (RFC822.SIZE). */
size_t mime_size(const mime_msg *m);
/* mime_nparts: parts in the tree (embedded messages count as parts). */
size_t mime_nparts(const mime_msg *m);

/* mime_field_find: the n-th (0-based) field of part named name (compared
 * without case), or NULL. mime_field_value: its value unfolded (CR and LF
 * removed, leading and trailing white space trimmed), appended to out. */
const struct mime_field *mime_field_find(const mime_msg *m, const struct mime_part *part,
					 const char *name, size_t n);
void mime_field_value(const mime_msg *m, const struct mime_field *f, buf *out);
/* mime_field_decoded: the unfolded value with its encoded words decoded
 * to UTF-8 (mime_decode_words), appended to out: what SEARCH compares. */
void mime_field_decoded(const mime_msg *m, const struct mime_field *f, buf *out);

/* mime_param_get: the parameter named name (no case, no trailing '*'), or
 * NULL. */
const struct mime_param *mime_param_get(const struct mime_param *params, size_t n,
					const char *name);

/* mime_decode_words: appends text with RFC 2047 encoded words decoded to
 * UTF-8 (white space between adjacent encoded words dropped). Encoded words
 * in charsets iconv does not know, or that do not decode, are kept as they
 * are; other bytes are copied unchanged. */
void mime_decode_words(const char *text, size_t len, buf *out);

/* mime_charset_to_utf8: appends len bytes in charset converted to UTF-8
 * (bytes that do not convert become U+FFFD). Returns 0, or -1 (nothing
 * appended) when iconv does not know the charset. NULL means us-ascii. */
int mime_charset_to_utf8(const char *charset, const char *in, size_t len, buf *out);

/* mime_body_decode: appends part's body with its Content-Transfer-Encoding
 * (base64, quoted-printable; others are copied) undone, leniently: bad
 * characters are skipped. mime_body_text: the same, then converted to
 * UTF-8 from the part's charset for text parts; returns -1 when the
 * charset is unknown (the decoded bytes are appended as they are). */
void mime_body_decode(const mime_msg *m, const struct mime_part *part, buf *out);
int mime_body_text(const mime_msg *m, const struct mime_part *part, buf *out);

/* An address of ENVELOPE (RFC 3501 7.4.2). name is the display name as
 * written (encoded words left encoded), route the source route ("@a,@b").
 * A group is a start entry (mailbox = group name, host NULL) and an end
 * entry (all NULL). Broken addresses are kept: a missing local part becomes
 * "MISSING_MAILBOX", a missing domain "MISSING_DOMAIN", as Dovecot does. */
struct mime_addr {
	char *name, *route, *mailbox, *host;
};

/* mime_addr_parse: parses an address-list (the unfolded value of From, To,
 * ...) into *addrs_r (free with mime_addr_free); returns the count. */
size_t mime_addr_parse(const char *text, size_t len, struct mime_addr **addrs_r);
void mime_addr_free(struct mime_addr **addrs, size_t n);

/* mime_imap_string: appends s as an IMAP string: NIL for NULL, a quoted
 * string when it is short 7-bit text without CR, LF or NUL, else a literal
 * {n}CRLF followed by the bytes. */
void mime_imap_string(buf *out, const char *s, size_t len);
void mime_imap_cstring(buf *out, const char *s);

/* mime_envelope: appends the ENVELOPE of a message: msg is the root, or
 * the embedded message (children[0]) of a message/rfc822 part. */
void mime_envelope(const mime_msg *m, const struct mime_part *msg, buf *out);
/* mime_bodystructure: appends BODYSTRUCTURE (extended true) or BODY of
 * part (the root for a FETCH). */
void mime_bodystructure(const mime_msg *m, const struct mime_part *part, bool extended,
			buf *out);

/* A parsed FETCH section spec: part numbers ("1.2" is {1, 2}), then what
 * of it. fields are the names of HEADER.FIELDS and HEADER.FIELDS.NOT. */
enum mime_section_what {
	MIME_SECTION_ALL, /* BODY[] or BODY[1.2]: the part's body, or the whole
			   * message for the root and message/rfc822 parts */
	MIME_SECTION_HEADER,
	MIME_SECTION_TEXT,
	MIME_SECTION_FIELDS,
	MIME_SECTION_FIELDS_NOT,
	MIME_SECTION_MIME, /* needs at least one part number */
};

struct mime_section {
	const unsigned *parts;
	size_t nparts;
	enum mime_section_what what;
	const char *const *fields;
	size_t nfields;
};

/* mime_part_find: the part that part numbers name (as in a section spec,
 * and for BINARY[1.2]), or NULL when there is none. No numbers name the
 * root. */
const struct mime_part *mime_part_find(const mime_msg *m, const unsigned *nums, size_t n);

/* mime_section_find: the bytes of a section. For HEADER.FIELDS(.NOT) it
 * appends the chosen fields and the blank line, in CRLF form, to built and
 * returns 1; for every other form it sets *range_r and returns 0 (send it
 * with mime_crlf_append). Returns -1 when the section does not exist (a
 * part number out of range, HEADER of a part that is no message, MIME
 * without part numbers); RFC 3501 then sends an empty string. */
int mime_section_find(const mime_msg *m, const struct mime_section *s,
		      struct mime_range *range_r, buf *built);

/* mime_header_fields: HEADER.FIELDS (want true) or HEADER.FIELDS.NOT
 * (want false) of the header at data (len bytes; reading stops at its blank
 * line), appended to out byte for byte as mime_section_find builds it from
 * mime_parse_header's parse of the same bytes: the fields whose names are
 * (or are not) among the nnames names, in CRLF form, then the blank line.
 * The lines are read as mime_parse_header reads them (folding, lines
 * without a colon, the field limits) but nothing is allocated: for a
 * cached header block fetched for a few fields. */
void mime_header_fields(const char *data, size_t len, const char *const *names, size_t nnames,
			bool want, buf *out);

/* mime_crlf_append: appends the raw range [off, off+len) of data with
 * every bare LF sent as CRLF, skipping the first skip octets of that CRLF
 * form and appending at most max octets (a partial fetch <skip.max>). */
void mime_crlf_append(buf *out, const char *data, size_t off, size_t len, size_t skip,
		      size_t max);

#endif
