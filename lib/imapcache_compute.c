/* imapcache_compute.c: the values the FETCH cache keeps, made from a
 * message's bytes through lib/mime: ENVELOPE, BODY, BODYSTRUCTURE and the
 * header block in CRLF form. imapfetch computes the same values the same
 * way when the cache has none, so a cached answer and a fresh one are
 * byte for byte equal. */
#include <stdint.h>

#include "imapcache.h"
#include "mime.h"

void imapcache_compute(const char *data, size_t len, buf *const out[IMAPMSG_NFIELDS])
{
	bool body = out[IMAPMSG_BODY] != NULL || out[IMAPMSG_BODYSTRUCTURE] != NULL;
	mime_msg *m = body ? mime_parse(data, len) : mime_parse_header(data, len);
	const struct mime_part *root = mime_root(m);

	if (out[IMAPMSG_ENVELOPE] != NULL)
		mime_envelope(m, root, out[IMAPMSG_ENVELOPE]);
	if (out[IMAPMSG_BODY] != NULL)
		mime_bodystructure(m, root, false, out[IMAPMSG_BODY]);
	if (out[IMAPMSG_BODYSTRUCTURE] != NULL)
		mime_bodystructure(m, root, true, out[IMAPMSG_BODYSTRUCTURE]);
	if (out[IMAPMSG_HEADER] != NULL)
		mime_crlf_append(out[IMAPMSG_HEADER], data, root->header.off, root->header.len, 0,
				 SIZE_MAX);
	mime_free(&m);
}
