/* mbx_cache.c: the last scan of a folder, kept per process, so an open of
 * a folder that did not change since (new/, cur/ and the uidlist have
 * the same time stamps, inodes and sizes) copies the message list instead
 * of reading 100,000 directory entries and the uidlist again (a warm
 * SELECT; pop3d too). A scan is kept only when its stamps were at least
 * MBX_CACHE_AGE_MS old when taken, so any later change to the directory
 * or file gets another mtime even on a file system with coarse ticks. */
#include "mbx_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mem.h"

unsigned long mbx_cache_hits;

struct mbx_cent {
	char *path;
	struct mbx_stamps st;
	struct mbx_shared *sh;
	struct mbx_imsg *msgs;
	size_t n;
	uint32_t uidvalidity, nextuid;
};

static struct mbx_cent mbx_cents[MBX_CACHE_SLOTS];
static unsigned mbx_cnext; /* the slot to reuse next */

void mbx_shared_unref(struct mbx_shared **sh_p)
{
	struct mbx_shared *sh = *sh_p;

	*sh_p = NULL;
	if (sh == NULL || --sh->refs > 0)
		return;
	mbx_arena_free(&sh->ar);
	free(sh);
}

static void stamp_of(const struct stat *sb, struct mbx_stamp *st)
{
	st->mtime = sb->st_mtim;
	st->dev = sb->st_dev;
	st->ino = sb->st_ino;
	st->size = sb->st_size;
}

bool mbx_cache_stamps(const mbx *mb, struct mbx_stamps *st)
{
	struct stat sb;

	memset(st, 0, sizeof(*st));
	clock_gettime(CLOCK_REALTIME, &st->taken);
	if (fstat(mb->new_fd, &sb) < 0)
		return false;
	stamp_of(&sb, &st->dirs[0]);
	if (fstat(mb->cur_fd, &sb) < 0)
		return false;
	stamp_of(&sb, &st->dirs[1]);
	if (stat(mb->ulist_path, &sb) < 0)
		return false;
	stamp_of(&sb, &st->dirs[2]);
	return true;
}

static bool stamp_eq(const struct mbx_stamp *a, const struct mbx_stamp *b)
{
	return a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->dev == b->dev && a->ino == b->ino && a->size == b->size;
}

static bool stamps_eq(const struct mbx_stamps *a, const struct mbx_stamps *b)
{
	for (int k = 0; k < 3; k++)
		if (!stamp_eq(&a->dirs[k], &b->dirs[k]))
			return false;
	return true;
}

/* old_enough: every mtime at least MBX_CACHE_AGE_MS before the stamps
 * were taken. */
static bool old_enough(const struct mbx_stamps *st)
{
	long long taken = (long long)st->taken.tv_sec * 1000 + st->taken.tv_nsec / 1000000;

	for (int k = 0; k < 3; k++) {
		long long m = (long long)st->dirs[k].mtime.tv_sec * 1000 + st->dirs[k].mtime.tv_nsec / 1000000;

		if (taken - m < MBX_CACHE_AGE_MS)
			return false;
	}
	return true;
}

static void cent_clear(struct mbx_cent *ce)
{
	free(ce->path);
	free(ce->msgs);
	mbx_shared_unref(&ce->sh);
	memset(ce, 0, sizeof(*ce));
}

static struct mbx_cent *cent_find(const char *path)
{
	for (size_t k = 0; k < MBX_CACHE_SLOTS; k++)
		if (mbx_cents[k].path != NULL && strcmp(mbx_cents[k].path, path) == 0)
			return &mbx_cents[k];
	return NULL;
}

bool mbx_cache_get(mbx *mb, const struct mbx_stamps *st)
{
	struct mbx_cent *ce = cent_find(mb->path);

	if (ce == NULL)
		return false;
	if (!stamps_eq(&ce->st, st)) {
		cent_clear(ce);
		return false;
	}
	mb->sh = ce->sh;
	mb->sh->refs++;
	mb->msgs = xmalloc((ce->n + 1) * sizeof(*mb->msgs));
	memcpy(mb->msgs, ce->msgs, (ce->n + 1) * sizeof(*mb->msgs));
	mb->n = ce->n;
	mb->uidvalidity = ce->uidvalidity;
	mb->nextuid = ce->nextuid;
	mb->stable = true;
	mbx_cache_hits++;
	return true;
}

void mbx_cache_put(const mbx *mb, const struct mbx_stamps *before)
{
	struct mbx_stamps after;
	struct mbx_cent *ce = cent_find(mb->path);

	if (ce != NULL)
		cent_clear(ce);
	if (!mb->stable || !old_enough(before) || !mbx_cache_stamps(mb, &after) || !stamps_eq(before, &after))
		return;
	if (ce == NULL) {
		ce = &mbx_cents[mbx_cnext];
		mbx_cnext = (mbx_cnext + 1) % MBX_CACHE_SLOTS;
		cent_clear(ce);
	}
	ce->path = xstrdup(mb->path);
	ce->st = *before;
	ce->sh = mb->sh;
	ce->sh->refs++;
	ce->msgs = xmalloc((mb->n + 1) * sizeof(*ce->msgs));
	memcpy(ce->msgs, mb->msgs, (mb->n + 1) * sizeof(*ce->msgs));
	ce->n = mb->n;
	ce->uidvalidity = mb->uidvalidity;
	ce->nextuid = mb->nextuid;
}
