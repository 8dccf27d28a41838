/* dkim_verify.c: judging DKIM-Signature fields. At the header block each
 * signature (up to the limit) is parsed and checked, its header hash is
 * computed and its key lookup started; the body then streams through one
 * hash per (body canonicalization, l=) pair; when the body is complete and
 * every key has answered, each signature gets its verdict: body hash, key
 * record checks, then the signature itself. */
#include "dkim_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "taglist.h"

#define BODIES_MAX 20

struct vsig {
	dkim_verifier *v;
	struct dkim_result res;
	char *domain, *selector, *identity, *b_prefix;
	enum dkim_canon hcanon, bcanon;
	int64_t limit;
	buf *sig, *bh;
	unsigned char hdigest[32];
	size_t body;
	bool pending;
	void *handle;
	enum txt_status dns;
	char *key;
	size_t key_len;
};

struct dkim_verifier {
	struct dkim_verify_params p;
	struct vsig *sigs;
	size_t count;
	dkim_body *bodies[BODIES_MAX];
	unsigned char bhash[BODIES_MAX][32];
	size_t nbodies;
	size_t pending;
	size_t checked; /* signatures past the tag checks, up to the limit */
	bool finished, judged;
	dkim_verify_cb *cb;
	void *cb_ctx;
};

dkim_verifier *dkim_verify_new(const struct dkim_verify_params *p)
{
	dkim_verifier *v = xcalloc(1, sizeof(*v));

	v->p = *p;
	if (v->p.now == 0)
		v->p.now = time(NULL);
	if (v->p.max_signatures == 0)
		v->p.max_signatures = 10;
	if (v->p.max_signatures > BODIES_MAX)
		v->p.max_signatures = BODIES_MAX; /* one body hash each at worst */
	if (v->p.max_headers == 0)
		v->p.max_headers = 1000;
	if (v->p.min_rsa_bits == 0)
		v->p.min_rsa_bits = 1024;
	return v;
}

static void sig_error(struct vsig *s, enum dkim_status st, const char *reason)
{
	if (s->res.status == DKIM_NONE) {
		s->res.status = st;
		s->res.reason = reason;
	}
}

static bool domain_ok(const char *d)
{
	size_t n = strlen(d);

	if (n == 0 || n > 253 || d[0] == '.' || d[n - 1] == '.')
		return false;
	for (; *d; d++) {
		unsigned char c = (unsigned char)*d;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_'))
			return false;
	}
	return true;
}

/* identity_ok: the domain of i= is d= or below it. */
static bool identity_ok(const char *i, const char *d)
{
	const char *at = strrchr(i, '@');
	size_t il, dl = strlen(d);

	if (at == NULL)
		return false;
	at++;
	il = strlen(at);
	if (il == dl)
		return strcasecmp(at, d) == 0;
	return il > dl && at[il - dl - 1] == '.' && strcasecmp(at + il - dl, d) == 0;
}

static int parse_number(const char *s, int64_t *n_r)
{
	int64_t n = 0;

	if (*s == '\0' || strlen(s) > 18)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (*s - '0');
	}
	*n_r = n;
	return 0;
}

static int parse_canon(const char *c, struct vsig *s)
{
	const char *slash = c != NULL ? strchr(c, '/') : NULL;
	size_t hl = slash != NULL ? (size_t)(slash - c) : (c != NULL ? strlen(c) : 0);
	const char *body = slash != NULL ? slash + 1 : "simple";

	s->hcanon = s->bcanon = DKIM_CANON_SIMPLE;
	if (c == NULL)
		return 0;
	if (hl == 7 && strncmp(c, "relaxed", 7) == 0)
		s->hcanon = DKIM_CANON_RELAXED;
	else if (!(hl == 6 && strncmp(c, "simple", 6) == 0))
		return -1;
	if (strcmp(body, "relaxed") == 0)
		s->bcanon = DKIM_CANON_RELAXED;
	else if (strcmp(body, "simple") != 0)
		return -1;
	return 0;
}

static int parse_alg(const char *a, struct vsig *s)
{
	if (a != NULL && strcmp(a, "rsa-sha256") == 0)
		s->res.alg = DKIM_RSA_SHA256;
	else if (a != NULL && strcmp(a, "ed25519-sha256") == 0)
		s->res.alg = DKIM_ED25519_SHA256;
	else {
		sig_error(s, DKIM_PERMERROR,
			  a != NULL && strcmp(a, "rsa-sha1") == 0 ? "rsa-sha1 is not accepted"
								  : "unknown algorithm");
		return -1;
	}
	return 0;
}

/* split_hnames: h= into names (white space dropped); NULL when a name is
 * empty or there are more than DKIM_MAX_HNAMES. */
