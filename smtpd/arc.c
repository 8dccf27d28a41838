/* arc.c: ARC (RFC 8617) verification in smtpd, a hook of authhook.h that
 * runs before DMARC. At the end of the header it collects the message's
 * ARC sets and starts their key lookups (lib/arc over lib/dns); the body
 * streams through the verifier; at the end it adds "arc=none|pass|fail"
 * (and the newest seal's domain, header.d) to Authentication-Results.
 * A passing chain whose newest seal is by a forwarder that
 * smtpd_arc_trusted_sealers names is handed on to DMARC (the view's
 * arc_trusted_sealer), which then lets the message in despite a DMARC
 * fail (RFC 8617 7.2, local policy). Keys: smtpd_arc_verify,
 * smtpd_arc_trusted_sealers. */
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "arc.h"
#include "authhook.h"
#include "authres.h"
#include "txt_dns.h"
#include "log.h"
#include "mem.h"
#include "smtpd.h"

/* One message's verification; v is NULL when it has no ARC set. */
struct arc_state {
	struct session *s;
	arc_verifier *v;
	bool finishing; /* arc_verify_finish was called */
	bool done; /* the verdict is in */
};

void smtpd_arc_init(struct smtpd_server *srv, cfg *c)
{
	srv->arc_verify = cfg_get_bool(c, "smtpd_arc_verify") && !srv->local_service;
	srv->arc_trusted = cfg_split_list(cfg_get(c, "smtpd_arc_trusted_sealers"));
	if (srv->arc_verify && srv->dns == NULL)
		srv->dns = dns_new_from_cfg(srv->loop, c);
}

/* trusted: whether the sealer is one of smtpd_arc_trusted_sealers. */
static bool trusted(const struct smtpd_server *srv, const char *sealer)
{
	for (char **t = srv->arc_trusted; sealer != NULL && t != NULL && *t != NULL; t++)
		if (strcasecmp(*t, sealer) == 0)
			return true;
	return false;
}

static void on_verdict(void *ctx, arc_verifier *v)
{
	struct arc_state *st = ctx;

	(void)v;
	st->done = true;
	smtpd_authres_hook_ready(st->s);
}

static void *arc_header(struct session *s, const char *hdr, size_t len)
{
	struct arc_verify_params p;
	struct arc_state *st;

	if (!s->srv->arc_verify || s->srv->dns == NULL)
		return NULL;
	memset(&p, 0, sizeof(p));
	p.resolver = txt_dns_resolver(s->srv->dns);
	st = xcalloc(1, sizeof(*st));
	st->s = s;
	st->v = arc_verify_new(&p);
	if (arc_verify_headers(st->v, hdr, len) == 0) {
		arc_verify_free(&st->v); /* no ARC set: arc=none, no body hashing */
		st->done = true;
	}
	return st;
}

static void arc_body(void *state, const char *data, size_t len)
{
	struct arc_state *st = state;

	if (st->v != NULL && !st->done)
		arc_verify_body(st->v, data, len);
}

static bool arc_wait(void *state)
{
	struct arc_state *st = state;

	if (st->v != NULL && !st->done && !st->finishing) {
		st->finishing = true;
		if (arc_verify_finish(st->v, on_verdict, st) == 1)
			st->done = true;
	}
	return st->done;
}

static void arc_judge(void *state, struct smtpd_auth_view *view, buf *field,
		      struct smtpd_auth_decision *d)
{
	struct arc_state *st = state;
	const char *qid = st->s->txn->qid, *domain = NULL, *reason = NULL;
	struct authres_prop p = { "smtp.remote-ip", view->client_ip };
	enum arc_result r = ARC_NONE;
	char *note;

	(void)d;
	if (st->v != NULL && !st->done) {
		r = ARC_TEMPERROR;
		reason = "key lookup timed out";
	} else if (st->v != NULL) {
		r = arc_verify_result(st->v);
		reason = r == ARC_PASS ? NULL : arc_verify_reason(st->v);
		domain = arc_verify_domain(st->v);
	}
	authres_add(field, "arc", arc_result_name(r), reason, &p, 1);
	if (st->v == NULL)
		return;
	if (r == ARC_PASS && trusted(st->s->srv, domain))
		view->arc_trusted_sealer = domain;
	/* RFC 8617 registers no property for these: a comment */
	note = xasprintf("i=%u d=%s", arc_verify_instances(st->v), domain != NULL ? domain : "?");
	authres_comment(field, note);
	log_info("%s: arc=%s %s%s%s", qid, arc_result_name(r), note, reason != NULL ? " reason=" : "",
		 reason != NULL ? reason : "");
	free(note);
}

static void arc_free(void *state)
{
	struct arc_state *st = state;

	arc_verify_free(&st->v);
	free(st);
}

const struct smtpd_auth_hook smtpd_arc_hook = {
	.name = "arc",
	.header = arc_header,
	.body = arc_body,
	.wait = arc_wait,
	.judge = arc_judge,
	.free = arc_free,
};
