/* dkimsign.c: smtpd's DKIM signing (dkimsign.h). Who is signed: a client
 * that did AUTH, or one smtpd trusts to relay (mynetworks and the local
 * submission socket sendmail uses): the clients whose mail leaves as this
 * site's, as opendkim's InternalHosts and authenticated senders. The
 * header block (at most header_size_limit) is kept until the end, since a
 * DKIM signer hashes the body first and the header last; the body is
 * never held, only hashed as it passes. The table domain comes from
 * From: (what DMARC aligns with), else from the envelope sender; for a
 * logged-in user From: counts only when it is the domain of the login or
 * of the envelope sender (from_allowed). A table
 * or key trouble is temporary: 451 4.7.0, never a message sent unsigned
 * that the domain's DMARC policy may then reject. A message that cannot
 * be signed by its own fault (no From:) goes unsigned, with a log line. */
#include "dkimsign.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim_policy.h"
#include "log.h"
#include "mem.h"
#include "smtpd.h"

struct smtpd_sign {
	dkim_policy_signing *signing;
	buf *header;
	bool skip_lf; /* the next body byte is the separating empty line */
	bool temp; /* no signing possible now: refuse at the end */
	char *why;
};

static dkim_policy *policy; /* one smtpd server per process */

void smtpd_sign_init(cfg *c)
{
	char *err = NULL;

	policy = dkim_policy_new(c, &err);
	if (err != NULL)
		log_fatal("%s", err);
}

void smtpd_sign_free(struct smtpd_sign **sp)
{
	struct smtpd_sign *g = *sp;

	if (g == NULL)
		return;
	dkim_policy_signing_free(&g->signing);
	buf_free(&g->header);
	free(g->why);
	free(g);
	*sp = NULL;
}

/* domain_of: the domain of an address, or NULL. */
static const char *domain_of(const char *address)
{
	const char *at = address != NULL ? strrchr(address, '@') : NULL;

	return at != NULL && at[1] != '\0' ? at + 1 : NULL;
}

/* from_allowed: the From: domain may choose the key. A user who logged
 * in (and is not also trusted) gets it only for the domain of the login
 * or of the envelope sender (which smtpd_policy_sender tied to the login),
 * so that one hosted domain's user cannot have mail signed as another
 * hosted domain's; such mail is signed with the envelope domain's key. */
static bool from_allowed(const struct session *s, const char *from)
{
	const char *env = domain_of(s->txn->sender), *login = domain_of(s->auth_user);

	if (s->trusted || from == NULL)
		return true;
	return (env != NULL && strcasecmp(from, env) == 0) ||
	       (login != NULL && strcasecmp(from, login) == 0);
}

void smtpd_sign_header(struct session *s, const char *hdr, size_t len, const buf *added,
		       bool at_blank_line)
{
	struct smtpd_txn *t = s->txn;
	struct smtpd_sign *g;
	char *from;
	enum dkim_policy_result r;

	if (policy == NULL || t->fail != FAIL_NONE || (!s->trusted && s->auth_user == NULL))
		return;
	g = xcalloc(1, sizeof(*g));
	g->header = buf_new(len + 256);
	buf_append(g->header, hdr, len);
	if (added != NULL)
		buf_append(g->header, buf_cstr(added), buf_len(added));
	g->skip_lf = at_blank_line;
	from = dkim_policy_from_domain(buf_cstr(g->header), buf_len(g->header));
	if (!from_allowed(s, from)) {
		log_info("%s: From: domain %s is not %s's: signed for the envelope sender's domain "
			 "if at all", t->qid, from, s->auth_user);
		free(from);
		from = NULL;
	}
	r = dkim_policy_start(policy, t->qid, from, domain_of(t->sender), &g->signing, &g->why);
	free(from);
	if (r == DKIM_POLICY_NONE) {
		smtpd_sign_free(&g);
		return;
	}
	g->temp = r == DKIM_POLICY_TEMP;
	t->sign = g;
}

void smtpd_sign_body(struct session *s, const char *data, size_t len)
{
	struct smtpd_sign *g = s->txn->sign;

	if (g == NULL || g->signing == NULL || len == 0)
		return;
	if (g->skip_lf) {
		g->skip_lf = false;
		if (data[0] == '\n') {
			data++;
			len--;
		}
	}
	dkim_policy_body(g->signing, data, len);
}

int smtpd_sign_end(struct session *s)
{
	struct smtpd_txn *t = s->txn;
	struct smtpd_sign *g = t->sign;
	buf *sigs;
	char *err = NULL;

	if (g == NULL)
		return 0;
	if (g->temp) {
		log_warn("%s: not signed, deferred: %s", t->qid, g->why ? g->why : "DKIM trouble");
		return -1;
	}
	sigs = buf_new(2048);
	if (dkim_policy_finish(g->signing, buf_cstr(g->header), buf_len(g->header), sigs,
			       &err) < 0 ||
	    q_writer_top_fields(t->writer, buf_cstr(sigs), buf_len(sigs), &err) < 0) {
		/* the message's fault (no From:): a retry would not help */
		log_warn("%s: not signed: %s", t->qid, err);
	} else {
		log_info("%s: dkim-signed d=%s s=%s", t->qid,
			 dkim_policy_signing_domain(g->signing),
			 dkim_policy_signing_selectors(g->signing));
	}
	free(err);
	buf_free(&sigs);
	smtpd_sign_free(&t->sign);
	return 0;
}
