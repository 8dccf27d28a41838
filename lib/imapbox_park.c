/* imapbox_park.c: folders kept in this process after their last session
 * left, so the next SELECT or STATUS of an unchanged folder costs a few
 * stats instead of reading postern-modseq and building a 100,000-message
 * view. A kept box is a session's box without a session, synced on reuse
 * as a NOOP would sync it. Bounds (slots, messages, seconds) and why a
 * box stays with the process that kept it: imapbox_int.h, park_expire. */
#include "imapbox_int.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"

struct ibx_slot {
	imapbox *box;
	time_t since;
	pid_t pid;                 /* the process that kept it */
};

static struct ibx_slot ibx_slots[IBX_PARK_SLOTS];

static void slot_free(struct ibx_slot *sl)
{
	ibx_free(sl->box);
	sl->box = NULL;
}

/* park_expire: frees the boxes kept longer than IBX_PARK_SECS, and the
 * ones a parent process kept (closing our copies of its descriptors
 * leaves its flocks alone). */
static void park_expire(time_t now)
{
	pid_t me = getpid();

	for (size_t k = 0; k < IBX_PARK_SLOTS; k++)
		if (ibx_slots[k].box != NULL &&
		    (now - ibx_slots[k].since >= IBX_PARK_SECS || ibx_slots[k].pid != me))
			slot_free(&ibx_slots[k]);
}

static size_t parked_msgs(void)
{
	size_t n = 0;

	for (size_t k = 0; k < IBX_PARK_SLOTS; k++)
		if (ibx_slots[k].box != NULL)
			n += ibx_slots[k].box->nview;
	return n;
}

/* slot_oldest: the used slot kept longest, NULL if none is used. */
static struct ibx_slot *slot_oldest(void)
{
	struct ibx_slot *best = NULL;

	for (size_t k = 0; k < IBX_PARK_SLOTS; k++)
		if (ibx_slots[k].box != NULL && (best == NULL || ibx_slots[k].since < best->since))
			best = &ibx_slots[k];
	return best;
}

/* slot_take: a free slot, made by freeing the oldest when all are used. */
static struct ibx_slot *slot_take(void)
{
	struct ibx_slot *sl;

	for (size_t k = 0; k < IBX_PARK_SLOTS; k++)
		if (ibx_slots[k].box == NULL)
			return &ibx_slots[k];
	sl = slot_oldest();
	slot_free(sl);
	return sl;
}

static struct ibx_slot *slot_of(const char *dir)
{
	for (size_t k = 0; k < IBX_PARK_SLOTS; k++)
		if (ibx_slots[k].box != NULL && strcmp(ibx_slots[k].box->path, dir) == 0)
			return &ibx_slots[k];
	return NULL;
}

bool ibx_park(imapbox *box)
{
	time_t now = time(NULL);
	struct ibx_slot *sl;

	park_expire(now);
	if (box->mb == NULL || box->snap_uidvalidity != box->uidvalidity || box->nview > IBX_PARK_MAX_MSGS)
		return false;
	sl = slot_of(box->path); /* the newer session's box replaces it */
	if (sl != NULL)
		slot_free(sl);
	while (parked_msgs() + box->nview > IBX_PARK_MAX_MSGS && (sl = slot_oldest()) != NULL)
		slot_free(sl);
	sl = slot_take();
	sl->box = box;
	sl->since = now;
	sl->pid = getpid();
	return true;
}

imapbox *ibx_unpark(const char *dir)
{
	struct ibx_slot *sl;
	imapbox *box;

	park_expire(time(NULL));
	sl = slot_of(dir);
	if (sl == NULL)
		return NULL;
	box = sl->box;
	sl->box = NULL;
	return box;
}

void imapbox_park_flush(void)
{
	for (size_t k = 0; k < IBX_PARK_SLOTS; k++)
		if (ibx_slots[k].box != NULL)
			slot_free(&ibx_slots[k]);
}

bool ibx_stamps_trusted(const imapbox *box)
{
	return mbx_mtime_settled(&box->st_new.mtime, &box->st_taken) &&
	       mbx_mtime_settled(&box->st_cur.mtime, &box->st_taken);
}

/* forget_recent: the last session's \Recent are not the next one's (it
 * claimed them; a new open would find them in cur/). */
static void forget_recent(imapbox *box)
{
	if (box->nrecent > 0)
		for (size_t i = 0; i < box->nview; i++)
			box->view[i].recent = 0;
	for (size_t i = 0; box->snap != NULL && i < box->nsnap; i++)
		box->snap[i].recent = 0;
	box->nrecent = 0;
}

/* kept_sync: a kept box brought up to date as a new open would be: its
 * stamps trusted as lib/mbx trusts its kept scan (no IBX_RESCAN_SECS
 * rescan), a full sync when they cannot be or when must_full. */
static int kept_sync(imapbox *box, bool must_full, char **err_r)
{
	box->last_full = time(NULL);
	if (must_full || !ibx_stamps_trusted(box))
		return ibx_full_sync(box, err_r);
	return imapbox_sync(box, err_r) == IMAPBOX_OK ? 0 : -1;
}

/* same_folder: the kept state is of the folder there now: new/, cur/ and
 * postern-modseq are the same files (a folder deleted and made again, or
 * its side files removed, may come back with the same UIDVALIDITY in the
 * same second: its state is then read anew, not merged). */
static bool same_folder(const imapbox *box)
{
	struct ibx_stamp nw, cur, ms;

	ibx_stamp_of(box->watch[0], &nw);
	ibx_stamp_of(box->watch[1], &cur);
	ibx_stamp_of(box->ms.path, &ms);
	return nw.ino == box->st_new.ino && cur.ino == box->st_cur.ino && box->ms.fd >= 0 &&
	       ms.ino == box->ms.ino;
}

int ibx_reuse(imapbox *box, bool read_write, char **err_r)
{
	if (!same_folder(box)) {
		*err_r = xstrdup("the folder was made anew");
		return -1;
	}
	forget_recent(box);
	box->rw = read_write;
	box->kw_count_told = box->kw.count;
	return kept_sync(box, read_write && box->in_new > 0, err_r);
}

int ibx_status_kept(const char *dir, unsigned items, struct imapbox_status *st, char **err_r)
{
	imapbox *box = ibx_unpark(dir);
	struct imapbox_changes ch;
	bool rw;
	int rc;

	if (box == NULL)
		return 1;
	if (!same_folder(box)) {
		ibx_free(box);
		return 1;
	}
	rw = box->rw;
	box->rw = false; /* STATUS moves nothing from new/ */
	rc = kept_sync(box, false, err_r);
	box->rw = rw;
	if (rc == 0) {
		imapbox_take(box, true, &ch);
		rc = ch.uidvalidity_changed ? 1 : ibx_status_of_box(box, items, st, err_r);
	}
	if (rc != 0 || !ibx_park(box))
		ibx_free(box);
	return rc;
}
