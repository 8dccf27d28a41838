/* mbx.c: one Maildir folder as a list of messages with permanent UIDs
 * (API and the rules for concurrent processes in mbx.h). mbx_open makes a
 * pass without the lock (read the uidlist, scan, match) and only when
 * files without a UID exist, or the uidlist is bad, a second pass under
 * the lock that numbers them and writes the uidlist; the last pass
 * becomes the message list, in UID order. Which file does what: mbx_int.h. */
#include "mbx_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "mem.h"

void mbx_load_clear(struct mbx_load *ld)
{
	mbx_arena_free(&ld->ar);
	free(ld->ul.recs);
	free(ld->ents);
	memset(ld, 0, sizeof(*ld));
}

/* load_run: one pass. Without the lock (lockfd < 0) it stops with 1 as
 * soon as it knows the uidlist must be written; with it, it writes (and
 * so releases the lock). */
static int load_run(const mbx *mb, struct mbx_load *ld, int lockfd, char **err_r)
{
	if (mbx_ulist_load(mb, ld, err_r) < 0)
		goto fail;
	for (int try = 1;; try++) {
		if (mbx_scan_all(mb, ld, err_r) < 0)
			goto fail;
		mbx_sync_match(ld);
		if (lockfd < 0 && !(ld->ul.valid && ld->nnew == 0))
			return 1;
		if (mbx_scan_stat_missing(mb, ld, try < MBX_SCAN_TRIES, false) == 0)
			break;
	}
	if (lockfd < 0 && ld->nstat >= MBX_STAT_RECORD_MIN && ld->stable)
		return 1; /* sizes worth recording: rewrite under the lock */
	if (ld->ul.valid && ld->nnew == 0 &&
	    (lockfd < 0 || ld->nstat < MBX_STAT_RECORD_MIN || !ld->stable)) {
		if (lockfd >= 0)
			mbx_lock_release(mb, lockfd);
		return 0;
	}
	mbx_sync_assign(mb, ld);
	return mbx_sync_write(mb, ld, lockfd, err_r);
fail:
	if (lockfd >= 0)
		mbx_lock_release(mb, lockfd);
	return -1;
}

/* will_rewrite: the locked pass will replace the whole uidlist (not
 * append to it, not leave it): then every size a stat can give is
 * written with it, so it is read once per store, not once per open. */
static bool will_rewrite(const struct mbx_load *ld)
{
	return !(ld->ul.valid && (ld->nnew == 0 || mbx_sync_can_append(ld)));
}

/* load_locked: the second pass, under the lock, after an unlocked one
 * found files without a UID (or a bad uidlist): the list is read again
 * (another process may have numbered them meanwhile) and matched to the
 * files the first pass found; the ones still without a UID get theirs by
 * an append to the list when it allows, else by a rewrite. Files that
 * came after the first scan are numbered by the next open. */
static int load_locked(const mbx *mb, struct mbx_load *ld, int lockfd, char **err_r)
{
	free(ld->ul.recs);
	ld->ul.recs = NULL;
	if (mbx_ulist_load(mb, ld, err_r) < 0)
		goto fail;
	mbx_sync_match(ld);
	for (int try = 1; mbx_scan_stat_missing(mb, ld, try < MBX_SCAN_TRIES, will_rewrite(ld)) != 0; try++) {
		if (mbx_scan_all(mb, ld, err_r) < 0)
			goto fail;
		mbx_sync_match(ld);
	}
	if (ld->ul.valid && ld->nnew == 0 && (ld->nstat < MBX_STAT_RECORD_MIN || !ld->stable)) {
		mbx_lock_release(mb, lockfd);
		return 0;
	}
	if (ld->nnew > 0 && mbx_sync_can_append(ld))
		return mbx_sync_append(mb, ld, lockfd, err_r);
	mbx_sync_assign(mb, ld);
	return mbx_sync_write(mb, ld, lockfd, err_r);
fail:
	mbx_lock_release(mb, lockfd);
	return -1;
}

