/* mapedit.c: edits the text source of a map ("key value" lines, comments,
 * continuation lines) the way an admin would by hand, for mailctl's
 * domain/user/alias commands. The file is read whole, cut into physical
 * lines, and the lines are grouped into entries (a first line plus its
 * continuation lines, with any comments between them); an edit replaces or
 * drops whole entries and copies every other byte unchanged. Writers are
 * serialised by an flock on the file's directory; the new text goes in
 * with fs_write_atomic and the .db with map_build, both by rename. */
#include "mapedit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "map.h"
#include "map_int.h"
#include "mem.h"

/* A source file larger than this is refused (maps of millions of entries
 * belong in a database backend, not in a file edited in memory). */
#define MAPEDIT_FILE_MAX (512 * 1024 * 1024)

/* One entry: physical lines [first, last] (last includes continuation
 * lines and the comments between them), its folded key and its value
 * (continuations joined with one space, as map_text.c joins them). */
struct entry {
	size_t first, last;
	char *key;
	char *value;
};

struct source {
	buf *text; /* the whole file */
	size_t *line_off; /* start of each physical line; one more at the end */
	size_t nlines;
	struct entry *ents;
	size_t nents;
	bool exists;
	mode_t mode;
	uid_t uid;
	gid_t gid;
};

static bool is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* line_kind: 'b' blank or comment, 'c' continuation, 'e' start of entry. */
static char line_kind(const struct source *s, size_t i)
{
	const char *p = buf_cstr(s->text) + s->line_off[i];
	const char *end = buf_cstr(s->text) + s->line_off[i + 1];
	bool indented = p < end && is_blank((unsigned char)*p);

	while (p < end && is_blank((unsigned char)*p))
		p++;
	if (p == end || *p == '#')
		return 'b';
	return indented ? 'c' : 'e';
}

/* line_text: the physical line without its newline and outer blanks. */
static char *line_text(const struct source *s, size_t i, bool strip_front)
{
	const char *p = buf_cstr(s->text) + s->line_off[i];
	const char *end = buf_cstr(s->text) + s->line_off[i + 1];

	while (strip_front && p < end && is_blank((unsigned char)*p))
		p++;
	while (end > p && is_blank((unsigned char)end[-1]))
		end--;
	return xstrndup(p, (size_t)(end - p));
}

static void split_lines(struct source *s)
{
	const char *data = buf_cstr(s->text);
	size_t len = buf_len(s->text), cap = 64;

	s->line_off = xmalloc(cap * sizeof(*s->line_off));
	s->nlines = 0;
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t next = nl == NULL ? len : (size_t)(nl - data) + 1;

		if (s->nlines + 2 > cap) {
			cap *= 2;
			s->line_off = xrealloc(s->line_off, cap * sizeof(*s->line_off));
		}
		s->line_off[s->nlines++] = pos;
		pos = next;
	}
	s->line_off[s->nlines] = len;
}

/* finish_entry: parses the joined logical line of e; an entry that does
 * not parse (a syntax error map_build will report) keeps key NULL, so it
 * is never matched but still copied unchanged. */
static void finish_entry(struct entry *e, buf *logical)
{
	char *key, *value;

	if (map_parse_line(buf_data(logical), &key, &value) == 1) {
		map_fold_key(key);
		e->key = xstrdup(key);
		e->value = xstrdup(value);
	}
}

static struct entry *add_entry(struct source *s, size_t *cap, size_t line)
{
	struct entry *e;

	if (s->nents == *cap) {
		*cap = *cap == 0 ? 32 : *cap * 2;
		s->ents = xrealloc(s->ents, *cap * sizeof(*s->ents));
	}
	e = &s->ents[s->nents++];
	e->first = e->last = line;
	e->key = e->value = NULL;
	return e;
}

/* group_entries: sorts the lines into entries. A continuation line before
 * any entry belongs to none and is left alone. */
