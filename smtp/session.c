/* session.c: one SMTP connection, run by lib/smtpc for the delivery that
 * opened it, and the cache of connections kept for the next message to
 * the same next hop. When a message is done (smtpc's next_msg) the
 * session first takes a delivery of this process that is still resolving
 * or connecting to the same next hop and TLS level; else it parks the
 * connection idle for smtp_connection_cache_time_limit, and a request
 * that comes meanwhile takes it (session_take); else QUIT. smtpc keeps
 * pointing at the last message until the next one comes or it is freed,
 * so the delivery that owns it is released only then. */
#include "smtp.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"

struct session {
	struct smtp *s;
	smtpc *client;
	struct smtpc_config cfg;
	char *key;
	char *host; /* "host[addr]" */
	char *relay; /* "host[addr]:port" */
	char *peername, *auth_user, *auth_pass;
	struct delivery *d; /* the message in progress */
	struct delivery *spent; /* done, but smtpc's message is still its */
	bool reused; /* carries a second (or later) message */
	bool tls_logged;
	char **match;
	bool parked; /* in the idle list */
	struct session *prev, *next; /* the idle list */
	struct session *all_prev, *all_next; /* every session */
};

static struct session *idle;
/* Every live session: a process told to stop exits without waiting for
 * the QUITs, and what it leaves stays reachable (no leak report). */
static struct session *all;

const char *session_relay(const struct session *sess)
{
	return sess->relay;
}

const char *session_host(const struct session *sess)
{
	return sess->host;
}

bool session_reused(const struct session *sess)
{
	return sess->reused;
}

static void release_spent(struct session *sess)
{
	struct delivery *d = sess->spent;

	sess->spent = NULL;
	if (d != NULL)
		delivery_release(d);
}

static void idle_remove(struct session *sess)
{
	if (!sess->parked)
		return;
	sess->parked = false;
	if (sess->prev != NULL)
		sess->prev->next = sess->next;
	else
		idle = sess->next;
	if (sess->next != NULL)
		sess->next->prev = sess->prev;
	sess->prev = sess->next = NULL;
}

/* log_tls: once per connection, as Postfix does. */
static void log_tls(struct session *sess, const char *queue_id)
{
	const struct smtpc_tls *t = smtpc_tls(sess->client);

	if (sess->tls_logged || !t->used)
		return;
	sess->tls_logged = true;
	log_info("%s%s%s TLS connection established to %s: %s with cipher %s",
		 queue_id ? queue_id : "", queue_id ? ": " : "",
		 t->verified ? "Verified" : "Untrusted", sess->relay, t->protocol, t->cipher);
}

/* park: the idle list, for the next request to this next hop; smtpc
 * says QUIT itself after smtp_connection_cache_time_limit. */
static struct smtpc_msg *park(struct session *sess)
{
	sess->parked = true;
	sess->next = idle;
	if (idle != NULL)
		idle->prev = sess;
	idle = sess;
	return SMTPC_PARK;
}

static struct smtpc_msg *on_next_msg(void *ctx, smtpc *c)
{
	struct session *sess = ctx;
	struct delivery *d = sess->d, *next;

	release_spent(sess);
	log_tls(sess, d ? delivery_queue_id(d) : NULL);
	sess->d = NULL;
	if (d != NULL) {
		delivery_message_done(d, sess, c);
		sess->spent = d;
	}
	next = delivery_take_waiting(sess->key);
	if (next != NULL) {
		sess->d = next;
		sess->reused = true;
		delivery_attached(next, sess);
		return delivery_msg(next);
	}
	if (sess->s->cache_time_ms > 0 && !svc_stopping(sess->s->service))
		return park(sess);
	return NULL;
}

/* trace: the dialogue at log_level = debug; AUTH lines come masked. */
static void trace(void *ctx, bool out, const char *line)
{
	struct session *sess = ctx;

	log_debug("%s %s %s", sess->relay, out ? ">" : "<", line);
}

static void session_free(struct session *sess)
{
	if (sess->all_prev != NULL)
		sess->all_prev->all_next = sess->all_next;
	else
		all = sess->all_next;
	if (sess->all_next != NULL)
		sess->all_next->all_prev = sess->all_prev;
	free(sess->key);
	free(sess->host);
	free(sess->relay);
	free(sess->peername);
	free(sess->auth_user);
	free(sess->auth_pass);
	for (char **m = sess->match; m != NULL && *m != NULL; m++)
		free(*m);
	free(sess->match);
	free(sess);
}

static void on_done(void *ctx, smtpc *c)
{
	struct session *sess = ctx;
	struct delivery *d = sess->d;

	idle_remove(sess);
	sess->d = NULL;
	if (d != NULL) {
		log_tls(sess, delivery_queue_id(d));
		delivery_session_ended(d, sess, c);
	}
	smtpc_free(&sess->client);
	release_spent(sess);
	if (d != NULL)
		delivery_release(d);
	session_free(sess);
}

void session_start(struct smtp *s, struct delivery *d, int fd, const struct session_params *p)
{
	struct session *sess = xcalloc(1, sizeof(*sess));
	const struct nexthop_addr *a = p->addr;

	sess->s = s;
	sess->all_next = all;
	if (all != NULL)
		all->all_prev = sess;
	all = sess;
	sess->key = xstrdup(delivery_key(d));
	sess->host = xasprintf("%s[%s]", a->host, a->addr);
	sess->relay = nexthop_addr_relay(a);
	sess->peername = p->peername ? xstrdup(p->peername) : NULL;
	sess->auth_user = p->auth_user ? xstrdup(p->auth_user) : NULL;
	sess->auth_pass = p->auth_pass ? xstrdup(p->auth_pass) : NULL;
	sess->cfg.helo_name = s->helo_name;
	sess->cfg.tls_level = p->level;
	sess->cfg.tls_ctx = s->tls_ctx;
	sess->cfg.tls_peername = sess->peername;
	sess->match = p->match;
	sess->cfg.tls_match = (const char *const *)sess->match;
	sess->cfg.park_idle_ms = s->cache_time_ms;
	sess->cfg.auth_user = sess->auth_user;
	sess->cfg.auth_pass = sess->auth_pass;
	sess->cfg.auth_plaintext = s->sasl_plaintext;
	sess->cfg.timeouts = s->timeouts;
	sess->cfg.no_pipelining = !s->pipelining;
	sess->cfg.trace = s->trace ? trace : NULL; /* no per-line cost otherwise */
	sess->cfg.next_msg = on_next_msg;
	sess->cfg.done = on_done;
	sess->cfg.ctx = sess;
	sess->d = d;
	delivery_attached(d, sess);
	sess->client = smtpc_start(s->loop, fd, &sess->cfg, delivery_msg(d));
}

bool session_take(struct smtp *s, const char *key, struct delivery *d)
{
	struct delivery *old;

	for (struct session *sess = idle; sess != NULL; sess = sess->next) {
		if (strcmp(sess->key, key) != 0)
			continue;
		idle_remove(sess);
		old = sess->spent; /* smtpc lets go of its message in resume */
		sess->spent = NULL;
		sess->d = d;
		sess->reused = true;
		delivery_attached(d, sess);
		smtpc_resume(sess->client, delivery_msg(d));
		if (old != NULL)
			delivery_release(old);
		return true;
	}
	(void)s;
	return false;
}

void session_close_idle(void)
{
	while (idle != NULL) {
		struct session *sess = idle;

		idle_remove(sess);
		smtpc_resume(sess->client, NULL);
	}
}
