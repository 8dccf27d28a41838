/* dsnsign.c: DKIM signing of the notifications qmgr writes (bounce.c),
 * with the dkim_signing_table keys of lib/dkim_policy, once per
 * notification. The key is the one of its From: domain (MAILER-DAEMON@
 * $myhostname), else of $mydomain (as local's ARC seal falls back), whose
 * d= relaxed DMARC alignment accepts for a host of that domain. The body
 * is hashed as bounce.c writes it (q_writer_tap) and the signatures become
 * top fields of the queue file before its commit, so bounce.c's crash
 * safety stays as it was. Signing never costs a notification: no key, a
 * table or key trouble or a signer error leave it unsigned, logged. */
#include "qmgr.h"

#include <stdlib.h>
#include <string.h>

#include "dkim_policy.h"
#include "log.h"
#include "mem.h"

struct qmgr_sign {
	dkim_policy_signing *signing;
	char *header; /* the notification's header block */
	size_t header_len;
	char *id; /* the notification's queue ID, for the log */
};

void qmgr_sign_init(struct qmgr *q)
{
	char *err = NULL;

	/* Bad signing settings stop smtpd; here they must not stop bounces. */
	q->dkim = dkim_policy_new(q->config, &err);
	if (err != NULL) {
		log_warn("notifications go unsigned: %s", err);
		free(err);
	}
}

void qmgr_sign_stop(struct qmgr *q)
{
	dkim_policy_free(&q->dkim);
}

static void sign_free(struct qmgr_sign **sp)
{
	struct qmgr_sign *g = *sp;

	if (g == NULL)
		return;
	dkim_policy_signing_free(&g->signing);
	free(g->header);
	free(g->id);
	free(g);
	*sp = NULL;
}

/* hash_body: the q_writer_tap of a notification being signed. */
static void hash_body(void *ctx, const void *data, size_t len)
{
	struct qmgr_sign *g = ctx;

	dkim_policy_body(g->signing, data, len);
}

struct qmgr_sign *qmgr_sign_start(struct qmgr *q, q_writer *w, const char *hdr, size_t len)
{
	struct qmgr_sign *g;
	char *from, *why = NULL;
	enum dkim_policy_result r;

	if (q->dkim == NULL)
		return NULL;
	g = xcalloc(1, sizeof(*g));
	g->id = xstrdup(q_writer_id(w));
	from = dkim_policy_from_domain(hdr, len);
	r = dkim_policy_start(q->dkim, g->id, from, resolver_mydomain(q->resolver), &g->signing,
			      &why);
	free(from);
	if (r != DKIM_POLICY_SIGN) {
		if (r == DKIM_POLICY_TEMP)
			log_warn("%s: notification not signed: %s", g->id,
				 why != NULL ? why : "DKIM trouble");
		free(why);
		sign_free(&g);
		return NULL;
	}
	g->header = xstrndup(hdr, len); /* our own text: no NUL in it */
	g->header_len = strlen(g->header);
	q_writer_tap(w, hash_body, g);
	return g;
}

void qmgr_sign_end(struct qmgr_sign **sp, q_writer *w, bool complete)
{
	struct qmgr_sign *g = *sp;
	buf *sigs;
	char *err = NULL;

	if (g == NULL)
		return;
	q_writer_tap(w, NULL, NULL);
	if (!complete) {
		sign_free(sp);
		return;
	}
	sigs = buf_new(2048);
	if (dkim_policy_finish(g->signing, g->header, g->header_len, sigs, &err) < 0 ||
	    q_writer_top_fields(w, buf_cstr(sigs), buf_len(sigs), &err) < 0)
		log_warn("%s: notification not signed: %s", g->id, err);
	else
		log_info("%s: dkim-signed d=%s s=%s", g->id, dkim_policy_signing_domain(g->signing),
			 dkim_policy_signing_selectors(g->signing));
	free(err);
	buf_free(&sigs);
	sign_free(sp);
}
