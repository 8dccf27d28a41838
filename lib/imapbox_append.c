/* imapbox_append.c: putting messages into a folder: APPEND (a file imapd
 * wrote) and COPY/MOVE (from the selected folder, by hard link when the
 * file system allows, else by copying). The commit point is the rename
 * (or link) into new/ or cur/ followed by an fsync of that directory; the
 * UIDs are then given at once through mbx_add (APPENDUID, COPYUID) and the
 * MODSEQs recorded. The Maildir++ quota (maildirsize at the quota root)
 * is checked before anything is written. */
#include "imapbox_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "md.h"
#include "mem.h"

#define IBX_COPY_CHUNK 65536

static int check_folder(const char *dir, char **err_r)
{
	char *cur = fs_join(dir, "cur");
	struct stat st;
	int rc = stat(cur, &st);

	free(cur);
	if (rc == 0 && S_ISDIR(st.st_mode))
		return IMAPBOX_OK;
	*err_r = xasprintf("%s is not a Maildir folder", dir);
	return rc < 0 && errno != ENOENT && errno != ENOTDIR ? IMAPBOX_TEMP : IMAPBOX_NONEXISTENT;
}

/* quota_check: IMAPBOX_OVERQUOTA when adding bytes would pass quota. */
static int quota_check(const char *dir, long long quota, long long bytes, char **err_r)
{
	char *root;
	long long used = 0, count = 0;
	int rc = IMAPBOX_OK;

	if (quota <= 0)
		return IMAPBOX_OK;
	root = mbx_quota_root(dir);
	if (md_quota_usage(root, quota, &used, &count, err_r) < 0)
		rc = IMAPBOX_TEMP;
	else if (used + bytes > quota) {
		*err_r = xasprintf("%s: over quota (%lld + %lld > %lld bytes)", root, used, bytes, quota);
		rc = IMAPBOX_OVERQUOTA;
	}
	free(root);
	return rc;
}

static void quota_add(const char *dir, long long bytes, long long count)
{
	char *root = mbx_quota_root(dir);

	if (md_quota_add(root, bytes, count) < 0)
		log_warn("imapbox: %s: cannot update maildirsize: %s", root, strerror(errno));
	free(root);
}

/* file_name: "<unique>,S=<psize>[,W=<vsize>][:2,<letters>]" (heap). */
static char *file_name(long long psize, long long vsize, uint32_t mask)
{
	char *base = md_unique_name(), *name;
	char flags[8], kw[IMAPBOX_MAX_KEYWORDS + 1], wpart[32] = "";

	mbx_flags_format(mask & IBX_MASK_FLAGS, flags);
	ibx_kw_letters(mask, kw);
	if (vsize >= 0)
		snprintf(wpart, sizeof(wpart), ",W=%lld", vsize);
	name = mask != 0 ? xasprintf("%s,S=%lld%s:2,%s%s", base, psize, wpart, flags, kw)
			 : xasprintf("%s,S=%lld%s", base, psize, wpart);
	free(base);
	return name;
}

static char *msg_path(const char *dir, uint32_t mask, const char *name)
{
	return xasprintf("%s/%s/%s", dir, mask != 0 ? "cur" : "new", name);
}

void ibx_record_new(const char *dir, uint32_t uidvalidity, const uint32_t *uids, const uint32_t *masks,
		    size_t n)
{
	struct ibx_mseq ms;
	struct ibx_mchange *ch = xmalloc((n + 1) * sizeof(*ch));
	size_t k = 0;
	char *err = NULL;

	for (size_t i = 0; i < n; i++)
		if (uids[i] != 0)
			ch[k++] = (struct ibx_mchange){ .uid = uids[i], .mask = masks[i] };
	ibx_mseq_init(&ms, dir, uidvalidity);
	if (k > 0 && ibx_mseq_lock(&ms, &err) == 0) {
		if (!ibx_mseq_need_rebuild(&ms) && ibx_mseq_append(&ms, ch, k, &err) < 0)
			log_warn("imapbox: %s", err);
		ibx_mseq_unlock(&ms);
	} else if (err != NULL) {
		log_warn("imapbox: %s", err);
	}
	free(err);
	free(ch);
	ibx_mseq_free(&ms);
}

/* ---- APPEND ---- */

