/* arc_seal.c: adding the next ARC set (RFC 8617 5.1). The body streams
 * through one relaxed body hash; at the end the existing sets are
 * collected to find the next instance, the ARC-Authentication-Results is
 * written from our clause, the ARC-Message-Signature signs the chosen
 * headers (relaxed/relaxed, oversigned like lib/dkim's signatures) and
 * the ARC-Seal signs every set in order, or with cv=fail only the new
 * one. Keys and signing primitives are lib/dkim's. */
#include "arc_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "mem.h"

struct arc_sealer {
	char *domain, *selector, *authres;
	const dkim_key *key;
	char **headers;
	size_t nheaders;
	bool sign_dkim; /* the default list: DKIM-Signature fields too */
	time_t timestamp;
	dkim_body *body;
};

/* authres_ok: printable text with a ';' after the authserv-id; line
 * breaks only as folds (CRLF, then white space), kept as they are. */
static bool authres_ok(const char *a)
{
	if (a == NULL || strchr(a, ';') == NULL || strlen(a) > 4000)
		return false;
	for (; *a; a++) {
		if (a[0] == '\r' && a[1] == '\n' && (a[2] == ' ' || a[2] == '\t'))
			a++;
		else if ((unsigned char)*a < 0x20 && *a != '\t')
			return false;
	}
	return true;
}

static int check_params(const struct arc_seal_params *p, char **err_r)
{
	const char *const *h = p->headers != NULL ? p->headers : dkim_default_headers;

	*err_r = NULL;
	if (!dkim_tag_name_ok(p->domain, "-._") || !dkim_tag_name_ok(p->selector, "-._"))
		*err_r = xstrdup("bad or missing domain or selector");
	else if (p->key == NULL)
		*err_r = xstrdup("no key");
	else if (!authres_ok(p->authres))
		*err_r = xstrdup("bad Authentication-Results text");
	if (*err_r == NULL)
		dkim_check_signed_headers(h, "ARC-Seal", err_r);
	return *err_r == NULL ? 0 : -1;
}

arc_sealer *arc_sealer_new(const struct arc_seal_params *p, char **err_r)
{
	const char *const *h = p->headers != NULL ? p->headers : dkim_default_headers;
	arc_sealer *s;

	if (check_params(p, err_r) != 0)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->domain = xstrdup(p->domain);
	s->selector = xstrdup(p->selector);
	s->authres = xstrdup(p->authres);
	s->key = p->key;
	s->sign_dkim = p->headers == NULL;
	s->timestamp = p->timestamp != 0 ? p->timestamp : time(NULL);
	for (; *h != NULL; h++) {
		s->headers = xrealloc(s->headers, (s->nheaders + 1) * sizeof(char *));
		s->headers[s->nheaders++] = xstrdup(*h);
	}
	s->body = dkim_body_new(DKIM_CANON_RELAXED, -1, NULL);
	return s;
}

void arc_sealer_body(arc_sealer *s, const void *data, size_t len)
{
	dkim_body_update(s->body, data, len);
}

/* signed_names: each listed header once per instance plus once, and
 * every DKIM-Signature when the default list is used. */
static char **signed_names(const arc_sealer *s, const dkim_hdrs *h, bool dkim, size_t *n_r)
{
	char **names = NULL;
	size_t n = 0, times;

	for (size_t i = 0; i <= s->nheaders; i++) {
		const char *name = i < s->nheaders ? s->headers[i] : "DKIM-Signature";
		if (i == s->nheaders && !dkim)
			break;
		times = dkim_hdrs_count_name(h, name) + (i < s->nheaders);
		for (size_t t = 0; t < times && n < DKIM_MAX_HNAMES; t++) {
			names = xrealloc(names, (n + 1) * sizeof(char *));
			names[n++] = (char *)name;
		}
	}
	*n_r = n;
	return names;
}

/* add_tag: one tag-spec, on a new folded line when this one is long. */
static void add_tag(buf *f, size_t *col, const char *text)
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

