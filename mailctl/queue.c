/* queue.c: mailctl queue: list (mailq format, lib/qlist.c), show one
 * message (envelope and content), why (each recipient's state and the
 * reason it waits), delete, hold and release messages, and flush (ask
 * qmgr to retry the deferred mail now). list and why also ask the running
 * qmgr which messages it holds with a problem (a failed move out of
 * active/, docs/internals.md); without qmgr they show what the files say.
 * It reads queue files read-only; the only changes it makes are unlink
 * and rename between the queue directories, as Postfix's postsuper does,
 * and each is logged to the mail log. A message's deferral reasons file
 * (lib/qreason.h) goes with the message when it is deleted. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "fsutil.h"
#include "log.h"
#include "mailctl.h"
#include "mem.h"
#include "q.h"
#include "qlist.h"
#include "qreason.h"
#include "sock.h"

#define TRIGGER_TIMEOUT_MS 5000
#define STATUS_TIMEOUT_MS 3000

static const char *queue_dir(struct mailctl *ctl)
{
	return cfg_get(mailctl_config(ctl), "queue_directory");
}

/* open_log: mail log entries of mailctl go where the daemons log. */
static void open_log(struct mailctl *ctl)
{
	cfg *c = mailctl_config(ctl);
	const char *file = cfg_get(c, "maillog_file");
	char *err = NULL;

	if ((*file ? log_open_file(file, &err) : log_open_syslog(cfg_get(c, "syslog_facility"), &err)) < 0) {
		fprintf(stderr, "mailctl: warning: cannot open the mail log: %s\n", err);
		free(err);
		return;
	}
	log_set_stderr(false); /* the command prints its own summary */
}

/* ---- what the running qmgr says ---- */

/* One message qmgr holds with a problem. */
struct held {
	char *id;
	char *note; /* "qmgr: cannot move to deferred/: ..., since ..., next try in N s" */
};

struct qmgr_status {
	bool reached;
	struct held *items;
	size_t n;
};

static void clock_text(time_t t, char *out, size_t size)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL || strftime(out, size, "%H:%M:%S", &tm) == 0)
		snprintf(out, size, "%lld", (long long)t);
}

static void status_add(struct qmgr_status *st, const char *id, const char *reason,
		       long long since, long long next_try)
{
	char at[32];
	long long wait = next_try - (long long)time(NULL);

	clock_text((time_t)since, at, sizeof(at));
	st->items = xrealloc(st->items, (st->n + 1) * sizeof(*st->items));
	st->items[st->n].id = xstrdup(id);
	st->items[st->n].note = xasprintf("qmgr: %s, since %s, next try in %lld s", reason, at,
					  wait > 0 ? wait : 0);
	st->n++;
}

/* status_parse: the queue_id, reason, since, next_try groups of a reply. */
static void status_parse(struct qmgr_status *st, const attr_rec *rec)
{
	const char *id = NULL, *reason = NULL;
	long long since = 0;

	for (size_t i = 0; i < attr_count(rec); i++) {
		const char *name = attr_name_at(rec, i), *value = attr_value_at(rec, i);

		if (strcmp(name, "queue_id") == 0) {
			id = value;
			reason = NULL;
		} else if (strcmp(name, "reason") == 0)
			reason = value;
		else if (strcmp(name, "since") == 0)
			since = strtoll(value, NULL, 10);
		else if (strcmp(name, "next_try") == 0 && id != NULL && reason != NULL)
			status_add(st, id, reason, since, strtoll(value, NULL, 10));
	}
}

/* qmgr_status_get: asks qmgr over its socket; st->reached false when it
 * does not answer (not running, or an older qmgr). */
static void qmgr_status_get(struct mailctl *ctl, struct qmgr_status *st)
{
	char *path = fs_join(queue_dir(ctl), "private/qmgr"), *err = NULL;
	attr_rec *rec = attr_new("qmgr_status"), *reply = NULL;
	int fd = sock_connect_unix(path, &err);

	memset(st, 0, sizeof(*st));
	if (fd >= 0 && attr_send(fd, rec, STATUS_TIMEOUT_MS, &err) == 0 &&
	    attr_recv(fd, &reply, STATUS_TIMEOUT_MS, &err) == 0 &&
	    strcmp(attr_protocol(reply), "qmgr_status_reply") == 0) {
		st->reached = true;
		status_parse(st, reply);
	}
	attr_free(&reply);
	attr_free(&rec);
	free(err);
	if (fd >= 0)
		close(fd);
	free(path);
}

