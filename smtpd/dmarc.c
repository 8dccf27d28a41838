/* dmarc.c: DMARC (RFC 7489) in smtpd, as the first hook of authhook.h.
 * At the end of the header it starts policy discovery for the From
 * domains (lib/dmarc over lib/dns); at the end of DATA it judges the SPF
 * and DKIM verdicts, adds the dmarc= clause to Authentication-Results,
 * logs the aggregate-report line (docs/dmarc-report.md) and, under
 * smtpd_dmarc_policy = enforce, applies the domain's disposition: reject
 * (550 5.7.1), quarantine (the queue file's Q record: local files it in
 * Junk), or for a temperror where a fail would reject, 451 4.7.1. It
 * owns the Public Suffix List (loaded at start and on SIGHUP). */
#include <stdlib.h>
#include <string.h>

#include "authhook.h"
#include "authres.h"
#include "dmarc.h"
#include "txt_dns.h"
#include "log.h"
#include "mem.h"
#include "smtpd.h"

/* One message's check. from: the first author domain, for the clause
 * when discovery did not end in time. */
struct dmarc_state {
	struct session *s;
	dmarc_check *check;
	char *from;
};

/* ---- setup ---- */

static enum smtpd_dmarc_policy policy_value(const char *v)
{
	if (strcmp(v, "off") == 0)
		return SMTPD_DMARC_OFF;
	if (strcmp(v, "record") == 0)
		return SMTPD_DMARC_RECORD;
	if (strcmp(v, "enforce") != 0)
		log_fatal("smtpd_dmarc_policy: unknown value \"%s\" (off, record or enforce)", v);
	return SMTPD_DMARC_ENFORCE;
}

void smtpd_dmarc_init(struct smtpd_server *srv, cfg *c)
{
	srv->dmarc_policy = policy_value(cfg_get(c, "smtpd_dmarc_policy"));
	if (srv->local_service)
		srv->dmarc_policy = SMTPD_DMARC_OFF;
	if (srv->dmarc_policy == SMTPD_DMARC_OFF)
		return;
	srv->psl_path = xstrdup(cfg_get(c, "smtpd_dmarc_public_suffix_list"));
	srv->psl = psl_load_or_fallback(srv->psl_path, 0);
	if (srv->dns == NULL)
		srv->dns = dns_new_from_cfg(srv->loop, c);
}

void smtpd_dmarc_reload(struct smtpd_server *srv)
{
	psl_table *old = srv->psl;

	if (old == NULL)
		return;
	/* running checks took what they need from the old table at start */
	srv->psl = psl_load_or_fallback(srv->psl_path, 0);
	psl_free(&old);
	log_info("public suffix list %s: %zu rules", srv->psl_path,
		 psl_rules(srv->psl, NULL, NULL));
}

/* ---- the hook ---- */

static void on_discovered(void *ctx, dmarc_check *c)
{
	struct dmarc_state *st = ctx;

	(void)c;
	smtpd_authres_hook_ready(st->s);
}

static void *dmarc_header(struct session *s, const char *hdr, size_t len)
{
	struct smtpd_server *srv = s->srv;
	struct dmarc_authors authors;
	struct dmarc_state *st;

	if (srv->dmarc_policy == SMTPD_DMARC_OFF || srv->psl == NULL || srv->dns == NULL)
		return NULL;
	memset(&authors, 0, sizeof(authors));
	dmarc_authors_from_header(hdr, len, &authors);
	struct dmarc_settings set = {
		.psl = srv->psl,
		.resolver = txt_dns_resolver(srv->dns),
	};
	st = xcalloc(1, sizeof(*st));
	st->s = s;
	if (authors.count > 0)
		st->from = xstrdup(authors.domains[0]);
	st->check = dmarc_check_start(&set, &authors, on_discovered, st);
	dmarc_authors_clear(&authors);
	return st;
}

static bool dmarc_wait(void *state)
{
	struct dmarc_state *st = state;

	return dmarc_check_done(st->check);
}

/* add_clause: "dmarc=<result> (p=.. sp=.. dis=..) header.from=<domain>". */
static void add_clause(buf *field, const char *result, const char *reason,
		       const struct dmarc_verdict *v, const char *from)
{
	struct authres_prop p[2] = { { "header.from", from }, { "policy.dmarc", NULL } };
	size_t n = 1;

	if (v != NULL && v->record != NULL) {
		p[1].value = dmarc_policy_name(v->disposition);
		n = 2;
	}
	authres_add(field, "dmarc", result, reason, p, from != NULL ? n : 0);
}

