/* authres.c: sender authentication of mail from outside (neither the
 * local socket, nor mynetworks, nor an AUTH login): SPF (RFC 7208) of the
 * MAIL FROM identity, started at MAIL FROM (the HELO name is the identity
 * for the null sender; a HELO name that is a domain is checked too and
 * recorded), DKIM (RFC 6376) verified while DATA streams (key lookups
 * start at the end of the header), and at the end of DATA the
 * Authentication-Results field (RFC 8601) put on top of the message
 * through the queue file's top header fields (lib/q.h). Every lookup runs
 * on the loop (lib/dns); a session waits only for its own answers.
 *
 * Waiting: with smtpd_spf_policy = reject the reply to MAIL FROM waits
 * for the SPF verdict of its identity (550 5.7.23 fail, 451 4.7.24
 * temperror); otherwise nothing waits before the end of DATA, where the
 * verdicts still out are waited for at most dns_timeout (a DNS lookup's
 * own bound; a check still running then counts as temperror). The hooks
 * of authhook.h (DMARC) judge the verdicts last. */
#include <stdlib.h>
#include <string.h>

#include "authhook.h"
#include "authres.h"
#include "txt_dns.h"
#include "log.h"
#include "mem.h"
#include "smtpd.h"

/* Text of an SPF explanation kept for a reply. */
#define SPF_REPLY_TEXT_MAX 200
/* The start of b= named in header.b (RFC 6008: at least 8). */
#define HEADER_B_LEN 8

struct spf_slot {
	spf_check *check; /* while running */
	bool run; /* started */
	bool done;
	enum spf_result result;
	char *explanation; /* fail */
	char *reason; /* for the log */
};

enum auth_wait { WAIT_NONE, WAIT_MAIL, WAIT_END };

struct smtpd_auth {
	struct session *s;
	struct spf_slot mailfrom, helo;
	char *mailfrom_domain;
	dkim_verifier *dkim;
	bool skip_lf; /* the body's first byte is the separating empty line */
	bool dkim_done;
	void *hook_state[SMTPD_AUTH_HOOKS_MAX];
	bool hook_pending[SMTPD_AUTH_HOOKS_MAX];
	enum auth_wait waiting;
	bool parked; /* the session waits (sess_wait) for the verdicts */
	ev_timer *timer;
	bool timed_out;
};

static void auth_step(struct smtpd_auth *a);
static void park(struct smtpd_auth *a);

/* ---- setup ---- */

static enum smtpd_spf_policy spf_policy_value(const char *v)
{
	if (strcmp(v, "off") == 0)
		return SMTPD_SPF_OFF;
	if (strcmp(v, "record") == 0)
		return SMTPD_SPF_RECORD;
	if (strcmp(v, "reject") != 0)
		log_fatal("smtpd_spf_policy: unknown value \"%s\" (off, record or reject)", v);
	return SMTPD_SPF_REJECT;
}

void smtpd_authres_init(struct smtpd_server *srv, cfg *c)
{
	const char *id = cfg_get(c, "authserv_id");

	srv->spf_policy = spf_policy_value(cfg_get(c, "smtpd_spf_policy"));
	srv->spf_permerror_reject = cfg_get_bool(c, "smtpd_spf_permerror_reject");
	srv->dkim_verify = cfg_get_bool(c, "smtpd_dkim_verify");
	srv->authserv_id = xstrdup(*id != '\0' ? id : srv->myhostname);
	if (srv->local_service) {
		srv->spf_policy = SMTPD_SPF_OFF;
		srv->dkim_verify = false;
	}
	if (srv->dns == NULL && (srv->spf_policy != SMTPD_SPF_OFF || srv->dkim_verify))
		srv->dns = dns_new_from_cfg(srv->loop, c);
}

/* outside: the checks apply to this client. */
static bool outside(const struct session *s)
{
	return !s->srv->local_service && !s->trusted && s->auth_user == NULL;
}

bool smtpd_authres_strip(const struct session *s)
{
	return !s->trusted;
}

/* helo_domain: a HELO name worth an SPF check: a dotted host name, not
 * an address literal or a bare word. */
static bool helo_domain(const char *helo)
{
	bool alpha = false;

	if (helo == NULL || strchr(helo, '.') == NULL || helo[0] == '.' || helo[0] == '-')
		return false;
	for (const char *p = helo; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
			alpha = true;
		else if (!(*p >= '0' && *p <= '9') && *p != '-' && *p != '.' && *p != '_')
			return false;
	}
	return alpha;
}