static void qmgr_status_free(struct qmgr_status *st)
{
	for (size_t i = 0; i < st->n; i++) {
		free(st->items[i].id);
		free(st->items[i].note);
	}
	free(st->items);
}

static const char *held_note(void *ctx, const char *id)
{
	const struct qmgr_status *st = ctx;

	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->items[i].id, id) == 0)
			return st->items[i].note;
	return NULL;
}

static int queue_list(struct mailctl *ctl)
{
	struct qmgr_status st;
	struct qlist_extra extra = { held_note, &st };
	char *err = NULL;
	long rc;

	qmgr_status_get(ctl, &st);
	fflush(stdout);
	rc = qlist_print_extra(queue_dir(ctl), &extra, stdout, &err);
	qmgr_status_free(&st);
	if (rc < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
		return 1;
	}
	return 0;
}

/* find: the queue file of id, or NULL (printed). */
static char *find(struct mailctl *ctl, const char *id, const char **dir_r)
{
	char *path = qlist_find(queue_dir(ctl), id, dir_r);

	if (path == NULL)
		fprintf(stderr, "mailctl: %s: %s\n", id,
			q_id_valid(id) ? "no such message in the queue" : "not a queue ID");
	return path;
}

static const char *state_name(char state)
{
	switch (state) {
	case Q_RCPT_PENDING:
		return "pending";
	case Q_RCPT_DONE:
		return "delivered";
	case Q_RCPT_FAILED:
		return "failed";
	case Q_RCPT_REPORTED:
		return "failed, reported";
	default:
		return "unknown";
	}
}

