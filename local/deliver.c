/* deliver.c: one delivery request of local. For each recipient: expand it
 * (resolve.h), write a copy into each target Maildir (md.h: deterministic
 * names from queue ID + final address + Maildir, so a retry finds earlier
 * copies instead of writing new ones), forward outside targets (forward.c),
 * and note each Maildir touched in the batch: new/ is fsynced once per
 * Maildir for a whole batch of requests (local_batch_sync) before any
 * answer says "delivered". A recipient with several targets is delivered only when
 * all of them are; otherwise it is deferred and the retry skips the copies
 * already made. Recipients of one request that expand to the same final
 * address (two aliases of one mailbox, an alias and its target) get one
 * copy, as Postfix's duplicate filter gives; across requests and attempts
 * the Maildir name, keyed by the final address (md.h), finds the copy made
 * for the other recipient. Answers:
 *   delivered or already there      2.0.0 delivered to maildir
 *   over quota                      4.2.2 mailbox full
 *   mail store below local_minfree  4.3.1 <reason: path, free, reserve>
 *   disk, permission, map trouble   4.3.0 <reason, with the system error>
 *   no such mailbox or alias        5.1.1 user unknown */
#include "local.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "md.h"
#include "mem.h"

struct request {
	struct local *l;
	struct q_msg *msg;
	bool recover;
	struct local_result *res;
	struct local_batch *batch;
	char **done; /* final addresses delivered or forwarded in this request */
	int ndone;
};

static bool already_done(const struct request *rq, const char *address)
{
	for (int i = 0; i < rq->ndone; i++)
		if (strcmp(rq->done[i], address) == 0)
			return true;
	return false;
}

static void note_done(struct request *rq, const char *address)
{
	rq->done = xrealloc(rq->done, (size_t)(rq->ndone + 1) * sizeof(*rq->done));
	rq->done[rq->ndone++] = xstrdup(address);
}

static void log_same_target(const struct request *rq, int rcpt, const char *address)
{
	log_info("%s: to=<%s>, orig_to=<%s>, status=duplicate (an earlier recipient of this "
		 "message has the same target)",
		 rq->msg->id, address, rq->msg->env.rcpts[rcpt].address);
}

static void set_result(struct local_result *r, const char *dsn, const char *reason)
{
	free(r->dsn);
	free(r->reason);
	r->dsn = xstrdup(dsn);
	r->reason = xstrdup(reason);
}

static void note_touched(struct request *rq, const char *maildir, int result)
{
	struct local_batch *b = rq->batch;

	b->touched = xrealloc(b->touched, (size_t)(b->ntouched + 1) * sizeof(*b->touched));
	b->touched[b->ntouched].maildir = xstrdup(maildir);
	b->touched[b->ntouched].result = &rq->res[result];
	b->ntouched++;
}

/* ensure_maildir: a mailbox listed in the map gets its Maildir made on
 * first delivery. */
static int ensure_maildir(const char *maildir, char **err_r)
{
	char *newdir = xasprintf("%s/new", maildir);
	struct stat st;
	int rc = 0;

	if (stat(newdir, &st) < 0)
		rc = md_create(maildir, false, err_r);
	free(newdir);
	return rc;
}

/* target_dir: where the copy goes: the Maildir, or for a message DMARC
 * quarantined (the queue file's Q record) its Junk folder, the
 * special-use folder imapd shows as \Junk (Maildir++ ".Junk", made when
 * missing, as Dovecot's LDA does with autocreate). Heap. */
static char *target_dir(const struct q_msg *msg, const struct resolve_target *t)
{
	if (msg->env.quarantine)
		return xasprintf("%s/" LOCAL_JUNK_FOLDER, t->maildir);
	return xstrdup(t->maildir);
}

static int ensure_target_dir(const struct q_msg *msg, const struct resolve_target *t,
			     const char *dir, char **err_r)
{
	char *newdir;
	struct stat st;
	int rc;

	if (ensure_maildir(t->maildir, err_r) < 0)
		return -1;
	if (!msg->env.quarantine)
		return 0;
	newdir = xasprintf("%s/new", dir);
	rc = stat(newdir, &st) < 0 ? md_create(dir, true, err_r) : 0;
	free(newdir);
	return rc;
}

static enum md_result deliver_target(struct request *rq, int rcpt,
				     const struct resolve_target *t, const char *dir,
				     char **err_r)
{
	const struct q_msg *msg = rq->msg;
	char *prefix, *name = NULL;
	struct md_delivery d;
	enum md_result res;

	if (ensure_target_dir(msg, t, dir, err_r) < 0)
		return MD_TEMP;
	prefix = xasprintf("Return-Path: <%s>\nDelivered-To: %s\n%s", msg->env.sender, t->address,
			   msg->top != NULL ? msg->top : "");
	d = (struct md_delivery){
		.maildir = dir,
		.queue_id = msg->id,
		.rcpt_index = rcpt,
		.address = t->address,
		.arrival = msg->env.arrival,
		.prefix = prefix,
		.src_fd = msg->fd,
		.offset = msg->content_offset,
		.length = msg->content_size,
		.recover = rq->recover,
		.quota_bytes = t->quota,
		.min_free = rq->l->min_free,
	};
	res = md_deliver(&d, &name, err_r);
	if (res == MD_OK || res == MD_DUPLICATE)
		log_info("%s: to=<%s>, orig_to=<%s>, maildir=%s, status=%s (%s)", msg->id,
			 t->address, msg->env.rcpts[rcpt].address, dir,
			 res == MD_OK ? "sent" : "duplicate", name ? name : "");
	free(name);
	free(prefix);
	return res;
}

