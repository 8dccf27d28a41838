/* qreason.c: the deferral reasons side file of a queued message (see
 * qreason.h): its text format, and writing, reading and removing it under
 * $queue_directory/defer/. Nothing here is needed for delivery; every
 * failure just leaves the admin without a reason to read. */
#include "qreason.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "mem.h"

#define QREASON_MAGIC "POSTERN-DEFER 1"
#define QREASON_MAX_FILE (4L * 1024 * 1024)

/* put_clean: s with control bytes as spaces, at most max bytes. */
static void put_clean(buf *out, const char *s, size_t max)
{
	for (size_t i = 0; s[i] != '\0' && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		buf_putc(out, c < 0x20 || c == 0x7f ? ' ' : (char)c);
	}
}

/* put_status: the printable non-space bytes of status (at most 16), or
 * "4.0.0" when it has none: the status is one word of the line. */
static void put_status(buf *out, const char *status)
{
	size_t start = buf_len(out);

	for (size_t i = 0; status != NULL && status[i] != '\0' && i < 16; i++) {
		unsigned char c = (unsigned char)status[i];

		if (c > 0x20 && c != 0x7f)
			buf_putc(out, (char)c);
	}
	if (buf_len(out) == start)
		buf_puts(out, "4.0.0");
}

/* put_word: the printable non-space bytes of s (at most 300), "none"
 * when it has none. */
static void put_word(buf *out, const char *s)
{
	size_t start = buf_len(out);

	for (size_t i = 0; s != NULL && s[i] != '\0' && i < 300; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c > 0x20 && c != 0x7f)
			buf_putc(out, (char)c);
	}
	if (buf_len(out) == start)
		buf_puts(out, "none");
}

void qreason_format(buf *out, time_t when, const struct qreason *items, int n)
{
	buf_printf(out, "%s\nT%lld\n", QREASON_MAGIC, (long long)when);
	for (int i = 0; i < n; i++) {
		buf_printf(out, "R%d ", items[i].rcpt);
		put_status(out, items[i].status);
		buf_putc(out, ' ');
		put_clean(out, items[i].reason != NULL ? items[i].reason : "", QREASON_MAX_TEXT);
		buf_putc(out, '\n');
		if (items[i].relay != NULL) {
			buf_printf(out, "V%d ", items[i].rcpt);
			put_word(out, items[i].relay);
			buf_putc(out, ' ');
			put_word(out, items[i].tls);
			buf_putc(out, '\n');
		}
	}
}

void qreason_free(struct qreason_set *set)
{
	for (int i = 0; i < set->n; i++) {
		free(set->items[i].status);
		free(set->items[i].reason);
		free(set->items[i].relay);
		free(set->items[i].tls);
	}
	free(set->items);
	set->items = NULL;
	set->n = 0;
	set->when = 0;
}

/* parse_number: a decimal in [0, max] that ends at *end_r. */
static int parse_number(const char *s, long long max, long long *v_r, const char **end_r)
{
	long long v = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > max)
			return -1;
	}
	if (p == s)
		return -1;
	*v_r = v;
	*end_r = p;
	return 0;
}

/* parse_rcpt: "R<index> <status> <reason>" (line without its newline). */
static int parse_rcpt(const char *line, struct qreason *r)
{
	const char *p, *space;
	long long idx;

	if (line[0] != 'R' || parse_number(line + 1, QREASON_MAX_RCPTS, &idx, &p) < 0 ||
	    *p != ' ')
		return -1;
	space = strchr(p + 1, ' ');
	if (space == NULL || space == p + 1)
		return -1;
	r->rcpt = (int)idx;
	r->status = xstrndup(p + 1, (size_t)(space - p - 1));
	r->reason = xstrdup(space + 1);
	r->relay = r->tls = NULL;
	return 0;
}

