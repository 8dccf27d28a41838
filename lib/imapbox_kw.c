/* imapbox_kw.c: IMAP keywords <-> the letters a-z of Maildir file names,
 * through dovecot-keywords in Dovecot's format: one line per keyword,
 *
 *   <index> <name>
 *
 * index 0 is letter 'a' ... 25 is 'z'. Lines that do not parse (index out
 * of range, a name that is no keyword atom, an index or name used twice:
 * the first wins) are skipped and logged. A new keyword takes the lowest
 * free index: under the dot-lock dovecot-keywords.lock the file is read
 * again, the name added, and the whole text written into the lock file,
 * which is then renamed over dovecot-keywords (readers see old or new).
 * Names are matched case-insensitively, as IMAP flags are. */
#include "imapbox_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "mem.h"

#define IBX_KW_FILE_MAX 65536 /* a bigger dovecot-keywords is not read */
#define IBX_KW_LOCK_WAIT_MS 2000

void ibx_kw_init(struct ibx_kw *kw, const char *dir)
{
	memset(kw, 0, sizeof(*kw));
	kw->path = fs_join(dir, IMAPBOX_KEYWORDS_FILE);
	kw->lock_path = xasprintf("%s.lock", kw->path);
}

static void kw_clear(struct ibx_kw *kw)
{
	for (int i = 0; i < IMAPBOX_MAX_KEYWORDS; i++) {
		free(kw->names[i]);
		kw->names[i] = NULL;
	}
	kw->count = 0;
}

void ibx_kw_free(struct ibx_kw *kw)
{
	kw_clear(kw);
	free(kw->path);
	free(kw->lock_path);
	memset(kw, 0, sizeof(*kw));
}

bool imapbox_keyword_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > IMAPBOX_KEYWORD_MAX || name[0] == '\\')
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 127 || strchr("(){%*\"\\]", *p) != NULL)
			return false;
	return true;
}

int ibx_kw_index(const struct ibx_kw *kw, const char *name)
{
	for (int i = 0; i < IMAPBOX_MAX_KEYWORDS; i++)
		if (kw->names[i] != NULL && strcasecmp(kw->names[i], name) == 0)
			return i;
	return -1;
}

/* parse_line: "<index> <name>" into the map; false when skipped. */
static bool parse_line(struct ibx_kw *kw, char *line)
{
	char *sp = strchr(line, ' '), *end;
	long idx;

	if (sp == NULL || sp == line)
		return false;
	*sp = '\0';
	errno = 0;
	idx = strtol(line, &end, 10);
	if (*end != '\0' || errno != 0 || idx < 0 || idx >= IMAPBOX_MAX_KEYWORDS)
		return false;
	if (kw->names[idx] != NULL || !imapbox_keyword_valid(sp + 1) || ibx_kw_index(kw, sp + 1) >= 0)
		return false;
	kw->names[idx] = xstrdup(sp + 1);
	kw->count++;
	return true;
}

void ibx_kw_parse(struct ibx_kw *kw, const char *text, size_t len)
{
	char *copy = xmalloc(len + 1), *p = copy, *end = copy + len;
	unsigned bad = 0;

	memcpy(copy, text, len);
	copy[len] = '\0';
	kw_clear(kw);
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			nl = end; /* a last line without its newline still counts */
		*nl = '\0';
		if (nl > p && nl[-1] == '\r')
			nl[-1] = '\0';
		if (*p != '\0') {
			bool nul = strlen(p) != (size_t)(nl - p) && nl[-1] != '\0';

			if (nul || !parse_line(kw, p))
				bad++;
		}
		p = nl + 1;
	}
	if (bad > 0)
		log_warn("imapbox: %s: %u bad line(s) skipped", kw->path != NULL ? kw->path : "keywords",
			 bad);
	free(copy);
}

int ibx_kw_load(struct ibx_kw *kw, char **err_r)
{
	struct stat st;
	buf *data;
	char *err = NULL;

	if (stat(kw->path, &st) < 0) {
		if (errno != ENOENT) {
			*err_r = xasprintf("cannot stat %s: %s", kw->path, strerror(errno));
			return -1;
		}
		memset(&st, 0, sizeof(st));
	}
	if (kw->have_st && st.st_ino == kw->st.st_ino && st.st_size == kw->st.st_size &&
	    st.st_mtim.tv_sec == kw->st.st_mtim.tv_sec && st.st_mtim.tv_nsec == kw->st.st_mtim.tv_nsec)
		return 0;
	data = buf_new(1024);
	if (st.st_ino != 0 && fs_read_file(kw->path, data, IBX_KW_FILE_MAX, &err) < 0 && errno != ENOENT) {
		if (errno == EFBIG) {
			log_warn("imapbox: %s", err);
		} else {
			*err_r = err;
			buf_free(&data);
			return -1;
		}
	}
	free(err);
	ibx_kw_parse(kw, buf_data(data), buf_len(data));
	buf_free(&data);
	kw->st = st;
	kw->have_st = true;
	return 1;
}