static void add_tagf(buf *f, size_t *col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add_tagf(buf *f, size_t *col, const char *fmt, ...)
{
	buf *t = buf_new(128);
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(t, fmt, ap);
	va_end(ap);
	add_tag(f, col, buf_cstr(t));
	buf_free(&t);
}

/* add_hnames: "h=a:b:c;" in lower case, broken after a colon. */
static void add_hnames(buf *f, size_t *col, char **names, size_t n)
{
	buf_puts(f, " h=");
	*col += 3;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]) + 1;
		if (*col + len > 78) {
			buf_puts(f, "\r\n\t");
			*col = 8;
		}
		for (const char *c = names[i]; *c; c++)
			buf_putc(f, *c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
		buf_putc(f, i + 1 == n ? ';' : ':');
		*col += len;
	}
}

/* finish_sig: signs digest and appends the b= value, folded, and CRLF. */
static int finish_sig(const arc_sealer *s, const unsigned char digest[32], buf *f)
{
	buf *sig = buf_new(512), *b64 = buf_new(1024);
	int rc = dkim_sig_sign(dkim_key_pkey(s->key), dkim_key_alg(s->key), digest, sig);

	if (rc == 0) {
		base64_encode(b64, buf_cstr(sig), buf_len(sig));
		for (size_t off = 0; off < buf_len(b64); off += 72) {
			size_t n = buf_len(b64) - off < 72 ? buf_len(b64) - off : 72;
			if (off > 0)
				buf_puts(f, "\r\n\t");
			buf_append(f, buf_cstr(b64) + off, n);
		}
		buf_puts(f, "\r\n");
	}
	buf_free(&sig);
	buf_free(&b64);
	return rc;
}

static EVP_MD_CTX *md_new(void)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		abort();
	return md;
}

/* make_ams: the ARC-Message-Signature of instance i into f. */
static int make_ams(const arc_sealer *s, const dkim_hdrs *h, unsigned i, buf *f)
{
	unsigned char bh[32], digest[32];
	unsigned int dlen = 0;
	size_t n, col = strlen("ARC-Message-Signature:");
	char **names = signed_names(s, h, s->sign_dkim, &n);
	buf *canon = buf_new(1024), *b64 = buf_new(64);
	EVP_MD_CTX *md = md_new();
	int rc;

	dkim_body_final(s->body, bh);
	base64_encode(b64, bh, 32);
	buf_puts(f, "ARC-Message-Signature:");
	add_tagf(f, &col, "i=%u;", i);
	add_tagf(f, &col, "a=%s;", dkim_alg_name(dkim_key_alg(s->key)));
	add_tag(f, &col, "c=relaxed/relaxed;");
	add_tagf(f, &col, "d=%s; s=%s;", s->domain, s->selector);
	add_tagf(f, &col, "t=%lld;", (long long)s->timestamp);
	add_hnames(f, &col, names, n);
	add_tagf(f, &col, "bh=%s;", buf_cstr(b64));
	buf_puts(f, "\r\n\tb=");
	dkim_hdrs_hash_selected(h, (const char *const *)names, n, DKIM_CANON_RELAXED, md);
	dkim_canon_header(DKIM_CANON_RELAXED, buf_cstr(f), buf_len(f), true, canon);
	EVP_DigestUpdate(md, buf_cstr(canon), buf_len(canon));
	EVP_DigestFinal_ex(md, digest, &dlen);
	rc = finish_sig(s, digest, f);
	EVP_MD_CTX_free(md);
	buf_free(&canon);
	buf_free(&b64);
	free(names);
	return rc;
}

/* make_seal: the ARC-Seal of instance i over the older sets of c (none
 * with cv=fail) and the new aar and ams, into f. */
static int make_seal(const arc_sealer *s, const struct arc_chain *c, unsigned i,
		     enum arc_result cv, const buf *aar, const buf *ams, buf *f)
{
	unsigned char digest[32];
	unsigned int dlen = 0;
	size_t col = strlen("ARC-Seal:");
	EVP_MD_CTX *md = md_new();
	int rc;