/* parse_via: "V<index> <relay> <tls>" for the item just read before it. */
static int parse_via(const char *line, struct qreason_set *set)
{
	struct qreason *r = set->n > 0 ? &set->items[set->n - 1] : NULL;
	const char *p, *space;
	long long idx;

	if (r == NULL || parse_number(line + 1, QREASON_MAX_RCPTS, &idx, &p) < 0 || *p != ' ' ||
	    idx != r->rcpt || r->relay != NULL)
		return -1;
	space = strchr(p + 1, ' ');
	if (space == NULL || space == p + 1 || space[1] == '\0' || strchr(space + 1, ' '))
		return -1;
	r->relay = xstrndup(p + 1, (size_t)(space - p - 1));
	r->tls = xstrdup(space + 1);
	return 0;
}

/* parse_line: one line after the magic; -1 when malformed. */
static int parse_line(const char *line, struct qreason_set *set, int *cap)
{
	long long when;
	const char *end;

	if (line[0] == 'T') {
		if (parse_number(line + 1, (long long)1 << 40, &when, &end) < 0 || *end != '\0')
			return -1;
		set->when = (time_t)when;
		return 0;
	}
	if (line[0] == 'V')
		return parse_via(line, set);
	if (set->n >= QREASON_MAX_RCPTS)
		return -1;
	if (set->n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		set->items = xrealloc(set->items, (size_t)*cap * sizeof(*set->items));
	}
	if (parse_rcpt(line, &set->items[set->n]) < 0)
		return -1;
	set->n++;
	return 0;
}

int qreason_parse(const char *text, size_t len, struct qreason_set *set)
{
	size_t pos = 0;
	int cap = 0, lineno = 0, rc = 0;

	memset(set, 0, sizeof(*set));
	while (pos < len && rc == 0) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
		char *line = xstrndup(text + pos, n);

		if (lineno++ == 0)
			rc = strcmp(line, QREASON_MAGIC) == 0 ? 0 : -1;
		else
			rc = parse_line(line, set, &cap);
		free(line);
		pos += n + 1;
	}
	if (lineno == 0)
		rc = -1;
	if (rc < 0)
		qreason_free(set);
	return rc;
}

const struct qreason *qreason_lookup(const struct qreason_set *set, int rcpt)
{
	for (int i = 0; i < set->n; i++)
		if (set->items[i].rcpt == rcpt)
			return &set->items[i];
	return NULL;
}

static char *side_path(const char *queue_dir, const char *id)
{
	return xasprintf("%s/%s/%s", queue_dir, QREASON_DIR, id);
}

int qreason_write(const char *queue_dir, const char *id, time_t when,
		  const struct qreason *items, int n, char **err_r)
{
	char *path = side_path(queue_dir, id);
	char *tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
	buf *text = buf_new(256);
	int fd, rc = -1;

	qreason_format(text, when, items, n);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		*err_r = xasprintf("cannot create %s: %s", tmp, strerror(errno));
	else if (fs_write_all(fd, buf_cstr(text), buf_len(text)) < 0)
		*err_r = xasprintf("cannot write %s: %s", tmp, strerror(errno));
	else {
		int closed = close(fd);

		fd = -1;
		if (closed < 0 || rename(tmp, path) < 0)
			*err_r = xasprintf("cannot rename %s: %s", tmp, strerror(errno));
		else
			rc = 0;
	}
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		unlink(tmp);
	}
	buf_free(&text);
	free(tmp);
	free(path);
	return rc;
}

int qreason_read(const char *queue_dir, const char *id, struct qreason_set *set)
{
	char *path = side_path(queue_dir, id);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	buf *text = buf_new(512);
	int rc = -1;

	memset(set, 0, sizeof(*set));
	free(path);
	if (fd < 0) {
		buf_free(&text);
		return -1;
	}
	for (;;) {
		ssize_t got = read(fd, buf_reserve(text, 4096), 4096);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0 || buf_len(text) + (size_t)got > QREASON_MAX_FILE) {
			if (got == 0)
				rc = qreason_parse(buf_cstr(text), buf_len(text), set);
			break;
		}
		buf_commit(text, (size_t)got);
	}
	close(fd);
	buf_free(&text);
	return rc;
}

void qreason_remove(const char *queue_dir, const char *id)
{
	char *path = side_path(queue_dir, id);

	unlink(path);
	free(path);
}