static char **split_hnames(const char *h, size_t *n_r, bool *from_r)
{
	char *clean = taglist_strip_ws(h), *p = clean;
	char **names = xcalloc(DKIM_MAX_HNAMES + 1, sizeof(char *));
	size_t n = 0;

	*from_r = false;
	for (;;) {
		char *colon = strchr(p, ':');
		if (colon != NULL)
			*colon = '\0';
		if (*p == '\0' || n == DKIM_MAX_HNAMES) {
			for (size_t i = 0; i < n; i++)
				free(names[i]);
			free(names);
			free(clean);
			return NULL;
		}
		*from_r |= strcasecmp(p, "from") == 0;
		names[n++] = xstrdup(p);
		if (colon == NULL)
			break;
		p = colon + 1;
	}
	free(clean);
	*n_r = n;
	return names;
}

static int check_times(struct vsig *s, const taglist *tl, time_t now)
{
	const char *t = taglist_get(tl, "t"), *x = taglist_get(tl, "x");
	int64_t tv = 0, xv = 0;

	if ((t != NULL && parse_number(t, &tv) != 0) || (x != NULL && parse_number(x, &xv) != 0)) {
		sig_error(s, DKIM_PERMERROR, "bad t= or x=");
		return -1;
	}
	if (t != NULL && x != NULL && xv < tv)
		sig_error(s, DKIM_PERMERROR, "x= before t=");
	else if (x != NULL && xv < (int64_t)now)
		sig_error(s, DKIM_PERMERROR, "signature expired");
	else if (t != NULL && tv > (int64_t)now + 300)
		sig_error(s, DKIM_PERMERROR, "signature timestamp in the future");
	return s->res.status == DKIM_NONE ? 0 : -1;
}

/* check_tags: everything about the signature that needs no key. */
static int check_tags(struct vsig *s, const taglist *tl, time_t now)
{
	const char *b = taglist_get(tl, "b"), *bh = taglist_get(tl, "bh");
	const char *d = taglist_get(tl, "d"), *sel = taglist_get(tl, "s");
	const char *i = taglist_get(tl, "i"), *l = taglist_get(tl, "l");
	const char *q = taglist_get(tl, "q"), *v = taglist_get(tl, "v");

	if (v == NULL || b == NULL || bh == NULL || d == NULL || sel == NULL ||
	    taglist_get(tl, "h") == NULL || taglist_get(tl, "a") == NULL) {
		sig_error(s, DKIM_PERMERROR, "missing required tag");
		return -1;
	}
	s->domain = xstrdup(d);
	s->selector = xstrdup(sel);
	s->identity = i != NULL ? xstrdup(i) : xasprintf("@%s", d);
	s->b_prefix = taglist_strip_ws(b);
	if (strlen(s->b_prefix) > 8)
		s->b_prefix[8] = '\0';
	if (strcmp(v, "1") != 0)
		sig_error(s, DKIM_PERMERROR, "bad version");
	else if (parse_alg(taglist_get(tl, "a"), s) != 0)
		return -1;
	else if (!domain_ok(d) || !domain_ok(sel))
		sig_error(s, DKIM_PERMERROR, "bad d= or s=");
	else if (!identity_ok(s->identity, d))
		sig_error(s, DKIM_PERMERROR, "i= not within d=");
	else if (parse_canon(taglist_get(tl, "c"), s) != 0)
		sig_error(s, DKIM_PERMERROR, "bad c=");
	else if (l != NULL && parse_number(l, &s->limit) != 0)
		sig_error(s, DKIM_PERMERROR, "bad l=");
	else if (q != NULL && strstr(q, "dns/txt") == NULL)
		sig_error(s, DKIM_PERMERROR, "no q=dns/txt");
	else if (dkim_b64_decode(s->sig, b) != 0 || buf_len(s->sig) == 0)
		sig_error(s, DKIM_PERMERROR, "bad b=");
	else if (dkim_b64_decode(s->bh, bh) != 0 || buf_len(s->bh) != 32)
		sig_error(s, DKIM_PERMERROR, "bad bh=");
	if (s->res.status != DKIM_NONE)
		return -1;
	return check_times(s, tl, now);
}

static void hash_headers(struct vsig *s, const dkim_hdrs *h, const struct dkim_field *f,
			 char **names, size_t n)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t len;
	char *nob = dkim_field_without_b(f->raw, f->raw_len, &len);
	buf *canon = buf_new(len + 16);
	unsigned int dlen = 0;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		abort();
	dkim_hdrs_hash_selected(h, (const char *const *)names, n, s->hcanon, md);
	dkim_canon_header(s->hcanon, nob, len, true, canon);
	EVP_DigestUpdate(md, buf_cstr(canon), buf_len(canon));
	EVP_DigestFinal_ex(md, s->hdigest, &dlen);
	EVP_MD_CTX_free(md);
	buf_free(&canon);
	free(nob);
}

