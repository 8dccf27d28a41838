/* imapbox_store.c: STORE and EXPUNGE in a selected folder. Both hold
 * postern-modseq's lock while they rename or remove files and then record
 * the changes with one append, so MODSEQs are given in the order the
 * changes happened and another session never records a half-done STORE
 * as a change of its own (see imapbox_modseq.c for the order of work).
 * The session's own view is updated at once: its own STORE is not
 * reported again by imapbox_take; its EXPUNGE is, as RFC 3501 wants the
 * EXPUNGE responses. */
#include "imapbox_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mem.h"

/* The system flags a client may set: all but P (kept as it is). */
#define IBX_CLIENT_FLAGS (MBX_DRAFT | MBX_FLAGGED | MBX_REPLIED | MBX_SEEN | MBX_TRASHED)

static struct ibx_snap *snap_find(imapbox *box, uint32_t uid)
{
	size_t lo = 0, hi = box->nsnap;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (box->snap[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < box->nsnap && box->snap[lo].uid == uid ? &box->snap[lo] : NULL;
}

/* known_kw_bits: the mask bits of keyword letters that have a name. */
static uint32_t known_kw_bits(const imapbox *box)
{
	uint32_t bits = 0;

	for (int k = 0; k < IMAPBOX_MAX_KEYWORDS; k++)
		if (box->kw.names[k] != NULL)
			bits |= 1u << (IBX_KW_SHIFT + k);
	return bits;
}

static uint32_t new_mask(const imapbox *box, uint32_t old, const struct imapbox_store *st, uint32_t kwmask)
{
	uint32_t bits = (st->flags & IBX_CLIENT_FLAGS) | kwmask;

	switch (st->op) {
	case IMAPBOX_STORE_ADD:
		return old | bits;
	case IMAPBOX_STORE_REMOVE:
		return old & ~bits;
	case IMAPBOX_STORE_SET:
	default:
		return (old & ~(IBX_CLIENT_FLAGS | known_kw_bits(box))) | bits;
	}
}

/* store_kwmask: the keyword bits of st; REMOVE does not add names. */
static int store_kwmask(imapbox *box, const struct imapbox_store *st, uint32_t *mask_r, char **err_r)
{
	*mask_r = 0;
	if (st->nkeywords == 0)
		return IMAPBOX_OK;
	if (st->op != IMAPBOX_STORE_REMOVE)
		return ibx_kw_mask(&box->kw, st->keywords, st->nkeywords, mask_r, err_r);
	for (size_t k = 0; k < st->nkeywords; k++) {
		int i;

		if (!imapbox_keyword_valid(st->keywords[k]))
			return IMAPBOX_BAD;
		if ((i = ibx_kw_index(&box->kw, st->keywords[k])) >= 0)
			*mask_r |= 1u << (IBX_KW_SHIFT + i);
	}
	return IMAPBOX_OK;
}

/* Renames of one message by others a STORE follows before it gives up. */
#define IBX_STORE_TRIES 8

/* store_one: message seq; 1 when changed (added to ch), 0 when not, -1
 * on an error (errno). */
static int store_one(imapbox *box, uint32_t seq, const struct imapbox_store *st, uint32_t kwmask,
		     struct ibx_mchange *ch, size_t *nch, size_t *nmod)
{
	const struct ibx_view *v = &box->view[seq - 1];
	long idx = v->expunged ? -1 : mbx_find_uid(box->mb, v->uid);
	const struct ibx_mrec *r;
	uint32_t old, mask;
	char letters[IMAPBOX_MAX_KEYWORDS + 1];
	int rc;

	if (idx < 0)
		return 0;
	r = ibx_mseq_find(&box->ms, v->uid);
	if (st->unchangedsince > 0 && r != NULL && r->modseq > st->unchangedsince) {
		box->out_modified[(*nmod)++] = seq;
		return 0;
	}
	/* from the flags the file has now: another process's rename since our
	 * last sync is found by mbx_set_info_once (2), and +FLAGS / -FLAGS are
	 * applied to its flags rather than undoing its change */
	for (int try = 0;; try++) {
		old = ibx_mask_of(mbx_msg_peek(box->mb, (size_t)idx));
		mask = new_mask(box, old, st, kwmask);
		if (mask == old)
			return 0;
		ibx_kw_letters(mask, letters);
		rc = mbx_set_info_once(box->mb, (size_t)idx, mask & IBX_MASK_FLAGS, letters);
		if (rc != 2)
			break;
		if (try + 1 >= IBX_STORE_TRIES) {
			errno = EBUSY; /* renamed under us again and again */
			return -1;
		}
	}
	if (rc != 0)
		return rc > 0 ? 0 : -1;
	ch[*nch] = (struct ibx_mchange){ .uid = v->uid, .mask = ibx_mask_of(mbx_msg_peek(box->mb, (size_t)idx)) };
	box->out_changed[(*nch)++] = seq;
	return 1;
}

/* apply_own: our records into the view and the snapshot (when one is
 * kept apart from the view). */
static void apply_own(imapbox *box, const struct ibx_mchange *ch, const uint32_t *seqs, size_t n)
{
	ibx_view_changed(box);
	for (size_t k = 0; k < n; k++) {
		struct ibx_view *v = &box->view[seqs[k] - 1];
		struct ibx_snap *s = snap_find(box, ch[k].uid);

		v->mask = ch[k].mask;
		v->modseq = ch[k].modseq;
		if (ch[k].modseq > box->snap_highest)
			box->snap_highest = ch[k].modseq;
		if (s != NULL) {
			s->mask = ch[k].mask;
			s->modseq = ch[k].modseq;
		}
	}
}

/* adopt_stamps: after our own renames, the directories' new stamps are
 * known when the old ones were the last full sync's (imapbox_sync.c). */
static void adopt_stamps(imapbox *box, const struct ibx_stamp *new0, const struct ibx_stamp *cur0)
{
	struct ibx_stamp n1, c1;
	struct timespec taken;

	clock_gettime(CLOCK_REALTIME, &taken);
	ibx_stamp_of(box->watch[0], &n1);
	ibx_stamp_of(box->watch[1], &c1);
	if (ibx_stamp_eq(new0, &box->st_new) && ibx_stamp_eq(cur0, &box->st_cur)) {
		box->st_new = n1;
		box->st_cur = c1;
		box->st_taken = taken;
	}
}

int imapbox_store(imapbox *box, const uint32_t *seqs, size_t n, const struct imapbox_store *st,
		  struct imapbox_store_result *res, char **err_r)
{
	struct ibx_mchange *ch;
	struct ibx_stamp n0, c0;
	size_t nch = 0, nmod = 0;
	uint32_t kwmask;
	int rc, failed = 0;

	memset(res, 0, sizeof(*res));
	*err_r = NULL;
	if (!box->rw)
		return IMAPBOX_READONLY;
	if ((rc = store_kwmask(box, st, &kwmask, err_r)) != IMAPBOX_OK)
		return rc;
	free(box->out_changed);
	free(box->out_modified);
	box->out_changed = xmalloc((n + 1) * sizeof(uint32_t));
	box->out_modified = xmalloc((n + 1) * sizeof(uint32_t));
	if (ibx_mseq_lock(&box->ms, err_r) < 0)
		return IMAPBOX_TEMP;
	if (ibx_mseq_need_rebuild(&box->ms) && ibx_mseq_rebuild(&box->ms, box->mb, err_r) < 0) {
		ibx_mseq_unlock(&box->ms);
		return IMAPBOX_TEMP;
	}
	ibx_stamp_of(box->watch[0], &n0);
	ibx_stamp_of(box->watch[1], &c0);
	ch = xmalloc((n + 1) * sizeof(*ch));
	for (size_t k = 0; k < n; k++) {
		if (seqs[k] < 1 || seqs[k] > box->nview)
			log_panic("imapbox_store: sequence number %u of %zu", seqs[k], box->nview);
		if (store_one(box, seqs[k], st, kwmask, ch, &nch, &nmod) < 0 && failed == 0)
			failed = errno != 0 ? errno : EIO;
	}
	adopt_stamps(box, &n0, &c0);
	if (ibx_mseq_append(&box->ms, ch, nch, err_r) < 0)
		failed = failed != 0 ? failed : EIO;
	else
		apply_own(box, ch, box->out_changed, nch);
	ibx_mseq_unlock(&box->ms);
	free(ch);
	res->changed_seqs = box->out_changed;
	res->nchanged = nch;
	res->modified_seqs = box->out_modified;
	res->nmodified = nmod;
	if (failed != 0 && *err_r == NULL)
		*err_r = xasprintf("cannot rename a message in %s: %s", box->path, strerror(failed));
	return failed != 0 ? IMAPBOX_TEMP : IMAPBOX_OK;
}

/* ---- EXPUNGE ---- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* snap_drop: takes the expunged UIDs out of the snapshot. */
static void snap_drop(imapbox *box, const struct ibx_mchange *ch, size_t n)
{
	size_t out = 0;

	ibx_snap_ensure(box);
	for (size_t i = 0; i < box->nsnap; i++) {
		const struct ibx_mrec *r = n > 0 ? ibx_mseq_find(&box->ms, box->snap[i].uid) : NULL;

		if (r == NULL || !r->expunged)
			box->snap[out++] = box->snap[i];
	}
	box->nsnap = out;
	(void)ch;
	box->snap_highest = box->ms.highest;
	box->snap_dirty = true;
}

int imapbox_expunge(imapbox *box, const uint32_t *uids, size_t nuids, char **err_r)
{
	*err_r = NULL;
	if (!box->rw)
		return IMAPBOX_READONLY;
	/* a \Deleted set elsewhere since our last sync counts too (CLOSE
	 * sends nothing before it expunges) */
	if (imapbox_sync(box, err_r) != IMAPBOX_OK)
		return IMAPBOX_TEMP;
	return ibx_expunge_uids(box, uids, nuids, true, err_r);
}

int ibx_expunge_uids(imapbox *box, const uint32_t *uids, size_t nuids, bool need_deleted, char **err_r)
{
	struct ibx_mchange *ch;
	size_t nch = 0;
	int failed = 0;

	*err_r = NULL;
	if (!box->rw)
		return IMAPBOX_READONLY;
	if (ibx_mseq_lock(&box->ms, err_r) < 0)
		return IMAPBOX_TEMP;
	if (ibx_mseq_need_rebuild(&box->ms) && ibx_mseq_rebuild(&box->ms, box->mb, err_r) < 0) {
		ibx_mseq_unlock(&box->ms);
		return IMAPBOX_TEMP;
	}
	ch = xmalloc((box->nview + 1) * sizeof(*ch));
	for (size_t i = 0; i < box->nview; i++) {
		const struct ibx_view *v = &box->view[i];
		long idx = v->expunged ? -1 : mbx_find_uid(box->mb, v->uid);
		int rc;

		if (idx < 0 || (need_deleted && !(mbx_msg_peek(box->mb, (size_t)idx)->flags & MBX_TRASHED)))
			continue;
		if (uids != NULL && bsearch(&v->uid, uids, nuids, sizeof(*uids), cmp_u32) == NULL)
			continue;
		rc = mbx_expunge(box->mb, (size_t)idx);
		if (rc < 0 && failed == 0)
			failed = errno;
		if (rc >= 0)
			ch[nch++] = (struct ibx_mchange){ .uid = v->uid, .mask = v->mask, .expunged = true };
	}
	if (ibx_mseq_append(&box->ms, ch, nch, err_r) < 0 && failed == 0)
		failed = EIO;
	ibx_mseq_unlock(&box->ms);
	snap_drop(box, ch, nch);
	free(ch);
	if (failed != 0 && *err_r == NULL)
		*err_r = xasprintf("cannot expunge in %s: %s", box->path, strerror(failed));
	return failed != 0 ? ibx_errno_result(failed) : IMAPBOX_OK;
}
