/* qlist.c: the mailq listing of the queue (see qlist.h), used by mailctl
 * queue and sendmail -bp. It walks each queue directory with readdir,
 * opens one queue file at a time read-only with q.h and prints its block
 * at once, so memory stays flat however long the queue is. A file that
 * vanishes during the walk was just delivered or moved, and is skipped
 * quietly; the listing is a snapshot, not a transaction. */
#include "qlist.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "json.h"
#include "mem.h"
#include "q.h"
#include "qreason.h"

const char *const qlist_dirs[] = { Q_INCOMING, Q_ACTIVE, Q_DEFERRED, Q_HOLD, NULL };

/* The sender column starts here, so recipient lines line up below it. */
#define SENDER_COLUMN 42

void qlist_format_header(buf *out)
{
	buf_puts(out, "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n");
}

/* arrival_text: "Mon Nov 20 10:11:12" as ctime writes it, 19 chars. */
static void arrival_text(time_t t, char *text, size_t size)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL || strftime(text, size, "%a %b %e %H:%M:%S", &tm) == 0)
		snprintf(text, size, "%s", "?");
}

void qlist_format_item(buf *out, const struct qlist_item *item)
{
	char when[64];
	size_t start = buf_len(out), used;

	arrival_text(item->arrival, when, sizeof(when));
	buf_printf(out, "%-10s%c %8lld %-20s ", item->id, item->mark == '\0' ? ' ' : item->mark,
		   item->size, when);
	used = buf_len(out) - start;
	if (used < SENDER_COLUMN)
		buf_printf(out, "%*s", (int)(SENDER_COLUMN - used), "");
	buf_printf(out, "%s\n", *item->sender == '\0' ? "MAILER-DAEMON" : item->sender);
	if (item->note != NULL)
		buf_printf(out, "(%s)\n", item->note);
	for (int i = 0; i < item->nrcpts; i++) {
		const char *why = item->rcpt_notes != NULL ? item->rcpt_notes[i] : NULL;
		const char *before = i > 0 && item->rcpt_notes != NULL ? item->rcpt_notes[i - 1]
								       : NULL;

		if (why != NULL && (before == NULL || strcmp(before, why) != 0))
			buf_printf(out, "(%s)\n", why);
		buf_printf(out, "%*s%s\n", SENDER_COLUMN, "", item->rcpts[i]);
	}
	buf_putc(out, '\n');
}

void qlist_format_footer(buf *out, long long bytes, long requests)
{
	buf_printf(out, "-- %lld Kbytes in %ld Request%s.\n", (bytes + 1023) / 1024, requests,
		   requests == 1 ? "" : "s");
}

const char *qlist_state_name(char state)
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

static void json_rcpt(buf *out, const struct q_msg *m, int i, const struct qreason_set *reasons)
{
	const struct q_rcpt *r = &m->env.rcpts[i];
	const struct qreason *why =
		r->state == Q_RCPT_PENDING && reasons != NULL ? qreason_lookup(reasons, i) : NULL;

	buf_putc(out, '{');
	json_put_member(out, "address", 1);
	json_put_cstr(out, r->address);
	if (why != NULL) {
		json_put_member(out, "delay_reason", 0);
		json_put_cstr(out, why->reason);
		json_put_member(out, "status", 0);
		json_put_cstr(out, why->status);
		if (why->relay != NULL) {
			json_put_member(out, "relay", 0);
			json_put_cstr(out, why->relay);
			json_put_member(out, "tls", 0);
			json_put_cstr(out, why->tls);
		}
	}
	json_put_member(out, "state", 0);
	json_put_cstr(out, qlist_state_name(r->state));
	buf_putc(out, '}');
}

void qlist_format_json(buf *out, const struct q_msg *m, const char *dir,
		       const struct qreason_set *reasons, const char *note)
{
	buf_putc(out, '{');
	json_put_member(out, "queue_name", 1);
	json_put_cstr(out, dir);
	json_put_member(out, "queue_id", 0);
	json_put_cstr(out, m->id);
	json_put_member(out, "arrival_time", 0);
	buf_printf(out, "%lld", (long long)m->env.arrival);
	json_put_member(out, "message_size", 0);
	buf_printf(out, "%lld", (long long)q_msg_size(m));
	json_put_member(out, "sender", 0);
	json_put_cstr(out, m->env.sender != NULL ? m->env.sender : "");
	if (strcmp(dir, Q_DEFERRED) == 0) {
		json_put_member(out, "next_attempt_time", 0);
		buf_printf(out, "%lld", (long long)m->mtime);
	}
	if (reasons != NULL && reasons->when != 0) {
		json_put_member(out, "last_deferral_time", 0);
		buf_printf(out, "%lld", (long long)reasons->when);
	}
	if (note != NULL) {
		json_put_member(out, "qmgr_note", 0);
		json_put_cstr(out, note);
	}
	json_put_member(out, "recipients", 0);
	buf_putc(out, '[');
	for (int i = 0; i < m->env.nrcpts; i++) {
		if (i > 0)
			buf_putc(out, ',');
		json_rcpt(out, m, i, reasons);
	}
	buf_puts(out, "]}\n");
}

/* A message's block being built: the arrays and texts its item points to. */
struct block {
	struct qlist_item item;
	const char **rcpts;
	const char **notes;
	struct qreason_set reasons;
	char *note;
};

/* block_note: the first note line: qmgr's (a message it holds with a
 * problem), else when a deferred message is tried next. */
static char *block_note(const struct q_msg *m, const char *dir, const struct qlist_extra *extra)
{
	const char *said = extra != NULL && extra->note != NULL ? extra->note(extra->ctx, m->id)
								 : NULL;
	char when[64];

	if (said != NULL)
		return xstrdup(said);
	if (strcmp(dir, Q_DEFERRED) != 0)
		return NULL;
	arrival_text(m->mtime, when, sizeof(when));
	return xasprintf("deferred, next attempt %s", when);
}

