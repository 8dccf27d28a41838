/* mbx_add.c: UIDs for files just put into a folder (IMAP APPEND and COPY
 * want them at once, for APPENDUID and COPYUID) without reading or
 * rewriting the whole uidlist. Under the uidlist lock the header and the
 * last record are read, and one record per file is appended in place, as
 * Dovecot does (mbx_uidlist.c: a record's UID may reach the header's N).
 * When the uidlist is missing, bad or ends in a torn line, mbx_open does
 * the work instead (a full pass that rewrites it). Also the Maildir++
 * quota root of a folder. */
#include "mbx_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "mem.h"

#define MBX_ADD_TAIL 32768 /* bytes read from the end for the last record */

char *mbx_quota_root(const char *dir)
{
	char *marker = fs_join(dir, "maildirfolder");
	struct stat st;
	bool folder = stat(marker, &st) == 0;
	char *root = xstrdup(dir), *slash;

	free(marker);
	if (folder) {
		size_t len = strlen(root);

		while (len > 1 && root[len - 1] == '/')
			root[--len] = '\0';
		slash = strrchr(root, '/');
		if (slash != NULL && slash != root)
			*slash = '\0';
	}
	return root;
}

/* read_head: the header's V and N. -1 when the header is not v3. */
static int read_head(int fd, uint32_t *validity_r, uint32_t *next_r)
{
	char line[512];
	ssize_t n = pread(fd, line, sizeof(line) - 1, 0);
	char *p, *nl;
	bool have_v = false, have_n = false;

	if (n <= 2)
		return -1;
	line[n] = '\0';
	nl = strchr(line, '\n');
	if (nl == NULL || line[0] != '3' || line[1] != ' ')
		return -1;
	*nl = '\0';
	for (p = line + 2; *p != '\0'; p += strcspn(p, " "), p += strspn(p, " ")) {
		unsigned long v = strtoul(p + 1, NULL, 10);

		if (*p == 'V' && v > 0 && v <= UINT32_MAX) {
			*validity_r = (uint32_t)v;
			have_v = true;
		} else if (*p == 'N' && v > 0 && v <= UINT32_MAX) {
			*next_r = (uint32_t)v;
			have_n = true;
		}
	}
	return have_v && have_n ? 0 : -1;
}

/* read_last_uid: the UID of the last record (0 if none). -1 when the file
 * does not end in a newline (a torn append) or the tail does not parse. */
static int read_last_uid(int fd, off_t size, uint32_t *uid_r)
{
	char tail[MBX_ADD_TAIL + 1];
	off_t from = size > MBX_ADD_TAIL ? size - MBX_ADD_TAIL : 0;
	ssize_t n = pread(fd, tail, (size_t)(size - from), from);
	char *end, *start;
	unsigned long v;

	if (n != size - from || n == 0 || tail[n - 1] != '\n')
		return -1;
	tail[n - 1] = '\0';
	start = strrchr(tail, '\n');
	if (start == NULL) {
		if (from > 0)
			return -1;
		*uid_r = 0; /* only the header */
		return 0;
	}
	start++;
	v = strtoul(start, &end, 10);
	if (end == start || *end != ' ' || v == 0 || v >= UINT32_MAX)
		return -1;
	*uid_r = (uint32_t)v;
	return 0;
}

/* add_in_place (locked): appends the records. 1 when the uidlist cannot
 * be appended to (use mbx_open), 0 done, -1 with *err_r. */
static int add_in_place(const char *ulist, const char *const *names, size_t n, uint32_t *uids_r,
			uint32_t *validity_r, char **err_r)
{
	int fd = open(ulist, O_RDWR | O_CLOEXEC);
	struct stat st;
	uint32_t next = 0, last = 0;
	buf *text;
	int rc = 0;

	if (fd < 0)
		return errno == ENOENT ? 1 : (*err_r = xasprintf("cannot open %s: %s", ulist, strerror(errno)), -1);
	if (fstat(fd, &st) < 0 || read_head(fd, validity_r, &next) < 0 ||
	    read_last_uid(fd, st.st_size, &last) < 0 || (uint64_t)(last >= next ? last + 1 : next) + n >= UINT32_MAX) {
		close(fd);
		return 1;
	}
	if (last >= next)
		next = last + 1;
	text = buf_new(n * 64);
	for (size_t k = 0; k < n; k++) {
		uids_r[k] = next++;
		buf_printf(text, "%u :%s\n", uids_r[k], names[k]);
	}
	if (pwrite(fd, buf_cstr(text), buf_len(text), st.st_size) != (ssize_t)buf_len(text) || fsync(fd) < 0) {
		*err_r = xasprintf("cannot append to %s: %s", ulist, strerror(errno));
		if (ftruncate(fd, st.st_size) < 0)
			log_warn("mbx: %s: cannot cut a failed append: %s", ulist, strerror(errno));
		rc = -1;
	}
	buf_free(&text);
	close(fd);
	return rc;
}

/* add_by_open: mbx_open gives every new file its UID; look ours up. */
static int add_by_open(const char *dir, const char *const *names, size_t n, uint32_t *uids_r,
		       uint32_t *validity_r, char **err_r)
{
	mbx *mb;

	if (mbx_open(dir, &mb, err_r) < 0)
		return -1;
	*validity_r = mbx_uidvalidity(mb);
	for (size_t k = 0; k < n; k++) {
		size_t blen = mbx_name_baselen(names[k]);

		uids_r[k] = 0;
		for (size_t i = 0; i < mbx_count(mb); i++) {
			const struct mbx_msg *m = mbx_msg(mb, i);

			if (strlen(m->base) == blen && memcmp(m->base, names[k], blen) == 0) {
				uids_r[k] = m->uid;
				break;
			}
		}
	}
	mbx_free(&mb);
	return 0;
}

int mbx_add(const char *dir, const char *const *names, size_t n, uint32_t *uids_r, uint32_t *uidvalidity_r,
	    char **err_r)
{
	char *ulist = fs_join(dir, MBX_UIDLIST);
	char *lock = xasprintf("%s%s", ulist, MBX_LOCK_SUFFIX);
	int lockfd = mbx_dotlock_take(lock, mbx_lock_wait_ms, err_r);
	int rc;

	if (lockfd < 0) {
		free(ulist);
		free(lock);
		return -1;
	}
	rc = add_in_place(ulist, names, n, uids_r, uidvalidity_r, err_r);
	mbx_dotlock_release(lock, lockfd);
	free(ulist);
	free(lock);
	if (rc == 1)
		rc = add_by_open(dir, names, n, uids_r, uidvalidity_r, err_r);
	return rc;
}