static void group_entries(struct source *s)
{
	buf *logical = buf_new(256);
	struct entry *cur = NULL;
	size_t cap = 0;

	for (size_t i = 0; i < s->nlines; i++) {
		char kind = line_kind(s, i);
		char *text;

		if (kind == 'b')
			continue;
		if (kind == 'c' && cur == NULL)
			continue;
		text = line_text(s, i, kind == 'c');
		if (kind == 'e') {
			if (cur != NULL)
				finish_entry(&s->ents[s->nents - 1], logical);
			cur = add_entry(s, &cap, i);
			buf_reset(logical);
		} else {
			buf_putc(logical, ' ');
			cur->last = i;
		}
		buf_puts(logical, text);
		free(text);
		cur = &s->ents[s->nents - 1];
	}
	if (cur != NULL)
		finish_entry(cur, logical);
	buf_free(&logical);
}

static void source_free(struct source *s)
{
	for (size_t i = 0; i < s->nents; i++) {
		free(s->ents[i].key);
		free(s->ents[i].value);
	}
	free(s->ents);
	free(s->line_off);
	buf_free(&s->text);
}

/* source_read: a missing file reads as an empty one. 0 or -1 (*err_r). */
static int source_read(const char *path, struct source *s, char **err_r)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	s->text = buf_new(4096);
	s->mode = 0644;
	if (stat(path, &st) < 0) {
		if (errno != ENOENT) {
			*err_r = xasprintf("cannot stat %s: %s", path, strerror(errno));
			return -1;
		}
	} else {
		s->exists = true;
		s->mode = st.st_mode & 07777;
		s->uid = st.st_uid;
		s->gid = st.st_gid;
		if (fs_read_file(path, s->text, MAPEDIT_FILE_MAX, err_r) < 0)
			return -1;
	}
	split_lines(s);
	group_entries(s);
	return 0;
}

/* lock_dir: an exclusive flock on the directory of path, so two admins
 * editing at once do not lose each other's change. Returns the fd. */
static int lock_dir(const char *path, char **err_r)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash == NULL ? xstrdup(".")
				  : xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		*err_r = xasprintf("cannot lock directory %s: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	free(dir);
	return fd;
}

static bool key_ok(const char *key, char **err_r)
{
	if (*key == '\0' || *key == '#' || strlen(key) > MAP_KEY_MAX) {
		*err_r = xasprintf("invalid map key '%s'", key);
		return false;
	}
	for (const char *p = key; *p != '\0'; p++) {
		if (is_blank((unsigned char)*p) || (unsigned char)*p < 0x20 || *p == 0x7f) {
			*err_r = xasprintf("map key '%s' contains white space or control characters",
					   key);
			return false;
		}
	}
	return true;
}

static bool value_ok(const char *value, char **err_r)
{
	const char *p = value;

	while (is_blank((unsigned char)*p))
		p++;
	if (*p == '\0' || strpbrk(value, "\r\n") != NULL || strlen(value) > MAP_LINE_MAX / 2) {
		*err_r = xasprintf("invalid map value for a text map (empty, multi-line or too long)");
		return false;
	}
	return true;
}

/* keep_owner: under root, the rewritten file gets the old one's owner
 * and group back (fs_write_atomic made it root's). XXX: for a moment the
 * new text file is root's; readers of a hash map use the .db, and a
 * texthash reader keeps its old snapshot when it cannot open the file. */
static int keep_owner(const char *path, const struct source *s, char **err_r)
{
	if (geteuid() != 0 || !s->exists || (s->uid == 0 && s->gid == 0))
		return 0;
	if (chown(path, s->uid, s->gid) < 0) {
		*err_r = xasprintf("cannot give %s back to uid %ld: %s", path, (long)s->uid,
				   strerror(errno));
		return -1;
	}
	return 0;
}

/* write_out: the file with entry `replace` (SIZE_MAX: none) turned into
 * new_line, every other entry of key dropped, all else copied. */
