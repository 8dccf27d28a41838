/* cmd_txn.c: the verbs of a mail transaction: MAIL FROM (sender, SIZE,
 * BODY, SMTPUTF8, DSN RET/ENVID, the free-space reserve), RCPT TO
 * (recipient limit, syntax, DSN NOTIFY/ORCPT, then the policy check of
 * policy.c), DATA and BDAT (which hand the content to data.c). Each
 * parses, checks, acts and replies in that order; the reply codes follow
 * RFC 5321, 3463, 1870, 3030, 6531. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fsutil.h"
#include "log.h"
#include "mem.h"
#include "smtpd.h"

/* parse_path: addr_parse_path, except that on the local submission socket
 * a bare user name (<root>, as cron and scripts give it) is qualified
 * with $myorigin first; lib/addr itself accepts only <postmaster> bare. */
static enum addr_err parse_path(struct session *s, const char *path, struct addr *a,
				const char **rest_r, const char **why_r)
{
	const char *gt = strchr(path, '>');
	enum addr_err rc;
	char *qualified;

	if (!s->srv->local_service || path[0] != '<' || gt == NULL || gt == path + 1 ||
	    memchr(path, '@', (size_t)(gt - path)) != NULL ||
	    memchr(path, '"', (size_t)(gt - path)) != NULL ||
	    (gt - path == 11 && strncasecmp(path + 1, "postmaster", 10) == 0))
		return addr_parse_path(path, true, a, rest_r, why_r);
	qualified = xasprintf("<%.*s@%s>", (int)(gt - path - 1), path + 1, s->srv->myorigin);
	rc = addr_parse_path(qualified, true, a, NULL, why_r);
	free(qualified);
	*rest_r = gt + 1;
	while (**rest_r == ' ' || **rest_r == '\t')
		(*rest_r)++;
	return rc;
}

/* ---- MAIL ---- */

/* sender_address: the canonical sender, or NULL after the reply. */
static char *sender_address(struct session *s, struct addr *a)
{
	if (a->domain == NULL && a->local[0] != '\0') {
		if (!s->srv->local_service) {
			smtpd_reply(s, 501, "5.1.7", "Bad sender address syntax: need fully-qualified address");
			return NULL;
		}
		a->domain = xstrdup(s->srv->myorigin); /* a local user's bare name */
	}
	return addr_format(a);
}

static bool mail_checks(struct session *s, const struct addr *a,
			const struct smtpd_mail_params *p)
{
	if (a->utf8 && !p->smtputf8) {
		smtpd_reply(s, 553, "5.6.7", "Error: SMTPUTF8 is needed for this address");
		return false;
	}
	if (s->srv->size_limit > 0 && p->size > s->srv->size_limit) {
		smtpd_reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
		return false;
	}
	return true;
}

/* queue_space_ok: the free-space reserve (queue_minfree): the queue file
 * system must keep the reserve after the message the client announced
 * (SIZE=). Refused with 452 4.3.1 before the body is sent; not counted as
 * an error. A file system that cannot be asked is let through (the queue
 * write itself then tells). Costs one statvfs (about 0.5 us). */
static bool queue_space_ok(struct session *s, const struct smtpd_mail_params *p)
{
	long long need = p->size > 0 ? p->size : 0, free_bytes;

	if (fs_free_bytes(s->srv->queue_dir, &free_bytes) < 0) {
		log_warn("cannot get the free space of %s: %s", s->srv->queue_dir, strerror(errno));
		return true;
	}
	if (!fs_space_short(free_bytes, s->srv->queue_minfree, need))
		return true;
	log_warn("reject: MAIL from %s: 452 4.3.1 queue file system has %lld bytes free, below"
		 " queue_minfree %lld (+ SIZE= %lld)", s->client, free_bytes, s->srv->queue_minfree,
		 need);
	smtpd_reply_storage(s);
	return false;
}

void smtpd_cmd_mail(struct session *s, const char *arg)
{
	const char *path = smtpd_parse_path_keyword(arg, "FROM:"), *rest, *why;
	struct smtpd_mail_params params;
	struct smtpd_perr perr;
	struct addr a;
	char *sender;

	if (s->srv->auth_required && s->auth_user == NULL) {
		smtpd_reply(s, 530, "5.7.0", "Authentication required");
		return;
	}
	if (path == NULL) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		return;
	}
	if (parse_path(s, path, &a, &rest, &why) != ADDR_OK) {
		smtpd_reply(s, 501, "5.1.7", "Bad sender address syntax (%s)", why);
		return;
	}
	if (smtpd_parse_mail_params(rest, &params, &perr) < 0) {
		addr_clear(&a);
		smtpd_reply(s, perr.code, perr.dsn, "%s", perr.text);
		return;
	}
	sender = mail_checks(s, &a, &params) ? sender_address(s, &a) : NULL;
	addr_clear(&a);
	if (sender != NULL && (smtpd_policy_sender(s, sender) < 0 || !queue_space_ok(s, &params))) {
		free(sender);
		sender = NULL;
	}
	if (sender == NULL) {
		smtpd_mail_params_clear(&params);
		return;
	}
	s->txn = xcalloc(1, sizeof(*s->txn));
	s->txn->sender = sender;
	s->txn->params = params;
	smtpd_enter_state(s, ST_MAIL);
	if (smtpd_authres_mail(s))
		return; /* the reply waits for the SPF verdict */
	smtpd_reply(s, 250, "2.1.0", "Ok");
}

/* ---- RCPT ---- */

/* rcpt_parse: fills a and params or replies. */
static bool rcpt_parse(struct session *s, const char *arg, struct addr *a,
		       struct smtpd_rcpt_params *params)
{
	const char *path = smtpd_parse_path_keyword(arg, "TO:"), *rest, *why;
	struct smtpd_perr perr;

