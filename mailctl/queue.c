/* queue.c: mailctl queue: list (mailq format, lib/qlist.c, or one JSON
 * object per message with --json), show one message (envelope and
 * content), why (each recipient's state, the reason it waits, the next
 * attempt), and hold, release, requeue, delete and flush, by queue ID or
 * by filter (--domain, --sender, --older-than: lib/qfilter.h). list and
 * why also ask the running qmgr which messages it holds with a problem (a
 * failed move out of active/, docs/internals.md); without qmgr they show
 * what the files say. It reads queue files read-only; the only changes it
 * makes are unlink, rename between the queue directories and the mtime
 * of a deferred file (its retry time), as Postfix's postsuper does, each
 * logged to the mail log. A message in active/ is qmgr's: no verb touches
 * it. A message's deferral reasons file (lib/qreason.h) goes with the
 * message when it is deleted. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
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
#include "qfilter.h"
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

/* date_text: the full local date and time, for times that may be days
 * away. */
static void date_text(time_t t, char *out, size_t size)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL || strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
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

static int queue_list(struct mailctl *ctl, const struct qfilter *filter, bool json)
{
	struct qmgr_status st;
	struct qlist_extra extra = { held_note, &st, filter, json };
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
	return qlist_state_name(state);
}

static void print_envelope(const struct q_msg *m, const char *dir)
{
	char when[64];
	struct tm tm;

	if (localtime_r(&m->env.arrival, &tm) == NULL ||
	    strftime(when, sizeof(when), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		snprintf(when, sizeof(when), "%lld", (long long)m->env.arrival);
	printf("queue_id: %s\nqueue: %s\narrival: %s\nsize: %lld\n", m->id, dir, when,
	       (long long)q_msg_size(m));
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

/* copy_content: the message bytes to stdout (top header fields first). */
static int copy_content(const struct q_msg *m)
{
	char chunk[65536];
	off_t off = 0, end = q_msg_size(m);

	while (off < end) {
		size_t want = (size_t)(end - off) < sizeof(chunk) ? (size_t)(end - off) : sizeof(chunk);
		ssize_t n = q_msg_pread(m, chunk, want, off);

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

/* trigger: one qmgr_trigger record to qmgr with request=request (or
 * none) and queue_id=id (or none); 0, or -1 (printed unless quiet) when
 * qmgr is not there. */
static int trigger(struct mailctl *ctl, const char *request, const char *id, bool quiet)
{
	char *path = fs_join(queue_dir(ctl), "private/qmgr"), *err = NULL;
	attr_rec *rec = attr_new("qmgr_trigger");
	int fd = sock_connect_unix(path, &err), rc = 0;

	if (id != NULL)
		attr_add_str(rec, "queue_id", id);
	if (request != NULL)
		attr_add_str(rec, "request", request);
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

static int flush_all(struct mailctl *ctl)
{
	if (trigger(ctl, "flush", NULL, false) < 0)
		return 1;
	log_info("queue flush requested by mailctl (uid %ld)", (long)getuid());
	printf("mailctl: qmgr asked to retry the deferred mail now\n");
	return 0;
}

/* ---- acting on chosen messages ---- */

/* The verbs that act on messages by ID or filter: where each takes a
 * message from, and what it does there. A message in active/ is being
 * delivered: qmgr has it open and will write its recipients' states and
 * move it on, so no verb touches it (try again when the attempt ends). */
enum verb { V_HOLD, V_RELEASE, V_REQUEUE, V_DELETE, V_FLUSH };

static const char *const verb_names[] = { "hold", "release", "requeue", "delete", "flush" };

/* verb_takes: whether verb acts on a message in dir. */
static bool verb_takes(enum verb v, const char *dir)
{
	switch (v) {
	case V_HOLD:
		return strcmp(dir, Q_INCOMING) == 0 || strcmp(dir, Q_DEFERRED) == 0;
	case V_RELEASE:
		return strcmp(dir, Q_HOLD) == 0;
	case V_REQUEUE:
		return strcmp(dir, Q_DEFERRED) == 0 || strcmp(dir, Q_HOLD) == 0;
	case V_DELETE:
		return strcmp(dir, Q_ACTIVE) != 0;
	case V_FLUSH:
		return strcmp(dir, Q_DEFERRED) == 0;
	}
	return false;
}

/* refusal: why verb does not act on a message in dir. */
static const char *refusal(enum verb v, const char *dir)
{
	if (strcmp(dir, Q_ACTIVE) == 0)
		return "is being delivered right now (in active/); try again when the attempt ends";
	if (v == V_HOLD)
		return "is already on hold";
	if (v == V_RELEASE)
		return "is not on hold";
	if (v == V_FLUSH && strcmp(dir, Q_HOLD) == 0)
		return "is on hold; release it first";
	if (v == V_FLUSH)
		return "is not deferred (qmgr takes it as soon as it can)";
	return "is new in incoming/ (qmgr routes it as soon as it can)";
}

/* make_due: the next attempt of the deferred file at path is now (its
 * mtime is its retry time). */
static int make_due(const char *path)
{
	return utimensat(AT_FDCWD, path, NULL, 0);
}

/* gone: an action failed because qmgr took the file meanwhile. */
static int gone(const char *id)
{
	fprintf(stderr, "mailctl: %s was taken by qmgr meanwhile (being delivered, or done); "
			"try again when the attempt ends\n", id);
	return 1;
}

static int do_delete(struct mailctl *ctl, const char *id, const char *dir, const char *path)
{
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			return gone(id);
		fprintf(stderr, "mailctl: cannot remove %s: %s\n", path, strerror(errno));
		return 1;
	}
	qreason_remove(queue_dir(ctl), id);
	log_info("%s: removed from %s by mailctl queue delete (uid %ld)", id, dir, (long)getuid());
	return 0;
}

/* do_move: renames the message from dir to to (ENOENT: qmgr was faster). */
static int do_move(struct mailctl *ctl, const char *id, const char *dir, const char *to,
		   enum verb v)
{
	if (q_move(queue_dir(ctl), id, dir, to) < 0) {
		if (errno == ENOENT)
			return gone(id);
		fprintf(stderr, "mailctl: cannot move %s to %s/: %s\n", id, to, strerror(errno));
		return 1;
	}
	log_info("%s: moved from %s to %s by mailctl queue %s (uid %ld)", id, dir, to,
		 verb_names[v], (long)getuid());
	return 0;
}

/* What qmgr is told once a verb has acted on every chosen message: one
 * trigger for all of them, not one connection per message. */
struct kicks {
	bool deferred; /* files were made due in deferred/ */
	bool incoming; /* files were moved to incoming/ */
};

/* send_kicks: 0, or -1 (printed unless quiet) when qmgr is not there. */
static int send_kicks(struct mailctl *ctl, const struct kicks *k, bool quiet)
{
	int rc = 0;

	if (k->deferred && trigger(ctl, "due", NULL, quiet) < 0)
		rc = -1;
	if (k->incoming && trigger(ctl, NULL, NULL, quiet) < 0)
		rc = -1;
	return rc;
}

/* do_release: due now, then back to deferred/ (qmgr is told afterwards). */
static int do_release(struct mailctl *ctl, const char *id, const char *path, struct kicks *k)
{
	if (make_due(path) < 0 && errno != ENOENT)
		fprintf(stderr, "mailctl: %s: cannot set the retry time: %s\n", id, strerror(errno));
	if (do_move(ctl, id, Q_HOLD, Q_DEFERRED, V_RELEASE) != 0)
		return 1;
	k->deferred = true;
	return 0;
}

static int do_flush(const char *id, const char *path, struct kicks *k)
{
	if (make_due(path) < 0) {
		if (errno == ENOENT)
			return gone(id);
		fprintf(stderr, "mailctl: %s: cannot set the retry time: %s\n", id, strerror(errno));
		return 1;
	}
	log_info("%s: flush requested by mailctl (uid %ld)", id, (long)getuid());
	k->deferred = true;
	return 0;
}

/* act: verb on the message id found in dir at path; 0 or 1 (printed). */
static int act(struct mailctl *ctl, enum verb v, const char *id, const char *dir,
	       const char *path, struct kicks *k)
{
	if (!verb_takes(v, dir)) {
		fprintf(stderr, "mailctl: %s %s\n", id, refusal(v, dir));
		return 1;
	}
	switch (v) {
	case V_HOLD:
		return do_move(ctl, id, dir, Q_HOLD, v);
	case V_RELEASE:
		return do_release(ctl, id, path, k);
	case V_REQUEUE:
		if (do_move(ctl, id, dir, Q_INCOMING, v) != 0)
			return 1;
		k->incoming = true;
		return 0;
	case V_DELETE:
		return do_delete(ctl, id, dir, path);
	case V_FLUSH:
		return do_flush(id, path, k);
	}
	return 1;
}

static const char *const verb_done[] = { "on hold", "released", "requeued", "deleted",
					 "flushed" };

/* act_ids: verb on each ID given. */
static int act_ids(struct mailctl *ctl, enum verb v, char **ids, int n)
{
	struct kicks k = { false, false };
	int rc = 0;

	for (int i = 0; i < n; i++) {
		const char *dir;
		char *path = find(ctl, ids[i], &dir);

		if (path == NULL) {
			rc = 1;
			continue;
		}
		if (act(ctl, v, ids[i], dir, path, &k) == 0)
			printf("mailctl: %s %s\n", ids[i], verb_done[v]);
		else
			rc = 1;
		free(path);
	}
	if (send_kicks(ctl, &k, v != V_FLUSH) < 0 && v == V_FLUSH)
		rc = 1;
	return rc;
}

/* matches: the queue file at path satisfies f (it may be gone: no). */
static bool matches(const char *path, const struct qfilter *f)
{
	struct q_msg *m = NULL;
	char *err = NULL;
	bool yes;

	if (q_msg_open_ro(path, &m, &err) < 0) {
		free(err);
		return false;
	}
	yes = qfilter_match(f, &m->env, time(NULL));
	q_msg_free(&m);
	return yes;
}

/* act_dir: verb on every message in dir that f matches, counting those
 * it acted on in *done; one it refuses (in active/) is printed and makes
 * the result 1. */
static int act_dir(struct mailctl *ctl, enum verb v, const struct qfilter *f, const char *dir,
		   long *done, struct kicks *k)
{
	char *dpath = fs_join(queue_dir(ctl), dir);
	DIR *d = opendir(dpath);
	struct dirent *de;
	int rc = 0;

	while (d != NULL && (de = readdir(d)) != NULL) {
		char *path;

		if (!q_id_valid(de->d_name))
			continue;
		path = fs_join(dpath, de->d_name);
		if (matches(path, f)) {
			if (act(ctl, v, de->d_name, dir, path, k) == 0)
				(*done)++;
			else
				rc = 1;
		}
		free(path);
	}
	if (d != NULL)
		closedir(d);
	free(dpath);
	return rc;
}

/* act_filter: verb on every queued message f matches, in the
 * directories the verb takes from, and in active/ to say which matching
 * messages it left alone. A directory is read before the ones the verb
 * moves into (qlist_dirs order) or is not read at all, so no message is
 * met twice. */
static int act_filter(struct mailctl *ctl, enum verb v, const struct qfilter *f)
{
	struct kicks k = { false, false };
	long done = 0;
	int rc = 0;

	for (int i = 0; qlist_dirs[i] != NULL; i++)
		if (verb_takes(v, qlist_dirs[i]) || strcmp(qlist_dirs[i], Q_ACTIVE) == 0)
			rc |= act_dir(ctl, v, f, qlist_dirs[i], &done, &k);
	printf("mailctl: %ld message%s %s\n", done, done == 1 ? "" : "s", verb_done[v]);
	if (send_kicks(ctl, &k, v != V_FLUSH) < 0 && v == V_FLUSH)
		rc = 1;
	return rc;
}

/* ---- options ---- */

struct opts {
	struct qfilter filter;
	bool json;
	char **ids;
	int nids;
};

/* The value of an option given last with nothing after it. */
static const char missing_value[] = "";

/* opt_value: the value of --name VALUE or --name=VALUE at argv[*i]; NULL
 * when argv[*i] is not that option; missing_value when no value follows. */
static const char *opt_value(const char *name, char **argv, int argc, int *i)
{
	size_t len = strlen(name);

	if (strncmp(argv[*i], name, len) != 0)
		return NULL;
	if (argv[*i][len] == '=')
		return argv[*i] + len + 1;
	if (argv[*i][len] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		return missing_value;
	return argv[++*i];
}

/* parse_opts: the filters, --json and the IDs after the verb; 0, or -1
 * (printed). */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	const char *v;
	char *err = NULL;

	memset(o, 0, sizeof(*o));
	qfilter_init(&o->filter);
	o->ids = xcalloc((size_t)argc + 1, sizeof(*o->ids));
	for (int i = 0; i < argc; i++) {
		const char *opt = argv[i];

		v = NULL;
		if (strcmp(argv[i], "--json") == 0)
			o->json = true;
		else if ((v = opt_value("--domain", argv, argc, &i)) != NULL)
			o->filter.domain = v;
		else if ((v = opt_value("--sender", argv, argc, &i)) != NULL)
			o->filter.sender = v;
		else if ((v = opt_value("--older-than", argv, argc, &i)) != NULL) {
			if (qfilter_parse_age(v, &o->filter.older_than, &err) < 0) {
				fprintf(stderr, "mailctl: %s\n", err);
				free(err);
				return -1;
			}
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			fprintf(stderr, "mailctl: unknown option %s\n", argv[i]);
			return -1;
		} else
			o->ids[o->nids++] = argv[i];
		if (v == missing_value || (o->filter.domain != NULL && *o->filter.domain == '\0')) {
			fprintf(stderr, "mailctl: %.*s needs a value\n", (int)strcspn(opt, "="), opt);
			return -1;
		}
	}
	return 0;
}

/* act_verb: hold, release, requeue, delete or flush by IDs or filters
 * (not both: an ID names one message, a filter chooses them). */
static int act_verb(struct mailctl *ctl, enum verb v, const struct opts *o)
{
	bool filtered = !qfilter_empty(&o->filter);

	if (o->json || (filtered && o->nids > 0)) {
		fprintf(stderr, "mailctl: queue %s takes queue IDs or filters, not both%s\n",
			verb_names[v], o->json ? " (and no --json)" : "");
		return 2;
	}
	open_log(ctl);
	if (filtered || (v == V_DELETE && o->nids == 1 && strcmp(o->ids[0], "ALL") == 0))
		return act_filter(ctl, v, &o->filter);
	if (o->nids > 0)
		return act_ids(ctl, v, o->ids, o->nids);
	if (v == V_FLUSH)
		return flush_all(ctl);
	fputs(mailctl_find("queue")->usage, stderr);
	return 2;
}

/* ---- queue why ---- */

static void why_rcpt(const struct q_msg *m, int i, const struct qreason_set *reasons)
{
	const struct qreason *r = qreason_lookup(reasons, i);
	char state = m->env.rcpts[i].state;

	printf("  %s: %s", m->env.rcpts[i].address, state_name(state));
	if (state == Q_RCPT_PENDING && r != NULL) {
		printf(": %s %s", r->status, r->reason);
		if (r->relay != NULL)
			printf("\n    relay: %s, TLS: %s", r->relay, r->tls);
	} else if (state == Q_RCPT_PENDING)
		printf(" (not tried yet, or no reason recorded)");
	printf("\n");
}

/* why_one: the message's place in the queue, qmgr's word on it, and each
 * recipient's state with the reason of its last deferral. */
/* why_msg: the message id in dir at path; 0, 1 (printed) when it
 * cannot be read, -1 (silent) when it has just left the queue. */
static int why_msg(struct mailctl *ctl, const char *id, const char *dir, const char *path,
		   const struct qmgr_status *st)
{
	const char *held = held_note((void *)st, id);
	struct qreason_set reasons;
	struct q_msg *m = NULL;
	char when[64], *err = NULL;

	if (q_msg_open_ro(path, &m, &err) < 0) {
		bool gone = access(path, F_OK) < 0 && errno == ENOENT;

		if (!gone)
			fprintf(stderr, "mailctl: %s\n", err);
		free(err);
		return gone ? -1 : 1;
	}
	(void)qreason_read(queue_dir(ctl), id, &reasons);
	printf("%s: in %s/", id, dir);
	if (strcmp(dir, Q_DEFERRED) == 0) {
		date_text(m->mtime, when, sizeof(when));
		printf(", next attempt at %s", when);
	} else if (strcmp(dir, Q_HOLD) == 0)
		printf(", on hold: no attempt until released");
	else if (strcmp(dir, Q_INCOMING) == 0)
		printf(", next attempt as soon as qmgr takes it");
	else if (strcmp(dir, Q_ACTIVE) == 0)
		printf(", being delivered now");
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
	return 0;
}

static int why_one(struct mailctl *ctl, const char *id, const struct qmgr_status *st)
{
	const char *dir;
	char *path = find(ctl, id, &dir);
	int rc;

	if (path == NULL)
		return 1;
	rc = why_msg(ctl, id, dir, path, st);
	free(path);
	if (rc < 0)
		fprintf(stderr, "mailctl: %s: it has just left the queue\n", id);
	return rc == 0 ? 0 : 1;
}

/* why_all: every message in the queue that waits for something. */
static int why_all(struct mailctl *ctl, const struct qmgr_status *st)
{
	int rc = 0;
	long count = 0;

	for (int i = 0; qlist_dirs[i] != NULL; i++) {
		char *path = fs_join(queue_dir(ctl), qlist_dirs[i]);
		DIR *d = strcmp(qlist_dirs[i], Q_INCOMING) != 0 ? opendir(path) : NULL;
		struct dirent *de;

		while (d != NULL && (de = readdir(d)) != NULL) {
			char *file;
			int one;

			if (!q_id_valid(de->d_name))
				continue;
			file = fs_join(path, de->d_name);
			one = why_msg(ctl, de->d_name, qlist_dirs[i], file, st);
			free(file);
			if (one >= 0) { /* -1: delivered meanwhile, nothing to say */
				rc |= one;
				count++;
			}
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

static int verb_of(const char *word, enum verb *v_r)
{
	for (size_t i = 0; i < sizeof(verb_names) / sizeof(verb_names[0]); i++)
		if (strcmp(word, verb_names[i]) == 0) {
			*v_r = (enum verb)i;
			return 0;
		}
	return -1;
}

/* queue_list_cmd: list [--json] [filters]; IDs are not taken. */
static int queue_list_cmd(struct mailctl *ctl, const struct opts *o)
{
	if (o->nids > 0) {
		fputs(mailctl_find("queue")->usage, stderr);
		return 2;
	}
	return queue_list(ctl, &o->filter, o->json);
}

int cmd_queue(struct mailctl *ctl, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";
	struct opts o;
	enum verb v = V_HOLD;
	int rc;

	if (strcmp(verb, "why") == 0)
		return queue_why(ctl, argc - 2, argv + 2);
	if (strcmp(verb, "show") == 0 && argc == 3)
		return queue_show(ctl, argv[2]);
	if (strcmp(verb, "list") != 0 && verb_of(verb, &v) < 0) {
		fputs(mailctl_find("queue")->usage, stderr);
		return 2;
	}
	if (parse_opts(argc - 2, argv + 2, &o) < 0)
		rc = 2;
	else if (strcmp(verb, "list") == 0)
		rc = queue_list_cmd(ctl, &o);
	else
		rc = act_verb(ctl, v, &o);
	free(o.ids);
	return rc;
}