static int cmp_msg_uid(const void *a, const void *b)
{
	const struct mbx_imsg *x = a, *y = b;

	return (x->m.uid > y->m.uid) - (x->m.uid < y->m.uid);
}

/* adopt: the mbx takes the pass's strings and makes its message list. */
static void adopt(mbx *mb, struct mbx_load *ld)
{
	mb->sh = xcalloc(1, sizeof(*mb->sh));
	mb->sh->ar = ld->ar;
	mb->sh->refs = 1;
	ld->ar = NULL;
	mb->uidvalidity = ld->ul.uidvalidity;
	mb->nextuid = ld->ul.nextuid;
	mb->n = ld->n;
	mb->stable = ld->stable;
	mb->msgs = mb->sh->msgs = xcalloc(ld->n + 1, sizeof(*mb->msgs));
	mb->sh->n = ld->n;
	for (size_t k = 0; k < ld->n; k++) {
		const struct mbx_ent *e = &ld->ents[k];
		struct mbx_imsg *im = &mb->msgs[k];
		const char *info = mbx_name_info(e->name, e->baselen);

		im->m.uid = e->uid;
		im->m.base = mbx_arena_strndup(&mb->sh->ar, e->name, e->baselen);
		im->m.name = e->name;
		im->m.in_new = e->in_new;
		im->m.flags = mbx_flags_parse(info);
		im->m.keywords = mbx_name_keywords(&mb->sh->ar, info);
		im->m.psize = e->psize;
		im->m.vsize = e->vsize;
		im->m.pop3_uidl = e->rec != NULL ? e->rec->pop3 : NULL;
		im->exts = e->rec != NULL ? e->rec->exts : "";
	}
	for (size_t k = 1; k < mb->n; k++)
		if (mb->msgs[k - 1].m.uid > mb->msgs[k].m.uid) { /* new files: sort */
			qsort(mb->msgs, mb->n, sizeof(*mb->msgs), cmp_msg_uid);
			break;
		}
}

/* The descriptors of new/ and cur/ are shared by every mbx of the same
 * directory in the process (imapd keeps one mbx per selected session: 10,000
 * IDLE sessions of one folder would hold 20,000 descriptors), counted by
 * references; a directory that was replaced (other device or inode under
 * the same path) gets a new descriptor. */
struct mbx_dir {
	char *path;
	dev_t dev;
	ino_t ino;
	int fd;
	unsigned refs;
};
static struct mbx_dir *mbx_dirs;
static size_t mbx_ndirs;

static int open_subdir(const char *maildir, const char *sub)
{
	char *p = fs_join(maildir, sub);
	struct stat st;
	struct mbx_dir *d;
	int fd, saved;

	if (stat(p, &st) == 0)
		for (size_t i = 0; i < mbx_ndirs; i++) {
			d = &mbx_dirs[i];
			if (d->dev == st.st_dev && d->ino == st.st_ino && strcmp(d->path, p) == 0) {
				d->refs++;
				free(p);
				return d->fd;
			}
		}
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		saved = errno;
		if (fd >= 0)
			close(fd);
		free(p);
		errno = saved;
		return -1;
	}
	mbx_dirs = xrealloc(mbx_dirs, (mbx_ndirs + 1) * sizeof(*mbx_dirs));
	mbx_dirs[mbx_ndirs++] = (struct mbx_dir){ p, st.st_dev, st.st_ino, fd, 1 };
	return fd;
}

static void close_subdir(int fd)
{
	for (size_t i = 0; i < mbx_ndirs; i++)
		if (mbx_dirs[i].fd == fd) {
			if (--mbx_dirs[i].refs > 0)
				return;
			free(mbx_dirs[i].path);
			mbx_dirs[i] = mbx_dirs[--mbx_ndirs];
			if (mbx_ndirs == 0) {
				free(mbx_dirs);
				mbx_dirs = NULL;
			}
			break;
		}
	close(fd);
}