static int append_mask(const char *dir, const struct imapbox_append *ap, uint32_t *mask_r, char **err_r)
{
	struct ibx_kw kw;
	uint32_t kwmask = 0;
	int rc = IMAPBOX_OK;

	ibx_kw_init(&kw, dir);
	if (ap->nkeywords > 0) {
		if (ibx_kw_load(&kw, err_r) < 0)
			rc = IMAPBOX_TEMP;
		else
			rc = ibx_kw_mask(&kw, ap->keywords, ap->nkeywords, &kwmask, err_r);
	}
	ibx_kw_free(&kw);
	*mask_r = (ap->flags & (IBX_MASK_FLAGS & ~(uint32_t)MBX_PASSED)) | kwmask;
	return rc;
}

/* append_commit: times, fsync and rename of the tmp file into place. */
static int append_commit(const char *dir, const struct imapbox_append *ap, int fd, const char *path,
			 uint32_t mask, char **err_r)
{
	time_t t = ap->internaldate > 0 ? ap->internaldate : time(NULL);
	struct timespec ts[2] = { { .tv_sec = t }, { .tv_sec = t } };
	char *sub = fs_join(dir, mask != 0 ? "cur" : "new");
	int rc = 0;

	if (futimens(fd, ts) < 0 || fsync(fd) < 0 || rename(ap->tmp_path, path) < 0 || fs_fsync_dir(sub) < 0) {
		rc = ibx_errno_result(errno);
		*err_r = xasprintf("cannot deliver %s to %s: %s", ap->tmp_path, path, strerror(errno));
	}
	free(sub);
	return rc;
}

