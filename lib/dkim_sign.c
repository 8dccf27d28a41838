/* dkim_sign.c: making DKIM-Signature fields. The signer collects the
 * signatures to make, shares one body hash per body canonicalization
 * among them while the body streams through, and at the end hashes the
 * chosen header fields, signs, and writes each field folded at about 78
 * columns with b= last. Every listed header is oversigned: named in h=
 * once more than it occurs. */
#include "dkim_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "mem.h"

const char *const dkim_default_headers[] = {
	"From", "To", "Cc", "Subject", "Date", "Reply-To", "Message-ID", "In-Reply-To",
	"References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Sender",
	"List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Subscribe",
	"List-Post", "List-Owner", "List-Archive", "Resent-Date", "Resent-From",
	"Resent-Sender", "Resent-To", "Resent-Cc", "Resent-Message-ID", NULL,
};

#define SIGN_MAX 16 /* signatures per message */

struct sign_req {
	char *domain, *selector, *identity;
	const dkim_key *key;
	enum dkim_canon hcanon, bcanon;
	char **headers;
	size_t nheaders;
	time_t timestamp;
	unsigned long expire_secs;
	bool length_tag;
};

struct dkim_signer {
	struct sign_req reqs[SIGN_MAX];
	size_t count;
	dkim_body *bodies[2]; /* by body canonicalization */
	bool body_started;
};

dkim_signer *dkim_signer_new(void)
{
	return xcalloc(1, sizeof(dkim_signer));
}

bool dkim_tag_name_ok(const char *s, const char *extra)
{
	if (s == NULL || *s == '\0' || strlen(s) > 253)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(extra, c) != NULL))
			return false;
	}
	return true;
}

static int check_params(const struct dkim_sign_params *p, char **err_r)
{
	const char *const *h = p->headers != NULL ? p->headers : dkim_default_headers;

	if (!dkim_tag_name_ok(p->domain, "-._") || !dkim_tag_name_ok(p->selector, "-._"))
		*err_r = xstrdup("bad or missing domain or selector");
	else if (p->key == NULL)
		*err_r = xstrdup("no key");
	else if (p->identity != NULL && !dkim_tag_name_ok(p->identity, "-._@+=!#$%&'*/?^`{|}~"))
		*err_r = xstrdup("bad identity");
	if (*err_r == NULL)
		dkim_check_signed_headers(h, NULL, err_r);
	return *err_r == NULL ? 0 : -1;
}

int dkim_check_signed_headers(const char *const *h, const char *forbidden, char **err_r)
{
	bool from = false;

	for (; *h != NULL; h++) {
		if (!dkim_tag_name_ok(*h, "-_.!#$%&'*+^`|~") ||
		    (forbidden != NULL && strcasecmp(*h, forbidden) == 0)) {
			*err_r = xasprintf("bad header name %s", *h);
			return -1;
		}
		from |= strcasecmp(*h, "From") == 0;
	}
	if (!from) {
		*err_r = xstrdup("the signed headers must include From");
		return -1;
	}
	return 0;
}

int dkim_signer_add(dkim_signer *s, const struct dkim_sign_params *p, char **err_r)
{
	const char *const *h = p->headers != NULL ? p->headers : dkim_default_headers;
	struct sign_req *r;

	*err_r = NULL;
	if (s->body_started || s->count == SIGN_MAX) {
		*err_r = xstrdup(s->body_started ? "body already started" : "too many signatures");
		return -1;
	}
	if (check_params(p, err_r) != 0)
		return -1;
	r = &s->reqs[s->count++];
	r->domain = xstrdup(p->domain);
	r->selector = xstrdup(p->selector);
	r->identity = p->identity != NULL ? xstrdup(p->identity) : NULL;
	r->key = p->key;
	r->hcanon = p->header_canon;
	r->bcanon = p->body_canon;
	r->timestamp = p->timestamp;
	r->expire_secs = p->expire_secs;
	r->length_tag = p->length_tag;
	for (; *h != NULL; h++) {
		r->headers = xrealloc(r->headers, (r->nheaders + 1) * sizeof(char *));
		r->headers[r->nheaders++] = xstrdup(*h);
	}
	if (s->bodies[r->bcanon] == NULL)
		s->bodies[r->bcanon] = dkim_body_new(r->bcanon, -1, NULL);
	return 0;
}

