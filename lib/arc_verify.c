/* arc_verify.c: judging an ARC chain (RFC 8617 5.2). At the header block
 * the sets are collected and checked for structure; a well-formed chain
 * then gets the header hash of its newest ARC-Message-Signature and of
 * every ARC-Seal computed and one key lookup each started; the body
 * streams through the one body hash the newest ARC-Message-Signature
 * needs. The verdict: fail when the structure, that signature or any
 * seal fails; temperror when only a key lookup failed for now; else
 * pass. The older ARC-Message-Signatures are not checked (no
 * oldest-pass). */
#include "arc_int.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

/* One signature to check: the newest AMS (slot 0) or the seal of
 * instance i (slot i). */
struct arc_sig {
	arc_verifier *v;
	enum dkim_alg alg;
	unsigned char digest[32];
	buf *sig;
	const char *error; /* static, set when it cannot pass */
	bool pending;
	void *handle;
	enum txt_status dns;
	char *key;
	size_t key_len;
};

struct arc_verifier {
	struct arc_verify_params p;
	struct arc_sig sigs[ARC_MAX_INSTANCES + 1];
	unsigned count;
	char *domain;
	buf *bh;
	dkim_body *body;
	unsigned char body_hash[32];
	size_t pending;
	bool finished, judged;
	enum arc_result result;
	const char *reason;
	arc_verify_cb *cb;
	void *cb_ctx;
};

arc_verifier *arc_verify_new(const struct arc_verify_params *p)
{
	arc_verifier *v = xcalloc(1, sizeof(*v));

	v->p = *p;
	if (v->p.now == 0)
		v->p.now = time(NULL);
	if (v->p.min_rsa_bits == 0)
		v->p.min_rsa_bits = 1024;
	if (v->p.max_headers == 0)
		v->p.max_headers = 1000;
	v->bh = buf_new(64);
	for (unsigned i = 0; i <= ARC_MAX_INSTANCES; i++)
		v->sigs[i].v = v;
	return v;
}

static int parse_alg(const char *a, enum dkim_alg *alg_r)
{
	if (a != NULL && strcmp(a, "rsa-sha256") == 0)
		*alg_r = DKIM_RSA_SHA256;
	else if (a != NULL && strcmp(a, "ed25519-sha256") == 0)
		*alg_r = DKIM_ED25519_SHA256;
	else
		return -1;
	return 0;
}

static int parse_canon(const char *c, enum dkim_canon *h_r, enum dkim_canon *b_r)
{
	const char *slash = c != NULL ? strchr(c, '/') : NULL;
	size_t hl = slash != NULL ? (size_t)(slash - c) : (c != NULL ? strlen(c) : 0);
	const char *body = slash != NULL ? slash + 1 : "simple";

	*h_r = *b_r = DKIM_CANON_SIMPLE;
	if (c == NULL)
		return 0;
	if (hl == 7 && strncmp(c, "relaxed", 7) == 0)
		*h_r = DKIM_CANON_RELAXED;
	else if (!(hl == 6 && strncmp(c, "simple", 6) == 0))
		return -1;
	if (strcmp(body, "relaxed") == 0)
		*b_r = DKIM_CANON_RELAXED;
	else if (strcmp(body, "simple") != 0)
		return -1;
	return 0;
}

static void key_answer(void *ctx, enum txt_status st, const char *const *txt,
		       const size_t *len, size_t count);

/* start_lookup: the key for d= and s= of tl (both checked). */
static void start_lookup(struct arc_sig *s, const taglist *tl)
{
	const char *d = taglist_get(tl, "d"), *sel = taglist_get(tl, "s");
	arc_verifier *v = s->v;
	char *name;
	void *handle;

	if (d == NULL || sel == NULL || strpbrk(d, "; \t\r\n") != NULL ||
	    strpbrk(sel, "; \t\r\n") != NULL || strlen(d) + strlen(sel) > 240) {
		s->error = "bad or missing d= or s=";
		return;
	}
	name = xasprintf("%s._domainkey.%s", sel, d);
	s->pending = true;
	v->pending++;
	handle = v->p.resolver.lookup(v->p.resolver.rctx, name, key_answer, s);
	if (s->pending)
		s->handle = handle;
	free(name);
}

