/* fuzz_arc.c: fuzz target for ARC (lib/arc*.c): the input, split into a
 * header block and a body, is collected into ARC sets and verified with
 * the RFC 8463 Ed25519 key answered from memory for every selector (only
 * a message without sets is "none", a failure must say why); it
 * is then sealed with that key when the sealer accepts it, and the
 * sealed message must verify as pass, and again after a second seal. */
#include "fuzz_util.h"

#include <stdbool.h>

#include "arc.h"
#include "arc_int.h"

#define SEED "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
#define KEY "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

static void *key_lookup(void *rctx, const char *name, txt_cb *cb, void *cb_ctx)
{
	const char *txt[1] = { KEY };
	size_t len[1] = { strlen(KEY) };

	(void)rctx;
	(void)name;
	cb(cb_ctx, TXT_FOUND, txt, len, 1);
	return NULL;
}

/* verify: the verdict on hdr + body, with the invariants checked. */
static enum arc_result verify(const char *hdr, size_t hl, const char *body, size_t bl)
{
	struct arc_verify_params p = { { key_lookup, NULL, NULL }, 1765137600, 0, 0 };
	arc_verifier *v = arc_verify_new(&p);
	unsigned n = arc_verify_headers(v, hdr, hl);
	enum arc_result r;

	arc_verify_body(v, body, bl);
	if (arc_verify_finish(v, NULL, NULL) != 1)
		abort();
	r = arc_verify_result(v);
	if ((r == ARC_NONE && n != 0) || n > ARC_MAX_INSTANCES)
		abort();
	if (r == ARC_FAIL && arc_verify_reason(v) == NULL)
		abort();
	arc_verify_free(&v);
	return r;
}

/* seal: the next set on hdr + body into out; 0 or -1 (refused). */
static int seal(const dkim_key *k, const char *hdr, size_t hl, const char *body, size_t bl,
		enum arc_result chain, buf *out)
{
	struct arc_seal_params p = { "fuzz.test", "s", k, "mx.fuzz.test; arc=pass", NULL,
				     1765137600 };
	char *err = NULL;
	arc_sealer *s = arc_sealer_new(&p, &err);
	int rc;

	if (s == NULL)
		abort();
	arc_sealer_body(s, body, bl / 2);
	arc_sealer_body(s, body + bl / 2, bl - bl / 2);
	rc = arc_sealer_finish(s, hdr, hl, chain, out, &err);
	if ((rc == 0) == (err != NULL))
		abort();
	free(err);
	arc_sealer_free(&s);
	return rc;
}

static size_t count_lines(const char *s, size_t n)
{
	size_t lines = 0;

	for (size_t i = 0; i < n; i++)
		lines += s[i] == '\n';
	return lines;
}

/* reseal: seals twice on top of hdr (whose verdict is chain) when the
 * sealer accepts; each new chain must pass. */
static void reseal(const char *hdr, size_t hl, const char *body, size_t bl, enum arc_result chain)
{
	char *err = NULL;
	dkim_key *k = dkim_key_load(SEED, strlen(SEED), &err);
	buf *h = buf_new(hl + 2048);

	if (k == NULL)
		abort();
	for (int hop = 0; hop < 2; hop++) {
		size_t before = buf_len(h);
		buf *next = buf_new(hl + 4096);
		if (hop > 0)
			chain = verify(buf_cstr(h), buf_len(h), body, bl);
		if (seal(k, hop == 0 ? hdr : buf_cstr(h), hop == 0 ? hl : buf_len(h), body, bl,
			 chain, next) != 0) {
			buf_free(&next);
			break;
		}
		buf_append(next, hop == 0 ? hdr : buf_cstr(h), hop == 0 ? hl : before);
		buf_free(&h);
		h = next;
		if (chain == ARC_FAIL)
			break; /* a cv=fail seal ends the chain */
		if (verify(buf_cstr(h), buf_len(h), body, bl) != ARC_PASS)
			abort();
	}
	buf_free(&h);
	dkim_key_free(&k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data, *sep = memmem(msg, size, "\n\n", 2);
	const char *crlf = memmem(msg, size, "\r\n\r\n", 4);
	size_t hl = size;
	enum arc_result r;
	dkim_hdrs *h;
	struct arc_chain c;

	if (crlf != NULL && (sep == NULL || crlf < sep))
		hl = (size_t)(crlf - msg) + 4;
	else if (sep != NULL)
		hl = (size_t)(sep - msg) + 2;
	h = dkim_hdrs_parse(msg, hl, 1000);
	if (arc_chain_collect(h, &c) < 0 && c.error == NULL)
		abort();
	arc_chain_clear(&c);
	dkim_hdrs_free(&h);
	r = verify(msg, hl, msg + hl, size - hl);
	/* the verifier and sealer see the same fields only below its limit;
	 * a NUL would end the copy the checks compare against; a header
	 * starting with white space would continue the field put on top */
	if (count_lines(msg, hl) < 900 && memchr(msg, '\0', hl) == NULL && r != ARC_TEMPERROR &&
	    (size == 0 || (msg[0] != ' ' && msg[0] != '\t')))
		reseal(msg, hl, msg + hl, size - hl, r);
	return 0;
}
