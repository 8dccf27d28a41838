/* attr.h: attribute records, the format of every internal request and
 * reply over Unix sockets (master control, qmgr triggers, delivery
 * requests). A record is "name=value" lines ending with an empty line:
 *
 *     protocol=delivery
 *     queue_id=4XkW2b0001
 *     rcpt=user@example.org
 *     <empty line>
 *
 * The first field always names the protocol. Values are escaped so they
 * fit on one line: backslash, newline, CR and NUL become \\ \n \r \0.
 * Names are [a-z0-9_]+. Limits: 256 fields, 64 KiB per value, 1 MiB per
 * record; input over a limit is an error, not a truncation. */
#ifndef POSTERN_ATTR_H
#define POSTERN_ATTR_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"

#define ATTR_MAX_FIELDS 256
#define ATTR_MAX_VALUE (64 * 1024)
#define ATTR_MAX_RECORD (1024 * 1024)

typedef struct attr_rec attr_rec;

/* attr_new: an empty record whose first field is protocol=NAME. */
attr_rec *attr_new(const char *protocol);
void attr_free(attr_rec **rec);
const char *attr_protocol(const attr_rec *rec);

/* Adding fields; the same name may appear several times (a list). */
void attr_add_str(attr_rec *rec, const char *name, const char *value);
void attr_add_int(attr_rec *rec, const char *name, long long value);
void attr_add_bool(attr_rec *rec, const char *name, bool value);

/* Reading: the first value with that name, or NULL. */
const char *attr_get(const attr_rec *rec, const char *name);
/* attr_get_int: 0 found and numeric, -1 missing or not a number. */
int attr_get_int(const attr_rec *rec, const char *name, long long *value_r);
/* Fields by position (after the protocol field). */
size_t attr_count(const attr_rec *rec);
const char *attr_name_at(const attr_rec *rec, size_t i);
const char *attr_value_at(const attr_rec *rec, size_t i);

/* attr_encode: appends the record, terminating empty line included. */
void attr_encode(const attr_rec *rec, buf *out);
/* attr_decode: parses one record from the front of data. Returns 1 with
 * *rec_r and *used_r (bytes consumed) set, 0 if the record is not complete
 * yet, -1 on a malformed record or broken limit (*err_r set, heap). */
int attr_decode(const char *data, size_t len, attr_rec **rec_r, size_t *used_r, char **err_r);

/* Typed scan: checks the protocol name and that exactly the listed fields
 * are present (missing or extra fields are errors, so are leftovers):
 *   attr_scan(rec, "delivery", &err,
 *             ATTR_STR, "queue_id", &qid,      (const char **)
 *             ATTR_INT, "size", &size,          (long long *)
 *             ATTR_OPT_STR, "notify", &notify,  (optional, NULL if absent)
 *             ATTR_END);
 * Returns 0, or -1 with *err_r (heap). */
enum attr_scan_type { ATTR_END, ATTR_STR, ATTR_INT, ATTR_OPT_STR, ATTR_OPT_INT };
int attr_scan(const attr_rec *rec, const char *protocol, char **err_r, ...);

/* Blocking helpers for simple clients and servers: attr_send writes the
 * whole record; attr_recv reads exactly one record (no read-ahead past its
 * end). timeout_ms <= 0 means no timeout. Return 0 / -1 with *err_r. */
int attr_send(int fd, const attr_rec *rec, int timeout_ms, char **err_r);
int attr_recv(int fd, attr_rec **rec_r, int timeout_ms, char **err_r);

#endif