static struct smtpd_auth *auth_get(struct session *s)
{
	struct smtpd_txn *t = s->txn;

	if (t->auth == NULL) {
		t->auth = xcalloc(1, sizeof(*t->auth));
		t->auth->s = s;
	}
	return t->auth;
}

/* ---- SPF ---- */

static void spf_record(struct spf_slot *slot, const struct spf_answer *ans)
{
	slot->done = true;
	slot->result = ans->result;
	if (ans->explanation != NULL)
		slot->explanation = xstrndup(ans->explanation, SPF_REPLY_TEXT_MAX);
	slot->reason = xstrdup(ans->reason != NULL ? ans->reason : "");
}

static void spf_log(struct smtpd_auth *a, const char *identity, const struct spf_slot *slot,
		    const char *value)
{
	log_info("%s: spf=%s %s=<%s> (%s)", a->s->client, spf_result_name(slot->result), identity,
		 value, slot->reason);
}

static void spf_mailfrom_done(void *ctx, const struct spf_answer *ans)
{
	struct smtpd_auth *a = ctx;

	spf_record(&a->mailfrom, ans);
	spf_check_free(&a->mailfrom.check);
	spf_log(a, a->s->txn->sender[0] ? "mailfrom" : "helo", &a->mailfrom,
		a->s->txn->sender[0] ? a->s->txn->sender : a->s->helo);
	auth_step(a);
}

static void spf_helo_done(void *ctx, const struct spf_answer *ans)
{
	struct smtpd_auth *a = ctx;

	spf_record(&a->helo, ans);
	spf_check_free(&a->helo.check);
	spf_log(a, "helo", &a->helo, a->s->helo);
	auth_step(a);
}

/* spf_start: one check_host(); domain NULL = the sender's (or HELO's). */
static void spf_start(struct smtpd_auth *a, struct spf_slot *slot, const char *sender,
		      const char *domain, spf_done_cb *cb)
{
	struct session *s = a->s;
	struct spf_dns dns = spf_dns_from_resolver(s->srv->dns);
	struct spf_request req = {
		.ip = sess_client_addr(s->base),
		.sender = sender,
		.helo = s->helo != NULL ? s->helo : "",
		.domain = domain,
		.receiver = s->srv->myhostname,
	};

	slot->run = true;
	slot->check = spf_check_start(&dns, &req, cb, a);
	if (spf_check_done(slot->check)) {
		spf_record(slot, spf_check_answer(slot->check));
		spf_check_free(&slot->check);
	}
}

/* spf_mail_reply: the reply to MAIL FROM under the reject policy; false
 * after a refusal (the transaction is dropped). */
static bool spf_mail_verdict(struct session *s, struct smtpd_auth *a)
{
	const struct spf_slot *m = &a->mailfrom;
	const char *who = s->txn->sender[0] ? s->txn->sender : "";
	int code = 0;
	const char *dsn = NULL;
	char *text = NULL;

	if (m->result == SPF_FAIL) {
		code = 550, dsn = "5.7.23";
		text = xasprintf("<%s>: Sender address rejected: SPF fail%s%s", who,
				 m->explanation ? ": " : "", m->explanation ? m->explanation : "");
	} else if (m->result == SPF_TEMPERROR) {
		code = 451, dsn = "4.7.24";
		text = xasprintf("<%s>: Sender address rejected: SPF temporary error, try again later",
				 who);
	} else if (m->result == SPF_PERMERROR && s->srv->spf_permerror_reject) {
		code = 550, dsn = "5.7.24";
		text = xasprintf("<%s>: Sender address rejected: SPF permanent error in the "
				 "domain's record", who);
	}
	if (code == 0)
		return true;
	for (char *p = text; *p != '\0'; p++)
		if ((unsigned char)*p < 32 || (unsigned char)*p >= 127)
			*p = '?';
	log_info("reject: MAIL from %s: %d %s %s; from=<%s> proto=%s helo=<%s>", s->client, code,
		 dsn, text, who, s->esmtp ? "ESMTP" : "SMTP", s->helo ? s->helo : "");
	smtpd_reply(s, code, dsn, "%s", text);
	free(text);
	smtpd_txn_reset(s);
	return false;
}