/* prepare_sig: a, b of tl; "missing" errors stop it from a lookup. */
static int prepare_sig(struct arc_sig *s, const taglist *tl)
{
	const char *b = taglist_get(tl, "b");

	s->sig = buf_new(512);
	if (parse_alg(taglist_get(tl, "a"), &s->alg) != 0)
		s->error = "unknown algorithm";
	else if (b == NULL || dkim_b64_decode(s->sig, b) != 0 || buf_len(s->sig) == 0)
		s->error = "bad or missing b=";
	return s->error == NULL ? 0 : -1;
}

static char **split_names(const char *h, size_t *n_r)
{
	char *clean = taglist_strip_ws(h), *p = clean;
	char **names = NULL;
	size_t n = 0;

	while (p != NULL && n < DKIM_MAX_HNAMES) {
		char *colon = strchr(p, ':');
		if (colon != NULL)
			*colon = '\0';
		names = xrealloc(names, (n + 1) * sizeof(char *));
		names[n++] = xstrdup(p);
		p = colon != NULL ? colon + 1 : NULL;
	}
	free(clean);
	*n_r = n;
	return names;
}

/* prepare_ams: the newest ARC-Message-Signature's tags, header hash and
 * body canonicalizer. */
static void prepare_ams(arc_verifier *v, const dkim_hdrs *h, const struct arc_set *set)
{
	struct arc_sig *s = &v->sigs[0];
	const taglist *tl = set->ams_tags;
	enum dkim_canon hc, bc;
	const char *bh = taglist_get(tl, "bh"), *l = taglist_get(tl, "l");
	size_t n = 0, len;
	char **names, *nob;
	EVP_MD_CTX *md;
	buf *canon;
	unsigned int dlen = 0;

	if (prepare_sig(s, tl) != 0)
		return;
	if (parse_canon(taglist_get(tl, "c"), &hc, &bc) != 0 || l != NULL) {
		s->error = "bad c= or l= in ARC-Message-Signature";
		return;
	}
	if (bh == NULL || dkim_b64_decode(v->bh, bh) != 0 || buf_len(v->bh) != 32) {
		s->error = "bad or missing bh=";
		return;
	}
	names = split_names(taglist_get(tl, "h"), &n);
	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		abort();
	dkim_hdrs_hash_selected(h, (const char *const *)names, n, hc, md);
	nob = dkim_field_without_b(set->ams->raw, set->ams->raw_len, &len);
	canon = buf_new(len + 16);
	dkim_canon_header(hc, nob, len, true, canon);
	EVP_DigestUpdate(md, buf_cstr(canon), buf_len(canon));
	EVP_DigestFinal_ex(md, s->digest, &dlen);
	EVP_MD_CTX_free(md);
	buf_free(&canon);
	free(nob);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	v->body = dkim_body_new(bc, -1, NULL);
	start_lookup(s, tl);
}

/* prepare_seal: the hash over sets 1..i, seal i without b= last. */
static void prepare_seal(arc_verifier *v, const struct arc_chain *c, unsigned i)
{
	struct arc_sig *s = &v->sigs[i];
	EVP_MD_CTX *md;
	unsigned int dlen = 0;

	if (prepare_sig(s, c->sets[i].as_tags) != 0)
		return;
	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		abort();
	for (unsigned k = 1; k <= i; k++) {
		const struct arc_set *set = &c->sets[k];
		arc_seal_hash_field(md, set->aar->raw, set->aar->raw_len, false);
		arc_seal_hash_field(md, set->ams->raw, set->ams->raw_len, false);
		arc_seal_hash_field(md, set->as->raw, set->as->raw_len, k == i);
	}
	EVP_DigestFinal_ex(md, s->digest, &dlen);
	EVP_MD_CTX_free(md);
	start_lookup(s, c->sets[i].as_tags);
}

unsigned arc_verify_headers(arc_verifier *v, const char *hdr, size_t len)
{
	dkim_hdrs *h = dkim_hdrs_parse(hdr, len, v->p.max_headers);
	struct arc_chain c;
	int n = arc_chain_collect(h, &c);

	v->count = c.count;
	if (n < 0) {
		v->result = ARC_FAIL;
		v->reason = c.error;
		v->judged = true;
	} else if (n > 0) {
		const char *d = taglist_get(c.sets[n].as_tags, "d");
		v->domain = d != NULL ? xstrdup(d) : NULL;
		prepare_ams(v, h, &c.sets[n]);
		for (unsigned i = (unsigned)n; i >= 1; i--)
			prepare_seal(v, &c, i);
	}
	arc_chain_clear(&c);
	dkim_hdrs_free(&h);
	return v->count;
}