/* target_failed: the deferral of a recipient whose Maildir copy failed;
 * never a 5xx: a full or unwritable mail store is temporary. */
static void target_failed(struct request *rq, struct local_result *r, enum md_result res,
			  const char *address, const char *why)
{
	if (res == MD_SPACE)
		log_warn("%s: to=<%s>: deferred: %s", rq->msg->id, address, why);
	else
		log_info("%s: to=<%s>: %s", rq->msg->id, address, why);
	if (res == MD_QUOTA)
		set_result(r, "4.2.2", "mailbox full");
	else
		set_result(r, res == MD_SPACE ? "4.3.1" : "4.3.0", why);
}

/* deliver_targets: the Maildir targets; fills *r on the first failure. */
static bool deliver_targets(struct request *rq, int k, struct resolve_target *t, int n)
{
	struct local_result *r = &rq->res[k];
	bool ok = true;

	for (int i = 0; i < n; i++) {
		char *err = NULL, *why;
		enum md_result res;

		if (t[i].maildir == NULL)
			continue;
		if (already_done(rq, t[i].address)) {
			log_same_target(rq, r->rcpt, t[i].address);
			continue;
		}
		char *dir = target_dir(rq->msg, &t[i]);

		res = deliver_target(rq, r->rcpt, &t[i], dir, &err);
		if (res == MD_OK || res == MD_DUPLICATE) {
			note_touched(rq, dir, k);
			note_done(rq, t[i].address);
		} else if (ok) {
			ok = false;
			why = xasprintf("%s: %s", t[i].address, err ? err : "delivery failed");
			target_failed(rq, r, res, t[i].address, why);
			free(why);
		}
		free(dir);
		free(err);
	}
	return ok;
}

static void forward_targets(struct request *rq, int k, struct resolve_target *t, int n)
{
	struct local_result *r = &rq->res[k];
	char **addrs = xcalloc((size_t)n + 1, sizeof(char *)), *err = NULL;
	int nfwd = 0;

	for (int i = 0; i < n; i++) {
		if (t[i].maildir != NULL)
			continue;
		if (already_done(rq, t[i].address))
			log_same_target(rq, r->rcpt, t[i].address);
		else
			addrs[nfwd++] = t[i].address;
	}
	if (nfwd > 0 && local_forward(rq->l, rq->msg, r->rcpt, addrs, nfwd, &err) < 0) {
		log_warn("%s: cannot forward: %s", rq->msg->id, err);
		set_result(r, "4.3.0", "cannot queue the forwarded copy");
	} else {
		for (int i = 0; i < nfwd; i++)
			note_done(rq, addrs[i]);
	}
	free(err);
	free(addrs);
}

static void deliver_rcpt(struct request *rq, int k)
{
	struct local_result *r = &rq->res[k];
	const char *address = rq->msg->env.rcpts[r->rcpt].address;
	struct resolve_target *t;
	int n;
	char *why = NULL;
	enum resolve_result res = resolver_expand(rq->l->resolver, address, &t, &n, &why);

	if (res == RESOLVE_NOTFOUND) {
		log_info("%s: to=<%s>: %s", rq->msg->id, address, why);
		set_result(r, "5.1.1", "user unknown");
	} else if (res == RESOLVE_TEMP) {
		log_warn("%s: to=<%s>: %s", rq->msg->id, address, why);
		set_result(r, "4.3.0", why);
	} else {
		set_result(r, "2.0.0", "delivered to maildir");
		if (deliver_targets(rq, k, t, n))
			forward_targets(rq, k, t, n);
	}
	free(why);
	resolver_targets_free(&t, n);
}

/* local_batch_sync: see local.h. */
void local_batch_sync(struct local_batch *b)
{
	for (int i = 0; i < b->ntouched; i++) {
		bool seen = false;

		for (int j = 0; j < i && !seen; j++)
			seen = strcmp(b->touched[j].maildir, b->touched[i].maildir) == 0;
		if (seen || md_sync_new(b->touched[i].maildir) == 0)
			continue;
		log_warn("fsync %s/new: %s", b->touched[i].maildir, strerror(errno));
		for (int j = i; j < b->ntouched; j++)
			if (strcmp(b->touched[j].maildir, b->touched[i].maildir) == 0)
				set_result(b->touched[j].result, "4.3.0", "cannot fsync the Maildir");
	}
	for (int i = 0; i < b->ntouched; i++)
		free(b->touched[i].maildir);
	free(b->touched);
	b->touched = NULL;
	b->ntouched = 0;
}

void local_deliver(struct local *l, const char *queue_id, const char *path, bool recover,
		   struct local_result *res, int n, struct local_batch *batch)
{
	struct request rq = { .l = l, .recover = recover, .res = res, .batch = batch };
	char *err = NULL;

	if (q_msg_open_ro(path, &rq.msg, &err) < 0) {
		log_warn("%s: cannot read the queue file: %s", queue_id, err);
		for (int k = 0; k < n; k++)
			set_result(&res[k], "4.3.0", "cannot read the queue file");
		free(err);
		return;
	}
	for (int k = 0; k < n; k++) {
		if (res[k].rcpt < 0 || res[k].rcpt >= rq.msg->env.nrcpts)
			set_result(&res[k], "4.3.0", "no such recipient in the queue file");
		else
			deliver_rcpt(&rq, k);
	}
	q_msg_free(&rq.msg);
	for (int i = 0; i < rq.ndone; i++)
		free(rq.done[i]);
	free(rq.done);
}