/* kw_write (locked): the map's text into the lock file, renamed over the
 * file. 0 or -1 with *err_r; the lock is released either way. */
static int kw_write(struct ibx_kw *kw, int lockfd, char **err_r)
{
	buf *text = buf_new(256);
	int rc = 0;

	for (int i = 0; i < IMAPBOX_MAX_KEYWORDS; i++)
		if (kw->names[i] != NULL)
			buf_printf(text, "%d %s\n", i, kw->names[i]);
	if (fs_write_all(lockfd, buf_cstr(text), buf_len(text)) < 0 || fsync(lockfd) < 0 ||
	    rename(kw->lock_path, kw->path) < 0) {
		*err_r = xasprintf("cannot write %s: %s", kw->path, strerror(errno));
		rc = -1;
		unlink(kw->lock_path);
	}
	close(lockfd);
	buf_free(&text);
	kw->have_st = false; /* read our own text back next time */
	return rc;
}

/* kw_add (locked, map fresh): the missing names get free letters. */
static int kw_add(struct ibx_kw *kw, const char *const *names, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		int free_idx = -1;

		if (ibx_kw_index(kw, names[k]) >= 0)
			continue;
		for (int i = 0; i < IMAPBOX_MAX_KEYWORDS && free_idx < 0; i++)
			if (kw->names[i] == NULL)
				free_idx = i;
		if (free_idx < 0)
			return IMAPBOX_LIMIT;
		kw->names[free_idx] = xstrdup(names[k]);
		kw->count++;
	}
	return IMAPBOX_OK;
}

static int kw_lookup_all(const struct ibx_kw *kw, const char *const *names, size_t n, uint32_t *mask_r)
{
	uint32_t mask = 0;

	for (size_t k = 0; k < n; k++) {
		int i = ibx_kw_index(kw, names[k]);

		if (i < 0)
			return -1;
		mask |= 1u << (IBX_KW_SHIFT + i);
	}
	*mask_r = mask;
	return 0;
}

int ibx_kw_mask(struct ibx_kw *kw, const char *const *names, size_t n, uint32_t *mask_r, char **err_r)
{
	int lockfd, rc;

	for (size_t k = 0; k < n; k++)
		if (!imapbox_keyword_valid(names[k]))
			return IMAPBOX_BAD;
	if (kw_lookup_all(kw, names, n, mask_r) == 0)
		return IMAPBOX_OK;
	lockfd = mbx_dotlock_take(kw->lock_path, IBX_KW_LOCK_WAIT_MS, err_r);
	if (lockfd < 0)
		return IMAPBOX_TEMP;
	kw->have_st = false;
	if (ibx_kw_load(kw, err_r) < 0) {
		mbx_dotlock_release(kw->lock_path, lockfd);
		return IMAPBOX_TEMP;
	}
	if (kw_lookup_all(kw, names, n, mask_r) == 0) {
		mbx_dotlock_release(kw->lock_path, lockfd);
		return IMAPBOX_OK;
	}
	rc = kw_add(kw, names, n);
	if (rc != IMAPBOX_OK) {
		mbx_dotlock_release(kw->lock_path, lockfd);
		kw->have_st = false;
		(void)ibx_kw_load(kw, err_r);
		return rc;
	}
	if (kw_write(kw, lockfd, err_r) < 0)
		return IMAPBOX_TEMP;
	return kw_lookup_all(kw, names, n, mask_r) == 0 ? IMAPBOX_OK : IMAPBOX_TEMP;
}

void ibx_kw_letters(uint32_t mask, char *out)
{
	for (int i = 0; i < IMAPBOX_MAX_KEYWORDS; i++)
		if (mask & (1u << (IBX_KW_SHIFT + i)))
			*out++ = (char)('a' + i);
	*out = '\0';
}

uint32_t ibx_mask_of(const struct mbx_msg *m)
{
	uint32_t mask = m->flags & IBX_MASK_FLAGS;

	for (const char *p = m->keywords; *p != '\0'; p++)
		if (*p >= 'a' && *p <= 'z')
			mask |= 1u << (IBX_KW_SHIFT + (*p - 'a'));
	return mask;
}
