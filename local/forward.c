/* forward.c: mail for a recipient whose aliases point outside the hosted
 * domains. local does not relay: it queues a new message (same sender,
 * same content, the outside addresses as recipients with the original
 * recipient as ORCPT) through q_writer exactly as smtpd does, fsyncs
 * incoming/ and triggers qmgr, which routes it to the relay transport.
 * A copy of mail smtpd checked gets an ARC set on top (arcseal.c).
 * XXX: a delivery retried in recover mode after a crash may forward a
 * second copy (the new queue file's name is not derived from the old one);
 * duplicates are possible there, losses are not. */
#include "local.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "attr.h"
#include "log.h"
#include "mem.h"
#include "sock.h"

static int write_envelope(q_writer *w, const struct q_msg *msg, int rcpt, char **addrs, int n,
			  char **err_r)
{
	const struct q_rcpt *orig = &msg->env.rcpts[rcpt];
	struct q_rcpt *rcpts = xcalloc((size_t)n, sizeof(*rcpts));
	char *orcpt = orig->orcpt ? xstrdup(orig->orcpt) : addr_orcpt(orig->address);
	struct q_envelope env = msg->env;
	int rc;

	for (int i = 0; i < n; i++) {
		rcpts[i].address = addrs[i];
		rcpts[i].orcpt = orcpt;
		rcpts[i].notify = orig->notify;
		rcpts[i].state = Q_RCPT_PENDING;
	}
	env.arrival = time(NULL);
	env.client = "local forward";
	env.rcpts = rcpts;
	env.nrcpts = n;
	rc = q_writer_envelope(w, &env, err_r);
	free(orcpt);
	free(rcpts);
	return rc;
}

/* trigger_qmgr: best effort; qmgr's scans find the file anyway. */
static void trigger_qmgr(struct local *l, const char *id)
{
	attr_rec *rec = attr_new("qmgr_trigger");
	char *err = NULL;
	int fd = sock_connect_unix(l->qmgr_socket, &err);

	attr_add_str(rec, "queue_id", id);
	if (fd < 0 || attr_send(fd, rec, l->ipc_timeout_ms, &err) < 0)
		log_warn("%s: cannot trigger qmgr: %s", id, err ? err : "unknown error");
	if (fd >= 0)
		close(fd);
	free(err);
	attr_free(&rec);
}

int local_forward(struct local *l, const struct q_msg *msg, int rcpt, char **addrs, int n,
		  char **err_r)
{
	q_writer *w = q_writer_new(l->queue_dir, err_r);
	char *id;

	if (w == NULL)
		return -1;
	if (write_envelope(w, msg, rcpt, addrs, n, err_r) < 0 ||
	    q_writer_copy_content(w, msg, q_msg_size(msg), NULL, err_r) < 0 ||
	    local_arc_seal(l, msg, rcpt, w, err_r) < 0) {
		q_writer_abort(&w);
		return -1;
	}
	id = xstrdup(q_writer_id(w));
	if (q_writer_commit(&w, err_r) < 0) {
		free(id);
		return -1;
	}
	if (q_sync_dir(l->queue_dir, Q_INCOMING) < 0) {
		*err_r = xasprintf("fsync %s/%s: %s", l->queue_dir, Q_INCOMING, strerror(errno));
		free(id);
		return -1;
	}
	log_info("%s: to=<%s>: forwarded to %d address(es) as %s", msg->id,
		 msg->env.rcpts[rcpt].address, n, id);
	trigger_qmgr(l, id);
	free(id);
	return 0;
}