/* request_of: what SPF and DKIM found, for lib/dmarc. */
static struct dmarc_request request_of(const struct smtpd_auth_view *v)
{
	struct dmarc_request req = {
		.spf_domain = v->spf_mailfrom_run ? v->mailfrom_domain : NULL,
		.spf = v->spf_mailfrom,
		.dkim = v->dkim,
		.dkim_count = v->ndkim,
		.source_ip = v->client_ip,
	};
	return req;
}

/* overridden: a DMARC fail that would reject or quarantine, but the
 * message came through a forwarder trusted to vouch for it with a passing
 * ARC chain (smtpd_arc_trusted_sealers): recorded in the field and the
 * log, and let in as RFC 7489 6.7 allows a receiver's local policy. */
static bool overridden(const struct session *s, const struct dmarc_verdict *v,
		       const struct smtpd_auth_view *view, buf *field)
{
	char *note;

	if (s->srv->dmarc_policy != SMTPD_DMARC_ENFORCE || v->result != DMARC_RESULT_FAIL ||
	    view->arc_trusted_sealer == NULL ||
	    (v->disposition != DMARC_POLICY_REJECT && v->disposition != DMARC_POLICY_QUARANTINE))
		return false;
	note = xasprintf("policy overridden: arc=pass from trusted forwarder %s",
			 view->arc_trusted_sealer);
	authres_comment(field, note);
	log_info("%s: dmarc %s of %s %s", s->txn->qid, dmarc_policy_name(v->disposition),
		 v->from_domain != NULL ? v->from_domain : "-", note);
	free(note);
	return true;
}

/* act: what enforce does with a verdict. */
static void act(const struct session *s, const struct dmarc_verdict *v,
		struct smtpd_auth_decision *d)
{
	const char *dom = v->from_domain != NULL ? v->from_domain : "";

	if (s->srv->dmarc_policy != SMTPD_DMARC_ENFORCE)
		return;
	if (v->result == DMARC_RESULT_FAIL && v->disposition == DMARC_POLICY_REJECT) {
		d->action = SMTPD_AUTH_REFUSE;
		d->code = 550;
		d->dsn = "5.7.1";
		d->text = xasprintf("Message rejected: DMARC policy of %s (%s)", dom,
				    v->reason ? v->reason : "fail");
	} else if (v->result == DMARC_RESULT_TEMPERROR && v->disposition == DMARC_POLICY_REJECT) {
		d->action = SMTPD_AUTH_REFUSE; /* never a 5xx on DNS trouble */
		d->code = 451;
		d->dsn = "4.7.1";
		d->text = xasprintf("DMARC check of %s had a temporary error, try again later", dom);
	} else if (v->result == DMARC_RESULT_FAIL && v->disposition == DMARC_POLICY_QUARANTINE) {
		d->action = SMTPD_AUTH_QUARANTINE;
		free(d->text);
		d->text = xasprintf("DMARC policy of %s asks for quarantine", dom);
	}
}

static void dmarc_judge(void *state, struct smtpd_auth_view *view, buf *field,
			struct smtpd_auth_decision *d)
{
	struct dmarc_state *st = state;
	struct session *s = st->s;
	struct dmarc_request req = request_of(view);
	const struct dmarc_verdict *v;
	buf *line;

	if (!dmarc_check_done(st->check)) { /* timed out: the lookups are cancelled */
		add_clause(field, "temperror", "policy lookup timed out", NULL, st->from);
		log_info("%s: dmarc=temperror header.from=%s (policy lookup timed out)", s->txn->qid,
			 st->from != NULL ? st->from : "-");
		return;
	}
	v = dmarc_check_judge(st->check, s->srv->psl, &req);
	add_clause(field, dmarc_result_name(v->result),
		   v->result == DMARC_RESULT_PASS ? NULL : v->reason, v, v->from_domain);
	line = buf_new(512);
	dmarc_report_line(st->check, line);
	log_info("%s: %s", s->txn->qid, buf_cstr(line));
	buf_free(&line);
	if (!overridden(s, v, view, field))
		act(s, v, d);
}

static void dmarc_free(void *state)
{
	struct dmarc_state *st = state;

	dmarc_check_free(&st->check);
	free(st->from);
	free(st);
}

const struct smtpd_auth_hook smtpd_dmarc_hook = {
	.name = "dmarc",
	.header = dmarc_header,
	.wait = dmarc_wait,
	.judge = dmarc_judge,
	.free = dmarc_free,
};
