/* mfolder_files.c: the side files of lib/mfolder in the Maildir root:
 * "subscriptions" in Dovecot's format (version 1: one wire name per line;
 * version 2: the header "V\t2\n\n", then names with TAB between levels
 * and \001-escapes for TAB, CR, LF and \001 in a level) and Postern's
 * "postern-special-use" ("name<TAB>\Attr \Attr"). Lines that name no valid
 * folder are kept verbatim when a file is rewritten, never listed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "mem.h"
#include "mfolder_int.h"

#define SUBS_V2_HEADER "V\t2\n\n"

void mfolder_lines_free(struct mfolder_lines *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		free(ls->v[i].raw);
		free(ls->v[i].name);
	}
	free(ls->v);
	memset(ls, 0, sizeof(*ls));
}

long mfolder_lines_find(const struct mfolder_lines *ls, const char *canon)
{
	for (size_t i = 0; i < ls->n; i++)
		if (ls->v[i].name != NULL && strcmp(ls->v[i].name, canon) == 0)
			return (long)i;
	return -1;
}

void mfolder_lines_remove(struct mfolder_lines *ls, size_t i)
{
	free(ls->v[i].raw);
	free(ls->v[i].name);
	memmove(&ls->v[i], &ls->v[i + 1], (ls->n - i - 1) * sizeof(ls->v[0]));
	ls->n--;
}

static struct mfolder_line *lines_push(struct mfolder_lines *ls, char *raw)
{
	struct mfolder_line *l;

	if (ls->n == ls->cap) {
		ls->cap = ls->cap == 0 ? 16 : ls->cap * 2;
		ls->v = xrealloc(ls->v, ls->cap * sizeof(ls->v[0]));
	}
	l = &ls->v[ls->n++];
	l->raw = raw;
	l->name = NULL;
	l->bits = 0;
	return l;
}

/* canon_dup: the canonical name of s[0..len) as a heap string, or NULL. */
static char *canon_dup(const char *s, size_t len)
{
	buf *b = buf_new(len + 1);

	if (mfolder_name_check(s, len, b, NULL) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal_free(&b);
}

/* v2_unescape: a version 2 line to a wire name: TAB -> '.', \001x
 * escapes undone. */
static char *v2_unescape(const char *line, size_t len)
{
	buf *b = buf_new(len + 1);
	char *name;

	for (size_t i = 0; i < len; i++) {
		char c = line[i];

		if (c == '\t') {
			c = MFOLDER_SEP;
		} else if (c == '\001' && i + 1 < len) {
			c = line[++i];
			c = c == '1' ? '\001' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'n' ? '\n' : c;
		}
		buf_putc(b, c);
	}
	name = canon_dup(buf_cstr(b), buf_len(b));
	buf_free(&b);
	return name;
}

/* read_lines: the file root/fname split into lines (without "\n"); a
 * missing file gives none. *data_r keeps the text. */
static int read_lines(const char *root, const char *fname, buf **data_r, char **err_r)
{
	char *path = fs_join(root, fname);
	buf *b = buf_new(256);
	int rc = fs_read_file(path, b, MFOLDER_FILE_MAX, err_r);

	if (rc < 0 && errno == ENOENT) {
		free(*err_r);
		*err_r = NULL;
		rc = 0;
	}
	free(path);
	if (rc < 0)
		buf_free(&b);
	*data_r = b;
	return rc;
}

/* for_each_line: calls fn for each non-empty line of text[0..len). */
static int for_each_line(const char *text, size_t len, struct mfolder_lines *ls,
			 void (*fn)(struct mfolder_lines *, const char *, size_t), char **err_r)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (n > 0 && ls->n >= MFOLDER_FOLDERS_MAX) {
			*err_r = xstrdup("too many lines in a folder side file");
			errno = EFBIG;
			return -1;
		}
		if (n > 0)
			fn(ls, p, n);
		p += n + 1;
	}
	return 0;
}

static void subs_line(struct mfolder_lines *ls, const char *s, size_t n)
{
	struct mfolder_line *l = lines_push(ls, xstrndup(s, n));

	l->name = ls->v2 ? v2_unescape(s, n) : canon_dup(s, n);
}