/* block_fill: the item of an open queue file; pending recipients with the
 * reasons of their last deferral (queue_dir/defer/<id>, when there is one). */
static void block_fill(struct block *b, const char *queue_dir, const struct q_msg *m,
		       const char *dir, const struct qlist_extra *extra)
{
	int n = 0;

	memset(b, 0, sizeof(*b));
	b->rcpts = xcalloc((size_t)m->env.nrcpts + 1, sizeof(*b->rcpts));
	b->notes = xcalloc((size_t)m->env.nrcpts + 1, sizeof(*b->notes));
	(void)qreason_read(queue_dir, m->id, &b->reasons);
	for (int i = 0; i < m->env.nrcpts; i++) {
		const struct qreason *r;

		if (m->env.rcpts[i].state != Q_RCPT_PENDING)
			continue;
		r = qreason_lookup(&b->reasons, i);
		b->notes[n] = r != NULL ? r->reason : NULL;
		b->rcpts[n++] = m->env.rcpts[i].address;
	}
	b->note = block_note(m, dir, extra);
	b->item.id = m->id;
	b->item.mark = strcmp(dir, Q_ACTIVE) == 0 ? QLIST_MARK_ACTIVE
		       : strcmp(dir, Q_HOLD) == 0 ? QLIST_MARK_HOLD
						  : ' ';
	b->item.size = (long long)q_msg_size(m);
	b->item.arrival = m->env.arrival;
	b->item.sender = m->env.sender != NULL ? m->env.sender : "";
	b->item.note = b->note;
	b->item.rcpts = b->rcpts;
	b->item.nrcpts = n;
	b->item.rcpt_notes = b->notes;
}

static void block_free(struct block *b)
{
	free(b->rcpts);
	free(b->notes);
	free(b->note);
	qreason_free(&b->reasons);
}

struct totals {
	long count;
	long long bytes;
};

/* list_one: prints the block of one queue file (header first if it is
 * the first message); skips files that vanished or do not parse. */
struct walk {
	const char *queue_dir;
	const struct qlist_extra *extra;
	FILE *out;
	bool json;
	struct totals t;
};

static const char *extra_note(const struct qlist_extra *extra, const char *id)
{
	return extra != NULL && extra->note != NULL ? extra->note(extra->ctx, id) : NULL;
}

static void list_one(struct walk *w, const char *path, const char *dir)
{
	struct q_msg *m = NULL;
	struct block b;
	char *err = NULL;
	buf *text;

	if (q_msg_open_ro(path, &m, &err) < 0) {
		if (access(path, F_OK) == 0)
			fprintf(stderr, "mailq: skipping %s: %s\n", path, err != NULL ? err : "");
		free(err);
		return;
	}
	if (w->extra != NULL && w->extra->filter != NULL &&
	    !qfilter_match(w->extra->filter, &m->env, time(NULL))) {
		q_msg_free(&m);
		return;
	}
	text = buf_new(512);
	if (w->t.count == 0 && !w->json)
		qlist_format_header(text);
	block_fill(&b, w->queue_dir, m, dir, w->extra);
	if (w->json)
		qlist_format_json(text, m, dir, &b.reasons, extra_note(w->extra, m->id));
	else
		qlist_format_item(text, &b.item);
	fwrite(buf_cstr(text), 1, buf_len(text), w->out);
	w->t.count++;
	w->t.bytes += b.item.size;
	block_free(&b);
	buf_free(&text);
	q_msg_free(&m);
}

/* list_dir: every valid queue ID in queue_dir/dir. A missing directory is
 * an empty one (a queue nobody has written to yet). */
static int list_dir(struct walk *w, const char *dir, char **err_r)
{
	char *path = fs_join(w->queue_dir, dir);
	DIR *d = opendir(path);
	struct dirent *de;

	if (d == NULL) {
		int rc = errno == ENOENT ? 0 : -1;

		if (rc < 0)
			*err_r = xasprintf("cannot read %s: %s", path, strerror(errno));
		free(path);
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		char *file;

		if (!q_id_valid(de->d_name))
			continue;
		file = fs_join(path, de->d_name);
		list_one(w, file, dir);
		free(file);
	}
	closedir(d);
	free(path);
	return 0;
}

long qlist_print_extra(const char *queue_dir, const struct qlist_extra *extra, FILE *out,
		       char **err_r)
{
	struct walk w = { queue_dir, extra, out, extra != NULL && extra->json, { 0, 0 } };
	buf *text;

	*err_r = NULL;
	for (int i = 0; qlist_dirs[i] != NULL; i++)
		if (list_dir(&w, qlist_dirs[i], err_r) < 0)
			return -1;
	if (w.json)
		return w.t.count;
	text = buf_new(64);
	if (w.t.count == 0)
		buf_puts(text, "Mail queue is empty\n");
	else
		qlist_format_footer(text, w.t.bytes, w.t.count);
	fwrite(buf_cstr(text), 1, buf_len(text), out);
	buf_free(&text);
	return w.t.count;
}

long qlist_print(const char *queue_dir, FILE *out, char **err_r)
{
	return qlist_print_extra(queue_dir, NULL, out, err_r);
}

char *qlist_find(const char *queue_dir, const char *id, const char **dir_r)
{
	if (!q_id_valid(id))
		return NULL;
	for (int i = 0; qlist_dirs[i] != NULL; i++) {
		char *path = q_path(queue_dir, qlist_dirs[i], id);

		if (access(path, F_OK) == 0) {
			*dir_r = qlist_dirs[i];
			return path;
		}
		free(path);
	}
	return NULL;
}
