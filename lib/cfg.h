/* cfg.h: main.cf, the "key = value" configuration every program reads.
 * Syntax as Postfix: '#' comments, blank lines, a line starting with white
 * space continues the previous value, "$name" / "${name}" / "$(name)" expand
 * to another key's value (recursively, with a depth limit; "$$" is a dollar).
 * Every known key is in a table with its type, default and bounds: the
 * shared keys in lib/cfg_keys.c, each program's own in its folder
 * (smtpd/smtpd_keys.c, ...); every program knows all of them. Unknown keys
 * give a warning naming file:line. Values are checked against the tables
 * by cfg_check. */
#ifndef POSTERN_CFG_H
#define POSTERN_CFG_H

#include <stdbool.h>
#include <stddef.h>

enum cfg_type {
	CFG_STR, /* any text */
	CFG_INT, /* decimal integer within [min, max] */
	CFG_BOOL, /* yes / no */
	CFG_TIME, /* number with optional unit s m h d w (default s); seconds */
	CFG_SIZE, /* number of bytes, optional k/m/g suffix (1024-based) */
	CFG_LIST, /* words separated by commas and/or white space */
	CFG_PATH, /* absolute path after expansion */
};

/* One key. Bounds: min/max for CFG_INT, CFG_TIME (seconds) and CFG_SIZE
 * (bytes), min = max = 0 (CFG_NO_BOUNDS) meaning none; for CFG_STR, min
 * is the minimum length (1 = must not be empty). */
struct cfg_key {
	const char *name;
	enum cfg_type type;
	const char *defval; /* may contain $name references */
	long long min, max; /* CFG_INT / CFG_TIME / CFG_SIZE bounds */
	const char *doc; /* one-line description */
};
#define CFG_NO_BOUNDS 0, 0

/* The key tables, each ended by a NULL name: the shared keys
 * (lib/cfg_keys.c) and one per program that owns keys (<prog>/<prog>_keys.c).
 * A key name is in exactly one table. */
extern const struct cfg_key cfg_shared_keys[];
extern const struct cfg_key smtpd_cfg_keys[];
extern const struct cfg_key pop3d_cfg_keys[];
extern const struct cfg_key imapd_cfg_keys[];
extern const struct cfg_key qmgr_cfg_keys[];
extern const struct cfg_key master_cfg_keys[];
extern const struct cfg_key smtp_cfg_keys[];
/* cfg_key_tables: all of the above, shared first, ended by NULL. */
extern const struct cfg_key *const cfg_key_tables[];
/* cfg_key_find: the key called name in any table, or NULL. */
const struct cfg_key *cfg_key_find(const char *name);

/* A diagnostic: severity is "error" or "warning"; line is 0 when the
 * message is about the file as a whole. */
typedef void cfg_diag_fn(void *ctx, const char *file, int line, const char *severity,
			 const char *msg);

typedef struct cfg cfg;

/* cfg_new: an empty config (all defaults) whose $config_directory is dir. */
cfg *cfg_new(const char *config_dir);
void cfg_free(cfg **c);
/* cfg_load_file: parses path into c. Syntax problems and unknown keys are
 * reported through diag (which may be NULL). Returns the number of errors
 * (0 = usable), or -1 if the file cannot be read (also reported). */
int cfg_load_file(cfg *c, const char *path, cfg_diag_fn *diag, void *ctx);
/* cfg_check: checks every value set (type, bounds, expansion loops) and
 * reports problems with the file:line the value came from. Returns the
 * number of errors. */
int cfg_check(cfg *c, cfg_diag_fn *diag, void *ctx);

/* cfg_set: sets (or overrides, e.g. from "-o key=value") a value. */
void cfg_set(cfg *c, const char *name, const char *value);
/* cfg_raw: the value as written (or the default), unexpanded; NULL for an
 * unknown key that was never set. */
const char *cfg_raw(cfg *c, const char *name);
/* cfg_get: the expanded value (or default); "" for unknown keys. The string
 * is owned by c and stays valid until c changes. */
const char *cfg_get(cfg *c, const char *name);
long long cfg_get_int(cfg *c, const char *name); /* also TIME, SIZE */
bool cfg_get_bool(cfg *c, const char *name);
/* cfg_is_set: the key was given in the file or by cfg_set. */
bool cfg_is_set(cfg *c, const char *name);
/* cfg_each_set: calls fn for every key set in the file or by cfg_set, in
 * file order. */
void cfg_each_set(cfg *c, void (*fn)(void *ctx, const char *name, const char *raw), void *ctx);

/* cfg_parse_value: checks text against type/bounds of key; on success
 * stores the number in *num_r (for INT/TIME/SIZE/BOOL) and returns 0;
 * otherwise returns -1 and sets *err_r (heap). */
int cfg_parse_value(const struct cfg_key *key, const char *text, long long *num_r, char **err_r);

/* cfg_edit_file: like "postconf -e": sets name = value in the file at
 * path, replacing the existing setting (and its continuation lines) or
 * appending, keeping all other lines and comments. Written to a temporary
 * file, fsynced and renamed over path. Returns 0 or -1 with *err_r. */
int cfg_edit_file(const char *path, const char *name, const char *value, char **err_r);

/* cfg_split_list: splits a CFG_LIST value into words (commas, white space).
 * Returns a NULL-terminated heap array of heap strings; free with
 * cfg_free_list. */
char **cfg_split_list(const char *value);
void cfg_free_list(char ***list);

/* cfg_myhostname: myhostname, or the system's host name when it is empty
 * ("localhost" if even that fails). Heap. */
char *cfg_myhostname(cfg *c);

/* The free-space reserves (the one place that computes them; smtpd and
 * local use these, not the raw keys). cfg_queue_minfree: queue_minfree,
 * or when it is 0 (automatic) 4 x message_size_limit, with 10240000 for an
 * unlimited (0) message_size_limit. cfg_local_minfree: local_minfree, or
 * when it is 0 half of cfg_queue_minfree, so that mail queued before
 * smtpd began to refuse still fits into a mail store on the same disk. */
long long cfg_queue_minfree(cfg *c);
long long cfg_local_minfree(cfg *c);

#endif