int imapbox_append(const char *dir, const struct imapbox_append *ap, uint32_t *uidvalidity_r, uint32_t *uid_r,
		   char **err_r)
{
	struct stat st;
	long long vsize;
	uint32_t mask = 0;
	char *name, *path;
	int fd, rc;

	*err_r = NULL;
	*uid_r = 0;
	if ((rc = check_folder(dir, err_r)) != IMAPBOX_OK || (rc = append_mask(dir, ap, &mask, err_r)) != IMAPBOX_OK)
		return rc;
	fd = open(ap->tmp_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || (vsize = mbx_vsize_of(fd)) < 0) {
		*err_r = xasprintf("cannot read %s: %s", ap->tmp_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return IMAPBOX_TEMP;
	}
	if ((rc = quota_check(dir, ap->quota_bytes, (long long)st.st_size, err_r)) != IMAPBOX_OK) {
		close(fd);
		return rc;
	}
	name = file_name((long long)st.st_size, vsize, mask);
	path = msg_path(dir, mask, name);
	rc = append_commit(dir, ap, fd, path, mask, err_r);
	close(fd);
	if (rc == IMAPBOX_OK) {
		const char *names[1] = { name };

		quota_add(dir, (long long)st.st_size, 1);
		if (mbx_add(dir, names, 1, uid_r, uidvalidity_r, err_r) < 0) {
			log_warn("imapbox: %s: no UID yet for %s: %s", dir, name, *err_r);
			free(*err_r);
			*err_r = NULL; /* delivered: the next sync numbers it */
			*uid_r = 0;
		} else {
			ibx_record_new(dir, *uidvalidity_r, uid_r, &mask, 1);
		}
	}
	free(name);
	free(path);
	return rc;
}

/* ---- COPY, MOVE ---- */

struct ibx_copy {
	imapbox *box;
	const char *dir;
	uint32_t kwmap[IMAPBOX_MAX_KEYWORDS]; /* source letter -> dest bit */
	char **names, **paths;
	uint32_t *masks, *src_uids;
	size_t n;
	long long bytes;           /* of the messages to copy (quota check) */
	long long copied_bytes;    /* of the ones copied (maildirsize) */
};

/* copy_kwmap: the destination's letters for the source's keywords that
 * the messages use (added to its dovecot-keywords when missing). */
static int copy_kwmap(struct ibx_copy *cp, uint32_t used, char **err_r)
{
	struct ibx_kw kw;
	int rc = IMAPBOX_OK;

	memset(cp->kwmap, 0, sizeof(cp->kwmap));
	ibx_kw_init(&kw, cp->dir);
	if (ibx_kw_load(&kw, err_r) < 0)
		rc = IMAPBOX_TEMP;
	for (int k = 0; k < IMAPBOX_MAX_KEYWORDS && rc == IMAPBOX_OK; k++) {
		const char *name = cp->box->kw.names[k];

		if (name != NULL && (used & (1u << (IBX_KW_SHIFT + k))))
			rc = ibx_kw_mask(&kw, &name, 1, &cp->kwmap[k], err_r);
	}
	ibx_kw_free(&kw);
	return rc;
}

static uint32_t copy_mask(const struct ibx_copy *cp, uint32_t src)
{
	uint32_t mask = src & IBX_MASK_FLAGS;

	for (int k = 0; k < IMAPBOX_MAX_KEYWORDS; k++)
		if (src & (1u << (IBX_KW_SHIFT + k)))
			mask |= cp->kwmap[k];
	return mask;
}

/* copy_bytes: the file's contents into dst via dir/tmp (no hard link
 * possible). 0 or -1 with errno. */
static int copy_bytes(int src, const char *dir, const char *dst)
{
	char *tmp = xasprintf("%s/tmp/%s", dir, strrchr(dst, '/') + 1);
	char *chunk = xmalloc(IBX_COPY_CHUNK);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ssize_t n = 0;
	int rc = fd < 0 ? -1 : 0, saved;

	while (rc == 0 && (n = read(src, chunk, IBX_COPY_CHUNK)) > 0)
		rc = fs_write_all(fd, chunk, (size_t)n);
	if (rc == 0 && (n < 0 || fsync(fd) < 0 || rename(tmp, dst) < 0))
		rc = -1;
	saved = errno;
	if (fd >= 0)
		close(fd);
	if (rc < 0 && fd >= 0)
		unlink(tmp);
	free(tmp);
	free(chunk);
	errno = saved;
	return rc;
}

/* copy_one: message idx of the box as dst. 1 copied, 0 gone, -1 errno. */
static int copy_one(struct ibx_copy *cp, size_t idx, const char *dst)
{
	mbx *mb = cp->box->mb;

	for (int try = 0; try < 2; try++) {
		const struct mbx_msg *m = mbx_msg_peek(mb, idx);
		char *src = xasprintf("%s/%s/%s", cp->box->path, m->in_new ? "new" : "cur", m->name);
		int rc = link(src, dst), link_errno = errno, fd;

		free(src);
		if (rc == 0)
			return 1;
		if (link_errno != ENOENT && link_errno != EXDEV && link_errno != EPERM && link_errno != EMLINK) {
			errno = link_errno;
			return -1;
		}
		fd = mbx_msg_open(mb, idx); /* finds a renamed file again */
		if (fd < 0)
			return errno == ENOENT ? 0 : -1;
		if (link_errno == ENOENT && try == 0) {
			close(fd); /* renamed meanwhile: link the new name */
			continue;
		}
		rc = copy_bytes(fd, cp->dir, dst);
		close(fd);
		return rc < 0 ? -1 : 1;
	}
	return 0;
}

static void copy_undo(struct ibx_copy *cp)
{
	for (size_t k = 0; k < cp->n; k++)
		unlink(cp->paths[k]);
	cp->n = 0;
}

static void copy_free(struct ibx_copy *cp)
{
	for (size_t k = 0; k < cp->n; k++) {
		free(cp->names[k]);
		free(cp->paths[k]);
	}
	free(cp->names);
	free(cp->paths);
	free(cp->masks);
}

/* copy_files: links every message of seqs into the destination. */
static int copy_files(struct ibx_copy *cp, const uint32_t *seqs, size_t n, char **err_r)
{
	for (size_t k = 0; k < n; k++) {
		const struct ibx_view *v = &cp->box->view[seqs[k] - 1];
		long idx = v->expunged ? -1 : mbx_find_uid(cp->box->mb, v->uid);
		const struct mbx_msg *m;
		uint32_t mask;
		int rc;

		if (idx < 0)
			continue;
		m = mbx_msg(cp->box->mb, (size_t)idx);
		mask = copy_mask(cp, ibx_mask_of(m));
		cp->names[cp->n] = file_name(m->psize, m->vsize, mask);
		cp->paths[cp->n] = msg_path(cp->dir, mask, cp->names[cp->n]);
		rc = copy_one(cp, (size_t)idx, cp->paths[cp->n]);
		if (rc < 0) {
			int saved = errno;

			*err_r = xasprintf("cannot copy into %s: %s", cp->paths[cp->n], strerror(saved));
			free(cp->names[cp->n]);
			free(cp->paths[cp->n]);
			copy_undo(cp);
			return ibx_errno_result(saved);
		}
		if (rc == 0) {
			free(cp->names[cp->n]);
			free(cp->paths[cp->n]);
			continue;
		}
		cp->masks[cp->n] = mask;
		cp->copied_bytes += m->psize;
		cp->src_uids[cp->n++] = v->uid;
	}
	return IMAPBOX_OK;
}

static int copy_prepare(struct ibx_copy *cp, const uint32_t *seqs, size_t n, long long quota, char **err_r)
{
	uint32_t used = 0;
	int rc;

	for (size_t k = 0; k < n; k++) {
		const struct ibx_view *v;
		long idx;

		if (seqs[k] < 1 || seqs[k] > cp->box->nview)
			log_panic("imapbox_copy: sequence number %u of %zu", seqs[k], cp->box->nview);
		v = &cp->box->view[seqs[k] - 1];
		idx = v->expunged ? -1 : mbx_find_uid(cp->box->mb, v->uid);
		if (idx >= 0) {
			const struct mbx_msg *m = mbx_msg(cp->box->mb, (size_t)idx);

			used |= ibx_mask_of(m);
			cp->bytes += m->psize;
		}
	}
	if ((rc = quota_check(cp->dir, quota, cp->bytes, err_r)) != IMAPBOX_OK)
		return rc;
	return copy_kwmap(cp, used, err_r);
}

int imapbox_copy(imapbox *box, const uint32_t *seqs, size_t n, const char *dir, bool move, long long quota_bytes,
		 uint32_t *uidvalidity_r, uint32_t **src_uids_r, uint32_t **dst_uids_r, size_t *ncopied_r,
		 char **err_r)
{
	struct ibx_copy cp = { .box = box, .dir = dir };
	uint32_t *dst;
	int rc;

	*err_r = NULL;
	*src_uids_r = *dst_uids_r = NULL;
	*ncopied_r = 0;
	if (move && !box->rw)
		return IMAPBOX_READONLY;
	if ((rc = check_folder(dir, err_r)) != IMAPBOX_OK || (rc = copy_prepare(&cp, seqs, n, quota_bytes, err_r)) != IMAPBOX_OK)
		return rc;
	cp.names = xcalloc(n + 1, sizeof(*cp.names));
	cp.paths = xcalloc(n + 1, sizeof(*cp.paths));
	cp.masks = xcalloc(n + 1, sizeof(*cp.masks));
	cp.src_uids = xcalloc(n + 1, sizeof(*cp.src_uids));
	dst = xcalloc(n + 1, sizeof(*dst));
	rc = copy_files(&cp, seqs, n, err_r);
	if (rc == IMAPBOX_OK && cp.n > 0) {
		char *sub = fs_join(dir, "cur"), *subn = fs_join(dir, "new");

		if (fs_fsync_dir(sub) < 0 || fs_fsync_dir(subn) < 0 ||
		    mbx_add(dir, (const char *const *)cp.names, cp.n, dst, uidvalidity_r, err_r) < 0) {
			if (*err_r == NULL)
				*err_r = xasprintf("cannot fsync %s: %s", dir, strerror(errno));
			copy_undo(&cp);
			rc = IMAPBOX_TEMP;
		}
		free(sub);
		free(subn);
	}
	if (rc == IMAPBOX_OK && cp.n > 0) {
		quota_add(dir, cp.copied_bytes, (long long)cp.n);
		ibx_record_new(dir, *uidvalidity_r, dst, cp.masks, cp.n);
		if (move && ibx_expunge_uids(box, cp.src_uids, cp.n, false, err_r) != IMAPBOX_OK) {
			log_warn("imapbox: MOVE from %s: copied, not all removed: %s", box->path, *err_r);
			free(*err_r);
			*err_r = NULL;
		}
	}
	*ncopied_r = rc == IMAPBOX_OK ? cp.n : 0;
	*src_uids_r = cp.src_uids;
	*dst_uids_r = dst;
	copy_free(&cp);
	return rc;
}
