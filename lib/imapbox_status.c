/* imapbox_status.c: STATUS of a folder that is not selected. One lib/mbx
 * pass (uidlist and directory scan; files without a UID get one, as any
 * reader does) gives MESSAGES, RECENT (files still in new/, which no
 * read-write session has claimed), UIDNEXT, UIDVALIDITY and UNSEEN; SIZE
 * adds the CRLF sizes (read once for files that lack them, then kept in
 * the uidlist); HIGHESTMODSEQ reads postern-modseq and first records the
 * changes it lacks, as a sync does, so the value STATUS gives is the one
 * a later SELECT shows. Nothing is moved from new/. */
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

int imapbox_status(const char *dir, unsigned items, struct imapbox_status *st, char **err_r)
{
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
		const struct mbx_msg *m = mbx_msg_peek(mb, i);

		st->recent += m->in_new;
		st->unseen += !(m->flags & MBX_SEEN);
		st->size += m->vsize > 0 ? (uint64_t)m->vsize : 0;
	}
	rc = IMAPBOX_OK;
	if ((items & IMAPBOX_ST_HIGHESTMODSEQ) && status_modseq(dir, mb, &st->highestmodseq, err_r) < 0)
		rc = IMAPBOX_TEMP;
	mbx_free(&mb);
	return rc;
}
