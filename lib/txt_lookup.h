/* txt_lookup.h: the asynchronous TXT lookup that DKIM and ARC (key
 * records) and DMARC (policy records) ask through: found, not found or a
 * temporary failure, with the records' text. lib/txt_dns.c puts it on the
 * shared resolver of lib/dns; tests answer from memory. */
#ifndef POSTERN_TXT_LOOKUP_H
#define POSTERN_TXT_LOOKUP_H

#include <stddef.h>

enum txt_status { TXT_FOUND, TXT_NOTFOUND, TXT_TEMPFAIL };

/* txt_cb: the answer to one lookup: FOUND with count TXT records (each
 * its strings joined, len bytes), NOTFOUND or TEMPFAIL (count 0). The
 * arrays are only valid during the call. */
typedef void txt_cb(void *cb_ctx, enum txt_status st, const char *const *txt, const size_t *len,
		    size_t count);

/* A resolver: lookup starts a TXT query for name and answers through cb
 * exactly once, either before it returns (then it returns NULL) or later
 * (then it returns a handle for cancel). cancel drops a pending query so
 * that cb is never called. */
struct txt_resolver {
	void *(*lookup)(void *rctx, const char *name, txt_cb *cb, void *cb_ctx);
	void (*cancel)(void *rctx, void *handle);
	void *rctx;
};

#endif