bool smtpd_authres_mail(struct session *s)
{
	struct smtpd_server *srv = s->srv;
	const char *sender = s->txn->sender;
	struct smtpd_auth *a;
	const char *at;

	if (srv->spf_policy == SMTPD_SPF_OFF || !outside(s) || srv->dns == NULL)
		return false;
	a = auth_get(s);
	at = strrchr(sender, '@');
	if (sender[0] != '\0' && at != NULL) {
		a->mailfrom_domain = xstrdup(at + 1);
		spf_start(a, &a->mailfrom, sender, NULL, spf_mailfrom_done);
		if (helo_domain(s->helo))
			spf_start(a, &a->helo, "", s->helo, spf_helo_done);
	} else if (sender[0] == '\0' && helo_domain(s->helo)) {
		a->mailfrom_domain = xstrdup(s->helo); /* RFC 7208 2.4: the HELO identity */
		spf_start(a, &a->mailfrom, "", s->helo, spf_mailfrom_done);
	}
	if (srv->spf_policy != SMTPD_SPF_REJECT || !a->mailfrom.run)
		return false;
	if (a->mailfrom.done)
		return !spf_mail_verdict(s, a);
	a->waiting = WAIT_MAIL;
	park(a);
	return true;
}

/* ---- DKIM ---- */

void smtpd_authres_header(struct session *s, const char *hdr, size_t len, bool at_blank_line)
{
	struct smtpd_auth *a;

	if (!outside(s) || s->srv->dns == NULL)
		return;
	a = auth_get(s);
	a->skip_lf = at_blank_line;
	for (size_t i = 0; smtpd_auth_hooks[i] != NULL && i < SMTPD_AUTH_HOOKS_MAX; i++)
		a->hook_state[i] = smtpd_auth_hooks[i]->header(s, hdr, len);
	if (!s->srv->dkim_verify)
		return;
	struct dkim_verify_params p = { .resolver = txt_dns_resolver(s->srv->dns) };
	a->dkim = dkim_verify_new(&p);
	if (dkim_verify_headers(a->dkim, hdr, len) == 0) {
		dkim_verify_free(&a->dkim); /* nothing signed: no body hashing */
		a->dkim_done = true;
	}
}

void smtpd_authres_body(struct session *s, const char *data, size_t len)
{
	struct smtpd_auth *a = s->txn->auth;

	if (a == NULL || len == 0)
		return;
	if (a->skip_lf) {
		a->skip_lf = false;
		data++;
		len--;
	}
	if (a->dkim != NULL)
		dkim_verify_body(a->dkim, data, len);
	for (size_t i = 0; smtpd_auth_hooks[i] != NULL && i < SMTPD_AUTH_HOOKS_MAX; i++)
		if (a->hook_state[i] != NULL && smtpd_auth_hooks[i]->body != NULL)
			smtpd_auth_hooks[i]->body(a->hook_state[i], data, len);
}

static void dkim_done_cb(void *ctx, dkim_verifier *v)
{
	struct smtpd_auth *a = ctx;

	(void)v;
	a->dkim_done = true;
	auth_step(a);
}

/* ---- the end: Authentication-Results ---- */

static void add_spf(const struct smtpd_auth *a, const struct session *s, buf *f)
{
	struct authres_prop p;

	if (a->mailfrom.run) {
		p.name = s->txn->sender[0] ? "smtp.mailfrom" : "smtp.helo";
		p.value = s->txn->sender[0] ? s->txn->sender : s->helo;
		authres_add(f, "spf", spf_result_name(a->mailfrom.result), NULL, &p, 1);
	} else if (s->srv->spf_policy != SMTPD_SPF_OFF) {
		p.name = "smtp.mailfrom";
		p.value = s->txn->sender[0] ? s->txn->sender : NULL;
		authres_add(f, "spf", "none", NULL, &p, 1);
	}
	if (a->helo.run) {
		p.name = "smtp.helo";
		p.value = s->helo;
		authres_add(f, "spf", spf_result_name(a->helo.result), NULL, &p, 1);
	}
}

static void add_dkim_one(buf *f, const struct dkim_result *r)
{
	char b[HEADER_B_LEN + 1] = "";
	struct authres_prop p[3] = {
		{ "header.d", r->domain }, { "header.s", r->selector }, { "header.b", NULL },
	};
	enum dkim_status st = r->status;

	if (r->b_prefix != NULL) {
		snprintf(b, sizeof(b), "%s", r->b_prefix);
		p[2].value = b;
	}
	if (st == DKIM_NONE)
		st = DKIM_TEMPERROR; /* its key did not come in time */
	authres_add(f, "dkim", dkim_status_name(st),
		    st == DKIM_PASS ? NULL : r->status == DKIM_NONE ? "key lookup timed out"
								     : r->reason,
		    p, 3);
}