static size_t body_for(dkim_verifier *v, enum dkim_canon c, int64_t limit)
{
	for (size_t i = 0; i < v->nbodies; i++) {
		if (dkim_body_canon(v->bodies[i]) == c && dkim_body_limit(v->bodies[i]) == limit)
			return i;
	}
	v->bodies[v->nbodies] = dkim_body_new(c, limit, NULL);
	return v->nbodies++;
}

/* parse_sig: one DKIM-Signature field: the tag checks, which are cheap,
 * for every field; the header hash and the key lookup only for the first
 * max_signatures that pass them (the rest are neutral), so broken
 * signatures cannot push a good one out and many good ones cost no more
 * than the limit. Returns 0 when the signature is worth a key. */
static int parse_sig(struct vsig *s, const dkim_hdrs *h, const struct dkim_field *f)
{
	const char *colon = memchr(f->raw, ':', f->raw_len);
	size_t vlen = f->raw_len - (size_t)(colon + 1 - f->raw) - 2; /* less the CRLF */
	char *err = NULL, **names = NULL;
	size_t n = 0;
	bool from = false;
	taglist *tl = NULL;
	dkim_verifier *v = s->v;

	if (f->raw_len > DKIM_SIG_MAX)
		sig_error(s, DKIM_PERMERROR, "signature too long");
	else if ((tl = taglist_parse(colon + 1, vlen, &err)) == NULL)
		sig_error(s, DKIM_PERMERROR, "malformed signature");
	else if (check_tags(s, tl, v->p.now) != 0)
		;
	else if ((names = split_hnames(taglist_get(tl, "h"), &n, &from)) == NULL)
		sig_error(s, DKIM_PERMERROR, "bad h=");
	else if (!from)
		sig_error(s, DKIM_PERMERROR, "From is not signed");
	else if (v->checked == v->p.max_signatures)
		sig_error(s, DKIM_NEUTRAL, "not checked: too many signatures");
	else {
		v->checked++;
		hash_headers(s, h, f, names, n);
	}
	for (size_t i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
	free(err);
	taglist_free(&tl);
	return s->res.status == DKIM_NONE ? 0 : -1;
}

static void judge_all(dkim_verifier *v);

static void key_answer(void *ctx, enum txt_status st, const char *const *txt,
		       const size_t *len, size_t count)
{
	struct vsig *s = ctx;
	dkim_verifier *v = s->v;

	s->pending = false;
	s->handle = NULL;
	s->dns = st;
	if (st == TXT_FOUND && count > 0) {
		s->key = xstrndup(txt[0], len[0]);
		s->key_len = len[0];
	} else if (st == TXT_FOUND) {
		s->dns = TXT_NOTFOUND;
	}
	v->pending--;
	if (v->finished && v->pending == 0) {
		judge_all(v);
		if (v->cb != NULL)
			v->cb(v->cb_ctx, v);
	}
}

static void start_lookup(dkim_verifier *v, struct vsig *s)
{
	char *name = xasprintf("%s._domainkey.%s", s->selector, s->domain);
	void *handle;

	if (strlen(name) > 253) {
		sig_error(s, DKIM_PERMERROR, "key name too long");
		free(name);
		return;
	}
	s->pending = true;
	v->pending++;
	handle = v->p.resolver.lookup(v->p.resolver.rctx, name, key_answer, s);
	if (s->pending)
		s->handle = handle;
	free(name);
}

size_t dkim_verify_headers(dkim_verifier *v, const char *hdr, size_t len)
{
	dkim_hdrs *h = dkim_hdrs_parse(hdr, len, v->p.max_headers);
	size_t total = dkim_hdrs_count_name(h, "DKIM-Signature"), k = 0;

	v->count = total;
	v->sigs = xcalloc(total + 1, sizeof(*v->sigs));
	for (size_t i = 0; i < dkim_hdrs_count(h); i++) {
		const struct dkim_field *f = dkim_hdrs_field(h, i);
		if (f->name_len != 14 || strncasecmp(f->name, "DKIM-Signature", 14) != 0)
			continue;
		struct vsig *s = &v->sigs[k++];
		s->v = v;
		s->limit = -1;
		s->sig = buf_new(512);
		s->bh = buf_new(64);
		if (parse_sig(s, h, f) == 0) {
			s->body = body_for(v, s->bcanon, s->limit);
			start_lookup(v, s);
		}
	}
	dkim_hdrs_free(&h);
	return total;
}

void dkim_verify_body(dkim_verifier *v, const void *data, size_t len)
{
	for (size_t i = 0; i < v->nbodies; i++)
		dkim_body_update(v->bodies[i], data, len);
}

static void judge_key(struct vsig *s, const struct dkim_pubkey *k, unsigned min_bits)
{
	const char *at = strrchr(s->identity, '@');

	s->res.key_bits = k->bits;
	s->res.testing = k->testing;
	if (k->alg != s->res.alg)
		sig_error(s, DKIM_PERMERROR, "key type does not match a=");
	else if (k->alg == DKIM_RSA_SHA256 && k->bits < min_bits)
		sig_error(s, DKIM_PERMERROR, "RSA key too small");
	else if (k->alg == DKIM_RSA_SHA256 && k->bits > 8192)
		sig_error(s, DKIM_PERMERROR, "RSA key too large");
	else if (k->strict && (at == NULL || strcasecmp(at + 1, s->domain) != 0))
		sig_error(s, DKIM_PERMERROR, "i= domain is not d= (key has t=s)");
}

static void judge(dkim_verifier *v, struct vsig *s)
{
	struct dkim_pubkey k;
	const char *reason = NULL;
	dkim_body *b;

	if (s->res.status != DKIM_NONE)
		return;
	if (s->dns == TXT_TEMPFAIL) {
		sig_error(s, DKIM_TEMPERROR, "key lookup failed");
		return;
	}
	if (s->dns == TXT_NOTFOUND || s->key == NULL) {
		sig_error(s, DKIM_PERMERROR, "no key record");
		return;
	}
	if (dkim_pubkey_parse(s->key, s->key_len, &k, &reason) != 0) {
		sig_error(s, DKIM_PERMERROR, reason);
		return;
	}
	judge_key(s, &k, v->p.min_rsa_bits);
	b = v->bodies[s->body];
	if (s->res.status != DKIM_NONE)
		;
	else if (s->limit >= 0 && dkim_body_length(b) < (uint64_t)s->limit)
		sig_error(s, DKIM_FAIL, "l= exceeds the body length");
	else if (memcmp(v->bhash[s->body], buf_cstr(s->bh), 32) != 0)
		sig_error(s, DKIM_FAIL, "body hash mismatch");
	else if (dkim_sig_verify(k.pkey, s->res.alg, s->hdigest,
				 (const unsigned char *)buf_cstr(s->sig), buf_len(s->sig)) != 0)
		sig_error(s, DKIM_FAIL, "signature mismatch");
	else
		s->res.status = DKIM_PASS;
	dkim_pubkey_clear(&k);
}

static void judge_all(dkim_verifier *v)
{
	if (v->judged)
		return;
	v->judged = true;
	for (size_t i = 0; i < v->count; i++)
		judge(v, &v->sigs[i]);
}

int dkim_verify_finish(dkim_verifier *v, dkim_verify_cb *cb, void *ctx)
{
	for (size_t i = 0; i < v->nbodies; i++)
		dkim_body_final(v->bodies[i], v->bhash[i]);
	v->finished = true;
	if (v->pending == 0) {
		judge_all(v);
		return 1;
	}
	v->cb = cb;
	v->cb_ctx = ctx;
	return 0;
}

size_t dkim_verify_count(const dkim_verifier *v)
{
	return v->count;
}

const struct dkim_result *dkim_verify_result(const dkim_verifier *v, size_t i)
{
	struct vsig *s = &v->sigs[i];

	s->res.domain = s->domain;
	s->res.selector = s->selector;
	s->res.identity = s->identity;
	s->res.b_prefix = s->b_prefix;
	return &s->res;
}

void dkim_verify_free(dkim_verifier **vp)
{
	dkim_verifier *v = *vp;

	if (v == NULL)
		return;
	for (size_t i = 0; i < v->count; i++) {
		struct vsig *s = &v->sigs[i];
		if (s->pending && v->p.resolver.cancel != NULL)
			v->p.resolver.cancel(v->p.resolver.rctx, s->handle);
		free(s->domain);
		free(s->selector);
		free(s->identity);
		free(s->b_prefix);
		free(s->key);
		buf_free(&s->sig);
		buf_free(&s->bh);
	}
	for (size_t i = 0; i < v->nbodies; i++)
		dkim_body_free(&v->bodies[i]);
	free(v->sigs);
	free(v);
	*vp = NULL;
}

const char *dkim_status_name(enum dkim_status st)
{
	static const char *const names[] = { "none", "pass", "fail", "neutral", "permerror",
					     "temperror" };
	return (size_t)st < sizeof(names) / sizeof(names[0]) ? names[st] : "none";
}

const char *dkim_alg_name(enum dkim_alg alg)
{
	return alg == DKIM_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256";
}
