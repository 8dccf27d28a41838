/* map_text.c: the text format of maps, read once for both users: the
 * texthash backend (the whole file held in memory) and map_build (which
 * writes the same entries to a Berkeley DB file). It owns the reader that
 * joins continuation lines and enforces the limits, and a small
 * open-addressing hash table. Line splitting itself is map_parse_line in
 * map.c; reopening on change is done by map.c as for every backend. */
#include "map_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"

struct map_entry {
	char *key; /* one allocation: key, NUL, value, NUL */
	const char *value;
	uint64_t hash;
	int line; /* where the entry starts in the text file */
};

struct map_table {
	struct map_entry *ents; /* in file order */
	size_t count, cap;
	uint32_t *slots; /* entry index + 1; 0 = empty */
	size_t nslots; /* power of two, kept at least twice count */
};

/* ---- table ---- */

static uint64_t hash_key(const char *key)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 1099511628211ULL;
	}
	return h;
}

/* find_slot: the slot holding key, or the empty slot where it would go. */
static size_t find_slot(const map_table *t, const char *key, uint64_t h)
{
	size_t mask = t->nslots - 1;
	size_t i = (size_t)h & mask;

	while (t->slots[i] != 0) {
		const struct map_entry *e = &t->ents[t->slots[i] - 1];

		if (e->hash == h && strcmp(e->key, key) == 0)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

static void table_grow(map_table *t)
{
	size_t i;

	free(t->slots);
	t->nslots = t->nslots == 0 ? 64 : t->nslots * 2;
	t->slots = xcalloc(t->nslots, sizeof(*t->slots));
	for (i = 0; i < t->count; i++) {
		size_t s = find_slot(t, t->ents[i].key, t->ents[i].hash);

		t->slots[s] = (uint32_t)(i + 1);
	}
}

/* table_add: adds key (lowercased) unless present; returns 0, or -1 for a
 * duplicate (the first value stays). */
static int table_add(map_table *t, const char *key, const char *value, int line)
{
	uint64_t h = hash_key(key);
	size_t klen = strlen(key), vlen = strlen(value);
	struct map_entry *e;
	size_t s;

	if (t->count >= UINT32_MAX - 1)
		log_fatal("map table too large");
	if ((t->count + 1) * 2 > t->nslots)
		table_grow(t);
	s = find_slot(t, key, h);
	if (t->slots[s] != 0)
		return -1;
	if (t->count == t->cap) {
		t->cap = t->cap == 0 ? 32 : t->cap * 2;
		t->ents = xrealloc(t->ents, t->cap * sizeof(*t->ents));
	}
	e = &t->ents[t->count];
	e->key = xmalloc(klen + vlen + 2);
	memcpy(e->key, key, klen + 1);
	memcpy(e->key + klen + 1, value, vlen + 1);
	e->value = e->key + klen + 1;
	e->hash = h;
	e->line = line;
	t->slots[s] = (uint32_t)++t->count;
	return 0;
}

void map_table_free(map_table **tp)
{
	map_table *t = *tp;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->count; i++)
		free(t->ents[i].key);
	free(t->ents);
	free(t->slots);
	free(t);
	*tp = NULL;
}

size_t map_table_count(const map_table *t)
{
	return t->count;
}

void map_table_entry(const map_table *t, size_t i, const char **key_r, const char **value_r)
{
	*key_r = t->ents[i].key;
	*value_r = t->ents[i].value;
}

int map_table_line(const map_table *t, size_t i)
{
	return t->ents[i].line;
}

const char *map_table_get(const map_table *t, const char *key)
{
	size_t s;

	if (t->count == 0)
		return NULL;
	s = find_slot(t, key, hash_key(key));
	return t->slots[s] == 0 ? NULL : t->ents[t->slots[s] - 1].value;
}

/* ---- reader ---- */

/* A physical line is read into phys, at most MAP_LINE_MAX bytes kept; a
 * logical line (an entry and its continuation lines) is built in logical. */
struct reader {
	FILE *fp;
	const char *path;
	cfg_diag_fn *diag;
	void *ctx;
	map_table *table;
	int lineno; /* of the last physical line read */
	buf *phys;
	bool phys_long, phys_nul;
	buf *logical;
	int logical_line; /* where the pending entry starts; 0 = none */
	bool logical_long, logical_nul;
	int errors;
};

static bool is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static void report(struct reader *r, int line, const char *severity, const char *msg)
{
	if (r->diag != NULL)
		r->diag(r->ctx, r->path, line, severity, msg);
}

static void syntax_error(struct reader *r, int line, const char *msg)
{
	r->errors++;
	report(r, line, "error", msg);
}

/* read_phys_line: 1 line read (without its newline), 0 end of file,
 * -1 read error (errno). */
static int read_phys_line(struct reader *r)
{
	int c;
	bool any = false;

	buf_reset(r->phys);
	r->phys_long = r->phys_nul = false;
	while ((c = getc_unlocked(r->fp)) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (c == '\0')
			r->phys_nul = true;
		if (buf_len(r->phys) < MAP_LINE_MAX)
			buf_putc(r->phys, c);
		else
			r->phys_long = true;
	}
	if (c == EOF && ferror(r->fp))
		return -1;
	if (!any)
		return 0;
	r->lineno++;
	return 1;
}

/* finish_entry: parses the pending logical line into the table. */
static void finish_entry(struct reader *r)
{
	char *key, *value;
	char *msg;
	int line = r->logical_line;

	r->logical_line = 0;
	if (r->logical_long) {
		msg = xasprintf("line too long (limit %d bytes)", MAP_LINE_MAX);
		syntax_error(r, line, msg);
		free(msg);
		return;
	}
	if (r->logical_nul) {
		syntax_error(r, line, "NUL byte in line");
		return;
	}
	if (map_parse_line(buf_data(r->logical), &key, &value) != 1) {
		syntax_error(r, line, "expected 'key value'");
		return;
	}
	if (strlen(key) > MAP_KEY_MAX) {
		msg = xasprintf("key too long (limit %d bytes)", MAP_KEY_MAX);
		syntax_error(r, line, msg);
		free(msg);
		return;
	}
	map_fold_key(key);
	if (table_add(r->table, key, value, line) < 0) {
		msg = xasprintf("duplicate entry for '%s', using the first", key);
		report(r, line, "warning", msg);
		free(msg);
	}
}

/* continue_entry: joins a continuation line to the pending entry with one
 * space. */
static void continue_entry(struct reader *r, const char *text)
{
	const char *data = buf_cstr(r->logical);
	size_t len = buf_len(r->logical);

	if (r->logical_line == 0) {
		syntax_error(r, r->lineno, "continuation line without an entry before it");
		return;
	}
	while (len > 0 && is_blank((unsigned char)data[len - 1]))
		len--;
	buf_truncate(r->logical, len);
	if (len + 1 + strlen(text) > MAP_LINE_MAX) {
		r->logical_long = true;
		return;
	}
	buf_putc(r->logical, ' ');
	buf_puts(r->logical, text);
}

/* take_line: sorts one physical line: skipped, new entry, or continuation. */
static void take_line(struct reader *r)
{
	const char *p = buf_cstr(r->phys);
	bool continues = is_blank((unsigned char)*p);

	while (is_blank((unsigned char)*p))
		p++;
	if (*p == '\0' && !r->phys_nul && !r->phys_long)
		return; /* blank */
	if (*p == '#')
		return; /* comment */
	if (continues) {
		r->logical_long |= r->phys_long;
		r->logical_nul |= r->phys_nul;
		continue_entry(r, p);
		return;
	}
	if (r->logical_line != 0)
		finish_entry(r);
	buf_reset(r->logical);
	buf_append(r->logical, buf_cstr(r->phys), buf_len(r->phys));
	r->logical_line = r->lineno;
	r->logical_long = r->phys_long;
	r->logical_nul = r->phys_nul;
}

int map_table_read(FILE *fp, const char *path, cfg_diag_fn *diag, void *ctx, map_table **table_r,
		   char **err_r)
{
	struct reader r = {
		.fp = fp, .path = path, .diag = diag, .ctx = ctx,
		.table = xcalloc(1, sizeof(map_table)),
		.phys = buf_new(256), .logical = buf_new(256),
	};
	int rc;

	*table_r = NULL;
	*err_r = NULL;
	while ((rc = read_phys_line(&r)) > 0)
		take_line(&r);
	if (rc == 0 && r.logical_line != 0)
		finish_entry(&r);
	if (rc < 0)
		*err_r = xasprintf("cannot read %s: %s", path, strerror(errno));
	buf_free(&r.phys);
	buf_free(&r.logical);
	if (rc < 0 || r.errors > 0) {
		map_table_free(&r.table);
		return rc < 0 ? -1 : r.errors;
	}
	*table_r = r.table;
	return 0;
}

/* ---- texthash backend ---- */

/* While texthash parses a file for map_open there is nobody to show
 * diagnostics to: warnings go to the log and the first error becomes the
 * open error. */
struct open_diag {
	char *first_error;
};

static void open_diag(void *ctx, const char *file, int line, const char *severity, const char *msg)
{
	struct open_diag *od = ctx;

	if (strcmp(severity, "error") != 0) {
		log_warn("%s:%d: %s", file, line, msg);
		return;
	}
	if (od->first_error == NULL)
		od->first_error = xasprintf("%s:%d: %s", file, line, msg);
}

static void *texthash_open(const char *path, struct stat *st_r, char **err_r)
{
	struct open_diag od = { NULL };
	map_table *t = NULL;
	FILE *fp;
	int rc;

	fp = fopen(path, "re");
	if (fp == NULL) {
		*err_r = xasprintf("cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(fp), st_r) < 0) {
		*err_r = xasprintf("cannot stat %s: %s", path, strerror(errno));
		fclose(fp);
		return NULL;
	}
	rc = map_table_read(fp, path, open_diag, &od, &t, err_r);
	fclose(fp);
	if (rc > 0) {
		*err_r = rc == 1 ? od.first_error
				 : xasprintf("%s (and %d more errors)", od.first_error, rc - 1);
		if (rc > 1)
			free(od.first_error);
		return NULL;
	}
	free(od.first_error);
	return t;
}

static enum map_result texthash_lookup(void *handle, const char *key, buf *value, char **err_r)
{
	const char *v = map_table_get(handle, key);

	(void)err_r;
	if (v == NULL)
		return MAP_NOTFOUND;
	buf_reset(value);
	buf_puts(value, v);
	return MAP_FOUND;
}

static void texthash_close(void *handle)
{
	map_table *t = handle;

	map_table_free(&t);
}

const struct map_backend map_backend_texthash = {
	.type = "texthash",
	.suffix = "",
	.snapshot = true,
	.open = texthash_open,
	.lookup = texthash_lookup,
	.close = texthash_close,
};