	buf_puts(f, "ARC-Seal:");
	add_tagf(f, &col, "i=%u; cv=%s;", i, arc_result_name(cv));
	add_tagf(f, &col, "a=%s;", dkim_alg_name(dkim_key_alg(s->key)));
	add_tagf(f, &col, "d=%s; s=%s;", s->domain, s->selector);
	add_tagf(f, &col, "t=%lld;", (long long)s->timestamp);
	buf_puts(f, "\r\n\tb=");
	for (unsigned k = 1; cv != ARC_FAIL && k < i; k++) {
		const struct arc_set *set = &c->sets[k];
		arc_seal_hash_field(md, set->aar->raw, set->aar->raw_len, false);
		arc_seal_hash_field(md, set->ams->raw, set->ams->raw_len, false);
		arc_seal_hash_field(md, set->as->raw, set->as->raw_len, false);
	}
	arc_seal_hash_field(md, buf_cstr(aar), buf_len(aar), false);
	arc_seal_hash_field(md, buf_cstr(ams), buf_len(ams), false);
	arc_seal_hash_field(md, buf_cstr(f), buf_len(f), true);
	EVP_DigestFinal_ex(md, digest, &dlen);
	rc = finish_sig(s, digest, f);
	EVP_MD_CTX_free(md);
	return rc;
}

static bool newest_cv_fail(const struct arc_chain *c)
{
	const taglist *tl = c->count > 0 ? c->sets[c->count].as_tags : NULL;
	const char *cv = tl != NULL ? taglist_get(tl, "cv") : NULL;

	return cv != NULL && strcmp(cv, "fail") == 0;
}

/* next_instance: the instance to add, or 0 with *err_r. */
static unsigned next_instance(const dkim_hdrs *h, struct arc_chain *c, enum arc_result chain,
			      char **err_r)
{
	int n = arc_chain_collect(h, c);

	if (dkim_hdrs_count_name(h, "From") == 0)
		*err_r = xstrdup("no From header field: not sealing");
	else if (chain == ARC_TEMPERROR)
		*err_r = xstrdup("chain state unknown (temperror): seal later");
	else if (c->count >= ARC_MAX_INSTANCES)
		*err_r = xstrdup("50 ARC sets already");
	else if (newest_cv_fail(c))
		*err_r = xstrdup("the chain ended with cv=fail");
	else if ((chain == ARC_NONE) != (c->count == 0))
		*err_r = xstrdup(chain == ARC_NONE ? "chain none on a message with ARC sets"
						   : "chain result on a message without ARC sets");
	else if (chain == ARC_PASS && n < 0)
		*err_r = xasprintf("chain pass on a malformed chain (%s)", c->error);
	return *err_r == NULL ? c->count + 1 : 0;
}

int arc_sealer_finish(arc_sealer *s, const char *hdr, size_t len, enum arc_result chain,
		      buf *out, char **err_r)
{
	dkim_hdrs *h = dkim_hdrs_parse(hdr, len, 10000);
	struct arc_chain c;
	buf *aar = buf_new(512), *ams = buf_new(2048), *seal = buf_new(1024);
	unsigned i;
	int rc = -1;

	*err_r = NULL;
	i = next_instance(h, &c, chain, err_r);
	if (i == 0)
		goto out;
	buf_printf(aar, "ARC-Authentication-Results: i=%u; %s\r\n", i, s->authres);
	if (make_ams(s, h, i, ams) != 0 || make_seal(s, &c, i, chain, aar, ams, seal) != 0) {
		*err_r = xasprintf("sealing for %s failed", s->domain);
		goto out;
	}
	buf_append(out, buf_cstr(seal), buf_len(seal));
	buf_append(out, buf_cstr(ams), buf_len(ams));
	buf_append(out, buf_cstr(aar), buf_len(aar));
	rc = 0;
out:
	arc_chain_clear(&c);
	dkim_hdrs_free(&h);
	buf_free(&aar);
	buf_free(&ams);
	buf_free(&seal);
	return rc;
}

void arc_sealer_free(arc_sealer **sp)
{
	arc_sealer *s = *sp;

	if (s == NULL)
		return;
	free(s->domain);
	free(s->selector);
	free(s->authres);
	for (size_t i = 0; i < s->nheaders; i++)
		free(s->headers[i]);
	free(s->headers);
	dkim_body_free(&s->body);
	free(s);
	*sp = NULL;
}
