/* mbx_size.c: message sizes as POP3 and IMAP report them, every line end
 * counted as CRLF, and the file sizes (psize) a stat finds on first need. They come from the name (",W="), the uidlist's W ext,
 * or reading the file; sizes read here are written back as W exts when
 * the lock is free at once, so a file is read once, not once per session.
 * Files are opened a window ahead with a read-ahead hint, so with a cold
 * page cache many are read at once rather than one after the other. */
#include "mbx_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

#define MBX_CHUNK 65536    /* read size for mbx_vsize_of */
#define MBX_READAHEAD 32   /* files mbx_vsizes keeps open ahead */

long long mbx_vsize_of(int fd)
{
	char chunk[MBX_CHUNK];
	long long total = 0;
	bool prev_cr = false;

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		const char *p = chunk, *end, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return total;
		end = chunk + n;
		while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			if (!(nl > chunk ? nl[-1] == '\r' : prev_cr))
				total++;
			p = nl + 1;
		}
		prev_cr = end[-1] == '\r';
		total += n;
	}
}

/* record_one: the sizes of im that r lacks; true when r changed. */
static bool record_one(const struct mbx_imsg *im, struct mbx_rec *r)
{
	bool changed = false;

	if (mbx_name_cmp_base(im->m.base, strlen(im->m.base), r->name, r->baselen) != 0)
		return false;
	if (im->vsize_read && r->w < 0) {
		r->w = im->m.vsize;
		changed = true;
	}
	if (im->psize_stat && r->s < 0 && mbx_name_size_field(r->name, r->baselen, 'S') < 0) {
		r->s = im->m.psize;
		changed = true;
	}
	if (changed) /* the name as it is now, as a rewrite by a pass writes it */
		r->name = im->m.name;
	return changed;
}

/* mbx_size_record: adds the W and S exts learned here to the uidlist when
 * the lock is free at once; records are matched by UID and base name. */
void mbx_size_record(mbx *mb)
{
	struct mbx_load ld = { 0 };
	char *err = NULL;
	int lockfd = mbx_lock_take(mb, 0, NULL);
	size_t changed = 0, j = 0;

	if (lockfd < 0)
		return;
	if (mbx_ulist_load(mb, &ld, &err) < 0 || !ld.ul.valid || ld.ul.uidvalidity != mb->uidvalidity) {
		mbx_lock_release(mb, lockfd);
		goto out;
	}
	for (size_t k = 0; k < ld.ul.n; k++) {
		struct mbx_rec *r = &ld.ul.recs[k];

		while (j < mb->n && mb->msgs[j].m.uid < r->uid)
			j++;
		if (j == mb->n)
			break;
		if (mb->msgs[j].m.uid == r->uid)
			changed += record_one(&mb->msgs[j], r);
	}
	if (changed == 0) {
		mbx_lock_release(mb, lockfd);
	} else {
		buf *content;

		if (ld.ul.guid == NULL)
			mbx_ulist_make_guid(&ld.ar, &ld.ul.guid);
		content = mbx_ulist_format(&ld.ul, ld.ul.recs, ld.ul.n);
		if (mbx_ulist_commit(mb, lockfd, content, &err) < 0)
			log_info("mbx: %s: sizes not recorded: %s", mb->path, err);
		buf_free(&content);
	}
out:
	free(err);
	mbx_load_clear(&ld);
	for (size_t k = 0; mb->msgs_own && k < mb->n; k++) /* recorded (or not to be): once */
		mb->msgs[k].vsize_read = mb->msgs[k].psize_stat = false;
	mb->nstat = 0;
}

void mbx_size_stat(mbx *mb, size_t i)
{
	struct mbx_imsg *im;
	struct stat st;
	int fd = -1;

	mbx_msgs_own(mb);
	im = &mb->msgs[i];
	if (fstatat(im->m.in_new ? mb->new_fd : mb->cur_fd, im->m.name, &st, 0) == 0) {
		im->m.psize = (long long)st.st_size;
	} else if ((fd = mbx_msg_open(mb, i)) >= 0 && fstat(fd, &st) == 0) { /* renamed */
		im = &mb->msgs[i];
		im->m.psize = (long long)st.st_size;
	} else {
		if (errno != ENOENT)
			log_warn("mbx: %s: cannot stat %s: %s", mb->path, im->m.name, strerror(errno));
		im->m.psize = 0; /* gone: expunged elsewhere */
		if (fd >= 0)
			close(fd);
		return;
	}
	if (fd >= 0)
		close(fd);
	im->psize_stat = true;
	mb->nstat++;
}

/* vsize_ahead: opens message i (kept in the window until its turn) and
 * asks the kernel to start reading it, so that with a cold page cache
 * many files are read at once rather than one after the other. */
static void vsize_ahead(mbx *mb, size_t i, int *fd_r, int *errno_r)
{
	*fd_r = mbx_msg_open(mb, i);
	*errno_r = errno;
	if (*fd_r >= 0)
		(void)posix_fadvise(*fd_r, 0, 0, POSIX_FADV_WILLNEED);
}

/* vsize_one: counts message i from fd (or notes it vanished). */
static int vsize_one(mbx *mb, size_t i, int fd, int open_errno, char **err_r)
{
	struct mbx_imsg *im = &mb->msgs[i];

	if (fd < 0 && open_errno == ENOENT) {
		im->m.vsize = im->m.psize >= 0 ? im->m.psize : 0;
		return 0;
	}
	errno = open_errno;
	if (fd < 0 || (im->m.vsize = mbx_vsize_of(fd)) < 0) {
		*err_r = xasprintf("cannot read %s/%s/%s: %s", mb->path, im->m.in_new ? "new" : "cur",
				   im->m.name, strerror(errno));
		im->m.vsize = -1;
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	im->vsize_read = true;
	return 1;
}

int mbx_vsizes(mbx *mb, char **err_r)
{
	int fds[MBX_READAHEAD], errs[MBX_READAHEAD];
	size_t *todo = xmalloc((mb->n + 1) * sizeof(*todo));
	size_t n = 0, opened = 0, learned = 0;
	int rc = 0;

	mbx_msgs_own(mb);
	for (size_t i = 0; i < mb->n; i++)
		if (mb->msgs[i].m.vsize < 0)
			todo[n++] = i;
	for (size_t k = 0; k < n && rc >= 0; k++) {
		for (; opened < n && opened < k + MBX_READAHEAD; opened++)
			vsize_ahead(mb, todo[opened], &fds[opened % MBX_READAHEAD], &errs[opened % MBX_READAHEAD]);
		rc = vsize_one(mb, todo[k], fds[k % MBX_READAHEAD], errs[k % MBX_READAHEAD], err_r);
		learned += rc > 0;
		if (rc < 0) /* close what the window still holds */
			for (size_t j = k + 1; j < opened; j++)
				if (fds[j % MBX_READAHEAD] >= 0)
					close(fds[j % MBX_READAHEAD]);
	}
	free(todo);
	if (learned > 0)
		mbx_size_record(mb);
	return rc < 0 ? -1 : 0;
}
