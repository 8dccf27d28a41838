/* arcseal.c: ARC sealing (RFC 8617) of the copies local forwards. A
 * message smtpd checked carries this site's Authentication-Results field
 * among the queue file's top fields; its clauses become the
 * ARC-Authentication-Results of the new set and its arc= result the
 * chain's cv=. The key is a dkim_signing_table key (lib/dkim_policy): the
 * one of the alias's domain, else of mydomain. No key: the copy goes
 * unsealed (logged once per process); table or key trouble: the forward
 * is deferred. Key: arc_seal. */
#include "local.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arc.h"
#include "authres.h"
#include "buf.h"
#include "dkim_policy.h"
#include "log.h"
#include "mem.h"

/* The largest header block sealed (beyond it the copy goes unsealed). */
#define ARCSEAL_MAX_HEADER (2 * 1024 * 1024)
#define ARCSEAL_CHUNK 65536

struct local_arc {
	dkim_policy *policy; /* NULL: sealing off */
	char *authserv_id;
	char *fallback; /* mydomain */
	bool enabled; /* arc_seal */
	bool warned; /* "no key" logged */
};

/* fallback_domain: mydomain, else myhostname without its first label. */
static char *fallback_domain(cfg *c)
{
	const char *d = cfg_get(c, "mydomain"), *h = cfg_get(c, "myhostname");
	const char *dot = strchr(h, '.');

	if (*d != '\0')
		return xstrdup(d);
	return xstrdup(dot != NULL && dot[1] != '\0' ? dot + 1 : h);
}

void local_arc_init(struct local *l)
{
	struct local_arc *a = xcalloc(1, sizeof(*a));
	const char *id = cfg_get(l->config, "authserv_id");
	char *err = NULL;

	a->authserv_id = xstrdup(*id != '\0' ? id : cfg_get(l->config, "myhostname"));
	a->fallback = fallback_domain(l->config);
	a->enabled = cfg_get_bool(l->config, "arc_seal");
	if (a->enabled) {
		a->policy = dkim_policy_new(l->config, &err);
		if (err != NULL) {
			log_warn("ARC sealing off: %s", err);
			free(err);
		}
	}
	l->arc = a;
}

void local_arc_free(struct local *l)
{
	struct local_arc *a = l->arc;

	if (a == NULL)
		return;
	dkim_policy_free(&a->policy);
	free(a->authserv_id);
	free(a->fallback);
	free(a);
	l->arc = NULL;
}

/* ---- what smtpd recorded ---- */

/* field_end: the end of the header field starting at p (after its last
 * LF, continuation lines included). */
static const char *field_end(const char *p, const char *end)
{
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		p = eol != NULL ? eol + 1 : end;
		if (p < end && *p != ' ' && *p != '\t')
			break;
	}
	return p;
}

/* our_authres: the value of the first top field that is our
 * Authentication-Results, without the name, its folds as CRLF (heap), or
 * NULL. */
static char *our_authres(const struct q_msg *msg, const char *id)
{
	const char *p = msg->top, *end = p != NULL ? p + msg->top_len : NULL;

	while (p != NULL && p < end) {
		const char *e = field_end(p, end);

		if (authres_is_ours(p, (size_t)(e - p), id)) {
			const char *v = (const char *)memchr(p, ':', (size_t)(e - p)) + 1;
			buf *b = buf_new((size_t)(e - v) + 1);

			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			for (; v < e; v++)
				if (*v == '\n')
					buf_puts(b, "\r\n");
				else if (*v != '\r')
					buf_putc(b, *v);
			while (buf_len(b) > 0 && strchr(" \t\r\n", buf_cstr(b)[buf_len(b) - 1]))
				buf_truncate(b, buf_len(b) - 1);
			return buf_steal_free(&b);
		}
		p = e;
	}
	return NULL;
}

/* chain_of: the chain status smtpd recorded; -1 when it cannot be sealed
 * on (temperror or something unknown). No clause: NONE (a message that
 * carries sets all the same is refused by the sealer). */
static int chain_of(const char *authres)
{
	size_t n = 0;
	const char *r = authres_find_result(authres, "arc", &n);

	if (r == NULL || (n == 4 && strncasecmp(r, "none", 4) == 0))
		return ARC_NONE;
	if (n == 4 && strncasecmp(r, "pass", 4) == 0)
		return ARC_PASS;
	if (n == 4 && strncasecmp(r, "fail", 4) == 0)
		return ARC_FAIL;
	return -1;
}

/* ---- the message ---- */

/* read_header: the header block of msg as delivered (top fields, then
 * the content's header) into hdr, *body_r the position after the empty
 * line. 0, -1 when the file cannot be read (errno), -2 when the header is
 * too long to seal. */
static int read_header(const struct q_msg *msg, buf *hdr, off_t *body_r)
{
	char chunk[ARCSEAL_CHUNK];
	off_t pos = 0, size = q_msg_size(msg);

	while (pos < size) {
		ssize_t n = q_msg_pread(msg, chunk, sizeof(chunk), pos);
		const char *s;
		size_t old = buf_len(hdr), from = old > 0 ? old - 1 : 0;

		if (n <= 0) {
			if (n == 0)
				errno = EIO; /* shorter than its envelope says */
			return -1;
		}
		buf_append(hdr, chunk, (size_t)n);
		pos += n;
		if (old == 0 && buf_cstr(hdr)[0] == '\n') { /* no header at all */
			buf_truncate(hdr, 0);
			*body_r = 1;
			return 0;
		}
		s = memmem(buf_cstr(hdr) + from, buf_len(hdr) - from, "\n\n", 2);
		if (s != NULL) {
			size_t hlen = (size_t)(s - buf_cstr(hdr)) + 1;

			*body_r = (off_t)hlen + 1;
			buf_truncate(hdr, hlen);
			return 0;
		}
		if (buf_len(hdr) > ARCSEAL_MAX_HEADER)
			return -2;
	}
	*body_r = size; /* header only */
	return 0;
}