	if (path == NULL) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		return false;
	}
	if (parse_path(s, path, a, &rest, &why) != ADDR_OK) {
		smtpd_reply(s, 501, "5.1.3", "Bad recipient address syntax (%s)", why);
		return false;
	}
	if (a->local[0] == '\0' && a->domain == NULL) {
		addr_clear(a);
		smtpd_reply(s, 501, "5.1.3", "Bad recipient address syntax");
		return false;
	}
	if (a->utf8 && !s->txn->params.smtputf8) {
		addr_clear(a);
		smtpd_reply(s, 553, "5.6.7", "Error: SMTPUTF8 is needed for this address");
		return false;
	}
	if (smtpd_parse_rcpt_params(rest, params, &perr) < 0) {
		addr_clear(a);
		smtpd_reply(s, perr.code, perr.dsn, "%s", perr.text);
		return false;
	}
	return true;
}

static void rcpt_add(struct smtpd_txn *t, char *address, struct smtpd_rcpt_params *params)
{
	struct q_rcpt *r;

	if (t->nrcpts == t->rcpt_cap) {
		t->rcpt_cap = t->rcpt_cap ? t->rcpt_cap * 2 : 4;
		t->rcpts = xrealloc(t->rcpts, (size_t)t->rcpt_cap * sizeof(*t->rcpts));
	}
	r = &t->rcpts[t->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->address = address;
	r->orcpt = params->orcpt;
	r->notify = params->notify;
	r->state = Q_RCPT_PENDING;
	params->orcpt = NULL;
}

/* rcpt_overshoot: a recipient past smtpd_recipient_limit gets 452 4.5.3,
 * and the client sends it again in a later transaction (RFC 5321 section
 * 4.5.3.1.10). The first smtpd_recipient_overshoot_limit of them in one
 * transaction do not count as errors, so a client that pipelines more
 * recipients than the limit keeps its transaction and the accepted ones;
 * past that each one counts, as in Postfix. */
static void rcpt_overshoot(struct session *s)
{
	struct smtpd_txn *t = s->txn;

	if (t->overshoot++ == 0)
		log_info("reject: RCPT from %s: 452 4.5.3 more than %d recipients; this and the"
			 " later ones of the message refused", s->client, s->srv->rcpt_limit);
	if (t->overshoot <= s->srv->rcpt_overshoot_limit) {
		smtpd_reply_raw(s, "452 4.5.3 Error: too many recipients\r\n");
		return;
	}
	smtpd_reply(s, 452, "4.5.3", "Error: too many recipients");
}

void smtpd_cmd_rcpt(struct session *s, const char *arg)
{
	struct smtpd_rcpt_params params;
	struct addr a;
	char *address;
	int rc;

	if (s->txn->nrcpts >= s->srv->rcpt_limit) {
		rcpt_overshoot(s);
		return;
	}
	if (!rcpt_parse(s, arg, &a, &params))
		return;
	rc = smtpd_policy_rcpt(s, &a, &address);
	addr_clear(&a);
	if (rc == 0) {
		rcpt_add(s->txn, address, &params);
		smtpd_enter_state(s, ST_RCPT);
		smtpd_reply(s, 250, "2.1.5", "Ok");
	}
	smtpd_rcpt_params_clear(&params);
}

/* ---- DATA ---- */

void smtpd_cmd_data(struct session *s, const char *arg)
{
	if (*arg != '\0') {
		smtpd_reply(s, 501, "5.5.4", "Syntax: DATA");
		return;
	}
	if (s->state != ST_RCPT) {
		smtpd_reply(s, 554, "5.5.1", "Error: no valid recipients");
		return;
	}
	if (!smtpd_data_start(s)) {
		smtpd_reply_storage(s);
		return;
	}
	dot_decoder_init(&s->txn->dot);
	smtpd_enter_state(s, ST_DATA);
	smtpd_session_content(s, IN_DATA);
	smtpd_reply(s, 354, "3.0.0", "End data with <CR><LF>.<CR><LF>");
}

/* ---- BDAT ----
 * The chunk's bytes are read whatever the verdict, so a refused chunk is
 * never taken for commands; the reply comes after the last byte. */

static void perr_set(struct smtpd_perr *e, int code, const char *dsn, const char *text)
{
	e->code = code;
	e->dsn = dsn;
	e->text = text;
}

/* bdat_verdict: whether this chunk can go into the transaction. */
static void bdat_verdict(struct session *s, unsigned long long size)
{
	struct smtpd_perr *e = &s->chunk_err;

	perr_set(e, 0, NULL, NULL);
	if (s->state == ST_CONNECT || s->state == ST_READY)
		perr_set(e, 503, "5.5.1", "Error: need MAIL command");
	else if (s->state == ST_MAIL)
		perr_set(e, 554, "5.5.1", "Error: no valid recipients");
	else if (s->srv->size_limit > 0 &&
		 (long long)size > s->srv->size_limit - s->txn->size)
		perr_set(e, 552, "5.3.4", "Message size exceeds fixed limit");
	else if (s->state == ST_RCPT && !smtpd_data_start(s))
		perr_set(e, 452, "4.3.1", SMTPD_STORAGE_TEXT);
}

void smtpd_cmd_bdat(struct session *s, const char *arg)
{
	unsigned long long size;
	bool last;

	if (smtpd_parse_bdat(arg, &size, &last) < 0) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: BDAT count [LAST]");
		return;
	}
	bdat_verdict(s, size);
	if (s->chunk_err.code == 0 && s->state == ST_RCPT) {
		s->txn->bdat = true;
		smtpd_enter_state(s, ST_BDAT);
	}
	s->chunk_left = size;
	s->chunk_last = last;
	smtpd_session_content(s, IN_CHUNK);
}
