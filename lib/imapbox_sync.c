/* imapbox_sync.c: finding what changed in a selected folder, and handing
 * it to the session's view when imapd may report it.
 *
 * A sync first reads postern-modseq's new records, then (only when new/,
 * cur/ or dovecot-uidlist changed since the last full sync, or one is
 * IBX_RESCAN_SECS old) reopens the folder through lib/mbx, which scans
 * the directories and gives new files UIDs. Messages whose name shows
 * another state than their last record (new, or renamed by a process
 * that does not keep postern-modseq: pop3d, local, a Maildir MUA) get a
 * record with a fresh MODSEQ, and records of files gone get an expunge
 * record. The result is the snapshot: the folder as it is now, in UID
 * order. imapbox_take merges it into the view.
 *
 * Our own renames (STORE, the move of new messages to cur/) also change
 * cur/'s time stamp. When the stamp before our change is the one the last
 * full sync saw, the stamp after it is taken as known, so a STORE does not
 * cost a rescan of 100,000 names. XXX: a change by another process in the
 * moment between our rename and our stat is then not seen until the next
 * change of the directory or IBX_RESCAN_SECS; it can delay a flag update
 * or an expunge, never show a message under another's UID (files are
 * always found by their UID's base name). */
#include "imapbox_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mem.h"

struct ibx_stamps {
	struct ibx_stamp nw, cur, ulist;
	struct timespec taken;     /* before the stats */
};

static void stamps_take(const imapbox *box, struct ibx_stamps *s)
{
	clock_gettime(CLOCK_REALTIME, &s->taken);
	ibx_stamp_of(box->watch[0], &s->nw);
	ibx_stamp_of(box->watch[1], &s->cur);
	ibx_stamp_of(box->watch[3 + 1], &s->ulist);
}

/* stamps_eq: the directories did not change. The uidlist is left out: a
 * change of it that matters (UIDs for new files) comes with a change of
 * new/ or cur/, and mbx_open may have written it itself. */
static bool stamps_eq(const struct ibx_stamps *a, const struct ibx_stamps *b)
{
	return ibx_stamp_eq(&a->nw, &b->nw) && ibx_stamp_eq(&a->cur, &b->cur);
}

static void stamps_keep(imapbox *box, const struct ibx_stamps *s)
{
	box->st_new = s->nw;
	box->st_cur = s->cur;
	box->st_ulist = s->ulist;
	box->st_taken = s->taken;
}

/* count_in_new: mb's messages left in new/ (a read-only sync claims none). */
static uint32_t count_in_new(const mbx *mb)
{
	uint32_t n = 0;

	for (size_t i = 0; i < mbx_count(mb); i++)
		n += mbx_msg_peek(mb, i)->in_new;
	return n;
}

/* claim_recent: a read-write session moves mb's files in new/ to cur/;
 * the ones it moved (not another session) are \Recent here. */
static uint32_t *claim_recent(imapbox *box, mbx *mb, size_t *n_r)
{
	size_t count = mbx_count(mb), n = 0;
	uint32_t *uids = xmalloc((count + 1) * sizeof(*uids));

	for (size_t i = 0; box->rw && i < count; i++) {
		const struct mbx_msg *m = mbx_msg_peek(mb, i);

		if (m->in_new && mbx_set_flags(mb, i, m->flags) == 0)
			uids[n++] = m->uid;
	}
	*n_r = n;
	return uids;
}

/* merge_find: the table's record of uid, for UIDs asked in ascending
 * order (*k is where the last one was found): a walk, not a search. */
static const struct ibx_mrec *merge_find(const struct ibx_mseq *ms, uint32_t uid, size_t *k)
{
	while (*k < ms->n && ms->recs[*k].uid < uid)
		(*k)++;
	return *k < ms->n && ms->recs[*k].uid == uid ? &ms->recs[*k] : NULL;
}

/* changes_needed: the records postern-modseq lacks for mb's messages.
 * A record whose file the scan did not see is an expunge only when the
 * scan was stable (a file being renamed may be missed otherwise).
 * Records above MODSEQ newer_than were written after our scan began: the
 * writer renamed first, so they are newer than what the scan saw and are
 * left alone. */
