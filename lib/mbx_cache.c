/* mbx_cache.c: the last scan of a folder, kept per process and shared:
 * an open of a folder that did not change since (new/, cur/ and the
 * uidlist have the same time stamps, inodes and sizes) takes a reference
 * to its message list instead of reading 100,000 directory entries and
 * the uidlist again (a warm SELECT; pop3d too), and a scan that finds the
 * same list as the kept one shares it too, so the sessions of a folder
 * hold one list between them until one changes a message (copy on
 * write: mbx_msgs_own). A scan is reused without a rescan only when its
 * stamps had settled when taken (mbx_mtime_settled), so any later change
 * to the directory or file gets another mtime. */
#include "mbx_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mem.h"

unsigned long mbx_cache_hits, mbx_cache_shared;

struct mbx_cent {
	char *path;
	struct mbx_stamps st;
	bool reuse;                /* st may stand for a scan (old enough) */
	struct mbx_shared *sh;
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
	free(sh->msgs);
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

bool mbx_mtime_settled(const struct timespec *mtime, const struct timespec *taken)
{
	long long t = (long long)taken->tv_sec * 1000 + taken->tv_nsec / 1000000;
	long long m = (long long)mtime->tv_sec * 1000 + mtime->tv_nsec / 1000000;

	return t - m >= (mtime->tv_nsec != 0 ? MBX_SETTLE_FINE_MS : MBX_SETTLE_COARSE_MS);
}

/* old_enough: every stamp settled when the stamps were taken. */
static bool old_enough(const struct mbx_stamps *st)
{
	for (int k = 0; k < 3; k++)
		if (!mbx_mtime_settled(&st->dirs[k].mtime, &st->taken))
			return false;
	return true;
}

static void cent_clear(struct mbx_cent *ce)
{
	free(ce->path);
	mbx_shared_unref(&ce->sh);
	memset(ce, 0, sizeof(*ce));
}

void mbx_msgs_own(mbx *mb)
{
	struct mbx_imsg *copy;

	if (mb->msgs_own)
		return;
	copy = xmalloc((mb->n + 1) * sizeof(*copy));
	memcpy(copy, mb->msgs, (mb->n + 1) * sizeof(*copy));
	mb->msgs = copy;
	mb->msgs_own = true;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* same_list: mb's fresh list is the kept one, message by message. */
static bool same_list(const mbx *mb, const struct mbx_cent *ce)
{
	if (mb->n != ce->sh->n || mb->uidvalidity != ce->uidvalidity || mb->nextuid != ce->nextuid)
		return false;
	for (size_t k = 0; k < mb->n; k++) {
		const struct mbx_imsg *a = &mb->msgs[k], *b = &ce->sh->msgs[k];

		if (a->m.uid != b->m.uid || a->m.in_new != b->m.in_new || a->m.psize != b->m.psize ||
		    a->m.vsize != b->m.vsize || !str_eq(a->m.name, b->m.name) || !str_eq(a->exts, b->exts) ||
		    !str_eq(a->m.pop3_uidl, b->m.pop3_uidl))
			return false;
	}
	return true;
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

	if (ce == NULL || !ce->reuse || !stamps_eq(&ce->st, st))
		return false;
	mb->sh = ce->sh;
	mb->sh->refs++;
	mb->msgs = ce->sh->msgs;
	mb->msgs_own = false;
	mb->n = ce->sh->n;
	mb->uidvalidity = ce->uidvalidity;
	mb->nextuid = ce->nextuid;
	mb->stable = true;
	mbx_cache_hits++;
	return true;
}

void mbx_cache_put(mbx *mb, const struct mbx_stamps *before)
{
	struct mbx_stamps after;
	struct mbx_cent *ce = cent_find(mb->path);
	bool reuse;

	if (!mb->stable || mb->msgs_own)
		return;
	reuse = old_enough(before) && mbx_cache_stamps(mb, &after) && stamps_eq(before, &after);
	if (ce != NULL && same_list(mb, ce)) { /* share the kept list */
		mbx_shared_unref(&mb->sh);
		mb->sh = ce->sh;
		mb->sh->refs++;
		mb->msgs = ce->sh->msgs;
		mbx_cache_shared++;
	} else {
		if (ce == NULL) {
			ce = &mbx_cents[mbx_cnext];
			mbx_cnext = (mbx_cnext + 1) % MBX_CACHE_SLOTS;
		}
		cent_clear(ce);
		ce->path = xstrdup(mb->path);
		ce->sh = mb->sh;
		ce->sh->refs++;
		ce->uidvalidity = mb->uidvalidity;
		ce->nextuid = mb->nextuid;
	}
	ce->st = *before;
	ce->reuse = reuse;
}