static void print_envelope(const struct q_msg *m, const char *dir)
{
	char when[64];
	struct tm tm;

	if (localtime_r(&m->env.arrival, &tm) == NULL ||
	    strftime(when, sizeof(when), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		snprintf(when, sizeof(when), "%lld", (long long)m->env.arrival);
	printf("queue_id: %s\nqueue: %s\narrival: %s\nsize: %lld\n", m->id, dir, when,
	       (long long)m->content_size);
	printf("sender: %s\n", *m->env.sender ? m->env.sender : "<>");
	if (m->env.client != NULL)
		printf("client: %s\n", m->env.client);
	if (m->env.envid != NULL)
		printf("envid: %s\n", m->env.envid);
	if (m->env.ret != 0)
		printf("ret: %s\n", m->env.ret == 1 ? "FULL" : "HDRS");
	if (m->env.body_8bit || m->env.smtputf8)
		printf("body:%s%s\n", m->env.body_8bit ? " 8BITMIME" : "",
		       m->env.smtputf8 ? " SMTPUTF8" : "");
	for (int i = 0; i < m->env.nrcpts; i++)
		printf("recipient: %s (%s)\n", m->env.rcpts[i].address,
		       state_name(m->env.rcpts[i].state));
}

/* copy_content: the message bytes to stdout. */
static int copy_content(const struct q_msg *m)
{
	char chunk[65536];
	off_t off = m->content_offset, end = m->content_offset + m->content_size;

	while (off < end) {
		size_t want = (size_t)(end - off) < sizeof(chunk) ? (size_t)(end - off) : sizeof(chunk);
		ssize_t n = pread(m->fd, chunk, want, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		fwrite(chunk, 1, (size_t)n, stdout);
		off += n;
	}
	return 0;
}

static int queue_show(struct mailctl *ctl, const char *id)
{
	const char *dir;
	char *path = find(ctl, id, &dir), *err = NULL;
	struct q_msg *m = NULL;
	int rc = 1;

	if (path == NULL)
		return 1;
	if (q_msg_open_ro(path, &m, &err) < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
	} else {
		print_envelope(m, dir);
		printf("\n");
		if (copy_content(m) < 0)
			fprintf(stderr, "mailctl: %s: cannot read the content\n", path);
		else
			rc = 0;
		q_msg_free(&m);
	}
	free(path);
	return rc;
}

static int delete_one(struct mailctl *ctl, const char *id, bool quiet)
{
	const char *dir;
	char *path = find(ctl, id, &dir);

	if (path == NULL)
		return 1;
	if (unlink(path) < 0) {
		fprintf(stderr, "mailctl: cannot remove %s: %s\n", path, strerror(errno));
		free(path);
		return 1;
	}
	qreason_remove(queue_dir(ctl), id);
	log_info("%s: removed from %s by mailctl queue delete (uid %ld)", id, dir,
		 (long)getuid());
	if (!quiet)
		printf("mailctl: %s deleted\n", id);
	free(path);
	return 0;
}

/* delete_all: every queued message, directory by directory. */
static int delete_all(struct mailctl *ctl)
{
	long count = 0;
	int rc = 0;

	for (int i = 0; qlist_dirs[i] != NULL; i++) {
		char *path = fs_join(queue_dir(ctl), qlist_dirs[i]);
		DIR *d = opendir(path);
		struct dirent *de;

		while (d != NULL && (de = readdir(d)) != NULL) {
			char *file;

			if (!q_id_valid(de->d_name))
				continue;
			file = fs_join(path, de->d_name);
			if (unlink(file) == 0) {
				qreason_remove(queue_dir(ctl), de->d_name);
				log_info("%s: removed from %s by mailctl queue delete ALL (uid %ld)",
					 de->d_name, qlist_dirs[i], (long)getuid());
				count++;
			} else if (errno != ENOENT) {
				fprintf(stderr, "mailctl: cannot remove %s: %s\n", file, strerror(errno));
				rc = 1;
			}
			free(file);
		}
		if (d != NULL)
			closedir(d);
		free(path);
	}
	printf("mailctl: %ld message%s deleted\n", count, count == 1 ? "" : "s");
	return rc;
}

/* trigger: one qmgr_trigger record with name=value to qmgr; 0, or -1
 * (printed unless quiet) when qmgr is not there. */
static int trigger(struct mailctl *ctl, const char *name, const char *value, bool quiet)
{
	char *path = fs_join(queue_dir(ctl), "private/qmgr"), *err = NULL;
	attr_rec *rec = attr_new("qmgr_trigger");
	int fd = sock_connect_unix(path, &err), rc = 0;

	attr_add_str(rec, name, value);
	if (fd < 0 || attr_send(fd, rec, TRIGGER_TIMEOUT_MS, &err) < 0) {
		if (!quiet)
			fprintf(stderr, "mailctl: cannot reach qmgr (is the mail system running?): %s\n",
				err);
		rc = -1;
	}
	free(err);
	if (fd >= 0)
		close(fd);
	attr_free(&rec);
	free(path);
	return rc;
}

static int queue_flush(struct mailctl *ctl)
{
	if (trigger(ctl, "request", "flush", false) < 0)
		return 1;
	log_info("queue flush requested by mailctl (uid %ld)", (long)getuid());
	printf("mailctl: qmgr asked to retry the deferred mail now\n");
	return 0;
}

/* move: hold (to hold/) or release (to incoming/, then wake qmgr). */
static int move(struct mailctl *ctl, const char *id, bool hold)
{
	const char *dir, *to = hold ? Q_HOLD : Q_INCOMING;
	char *path = find(ctl, id, &dir);
	int rc = 1;

	if (path == NULL)
		return 1;
	if (hold && strcmp(dir, Q_HOLD) == 0)
		fprintf(stderr, "mailctl: %s is already on hold\n", id);
	else if (!hold && strcmp(dir, Q_HOLD) != 0)
		fprintf(stderr, "mailctl: %s is not on hold\n", id);
	else if (hold && strcmp(dir, Q_ACTIVE) == 0)
		fprintf(stderr, "mailctl: %s is being delivered right now; try again\n", id);
	else if (q_move(queue_dir(ctl), id, dir, to) < 0)
		fprintf(stderr, "mailctl: cannot move %s to %s: %s\n", id, to, strerror(errno));
	else
		rc = 0;
	if (rc == 0) {
		log_info("%s: moved from %s to %s by mailctl queue %s", id, dir, to,
			 hold ? "hold" : "release");
		printf("mailctl: %s %s\n", id, hold ? "on hold" : "released");
		if (!hold)
			(void)trigger(ctl, "queue_id", id, true);
	}
	free(path);
	return rc;
}

/* ---- queue why ---- */

static void why_rcpt(const struct q_msg *m, int i, const struct qreason_set *reasons)
{
	const struct qreason *r = qreason_lookup(reasons, i);
	char state = m->env.rcpts[i].state;

	printf("  %s: %s", m->env.rcpts[i].address, state_name(state));
	if (state == Q_RCPT_PENDING && r != NULL)
		printf(": %s %s", r->status, r->reason);
	else if (state == Q_RCPT_PENDING)
		printf(" (not tried yet, or no reason recorded)");
	printf("\n");
}

/* why_one: the message's place in the queue, qmgr's word on it, and each
 * recipient's state with the reason of its last deferral. */
static int why_one(struct mailctl *ctl, const char *id, const struct qmgr_status *st)
{
	const char *dir, *held = held_note((void *)st, id);
	char *path = find(ctl, id, &dir), *err = NULL;
	struct qreason_set reasons;
	struct q_msg *m = NULL;
	char when[64];

	if (path == NULL)
		return 1;
	if (q_msg_open_ro(path, &m, &err) < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
		free(path);
		return 1;
	}
	(void)qreason_read(queue_dir(ctl), id, &reasons);
	printf("%s: in %s/", id, dir);
	if (strcmp(dir, Q_DEFERRED) == 0) {
		clock_text(m->mtime, when, sizeof(when));
		printf(", next attempt at %s", when);
	}
	if (reasons.when != 0) {
		clock_text(reasons.when, when, sizeof(when));
		printf(", last deferred at %s", when);
	}
	printf("\n");
	if (held != NULL)
		printf("  %s\n", held);
	for (int i = 0; i < m->env.nrcpts; i++)
		why_rcpt(m, i, &reasons);
	qreason_free(&reasons);
	q_msg_free(&m);
	free(path);
	return 0;
}

/* why_all: every message in the queue that waits for something. */
static int why_all(struct mailctl *ctl, const struct qmgr_status *st)
{
	int rc = 0;
	long count = 0;

	for (int i = 0; qlist_dirs[i] != NULL; i++) {
		char *path = fs_join(queue_dir(ctl), qlist_dirs[i]);
		DIR *d = opendir(path);
		struct dirent *de;

		while (d != NULL && (de = readdir(d)) != NULL)
			if (q_id_valid(de->d_name) && strcmp(qlist_dirs[i], Q_INCOMING) != 0) {
				char *file = fs_join(path, de->d_name);

				if (access(file, F_OK) == 0) {
					rc |= why_one(ctl, de->d_name, st);
					count++;
				}
				free(file);
			}
		if (d != NULL)
			closedir(d);
		free(path);
	}
	if (count == 0)
		printf("No message is waiting\n");
	return rc;
}

static int queue_why(struct mailctl *ctl, int argc, char **argv)
{
	struct qmgr_status st;
	int rc = 0;

	qmgr_status_get(ctl, &st);
	if (!st.reached)
		printf("(qmgr not reached: what the queue files say)\n");
	if (argc == 0)
		rc = why_all(ctl, &st);
	for (int i = 0; i < argc; i++)
		rc |= why_one(ctl, argv[i], &st);
	qmgr_status_free(&st);
	return rc;
}

int cmd_queue(struct mailctl *ctl, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";

	if (strcmp(verb, "list") == 0 && argc == 2)
		return queue_list(ctl);
	if (strcmp(verb, "why") == 0)
		return queue_why(ctl, argc - 2, argv + 2);
	if (strcmp(verb, "show") == 0 && argc == 3)
		return queue_show(ctl, argv[2]);
	if (strcmp(verb, "flush") == 0 && argc == 2) {
		open_log(ctl);
		return queue_flush(ctl);
	}
	if (strcmp(verb, "delete") == 0 && argc == 3) {
		open_log(ctl);
		return strcmp(argv[2], "ALL") == 0 ? delete_all(ctl) : delete_one(ctl, argv[2], false);
	}
	if ((strcmp(verb, "hold") == 0 || strcmp(verb, "release") == 0) && argc == 3) {
		open_log(ctl);
		return move(ctl, argv[2], strcmp(verb, "hold") == 0);
	}
	fputs(mailctl_find("queue")->usage, stderr);
	return 2;
}