static struct ibx_mchange *changes_needed(const struct ibx_mseq *ms, const mbx *mb, uint64_t newer_than,
					  size_t *n_r)
{
	size_t count = mbx_count(mb), n = 0, j = 0;
	struct ibx_mchange *ch = xmalloc((count + ms->n + 1) * sizeof(*ch));

	for (size_t i = 0, k = 0; i < count; i++) {
		const struct mbx_msg *m = mbx_msg_peek(mb, i);
		uint32_t mask = ibx_mask_of(m);
		const struct ibx_mrec *r = merge_find(ms, m->uid, &k);

		if (r != NULL && r->modseq > newer_than)
			continue;
		if (r == NULL || r->expunged || r->mask != mask)
			ch[n++] = (struct ibx_mchange){ .uid = m->uid, .mask = mask };
	}
	for (size_t k = 0; mbx_stable(mb) && k < ms->n; k++) { /* both in UID order: merge */
		const struct ibx_mrec *r = &ms->recs[k];

		while (j < count && mbx_msg_peek(mb, j)->uid < r->uid)
			j++;
		if (r->modseq > newer_than)
			continue;
		if (!r->expunged && (j == count || mbx_msg_peek(mb, j)->uid != r->uid))
			ch[n++] = (struct ibx_mchange){ .uid = r->uid, .mask = r->mask, .expunged = true };
	}
	*n_r = n;
	return ch;
}