static mbx *mbx_alloc(const char *maildir, char **err_r)
{
	mbx *mb = xcalloc(1, sizeof(*mb));

	mb->path = xstrdup(maildir);
	mb->ulist_path = fs_join(maildir, MBX_UIDLIST);
	mb->lock_path = xasprintf("%s%s", mb->ulist_path, MBX_LOCK_SUFFIX);
	mb->cur_fd = -1;
	mb->new_fd = open_subdir(maildir, "new");
	if (mb->new_fd >= 0)
		mb->cur_fd = open_subdir(maildir, "cur");
	if (mb->new_fd < 0 || mb->cur_fd < 0) {
		*err_r = xasprintf("cannot open Maildir %s: %s", maildir, strerror(errno));
		mbx_free(&mb);
	}
	return mb;
}

static int open_folder(const char *maildir, bool reuse, mbx **mb_r, char **err_r)
{
	struct mbx_load ld = { 0 };
	mbx *mb = mbx_alloc(maildir, err_r);
	struct mbx_stamps before;
	bool have_stamps;
	int rc, lockfd;

	*mb_r = NULL;
	if (mb == NULL)
		return -1;
	have_stamps = mbx_cache_stamps(mb, &before);
	if (have_stamps && reuse && mbx_cache_get(mb, &before)) {
		*mb_r = mb;
		return 0;
	}
	rc = load_run(mb, &ld, -1, err_r);
	if (rc == 1) {
		lockfd = mbx_lock_take(mb, mbx_lock_wait_ms, err_r);
		rc = lockfd < 0 ? -1 : load_locked(mb, &ld, lockfd, err_r);
	}
	if (rc < 0) {
		mbx_load_clear(&ld);
		mbx_free(&mb);
		return -1;
	}
	adopt(mb, &ld);
	mbx_load_clear(&ld);
	if (have_stamps)
		mbx_cache_put(mb, &before);
	*mb_r = mb;
	return 0;
}

int mbx_open(const char *maildir, mbx **mb_r, char **err_r)
{
	return open_folder(maildir, true, mb_r, err_r);
}

int mbx_open_rescan(const char *maildir, mbx **mb_r, char **err_r)
{
	return open_folder(maildir, false, mb_r, err_r);
}

void mbx_free(mbx **mb_p)
{
	mbx *mb = *mb_p;

	if (mb == NULL)
		return;
	if (mb->nstat >= MBX_STAT_RECORD_MIN)
		mbx_size_record(mb);
	if (mb->new_fd >= 0)
		close_subdir(mb->new_fd);
	if (mb->cur_fd >= 0)
		close_subdir(mb->cur_fd);
	mbx_arena_free(&mb->ar);
	mbx_shared_unref(&mb->sh);
	if (mb->msgs_own)
		free(mb->msgs);
	free(mb->path);
	free(mb->ulist_path);
	free(mb->lock_path);
	free(mb);
	*mb_p = NULL;
}

const char *mbx_path(const mbx *mb)
{
	return mb->path;
}

uint32_t mbx_uidvalidity(const mbx *mb)
{
	return mb->uidvalidity;
}

uint32_t mbx_uidnext(const mbx *mb)
{
	return mb->nextuid;
}

bool mbx_stable(const mbx *mb)
{
	return mb->stable;
}

size_t mbx_count(const mbx *mb)
{
	return mb->n;
}

const struct mbx_msg *mbx_msg_peek(const mbx *mb, size_t i)
{
	if (i >= mb->n)
		log_panic("mbx_msg: index %zu of %zu", i, mb->n);
	return &mb->msgs[i].m;
}

/* mbx_msg: the size is read here on first need (not at open); the mbx is
 * the caller's own heap object, changed only in its cache of sizes and,
 * when the file was renamed meanwhile, its name. */
const struct mbx_msg *mbx_msg(const mbx *mb, size_t i)
{
	if (mbx_msg_peek(mb, i)->psize < 0)
		mbx_size_stat((mbx *)mb, i); /* may copy the list: look again */
	return mbx_msg_peek(mb, i);
}
