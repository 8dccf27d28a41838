/* imapbox_status.c: STATUS of a folder that is not selected. One lib/mbx
 * pass (uidlist and directory scan; files without a UID get one, as any
 * reader does) gives MESSAGES, RECENT (files still in new/, which no
 * read-write session has claimed), UIDNEXT, UIDVALIDITY and UNSEEN; SIZE
 * adds the CRLF sizes (read once for files that lack them, then kept in
 * the uidlist); HIGHESTMODSEQ reads postern-modseq and first records the
 * changes it lacks, as a sync does, so the value STATUS gives is the one
 * a later SELECT shows. Nothing is moved from new/. A folder kept from
 * an earlier session (imapbox_park.c) answers from its view instead,
 * after a sync that costs a few stats when nothing changed. DELETED and
 * DELETED-STORAGE (RFC 9208) count the \Deleted messages and their
 * files' bytes, in KiB as the STORAGE resource. */
#include "imapbox_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "log.h"
#include "mem.h"

static int status_modseq(const char *dir, const mbx *mb, uint64_t *highest_r, char **err_r)
{
	struct ibx_mseq ms;
	int rc;

	ibx_mseq_init(&ms, dir, mbx_uidvalidity(mb));
	rc = ibx_mseq_refresh(&ms, err_r);
	if (rc >= 0)
		rc = ibx_record_changes(&ms, mb, ms.corrupt || ms.fd < 0 ? UINT64_MAX : ms.highest, err_r);
	*highest_r = ms.highest > 0 ? ms.highest : 1;
	ibx_mseq_free(&ms);
	return rc < 0 ? -1 : 0;
}

/* add_msg: one message's share of the counts. */
static void add_msg(struct imapbox_status *st, unsigned items, const mbx *mb, size_t idx, uint32_t mask,
		    uint64_t *deleted_bytes)
{
	const struct mbx_msg *m = mbx_msg_peek(mb, idx);

	st->unseen += !(mask & MBX_SEEN);
	st->size += m->vsize > 0 ? (uint64_t)m->vsize : 0;
	if (!(mask & MBX_TRASHED))
		return;
	st->deleted++;
	if (items & IMAPBOX_ST_DELETED_STORAGE) {
		m = mbx_msg(mb, idx); /* a stat when the name lacks S= */
		*deleted_bytes += m->psize > 0 ? (uint64_t)m->psize : 0;
	}
}

static uint64_t kib_of(uint64_t bytes)
{
	return (bytes + 1023) / 1024;
}

/* box_sizes: SIZE and DELETED-STORAGE of a box's view (its mbx holds the
 * sizes; both lists are in UID order). */
static int box_sizes(imapbox *box, unsigned items, struct imapbox_status *st, char **err_r)
{
	uint64_t deleted_bytes = 0;
	size_t j = 0, count;

	if ((items & IMAPBOX_ST_SIZE) && mbx_vsizes(box->mb, err_r) < 0)
		return -1;
	count = mbx_count(box->mb);
	for (size_t i = 0; i < box->nview; i++) {
		while (j < count && mbx_msg_peek(box->mb, j)->uid < box->view[i].uid)
			j++;
		if (j < count && mbx_msg_peek(box->mb, j)->uid == box->view[i].uid)
			add_msg(st, items, box->mb, j, box->view[i].mask, &deleted_bytes);
	}
	st->deleted_storage = kib_of(deleted_bytes);
	return 0;
}

int ibx_status_of_box(imapbox *box, unsigned items, struct imapbox_status *st, char **err_r)
{
	memset(st, 0, sizeof(*st));
	if (items & (IMAPBOX_ST_SIZE | IMAPBOX_ST_DELETED_STORAGE)) {
		if (box_sizes(box, items, st, err_r) < 0)
			return -1;
	} else {
		for (size_t i = 0; i < box->nview; i++) { /* the view alone: 16 bytes each */
			st->unseen += !(box->view[i].mask & MBX_SEEN);
			st->deleted += (box->view[i].mask & MBX_TRASHED) != 0;
		}
	}
	st->messages = (uint32_t)box->nview;
	st->recent = box->in_new;
	st->uidnext = box->uidnext;
	st->uidvalidity = box->uidvalidity;
	st->highestmodseq = box->snap_highest > 0 ? box->snap_highest : 1;
	return 0;
}

int imapbox_status(const char *dir, unsigned items, struct imapbox_status *st, char **err_r)
{
	uint64_t deleted_bytes = 0;
	char *cur = fs_join(dir, "cur");
	struct stat sb;
	mbx *mb;
	int rc = stat(cur, &sb);

	free(cur);
	*err_r = NULL;
	memset(st, 0, sizeof(*st));
	if (rc < 0 || !S_ISDIR(sb.st_mode)) {
		*err_r = xasprintf("%s is not a Maildir folder", dir);
		return rc < 0 && errno != ENOENT && errno != ENOTDIR ? IMAPBOX_TEMP : IMAPBOX_NONEXISTENT;
	}
	if ((rc = ibx_status_kept(dir, items, st, err_r)) <= 0)
		return rc == 0 ? IMAPBOX_OK : IMAPBOX_TEMP;
	if (mbx_open(dir, &mb, err_r) < 0)
		return IMAPBOX_TEMP;
	if ((items & IMAPBOX_ST_SIZE) && mbx_vsizes(mb, err_r) < 0) {
		mbx_free(&mb);
		return IMAPBOX_TEMP;
	}
	st->messages = (uint32_t)mbx_count(mb);
	st->uidnext = mbx_uidnext(mb);
	st->uidvalidity = mbx_uidvalidity(mb);
	for (size_t i = 0; i < mbx_count(mb); i++) {
		st->recent += mbx_msg_peek(mb, i)->in_new;
		add_msg(st, items, mb, i, mbx_msg_peek(mb, i)->flags, &deleted_bytes);
	}
	st->deleted_storage = kib_of(deleted_bytes);
	rc = IMAPBOX_OK;
	if ((items & IMAPBOX_ST_HIGHESTMODSEQ) && status_modseq(dir, mb, &st->highestmodseq, err_r) < 0)
		rc = IMAPBOX_TEMP;
	mbx_free(&mb);
	return rc;
}