void arc_verify_body(arc_verifier *v, const void *data, size_t len)
{
	if (v->body != NULL)
		dkim_body_update(v->body, data, len);
}

/* check_sig: 0 pass, -1 fail (reason set), 1 temporary. */
static int check_sig(arc_verifier *v, struct arc_sig *s, const char **why_r)
{
	struct dkim_pubkey k;
	const char *reason = NULL;
	int rc = -1;

	if (s->error != NULL) {
		*why_r = s->error;
		return -1;
	}
	if (s->dns == TXT_TEMPFAIL) {
		*why_r = "key lookup failed";
		return 1;
	}
	if (s->dns != TXT_FOUND || s->key == NULL) {
		*why_r = "no key record";
		return -1;
	}
	if (dkim_pubkey_parse(s->key, s->key_len, &k, &reason) != 0) {
		*why_r = reason;
		return -1;
	}
	if (k.alg != s->alg)
		*why_r = "key type does not match a=";
	else if (k.alg == DKIM_RSA_SHA256 && (k.bits < v->p.min_rsa_bits || k.bits > 8192))
		*why_r = "RSA key size not accepted";
	else if (dkim_sig_verify(k.pkey, s->alg, s->digest,
				 (const unsigned char *)buf_cstr(s->sig), buf_len(s->sig)) != 0)
		*why_r = "signature mismatch";
	else
		rc = 0;
	dkim_pubkey_clear(&k);
	return rc;
}

static void judge(arc_verifier *v)
{
	const char *why = NULL, *temp = NULL;
	int rc;

	if (v->judged)
		return;
	v->judged = true;
	if (v->count == 0) {
		v->result = ARC_NONE;
		return;
	}
	rc = check_sig(v, &v->sigs[0], &why);
	if (rc == 0 && memcmp(v->body_hash, buf_cstr(v->bh), 32) != 0)
		rc = -1, why = "body hash mismatch";
	if (rc < 0) {
		v->result = ARC_FAIL;
		v->reason = why;
		return;
	}
	if (rc > 0)
		temp = why;
	for (unsigned i = v->count; i >= 1; i--) {
		rc = check_sig(v, &v->sigs[i], &why);
		if (rc < 0) {
			v->result = ARC_FAIL;
			v->reason = why;
			return;
		}
		if (rc > 0)
			temp = why;
	}
	v->result = temp != NULL ? ARC_TEMPERROR : ARC_PASS;
	v->reason = temp;
}

static void key_answer(void *ctx, enum txt_status st, const char *const *txt,
		       const size_t *len, size_t count)
{
	struct arc_sig *s = ctx;
	arc_verifier *v = s->v;

	s->pending = false;
	s->handle = NULL;
	s->dns = st == TXT_FOUND && count == 0 ? TXT_NOTFOUND : st;
	if (s->dns == TXT_FOUND) {
		s->key = xstrndup(txt[0], len[0]);
		s->key_len = len[0];
	}
	v->pending--;
	if (v->finished && v->pending == 0) {
		judge(v);
		if (v->cb != NULL)
			v->cb(v->cb_ctx, v);
	}
}

int arc_verify_finish(arc_verifier *v, arc_verify_cb *cb, void *ctx)
{
	if (v->body != NULL)
		dkim_body_final(v->body, v->body_hash);
	v->finished = true;
	if (v->pending == 0) {
		judge(v);
		return 1;
	}
	v->cb = cb;
	v->cb_ctx = ctx;
	return 0;
}

enum arc_result arc_verify_result(const arc_verifier *v)
{
	return v->result;
}

const char *arc_verify_reason(const arc_verifier *v)
{
	return v->reason;
}

unsigned arc_verify_instances(const arc_verifier *v)
{
	return v->count;
}

const char *arc_verify_domain(const arc_verifier *v)
{
	return v->domain;
}

void arc_verify_free(arc_verifier **vp)
{
	arc_verifier *v = *vp;

	if (v == NULL)
		return;
	for (unsigned i = 0; i <= ARC_MAX_INSTANCES; i++) {
		struct arc_sig *s = &v->sigs[i];
		if (s->pending && v->p.resolver.cancel != NULL)
			v->p.resolver.cancel(v->p.resolver.rctx, s->handle);
		buf_free(&s->sig);
		free(s->key);
	}
	dkim_body_free(&v->body);
	buf_free(&v->bh);
	free(v->domain);
	free(v);
	*vp = NULL;
}