/* stream_body: msg from pos to its end into the sealer. */
static int stream_body(const struct q_msg *msg, off_t pos, arc_sealer *s)
{
	char chunk[ARCSEAL_CHUNK];
	off_t size = q_msg_size(msg);

	while (pos < size) {
		ssize_t n = q_msg_pread(msg, chunk, sizeof(chunk), pos);

		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		arc_sealer_body(s, chunk, (size_t)n);
		pos += n;
	}
	return 0;
}

/* ---- sealing ---- */

/* find_key: the key for the alias's domain, else the fallback's. */
static enum dkim_policy_result find_key(struct local_arc *a, const char *alias, char **domain_r,
					char **selector_r, dkim_key **key_r, char **err_r)
{
	const char *at = strrchr(alias, '@');
	enum dkim_policy_result r = DKIM_POLICY_NONE;

	if (at != NULL)
		r = dkim_policy_key(a->policy, at + 1, domain_r, selector_r, key_r, err_r);
	if (r == DKIM_POLICY_NONE)
		r = dkim_policy_key(a->policy, a->fallback, domain_r, selector_r, key_r, err_r);
	return r;
}

/* seal_with: the set for msg, sealed by s, into out. 0; 1 when the
 * message cannot be sealed (its fault: *err_r says why, heap); -1 when
 * the queue file cannot be read (*err_r). */
static int seal_with(arc_sealer *s, const struct q_msg *msg, enum arc_result chain, buf *out,
		     char **err_r)
{
	buf *hdr = buf_new(8192);
	off_t body = 0;
	int rc = read_header(msg, hdr, &body);

	if (rc == -2) {
		*err_r = xstrdup("header too long");
		rc = 1;
	} else if (rc < 0 || stream_body(msg, body, s) < 0) {
		*err_r = xasprintf("ARC seal: cannot read %s: %s", msg->path, strerror(errno));
		rc = -1;
	} else if (arc_sealer_finish(s, buf_cstr(hdr), buf_len(hdr), chain, out, err_r) < 0) {
		rc = 1;
	}
	buf_free(&hdr);
	return rc;
}

/* seal: the set for a message with our field authres and chain. 0 (the
 * fields added, or the message's fault: logged, unsealed) or -1. */
static int seal(const struct q_msg *msg, const char *authres, enum arc_result chain,
		struct arc_seal_params *p, q_writer *w, char **err_r)
{
	buf *out = buf_new(4096);
	char *err = NULL;
	arc_sealer *s;
	int rc;

	p->authres = authres;
	s = arc_sealer_new(p, &err);
	rc = s != NULL ? seal_with(s, msg, chain, out, &err) : 1;
	if (rc == 0)
		rc = q_writer_top_fields(w, buf_cstr(out), buf_len(out), &err);
	if (rc == 0) {
		log_info("%s: arc-sealed d=%s s=%s cv=%s", msg->id, p->domain, p->selector,
			 arc_result_name(chain));
	} else if (rc == 1) {
		log_warn("%s: forwarded unsealed: %s", msg->id, err);
		rc = 0;
	} else {
		*err_r = err;
		err = NULL;
	}
	free(err);
	arc_sealer_free(&s);
	buf_free(&out);
	return rc;
}

int local_arc_seal(struct local *l, const struct q_msg *msg, int rcpt, q_writer *w,
		   char **err_r)
{
	struct local_arc *a = l->arc;
	struct arc_seal_params p;
	char *authres, *domain = NULL, *selector = NULL, *err = NULL;
	dkim_key *key = NULL;
	enum dkim_policy_result r;
	int chain, rc = 0;

	if (a == NULL || !a->enabled || (authres = our_authres(msg, a->authserv_id)) == NULL)
		return 0;
	chain = chain_of(authres);
	if (chain < 0) {
		log_info("%s: forwarded unsealed: the ARC chain was not judged (temperror)", msg->id);
		free(authres);
		return 0;
	}
	r = a->policy != NULL ? find_key(a, msg->env.rcpts[rcpt].address, &domain, &selector,
					 &key, &err)
			      : DKIM_POLICY_NONE;
	if (r == DKIM_POLICY_SIGN) {
		memset(&p, 0, sizeof(p));
		p.domain = domain;
		p.selector = selector;
		p.key = key;
		rc = seal(msg, authres, (enum arc_result)chain, &p, w, err_r);
	} else if (r == DKIM_POLICY_TEMP) {
		*err_r = xasprintf("ARC seal: %s", err);
		rc = -1;
	} else if (!a->warned) {
		a->warned = true;
		log_info("%s: no dkim_signing_table key for %s or %s: forwarded mail goes unsealed "
			 "(logged once)", msg->id, msg->env.rcpts[rcpt].address, a->fallback);
	}
	dkim_key_free(&key);
	free(domain);
	free(selector);
	free(err);
	free(authres);
	return rc;
}
