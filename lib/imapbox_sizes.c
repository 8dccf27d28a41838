/* imapbox_sizes.c: recording a folder's message sizes in its uidlist for
 * imapd (see imapbox_sizes.h): the sample that tells whether sizes are
 * missing, and the write through lib/mbx (mbx_vsizes on a handle of its
 * own, so the session's view is not disturbed). */
#include "imapbox_sizes.h"

#include <stdlib.h>

#include "mbx.h"

bool imapbox_sizes_worth_recording(imapbox *box, const uint32_t *seqs, size_t n)
{
	struct imapmsg m;

	if (n < IMAPBOX_SIZES_RECORD_MIN)
		return false;
	for (size_t i = 0; i < n && i < IMAPBOX_SIZES_SAMPLE; i++)
		if (!imapbox_expunged(box, seqs[i]) && imapbox_msg(box, seqs[i], 0, &m) == IMAPBOX_OK &&
		    m.size < 0)
			return true;
	return false;
}

int imapbox_sizes_record(const char *dir, char **err_r)
{
	mbx *mb;
	int rc;

	*err_r = NULL;
	if (mbx_open(dir, &mb, err_r) < 0)
		return -1;
	rc = mbx_vsizes(mb, err_r);
	mbx_free(&mb);
	return rc < 0 ? -1 : 0;
}
