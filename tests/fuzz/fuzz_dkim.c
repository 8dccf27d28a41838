/* fuzz_dkim.c: fuzz target for the DKIM parsers (lib/taglist.c,
 * lib/dkim*.c): the input as a tag list, as a key record, through both
 * body canonicalizers (whole and in two chunks, which must agree, and
 * the relaxed output may hold no white space before a CRLF), as a header
 * field, and as a whole message to verify against a fixed Ed25519 key
 * answered from memory: every signature must get a verdict. */
#include "fuzz_util.h"

#include <stdbool.h>

#include "dkim.h"
#include "dkim_int.h"
#include "taglist.h"

#define KEY "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

static void fuzz_taglist(const uint8_t *data, size_t size)
{
	char *err = NULL;
	taglist *tl = taglist_parse((const char *)data, size, &err);

	if ((tl == NULL) == (err == NULL))
		abort();
	for (size_t i = 0; tl != NULL && i < taglist_count(tl); i++) {
		if (taglist_get(tl, taglist_name(tl, i)) != taglist_value(tl, i))
			abort(); /* a duplicate got through */
	}
	taglist_free(&tl);
	free(err);
}

static void fuzz_key(const uint8_t *data, size_t size)
{
	struct dkim_pubkey k;
	const char *reason = NULL;

	if (dkim_pubkey_parse((const char *)data, size, &k, &reason) == 0) {
		if (k.pkey == NULL)
			abort();
		dkim_pubkey_clear(&k);
	} else if (reason == NULL) {
		abort();
	}
}

static bool ends_with_empty_line(const buf *b)
{
	size_t n = buf_len(b);

	return n >= 4 && memcmp(buf_cstr(b) + n - 4, "\r\n\r\n", 4) == 0;
}

static void fuzz_body(const uint8_t *data, size_t size, enum dkim_canon canon)
{
	buf *whole = buf_new(size + 8), *parts = buf_new(size + 8);
	dkim_body *a = dkim_body_new(canon, -1, whole), *b = dkim_body_new(canon, -1, parts);
	size_t cut = size / 3;

	dkim_body_update(a, data, size);
	dkim_body_update(b, data, cut);
	dkim_body_update(b, data + cut, size - cut);
	dkim_body_final(a, NULL);
	dkim_body_final(b, NULL);
	if (buf_len(whole) != buf_len(parts) ||
	    memcmp(buf_cstr(whole), buf_cstr(parts), buf_len(whole)) != 0)
		abort();
	if (canon == DKIM_CANON_RELAXED && (strstr(buf_cstr(whole), " \r\n") != NULL ||
					    ends_with_empty_line(whole)))
		abort();
	dkim_body_free(&a);
	dkim_body_free(&b);
	buf_free(&whole);
	buf_free(&parts);
}

static void *key_lookup(void *rctx, const char *name, txt_cb *cb, void *cb_ctx)
{
	const char *txt[1] = { KEY };
	size_t len[1] = { strlen(KEY) };

	(void)rctx;
	(void)name;
	cb(cb_ctx, TXT_FOUND, txt, len, 1);
	return NULL;
}

static void fuzz_verify(const uint8_t *data, size_t size)
{
	struct dkim_verify_params p = { { key_lookup, NULL, NULL }, 1528637909, 0, 0, 0 };
	dkim_verifier *v = dkim_verify_new(&p);
	const char *msg = (const char *)data, *sep = memmem(msg, size, "\n\n", 2);
	size_t hl = sep != NULL ? (size_t)(sep - msg) + 2 : size;

	dkim_verify_headers(v, msg, hl);
	dkim_verify_body(v, msg + hl, size - hl);
	if (dkim_verify_finish(v, NULL, NULL) != 1)
		abort();
	for (size_t i = 0; i < dkim_verify_count(v); i++) {
		const struct dkim_result *r = dkim_verify_result(v, i);
		if (r->status == DKIM_NONE || (r->status != DKIM_PASS && r->reason == NULL))
			abort();
	}
	dkim_verify_free(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	buf *h = buf_new(size + 8);

	fuzz_taglist(data, size);
	fuzz_key(data, size);
	fuzz_body(data, size, DKIM_CANON_SIMPLE);
	fuzz_body(data, size, DKIM_CANON_RELAXED);
	dkim_canon_header(DKIM_CANON_RELAXED, (const char *)data, size, false, h);
	dkim_canon_header(DKIM_CANON_SIMPLE, (const char *)data, size, true, h);
	buf_free(&h);
	fuzz_verify(data, size);
	return 0;
}
