/* mbx_scan.c: lists a folder's messages, the files in new/ and cur/ (tmp/
 * belongs to the deliverers and is never read). new/ is read before cur/,
 * so a file another process moves new -> cur during the scan is seen at
 * least once (twice is mended by mbx_scan_dedupe: cur/ wins), and the scan
 * is repeated while either directory's mtime changes under it. Sizes come
 * from the name (",S="), else the uidlist, else one stat per file when
 * it is numbered (mbx_scan_stat_missing) or first needed (mbx_msg). Nothing here reads or writes the uidlist. */
#include "mbx_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

static bool same_mtime(const struct stat *a, const struct stat *b)
{
	return a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ino == b->st_ino;
}

static DIR *open_dir_fd(int fd)
{
	int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (dup_fd < 0)
		return NULL;
	d = fdopendir(dup_fd);
	if (d == NULL)
		close(dup_fd);
	return d;
}

static struct mbx_ent *load_add_ent(struct mbx_load *ld)
{
	if (ld->n == ld->cap) {
		ld->cap = ld->cap == 0 ? 256 : ld->cap * 2;
		ld->ents = xrealloc(ld->ents, ld->cap * sizeof(*ld->ents));
	}
	return &ld->ents[ld->n++];
}

/* scan_file: adds one directory entry. Only a file system without d_type
 * costs a stat here; files that vanished since readdir are skipped (the
 * directory's mtime changed, so the scan is repeated). psize stays -1
 * when the name has no ",S=" (see mbx_scan_stat_missing). */
static void scan_file(const mbx *mb, struct mbx_load *ld, DIR *d, const struct dirent *de, bool in_new)
{
	size_t baselen = mbx_name_baselen(de->d_name);
	long long psize = mbx_name_size_field(de->d_name, baselen, 'S');
	struct mbx_ent *e;

	if (de->d_type == DT_UNKNOWN) {
		struct stat st;

		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0) {
			if (errno != ENOENT)
				log_warn("mbx: %s: cannot stat %s/%s: %s", mb->path, in_new ? "new" : "cur",
					 de->d_name, strerror(errno));
			return;
		}
		if (!S_ISREG(st.st_mode))
			return;
		if (psize < 0)
			psize = (long long)st.st_size;
	}
	e = load_add_ent(ld);
	e->name = mbx_arena_strndup(&ld->ar, de->d_name, strlen(de->d_name));
	e->baselen = (uint32_t)baselen;
	e->in_new = in_new;
	e->uid = 0;
	e->psize = psize;
	e->vsize = mbx_name_size_field(e->name, baselen, 'W');
	e->rec = NULL;
}

static int scan_dir(const mbx *mb, struct mbx_load *ld, bool in_new, char **err_r)
{
	DIR *d = open_dir_fd(in_new ? mb->new_fd : mb->cur_fd);
	struct dirent *de;

	if (d == NULL) {
		*err_r = xasprintf("cannot open %s/%s: %s", mb->path, in_new ? "new" : "cur",
				   strerror(errno));
		return -1;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || de->d_type == DT_DIR)
			continue;
		if (strpbrk(de->d_name, "\r\n") != NULL) { /* would break the uidlist's lines */
			log_warn("mbx: %s: ignoring a file whose name has a line break", mb->path);
			continue;
		}
		if (ld->n >= MBX_MAX_MESSAGES) {
			*err_r = xasprintf("%s: more than %d messages", mb->path, MBX_MAX_MESSAGES);
			closedir(d);
			return -1;
		}
		scan_file(mb, ld, d, de, in_new);
		errno = 0;
	}
	if (errno != 0) {
		*err_r = xasprintf("cannot read %s/%s: %s", mb->path, in_new ? "new" : "cur",
				   strerror(errno));
		closedir(d);
		return -1;
	}
	closedir(d);
	return 0;
}

static int stat_dirs(const mbx *mb, struct stat *new_st, struct stat *cur_st, char **err_r)
{
	if (fstat(mb->new_fd, new_st) < 0 || fstat(mb->cur_fd, cur_st) < 0) {
		*err_r = xasprintf("cannot stat %s: %s", mb->path, strerror(errno));
		return -1;
	}
	return 0;
}