int mfolder_subs_read(const char *root, struct mfolder_lines *ls, char **err_r)
{
	size_t hlen = strlen(SUBS_V2_HEADER), skip = 0;
	buf *data;
	int rc;

	memset(ls, 0, sizeof(*ls));
	if (read_lines(root, MFOLDER_SUBSCRIPTIONS, &data, err_r) < 0)
		return -1;
	if (buf_len(data) >= hlen && memcmp(buf_cstr(data), SUBS_V2_HEADER, hlen) == 0) {
		ls->v2 = true;
		skip = hlen;
	}
	rc = for_each_line(buf_cstr(data) + skip, buf_len(data) - skip, ls, subs_line, err_r);
	buf_free(&data);
	if (rc < 0)
		mfolder_lines_free(ls);
	return rc;
}

/* special_bits: the attributes of a postern-special-use line after TAB. */
static unsigned special_bits(const char *s, size_t n)
{
	const char *p = s, *end = s + n;
	unsigned bits = 0;

	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		size_t len = sp != NULL ? (size_t)(sp - p) : (size_t)(end - p);

		bits |= mfolder_special_parse(p, len);
		p += len + 1;
	}
	return bits;
}

static void special_line(struct mfolder_lines *ls, const char *s, size_t n)
{
	struct mfolder_line *l = lines_push(ls, xstrndup(s, n));
	const char *tab = memchr(s, '\t', n);

	if (tab == NULL)
		return;
	l->name = canon_dup(s, (size_t)(tab - s));
	l->bits = special_bits(tab + 1, n - (size_t)(tab - s) - 1);
}

int mfolder_special_read(const char *root, struct mfolder_lines *ls, char **err_r)
{
	buf *data;
	int rc;

	memset(ls, 0, sizeof(*ls));
	if (read_lines(root, MFOLDER_SPECIAL_USE, &data, err_r) < 0)
		return -1;
	rc = for_each_line(buf_cstr(data), buf_len(data), ls, special_line, err_r);
	buf_free(&data);
	if (rc < 0)
		mfolder_lines_free(ls);
	return rc;
}

void mfolder_subs_add(struct mfolder_lines *ls, const char *canon)
{
	char *raw = xstrdup(canon);
	struct mfolder_line *l;

	/* Our names have no TAB, CR, LF or \001: the v2 form only swaps the
	 * separator. */
	if (ls->v2)
		for (char *p = raw; *p != '\0'; p++)
			if (*p == MFOLDER_SEP)
				*p = '\t';
	l = lines_push(ls, raw);
	l->name = xstrdup(canon);
}

void mfolder_special_set(struct mfolder_lines *ls, const char *canon, unsigned bits)
{
	long i = mfolder_lines_find(ls, canon);
	buf *b;
	struct mfolder_line *l;

	if (i >= 0)
		mfolder_lines_remove(ls, (size_t)i);
	if ((bits & MFOLDER_SPECIAL_MASK) == 0)
		return;
	b = buf_new(64);
	buf_printf(b, "%s\t", canon);
	for (unsigned bit = 1u << 8; bit & MFOLDER_SPECIAL_MASK; bit <<= 1)
		if (bits & bit)
			buf_printf(b, "%s%s", buf_cstr(b)[buf_len(b) - 1] == '\t' ? "" : " ",
				   mfolder_special_name(bit));
	l = lines_push(ls, buf_steal_free(&b));
	l->name = xstrdup(canon);
	l->bits = bits & MFOLDER_SPECIAL_MASK;
}

void mfolder_subs_text(const struct mfolder_lines *ls, buf *out)
{
	if (ls->v2)
		buf_puts(out, SUBS_V2_HEADER);
	for (size_t i = 0; i < ls->n; i++)
		buf_printf(out, "%s\n", ls->v[i].raw);
}

void mfolder_special_text(const struct mfolder_lines *ls, buf *out)
{
	for (size_t i = 0; i < ls->n; i++)
		buf_printf(out, "%s\n", ls->v[i].raw);
}

unsigned mfolder_default_special(const char *canon)
{
	static const struct {
		const char *name;
		unsigned bit;
	} defaults[] = {
		{"Sent", MFOLDER_SENT},   {"Drafts", MFOLDER_DRAFTS},   {"Trash", MFOLDER_TRASH},
		{"Junk", MFOLDER_JUNK}, {"Archive", MFOLDER_ARCHIVE},
	};

	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (strcmp(canon, defaults[i].name) == 0)
			return defaults[i].bit;
	return 0;
}