static void add_dkim(const struct smtpd_auth *a, buf *f)
{
	size_t n = a->dkim != NULL ? dkim_verify_count(a->dkim) : 0;

	if (n == 0) {
		authres_add(f, "dkim", "none", NULL, NULL, 0);
		return;
	}
	for (size_t i = 0; i < n; i++)
		add_dkim_one(f, dkim_verify_result(a->dkim, i));
}

static void log_dkim(const struct smtpd_auth *a, const char *qid)
{
	size_t n = a->dkim != NULL ? dkim_verify_count(a->dkim) : 0;

	for (size_t i = 0; i < n; i++) {
		const struct dkim_result *r = dkim_verify_result(a->dkim, i);
		log_info("%s: dkim=%s d=%s s=%s%s%s", qid, dkim_status_name(r->status),
			 r->domain ? r->domain : "?", r->selector ? r->selector : "?",
			 r->status == DKIM_PASS ? "" : " reason=",
			 r->status == DKIM_PASS ? "" : (r->reason ? r->reason : "timed out"));
	}
}

static void fill_view(const struct smtpd_auth *a, struct smtpd_auth_view *v,
		      const struct dkim_result **results, size_t n)
{
	const struct session *s = a->s;

	memset(v, 0, sizeof(*v));
	v->client_ip = sess_client_addr(s->base);
	v->helo = s->helo;
	v->sender = s->txn->sender;
	v->spf_mailfrom_run = a->mailfrom.run;
	v->spf_mailfrom = a->mailfrom.result;
	v->spf_helo_run = a->helo.run;
	v->spf_helo = a->helo.result;
	v->mailfrom_domain = a->mailfrom_domain;
	for (size_t i = 0; i < n; i++)
		results[i] = dkim_verify_result(a->dkim, i);
	v->dkim = results;
	v->ndkim = n;
}

/* judge: the hooks' verdicts; false after a refusal reply. */
static bool judge(struct smtpd_auth *a, buf *field)
{
	struct session *s = a->s;
	size_t n = a->dkim != NULL ? dkim_verify_count(a->dkim) : 0;
	const struct dkim_result **results = xcalloc(n + 1, sizeof(*results));
	struct smtpd_auth_decision d = { .action = SMTPD_AUTH_ACCEPT };
	struct smtpd_auth_view v;

	fill_view(a, &v, results, n);
	for (size_t i = 0; smtpd_auth_hooks[i] != NULL && i < SMTPD_AUTH_HOOKS_MAX; i++)
		if (a->hook_state[i] != NULL && d.action != SMTPD_AUTH_REFUSE)
			smtpd_auth_hooks[i]->judge(a->hook_state[i], &v, field, &d);
	free(results);
	if (d.action == SMTPD_AUTH_QUARANTINE) {
		log_info("%s: quarantine: message from %s: %s", s->txn->qid, s->client,
			 d.text ? d.text : "");
		q_writer_quarantine(s->txn->writer);
	}
	if (d.action != SMTPD_AUTH_REFUSE) {
		free(d.text);
		return true;
	}
	log_info("%s: reject: message from %s: %d %s %s", s->txn->qid, s->client, d.code, d.dsn,
		 d.text ? d.text : "");
	smtpd_reply(s, d.code, d.dsn, "%s", d.text ? d.text : "Message refused");
	free(d.text);
	smtpd_txn_reset(s);
	return false;
}

/* finish: every verdict is in (or timed out): the field, then commit. */
static void finish(struct smtpd_auth *a)
{
	struct session *s = a->s;
	struct smtpd_txn *t = s->txn;
	buf *field = buf_new(512);
	char *err = NULL;
	bool parked = a->parked;

	a->waiting = WAIT_NONE;
	a->parked = false;
	ev_timer_remove(&a->timer);
	authres_begin(field, s->srv->authserv_id);
	add_spf(a, s, field);
	if (s->srv->dkim_verify)
		add_dkim(a, field);
	log_dkim(a, t->qid);
	if (!judge(a, field)) { /* a is gone */
		buf_free(&field);
		if (parked)
			sess_resume(s->base);
		return;
	}
	authres_end(field);
	if (q_writer_top_header(t->writer, buf_cstr(field), &err) < 0) {
		log_warn("%s: no Authentication-Results: %s", t->qid, err);
		free(err);
	}
	buf_free(&field);
	smtpd_data_commit(s);
}

static bool hooks_ready(struct smtpd_auth *a)
{
	for (size_t i = 0; smtpd_auth_hooks[i] != NULL && i < SMTPD_AUTH_HOOKS_MAX; i++)
		if (a->hook_pending[i])
			return false;
	return true;
}