static int write_out(const char *path, struct source *s, const char *key, size_t replace,
		     const char *new_line, char **err_r)
{
	buf *out = buf_new(buf_len(s->text) + 256);
	const char *data = buf_cstr(s->text);
	size_t e = 0;
	int rc;

	for (size_t i = 0; i < s->nlines; i++) {
		while (e < s->nents && s->ents[e].last < i)
			e++;
		if (e < s->nents && s->ents[e].first <= i && s->ents[e].key != NULL &&
		    strcmp(s->ents[e].key, key) == 0) {
			if (new_line != NULL && e == replace && i == s->ents[e].first)
				buf_puts(out, new_line);
			continue;
		}
		buf_append(out, data + s->line_off[i], s->line_off[i + 1] - s->line_off[i]);
	}
	if (replace == SIZE_MAX && new_line != NULL) {
		if (buf_len(out) > 0 && buf_cstr(out)[buf_len(out) - 1] != '\n')
			buf_putc(out, '\n');
		buf_puts(out, new_line);
	}
	rc = fs_write_atomic(path, buf_cstr(out), buf_len(out), s->mode, err_r);
	buf_free(&out);
	if (rc == 0)
		rc = keep_owner(path, s, err_r);
	return rc;
}

static size_t find_entry(const struct source *s, const char *key)
{
	for (size_t i = 0; i < s->nents; i++)
		if (s->ents[i].key != NULL && strcmp(s->ents[i].key, key) == 0)
			return i;
	return SIZE_MAX;
}

static int rebuild_map(const char *path, char **err_r)
{
	char *err = NULL;

	if (map_build(path, NULL, NULL, &err) == 0)
		return 0;
	*err_r = xasprintf("%s was changed but its map was not rebuilt: %s", path,
			   err != NULL ? err : "syntax error");
	free(err);
	return -1;
}

/* edit: the common path of set (value != NULL) and delete. Returns 1 when
 * an entry was found (replaced or removed), 0 when not, -1 on error. */
static int edit(const char *path, const char *key, const char *value, bool rebuild,
		char **err_r)
{
	struct source s;
	char *folded = xstrdup(key), *line = NULL;
	size_t at;
	int lock, rc = -1;

	*err_r = NULL;
	map_fold_key(folded);
	if (!key_ok(folded, err_r) || (value != NULL && !value_ok(value, err_r))) {
		free(folded);
		return -1;
	}
	lock = lock_dir(path, err_r);
	if (lock < 0) {
		free(folded);
		return -1;
	}
	if (source_read(path, &s, err_r) == 0) {
		at = find_entry(&s, folded);
		if (value != NULL)
			line = xasprintf("%s %s\n", folded, value);
		if (at == SIZE_MAX && value == NULL)
			rc = 0; /* nothing to delete: leave the file alone */
		else if (write_out(path, &s, folded, at, line, err_r) == 0)
			rc = at != SIZE_MAX;
		if (rc >= 0 && rebuild && (rc > 0 || value != NULL) && rebuild_map(path, err_r) < 0)
			rc = -1;
	}
	source_free(&s);
	close(lock);
	free(line);
	free(folded);
	return rc;
}

int mapedit_set(const char *path, const char *key, const char *value, bool rebuild,
		char **err_r)
{
	return edit(path, key, value, rebuild, err_r) < 0 ? -1 : 0;
}

int mapedit_del(const char *path, const char *key, bool rebuild, char **err_r)
{
	return edit(path, key, NULL, rebuild, err_r);
}

int mapedit_create(const char *path, mode_t mode, char **err_r)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	*err_r = NULL;
	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0 || fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		*err_r = xasprintf("cannot create %s: %s", path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return -1;
	}
	close(fd);
	if (fs_fsync_parent(path) < 0) {
		*err_r = xasprintf("cannot fsync the directory of %s: %s", path, strerror(errno));
		return -1;
	}
	return 1;
}

int mapedit_list(const char *path, void (*fn)(void *ctx, const char *key, const char *value),
		 void *ctx, char **err_r)
{
	struct source s;
	int rc;

	*err_r = NULL;
	rc = source_read(path, &s, err_r);
	for (size_t i = 0; rc == 0 && i < s.nents; i++)
		if (s.ents[i].key != NULL)
			fn(ctx, s.ents[i].key, s.ents[i].value);
	source_free(&s);
	return rc;
}