void dkim_signer_body(dkim_signer *s, const void *data, size_t len)
{
	s->body_started = true;
	for (size_t i = 0; i < 2; i++) {
		if (s->bodies[i] != NULL)
			dkim_body_update(s->bodies[i], data, len);
	}
}

/* fold_add: appends one tag-spec to the field, breaking the line first
 * when it would pass 78 columns. */
static void fold_add(buf *f, size_t *col, const char *text)
{
	size_t n = strlen(text);

	if (*col + n + 1 > 78) {
		buf_puts(f, "\r\n\t");
		*col = 8;
	} else {
		buf_putc(f, ' ');
		(*col)++;
	}
	buf_puts(f, text);
	*col += n;
}

/* add_names: "h=a:b:c;" in lower case, lines broken after a colon. */
static void add_names(buf *f, size_t *col, char **names, size_t n)
{
	buf *h = buf_new(64);

	for (size_t i = 0; i < n; i++) {
		buf_reset(h);
		if (i == 0)
			buf_puts(h, "h=");
		for (const char *c = names[i]; *c; c++)
			buf_putc(h, *c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
		buf_putc(h, i + 1 == n ? ';' : ':');
		if (i == 0) {
			fold_add(f, col, buf_cstr(h));
			continue;
		}
		if (*col + buf_len(h) > 78) {
			buf_puts(f, "\r\n\t");
			*col = 8;
		}
		buf_puts(f, buf_cstr(h));
		*col += buf_len(h);
	}
	buf_free(&h);
}

/* signed_names: h= as a list: each header once per instance, plus one. */
static char **signed_names(const struct sign_req *r, const dkim_hdrs *h, size_t *n_r)
{
	char **names = NULL;
	size_t n = 0;

	for (size_t i = 0; i < r->nheaders; i++) {
		size_t times = dkim_hdrs_count_name(h, r->headers[i]) + 1;
		for (size_t t = 0; t < times && n < DKIM_MAX_HNAMES; t++) {
			names = xrealloc(names, (n + 1) * sizeof(char *));
			names[n++] = r->headers[i];
		}
	}
	*n_r = n;
	return names;
}

static const char *canon_name(enum dkim_canon c)
{
	return c == DKIM_CANON_SIMPLE ? "simple" : "relaxed";
}

/* build_field: the field up to and including "b=", tags folded. */
static void build_field(buf *f, const struct sign_req *r, char **names, size_t n,
			const unsigned char bh[32], uint64_t body_len)
{
	size_t col = strlen("DKIM-Signature:");
	char *t;
	buf *tmp = buf_new(256);

	buf_puts(f, "DKIM-Signature:");
	fold_add(f, &col, "v=1;");
	t = xasprintf("a=%s;", dkim_alg_name(dkim_key_alg(r->key)));
	fold_add(f, &col, t);
	free(t);
	t = xasprintf("c=%s/%s;", canon_name(r->hcanon), canon_name(r->bcanon));
	fold_add(f, &col, t);
	free(t);
	t = xasprintf("d=%s;", r->domain);
	fold_add(f, &col, t);
	free(t);
	t = xasprintf("s=%s;", r->selector);
	fold_add(f, &col, t);
	free(t);
	if (r->identity != NULL) {
		t = xasprintf("i=%s;", r->identity);
		fold_add(f, &col, t);
		free(t);
	}
	if (r->timestamp != 0) {
		t = xasprintf("t=%lld;", (long long)r->timestamp);
		fold_add(f, &col, t);
		free(t);
		if (r->expire_secs != 0) {
			t = xasprintf("x=%lld;", (long long)r->timestamp + (long long)r->expire_secs);
			fold_add(f, &col, t);
			free(t);
		}
	}
	if (r->length_tag) {
		t = xasprintf("l=%llu;", (unsigned long long)body_len);
		fold_add(f, &col, t);
		free(t);
	}
	add_names(f, &col, names, n);
	buf_puts(tmp, "bh=");
	base64_encode(tmp, bh, 32);
	buf_putc(tmp, ';');
	fold_add(f, &col, buf_cstr(tmp));
	buf_free(&tmp);
	buf_puts(f, "\r\n\tb=");
}

/* append_b: the signature in base64, in lines of at most 72 characters. */
static void append_b(buf *f, const buf *sig)
{
	buf *b64 = buf_new(512);
	size_t len, first = 68;

	base64_encode(b64, buf_cstr(sig), buf_len(sig));
	len = buf_len(b64);
	for (size_t off = 0; off < len;) {
		size_t n = len - off < first ? len - off : first;
		if (off > 0)
			buf_puts(f, "\r\n\t");
		buf_append(f, buf_cstr(b64) + off, n);
		off += n;
		first = 72;
	}
	buf_puts(f, "\r\n");
	buf_free(&b64);
}

static int sign_one(const struct sign_req *r, const dkim_hdrs *h, const unsigned char bh[32],
		    uint64_t body_len, buf *out)
{
	size_t n;
	char **names = signed_names(r, h, &n);
	buf *f = buf_new(1024), *canon = buf_new(1024), *sig = buf_new(512);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char digest[32];
	unsigned int dlen = 0;
	int rc = -1;

	build_field(f, r, names, n, bh, body_len);
	if (md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
		dkim_hdrs_hash_selected(h, (const char *const *)names, n, r->hcanon, md);
		dkim_canon_header(r->hcanon, buf_cstr(f), buf_len(f), true, canon);
		EVP_DigestUpdate(md, buf_cstr(canon), buf_len(canon));
		if (EVP_DigestFinal_ex(md, digest, &dlen) == 1 &&
		    dkim_sig_sign(dkim_key_pkey(r->key), dkim_key_alg(r->key), digest, sig) == 0) {
			append_b(f, sig);
			buf_append(out, buf_cstr(f), buf_len(f));
			rc = 0;
		}
	}
	EVP_MD_CTX_free(md);
	buf_free(&f);
	buf_free(&canon);
	buf_free(&sig);
	free(names);
	return rc;
}

int dkim_signer_finish(dkim_signer *s, const char *hdr, size_t len, buf *out, char **err_r)
{
	dkim_hdrs *h = dkim_hdrs_parse(hdr, len, 10000);
	unsigned char bh[2][32];
	buf *all = buf_new(2048);
	int rc = -1;

	*err_r = NULL;
	for (size_t i = 0; i < 2; i++) {
		if (s->bodies[i] != NULL)
			dkim_body_final(s->bodies[i], bh[i]);
	}
	if (dkim_hdrs_count_name(h, "From") == 0) {
		*err_r = xstrdup("no From header field: not signing");
		goto out;
	}
	for (size_t i = 0; i < s->count; i++) {
		enum dkim_canon bc = s->reqs[i].bcanon;
		if (sign_one(&s->reqs[i], h, bh[bc], dkim_body_length(s->bodies[bc]), all) != 0) {
			*err_r = xasprintf("signing for %s failed", s->reqs[i].domain);
			goto out;
		}
	}
	buf_append(out, buf_cstr(all), buf_len(all));
	rc = 0;
out:
	buf_free(&all);
	dkim_hdrs_free(&h);
	return rc;
}

void dkim_signer_free(dkim_signer **sp)
{
	dkim_signer *s = *sp;

	if (s == NULL)
		return;
	for (size_t i = 0; i < s->count; i++) {
		struct sign_req *r = &s->reqs[i];
		free(r->domain);
		free(r->selector);
		free(r->identity);
		for (size_t k = 0; k < r->nheaders; k++)
			free(r->headers[k]);
		free(r->headers);
	}
	dkim_body_free(&s->bodies[0]);
	dkim_body_free(&s->bodies[1]);
	free(s);
	*sp = NULL;
}