void smtpd_authres_hook_ready(struct session *s)
{
	struct smtpd_auth *a = s->txn != NULL ? s->txn->auth : NULL;

	if (a == NULL)
		return;
	/* ask each hook still out again: one hook's answer is not another's */
	for (size_t i = 0; smtpd_auth_hooks[i] != NULL && i < SMTPD_AUTH_HOOKS_MAX; i++)
		if (a->hook_pending[i])
			a->hook_pending[i] = !smtpd_auth_hooks[i]->wait(a->hook_state[i]);
	auth_step(a);
}

static void on_timeout(void *ctx)
{
	struct smtpd_auth *a = ctx;

	a->timed_out = true;
	log_warn("%s: sender authentication checks timed out after %llu ms", a->s->client,
		 (unsigned long long)a->s->srv->peername_ms);
	auth_step(a);
}

/* give_up: what is still out after the timeout counts as temperror. */
static void give_up(struct smtpd_auth *a)
{
	static const struct spf_answer late = { SPF_TEMPERROR, NULL, "timed out" };
	struct spf_slot *slots[2] = { &a->mailfrom, &a->helo };

	for (int i = 0; i < 2; i++) {
		if (slots[i]->run && !slots[i]->done) {
			spf_check_free(&slots[i]->check);
			spf_record(slots[i], &late);
		}
	}
	a->dkim_done = true; /* pending signatures show as temperror */
	for (size_t i = 0; smtpd_auth_hooks[i] != NULL && i < SMTPD_AUTH_HOOKS_MAX; i++)
		a->hook_pending[i] = false;
}

/* auth_ready: the answers the current wait needs are in. */
static bool auth_ready(struct smtpd_auth *a)
{
	if (a->timed_out)
		give_up(a);
	if (a->waiting == WAIT_MAIL)
		return a->mailfrom.done;
	return (!a->mailfrom.run || a->mailfrom.done) && (!a->helo.run || a->helo.done) &&
	       (a->dkim == NULL || a->dkim_done) && hooks_ready(a);
}

/* park: the session waits for the verdicts, at most dns_timeout. */
static void park(struct smtpd_auth *a)
{
	struct session *s = a->s;

	a->parked = true;
	sess_wait(s->base);
	a->timer = ev_timer_add(s->srv->loop, s->srv->peername_ms, false, on_timeout, a);
}

/* auth_step: after each answer: goes on with what waits, if it can. */
static void auth_step(struct smtpd_auth *a)
{
	struct session *s = a->s;

	if (a->waiting == WAIT_NONE || !auth_ready(a))
		return;
	ev_timer_remove(&a->timer);
	a->timed_out = false;
	if (a->waiting == WAIT_END) {
		finish(a);
		return;
	}
	a->waiting = WAIT_NONE;
	a->parked = false;
	if (spf_mail_verdict(s, a)) /* else a is gone */
		smtpd_reply(s, 250, "2.1.0", "Ok");
	sess_resume(s->base);
}

void smtpd_authres_end(struct session *s)
{
	struct smtpd_auth *a = s->txn->auth;

	if (a == NULL || !outside(s)) {
		smtpd_data_commit(s);
		return;
	}
	if (a->dkim != NULL && !a->dkim_done && dkim_verify_finish(a->dkim, dkim_done_cb, a) == 1)
		a->dkim_done = true;
	for (size_t i = 0; smtpd_auth_hooks[i] != NULL && i < SMTPD_AUTH_HOOKS_MAX; i++)
		if (a->hook_state[i] != NULL && smtpd_auth_hooks[i]->wait != NULL)
			a->hook_pending[i] = !smtpd_auth_hooks[i]->wait(a->hook_state[i]);
	a->waiting = WAIT_END;
	if (auth_ready(a))
		finish(a);
	else
		park(a);
}

void smtpd_authres_free(struct smtpd_auth **ap)
{
	struct smtpd_auth *a = *ap;

	if (a == NULL)
		return;
	*ap = NULL;
	ev_timer_remove(&a->timer);
	spf_check_free(&a->mailfrom.check);
	spf_check_free(&a->helo.check);
	free(a->mailfrom.explanation);
	free(a->mailfrom.reason);
	free(a->helo.explanation);
	free(a->helo.reason);
	free(a->mailfrom_domain);
	dkim_verify_free(&a->dkim);
	for (size_t i = 0; smtpd_auth_hooks[i] != NULL && i < SMTPD_AUTH_HOOKS_MAX; i++)
		if (a->hook_state[i] != NULL)
			smtpd_auth_hooks[i]->free(a->hook_state[i]);
	free(a);
}