/* mbx_scan_all: new/ before cur/, so a file moved new -> cur meanwhile is
 * seen at least once; repeated while either directory's mtime changes
 * under us. XXX: a change within the file system's timestamp tick of our
 * first stat goes unnoticed (Dovecot has the same blind spot). */
int mbx_scan_all(const mbx *mb, struct mbx_load *ld, char **err_r)
{
	struct stat n1, c1, n2, c2;

	if (ld->ents == NULL) { /* never NULL for qsort/bsearch, even when empty */
		ld->cap = 256;
		ld->ents = xmalloc(ld->cap * sizeof(*ld->ents));
	}
	for (int try = 0; try < MBX_SCAN_TRIES; try++) {
		ld->n = 0;
		ld->nstat = 0;
		if (stat_dirs(mb, &n1, &c1, err_r) < 0 || scan_dir(mb, ld, true, err_r) < 0 ||
		    scan_dir(mb, ld, false, err_r) < 0 || stat_dirs(mb, &n2, &c2, err_r) < 0)
			return -1;
		ld->stable = same_mtime(&n1, &n2) && same_mtime(&c1, &c2);
		if (ld->stable)
			return 0;
	}
	log_info("mbx: %s: folder kept changing during %d scans", mb->path, MBX_SCAN_TRIES);
	return 0;
}

int mbx_scan_cmp_ent(const void *a, const void *b)
{
	const struct mbx_ent *x = a, *y = b;

	return mbx_name_cmp_base(x->name, x->baselen, y->name, y->baselen);
}

/* mbx_scan_dedupe: one entry per base (sorted by base); the one in cur/
 * wins, as a file seen in both was moved there during the scan. */
void mbx_scan_dedupe(struct mbx_load *ld)
{
	size_t out = 0;

	for (size_t i = 0; i < ld->n; i++) {
		if (out > 0 && mbx_scan_cmp_ent(&ld->ents[out - 1], &ld->ents[i]) == 0) {
			if (ld->ents[out - 1].in_new && !ld->ents[i].in_new)
				ld->ents[out - 1] = ld->ents[i];
			continue;
		}
		ld->ents[out++] = ld->ents[i];
	}
	ld->n = out;
}

/* mbx_scan_stat_missing: psize for the files without a UID that have it
 * neither in the name nor in the uidlist (about to be numbered, their S
 * is written then; the others' sizes are read on first need, mbx_msg),
 * or with all for every file (the uidlist is rewritten with them). A file gone since the scan (renamed or
 * expunged) makes it return 1 when retry is set (the caller scans again);
 * otherwise such files are left out, and the scan counts as unstable. */
int mbx_scan_stat_missing(const mbx *mb, struct mbx_load *ld, bool retry, bool all)
{
	size_t out = 0;

	for (size_t k = 0; k < ld->n; k++) {
		struct mbx_ent *e = &ld->ents[k];
		struct stat st;

		if (e->uid != 0 && !all) { /* numbered: its size is read on first need */
			ld->ents[out++] = *e;
			continue;
		}
		if (e->psize < 0 && fstatat(e->in_new ? mb->new_fd : mb->cur_fd, e->name, &st, 0) < 0) {
			if (errno == ENOENT && retry)
				return 1;
			if (errno == ENOENT)
				continue;
			log_warn("mbx: %s: cannot stat %s/%s: %s", mb->path, e->in_new ? "new" : "cur",
				 e->name, strerror(errno));
			st.st_size = 0;
		}
		if (e->psize < 0) {
			e->psize = (long long)st.st_size;
			ld->nstat++;
		}
		ld->ents[out++] = *e;
	}
	if (out < ld->n) {
		ld->stable = false;
		ld->n = out;
		ld->nnew = 0;
		for (size_t k = 0; k < ld->n; k++)
			ld->nnew += ld->ents[k].uid == 0;
	}
	return 0;
}