int ibx_record_changes(struct ibx_mseq *ms, const mbx *mb, uint64_t scan_modseq, char **err_r)
{
	struct ibx_mchange *ch;
	size_t n;
	int rc = 0;

	if (ms->uidvalidity != mbx_uidvalidity(mb)) {
		ms->uidvalidity = mbx_uidvalidity(mb);
		ms->corrupt = true; /* reread: another UIDVALIDITY makes it bad */
		if (ms->fd >= 0)
			ms->ino = 0;
	}
	ch = changes_needed(ms, mb, scan_modseq, &n);
	if (n == 0 && !ibx_mseq_need_rebuild(ms)) {
		free(ch);
		return 0;
	}
	free(ch);
	if (ibx_mseq_lock(ms, err_r) < 0)
		return -1;
	if (ibx_mseq_need_rebuild(ms)) {
		rc = ibx_mseq_rebuild(ms, mb, err_r);
	} else {
		ch = changes_needed(ms, mb, scan_modseq, &n); /* again: others may have recorded them */
		rc = ibx_mseq_append(ms, ch, n, err_r);
		free(ch);
	}
	ibx_mseq_unlock(ms);
	return rc;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* carry_missed: after an unstable scan, messages of the last snapshot the
 * scan did not see are kept (they may have been mid-rename), in UID order. */
static void carry_missed(imapbox *box, struct ibx_snap *snap, size_t *n_r, const struct ibx_snap *old,
			 size_t nold)
{
	struct ibx_snap *merged = xmalloc((*n_r + nold + 1) * sizeof(*merged));
	size_t i = 0, j = 0, n = 0;

	while (i < *n_r || j < nold) {
		if (j == nold || (i < *n_r && snap[i].uid < old[j].uid))
			merged[n++] = snap[i++];
		else if (i == *n_r || old[j].uid < snap[i].uid) {
			const struct ibx_mrec *r = ibx_mseq_find(&box->ms, old[j].uid);

			if (r == NULL || !r->expunged)
				merged[n++] = old[j];
			j++;
		} else {
			merged[n++] = snap[i++];
			j++;
		}
	}
	memcpy(snap, merged, n * sizeof(*snap));
	*n_r = n;
	free(merged);
}

void ibx_snap_ensure(imapbox *box)
{
	if (box->snap != NULL || box->nview == 0)
		return;
	box->snap = xmalloc((box->nview + 1) * sizeof(*box->snap));
	for (size_t i = 0; i < box->nview; i++) {
		const struct ibx_view *v = &box->view[i];

		box->snap[i] = (struct ibx_snap){ .uid = v->uid, .mask = v->mask, .modseq = v->modseq,
						  .recent = v->recent };
	}
	box->nsnap = box->nview;
}

void ibx_build_snap(imapbox *box, const uint32_t *recent_uids, size_t nrecent)
{
	size_t count = mbx_count(box->mb), n = 0;
	struct ibx_snap *old;
	size_t nold;

	if (!mbx_stable(box->mb))
		ibx_snap_ensure(box); /* carry_missed reads the last one */
	old = box->snap;
	nold = box->nsnap;

	box->snap = xmalloc((count + nold + 1) * sizeof(*box->snap));
	for (size_t i = 0, k = 0; i < count; i++) {
		const struct mbx_msg *m = mbx_msg_peek(box->mb, i);
		const struct ibx_mrec *r = merge_find(&box->ms, m->uid, &k);
		struct ibx_snap *s = &box->snap[n];

		if (r != NULL && r->expunged)
			continue; /* expunged by us: the mbx still lists it */
		s->uid = m->uid;
		s->mask = ibx_mask_of(m);
		s->modseq = r != NULL ? r->modseq : box->ms.highest;
		s->recent = nrecent > 0 && bsearch(&m->uid, recent_uids, nrecent, sizeof(*recent_uids), cmp_u32) != NULL;
		n++;
	}
	if (!mbx_stable(box->mb) && old != NULL && box->snap_uidvalidity == mbx_uidvalidity(box->mb))
		carry_missed(box, box->snap, &n, old, nold);
	free(old);
	box->snap = xrealloc(box->snap, (n + 1) * sizeof(*box->snap)); /* no slack kept */
	box->nsnap = n;
	box->snap_uidvalidity = mbx_uidvalidity(box->mb);
	box->snap_uidnext = mbx_uidnext(box->mb);
	box->snap_highest = box->ms.highest;
	box->snap_dirty = true;
}

int ibx_full_sync(imapbox *box, char **err_r)
{
	struct ibx_stamps before, after;
	mbx *mb = NULL;
	uint32_t *recent;
	size_t nrecent;
	uint64_t scan_modseq;

	stamps_take(box, &before);
	if (ibx_kw_load(&box->kw, err_r) < 0 || ibx_mseq_refresh(&box->ms, err_r) < 0)
		return -1;
	scan_modseq = box->ms.corrupt || box->ms.fd < 0 ? UINT64_MAX : box->ms.highest;
	for (int try = 0;; try++) { /* another go when files moved under the scan */
		if ((box->rescan ? mbx_open_rescan : mbx_open)(box->path, &mb, err_r) < 0)
			return -1;
		if (mbx_stable(mb) || try == IBX_UNSTABLE_TRIES)
			break;
		mbx_free(&mb);
	}
	stamps_take(box, &after);
	recent = claim_recent(box, mb, &nrecent);
	if (ibx_record_changes(&box->ms, mb, scan_modseq, err_r) < 0) {
		free(recent);
		mbx_free(&mb);
		return -1;
	}
	if (nrecent > 0 && stamps_eq(&before, &after))
		stamps_take(box, &after); /* our own moves to cur/: known */
	if (!stamps_eq(&before, &after) && nrecent == 0) {
		before.ulist = after.ulist;
		stamps_keep(box, &before); /* changed during the scan: again next time */
	} else {
		stamps_keep(box, &after);
	}
	box->last_full = time(NULL);
	box->rescan = false;
	box->in_new = count_in_new(mb);
	mbx_free(&box->mb);
	box->mb = mb;
	ibx_build_snap(box, recent, nrecent);
	free(recent);
	return 0;
}

int imapbox_sync(imapbox *box, char **err_r)
{
	struct ibx_stamps now;
	int rc;

	stamps_take(box, &now);
	box->rescan = time(NULL) - box->last_full >= IBX_RESCAN_SECS; /* not from lib/mbx's kept scan */
	if (box->rescan || !ibx_stamp_eq(&now.nw, &box->st_new) ||
	    !ibx_stamp_eq(&now.cur, &box->st_cur) || !ibx_stamp_eq(&now.ulist, &box->st_ulist))
		return ibx_full_sync(box, err_r) < 0 ? IMAPBOX_TEMP : IMAPBOX_OK;
	if (ibx_kw_load(&box->kw, err_r) < 0)
		return IMAPBOX_TEMP;
	rc = ibx_mseq_refresh(&box->ms, err_r);
	if (rc < 0)
		return IMAPBOX_TEMP;
	if (rc > 0 || ibx_mseq_need_rebuild(&box->ms))
		return ibx_full_sync(box, err_r) < 0 ? IMAPBOX_TEMP : IMAPBOX_OK;
	return IMAPBOX_OK;
}

/* ---- take ---- */

static void out_grow(uint32_t **arr, size_t n)
{
	free(*arr);
	*arr = xmalloc((n + 1) * sizeof(**arr));
}

static struct ibx_view view_from_snap(const struct ibx_snap *s)
{
	return (struct ibx_view){ .uid = s->uid, .mask = s->mask, .modseq = s->modseq, .recent = s->recent };
}

/* take_meta: what FETCH learned of old view message i (SIZE_MAX: a new
 * one) at nm[out], when the session has learned any. */
static void take_meta(const imapbox *box, struct ibx_meta *nm, size_t out, size_t i)
{
	if (nm != NULL)
		nm[out] = i != SIZE_MAX ? box->meta[i] : (struct ibx_meta){ .vsize = -1, .idate = -1 };
}

void imapbox_take(imapbox *box, bool expunges, struct imapbox_changes *ch)
{
	size_t oldn = box->nview, j = 0, out = 0, nexp = 0, nchg = 0;
	struct ibx_view *nv;
	struct ibx_meta *nm;

	memset(ch, 0, sizeof(*ch));
	if (box->snap_uidvalidity != box->uidvalidity) {
		ch->uidvalidity_changed = true;
		return;
	}
	ch->exists = (uint32_t)oldn;
	ch->recent = box->nrecent;
	ch->flags_changed = box->kw.count != box->kw_count_told;
	box->kw_count_told = box->kw.count;
	if (!box->snap_dirty)
		return; /* nothing new since the last take: O(1) */
	nv = xmalloc((oldn + box->nsnap + 1) * sizeof(*nv));
	nm = box->meta != NULL ? xmalloc((oldn + box->nsnap + 1) * sizeof(*nm)) : NULL;
	out_grow(&box->out_seqs, oldn);
	out_grow(&box->out_uids, oldn);
	out_grow(&box->out_changed, oldn + box->nsnap);
	for (size_t i = 0; i < oldn; i++) {
		struct ibx_view v = box->view[i];

		while (j < box->nsnap && box->snap[j].uid < v.uid)
			j++; /* not in the view and lower than its UIDs: never shown */
		if (j < box->nsnap && box->snap[j].uid == v.uid) {
			const struct ibx_snap *s = &box->snap[j++];

			if (s->mask != v.mask || s->modseq != v.modseq || v.expunged) {
				v.mask = s->mask;
				v.modseq = s->modseq;
				box->out_changed[nchg++] = (uint32_t)out + 1;
			}
			v.recent |= s->recent;
			v.expunged = false;
			take_meta(box, nm, out, i);
			nv[out++] = v;
		} else if (expunges) {
			box->out_seqs[nexp] = (uint32_t)i + 1;
			box->out_uids[nexp++] = v.uid;
		} else {
			v.expunged = true;
			take_meta(box, nm, out, i);
			nv[out++] = v;
		}
	}
	for (; j < box->nsnap; j++)
		if (out == 0 || box->snap[j].uid > nv[out - 1].uid) {
			take_meta(box, nm, out, SIZE_MAX);
			nv[out++] = view_from_snap(&box->snap[j]);
		}
	/* EXPUNGEs go out highest first, so each number is still valid */
	for (size_t a = 0, b = nexp; a + 1 < b; a++, b--) {
		uint32_t t = box->out_seqs[a];

		box->out_seqs[a] = box->out_seqs[b - 1];
		box->out_seqs[b - 1] = t;
		t = box->out_uids[a];
		box->out_uids[a] = box->out_uids[b - 1];
		box->out_uids[b - 1] = t;
	}
	free(box->view);
	ibx_view_changed(box);
	box->view = nv = xrealloc(nv, (out + 1) * sizeof(*nv)); /* no slack kept while idle */
	free(box->meta);
	box->meta = nm;
	box->nview = out;
	box->uidnext = box->snap_uidnext;
	ch->expunged_seqs = box->out_seqs;
	ch->expunged_uids = box->out_uids;
	ch->nexpunged = nexp;
	ch->exists = (uint32_t)out;
	box->nrecent = 0;
	for (size_t i = 0; i < out; i++)
		box->nrecent += nv[i].recent;
	ch->recent = box->nrecent;
	ch->exists_changed = out != oldn - nexp;
	ch->changed_seqs = box->out_changed;
	ch->nchanged = nchg;
	box->snap_dirty = !expunges && out != box->nsnap; /* expunges still held */
	if (expunges && !box->snap_dirty) { /* the view is the snapshot now: */
		free(box->snap);            /* not kept twice (ibx_snap_ensure) */
		box->snap = NULL;
		box->nsnap = 0;
	}
}
