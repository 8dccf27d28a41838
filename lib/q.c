/* q.c: queue files (see q.h): the writer that smtpd and bounces use to put
 * a message into the queue, the envelope parser qmgr and local use to read
 * it back, and in-place recipient state updates. It does not decide where
 * a file goes next (qmgr does) and never fsyncs directories on its own
 * (q_sync_dir does, so callers can batch).
 *
 * File format, version 1. A text envelope, one record per line, each line
 * "<type letter><value>\n", then the message content as raw bytes up to the
 * end of the file (the content is never read to parse the envelope):
 *
 *   POSTERN-QUEUE 1        magic and format version, always the first line
 *   Z<19 digits>           content size in bytes, zero padded. Written as
 *                          zeros and patched at commit; at open it must equal
 *                          file size - content offset (catches truncation)
 *   P<19 digits>           size of the top-header trailer (below), patched
 *                          like Z. Optional: files written before it existed
 *                          lack it (no trailer); the writer always writes it
 *   Q<c>                   where local delivery files the message: "-" the
 *                          inbox, "J" the recipient's Junk folder (DMARC
 *                          quarantine; q_writer_quarantine). Patched like Z
 *                          (the verdict comes at the end of DATA). Optional:
 *                          older files lack it (the inbox)
 *   T<seconds>             arrival time (decimal)
 *   S<sender>              envelope sender, empty for the null sender
 *   E<envid>               DSN ENVID                            (optional)
 *   DFULL or DHDRS         DSN RET                              (optional)
 *   B8BITMIME              BODY=8BITMIME                        (optional)
 *   U                      SMTPUTF8                             (optional)
 *   C<client>              "hostname [address]" of the client   (optional)
 *   N<count>               number of recipients, 1..Q_MAX_RCPTS
 *   R<st><nt> <address>    one per recipient, in index order. <st> is the
 *                          state byte (P D F R, q.h), rewritten in place at
 *                          line start + 1; <nt> is one hex digit of
 *                          Q_NOTIFY_* bits
 *   O<orcpt>               DSN ORCPT of the recipient line above (optional)
 *   X                      end of envelope; the content starts after "\n"
 *
 * The top-header trailer: header fields that belong above the content but
 * were known only once the content was written (Authentication-Results,
 * after DKIM has seen the whole body; later a DKIM-Signature). They follow
 * the content as plain header text (LF line ends, folded lines allowed, no
 * blank line, no NUL), P bytes, so the file is envelope + Z content bytes
 * + P trailer bytes, and at open the sizes must add up exactly. Every
 * reader shows the message as trailer text first, then the content
 * (q_msg_pread, q_msg_size); the trailer is never part of content_size.
 *
 * Records appear in exactly this order and the singular ones at most once;
 * anything else (unknown type, bad number, wrong count, missing end marker,
 * a line over Q_MAX_LINE, an envelope over Q_MAX_ENVELOPE) makes the file
 * malformed and q_msg_open fails, so qmgr moves it to corrupt/.
 *
 * Values are escaped like xtext (RFC 3461): a byte from 0x21 to 0x7E other
 * than '+' stands for itself; any other byte (space, controls, DEL, '+',
 * 8-bit UTF-8) is written "+HH" with two upper-case hex digits. So every
 * record is one line of printable ASCII, whatever the address holds.
 *
 * Queue ID: (seconds * 10^6 + microseconds) of the moment the tmp file was
 * created, as 9 base-62 digits (0-9A-Za-z, so IDs of one length sort by
 * time), then the tmp file's inode in base 62 (at least 3 digits): 12 to
 * 20 characters. While the file exists no other file has its inode, so
 * two live IDs never collide, across processes and restarts.
 *
 * The pool: a removed queue file can be kept as tmp/pool.<slot>
 * (q_recycle), and the writer takes one from there, by renaming it to its
 * own tmp name, before it creates a file. Creating an inode is the most
 * expensive step of a queue file on ext4 without a journal (the allocator
 * skips every inode freed in the last minutes, one lookup each, and a busy
 * queue frees one per message); a pooled file skips that and the freeing.
 * There are Q_POOL_SLOTS slots, so the pool never holds more files; the
 * rename to or from a slot is atomic, so processes racing for a slot are
 * safe, and the loser just tries another slot. A pooled file is garbage
 * until taken (nothing reads tmp/; it is as private as the queue it came
 * from). The taker checks what it got (a regular file of ours with one
 * link) and resets its mode, since qmgr keeps a mark in the mode bits; it
 * writes over the old bytes, which spares freeing and allocating their
 * blocks, and cuts the file to its new length before the fsync.
 *
 * Writer locks: a writer holds flock(LOCK_EX) on its tmp file from the
 * moment it has the descriptor until the file is renamed into incoming/
 * or removed, so the tmp/ sweeper (qsweep.c) can tell the file of a live
 * writer, however slow its client, from one a killed writer left behind:
 * it removes only files it can lock. A file taken from the pool that
 * cannot be locked is the sweeper's just then: the taker drops it and
 * creates a new file. */
#include "q.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "mem.h"

#define Q_MAGIC "POSTERN-QUEUE 1"
#define Q_SIZE_DIGITS 19 /* INT64_MAX has 19 */
/* Offset of the Z record's digits: after the magic line and the 'Z'. */
#define Q_SIZE_OFFSET ((off_t)sizeof(Q_MAGIC) + 1)
/* The P record's digits follow: "<Z digits>\nP<P digits>" is patched whole. */
#define Q_SIZES_LEN (2 * Q_SIZE_DIGITS + 5) /* Z digits, \nP, digits, \nQ, flag */

#define Q_MAX_LINE 8192 /* bytes of one record, type letter included */
#define Q_MAX_RCPTS 100000
#define Q_MAX_ENVELOPE (64L * 1024 * 1024)
#define Q_MAX_TOP (1024 * 1024) /* bytes of the top-header trailer */

#define Q_WBUF_SIZE (64 * 1024)
#define Q_FIRST_READ (8 * 1024)
#define Q_NEXT_READ (64 * 1024)

static const char q_digits62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
static const char q_hex[] = "0123456789ABCDEF";

/* ---- escaping ---------------------------------------------------------- */

static bool q_plain_byte(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '+';
}

static void q_escape(buf *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (q_plain_byte(*p)) {
			buf_putc(out, *p);
		} else {
			buf_putc(out, '+');
			buf_putc(out, q_hex[*p >> 4]);
			buf_putc(out, q_hex[*p & 15]);
		}
	}
}

static int q_hex_value(char c)
{
	const char *p = c != '\0' ? strchr(q_hex, c) : NULL;

	return p == NULL ? -1 : (int)(p - q_hex);
}

/* q_unescape: decodes len bytes of an escaped value; NULL if malformed. */
static char *q_unescape(const char *s, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int hi, lo;

		if (c != '+') {
			if (!q_plain_byte(c))
				goto bad;
			out[n++] = (char)c;
			continue;
		}
		if (i + 2 >= len)
			goto bad;
		hi = q_hex_value(s[i + 1]);
		lo = q_hex_value(s[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			goto bad;
		out[n++] = (char)(hi * 16 + lo);
		i += 2;
	}
	out[n] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* ---- queue IDs ---------------------------------------------------------- */

static void q_put62(char *out, uint64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		out[i] = q_digits62[v % 62];
		v /= 62;
	}
}

static char *q_make_id(const struct timeval *tv, uint64_t ino)
{
	uint64_t when = (uint64_t)tv->tv_sec * 1000000u + (uint64_t)tv->tv_usec;
	int width = 3;
	char *id;

	for (uint64_t v = ino / 238328u; v > 0; v /= 62) /* 62^3 */
		width++;
	id = xmalloc(9 + (size_t)width + 1);
	q_put62(id, when, 9);
	q_put62(id + 9, ino, width);
	id[9 + width] = '\0';
	return id;
}

bool q_id_valid(const char *id)
{
	size_t n = 0;

	if (id == NULL)
		return false;
	for (; id[n] != '\0'; n++) {
		char c = id[n];

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			return false;
	}
	return n >= 8 && n <= 32;
}

char *q_path(const char *queue_dir, const char *sub, const char *id)
{
	return xasprintf("%s/%s/%s", queue_dir, sub, id);
}

int q_move(const char *queue_dir, const char *id, const char *from, const char *to)
{
	char *src = q_path(queue_dir, from, id);
	char *dst = q_path(queue_dir, to, id);
	int rc = rename(src, dst);
	int saved = errno;

	free(src);
	free(dst);
	errno = saved;
	return rc;
}

int q_sync_dir(const char *queue_dir, const char *sub)
{
	char *dir = fs_join(queue_dir, sub);
	int rc = fs_fsync_dir(dir);
	int saved = errno;

	free(dir);
	errno = saved;
	return rc;
}

/* ---- writing ------------------------------------------------------------ */

struct q_writer {
	char *queue_dir;
	char *tmp_path;
	char *id;
	int fd;
	char *wbuf;
	size_t wlen;
	off_t flushed; /* bytes already written to fd */
	off_t content_start; /* -1 until the envelope is written */
	off_t stale_size; /* old bytes of a pooled file, cut off at commit */
	buf *top; /* the top-header trailer so far, NULL while empty */
	bool quarantine; /* the Q record says J (q_writer_quarantine) */
	q_writer_tap_fn *tap; /* sees the content appended (q_writer_tap) */
	void *tap_ctx;
	char *error; /* first write error; the tmp file is gone then */
};

static unsigned long q_tmp_counter;

/* Slots of the pool, and slots tried per take and per put. Takes and puts
 * come at the same rate in a busy queue, so the pool settles where a take
 * misses as often as a put finds no free slot: with fill f, f^3 =
 * (1-f)^6, about 38% full, where 6% of the takes miss (a new inode) and
 * 6% of the puts unlink. Each failed try is a rename in tmp/ under its
 * directory lock, which every smtpd commit thread also takes: with 8 put
 * tries a full pool cost about 7 failed renames per message (strace). The
 * slots are many more than the messages a busy queue has in flight,
 * which would otherwise empty the pool. */
#define Q_POOL_SLOTS 256
#define Q_POOL_TAKE_TRIES 6
#define Q_POOL_PUT_TRIES 3
/* Largest file kept in the pool (see q_recycle). */
#define Q_POOL_MAX_SIZE (256 * 1024)

/* q_writer_fail: records the error, removes the tmp file. Always -1. */
static int q_writer_fail(q_writer *w, const char *what, int err, char **err_r)
{
	if (w->error == NULL) {
		w->error = xasprintf("cannot %s queue file %s: %s", what, w->tmp_path, strerror(err));
		unlink(w->tmp_path); /* before the close drops the lock */
		if (w->fd >= 0)
			close(w->fd);
		w->fd = -1;
	}
	if (err_r != NULL)
		*err_r = xstrdup(w->error);
	return -1;
}

static int q_writer_flush(q_writer *w, char **err_r)
{
	if (w->wlen == 0)
		return 0;
	if (fs_write_all(w->fd, w->wbuf, w->wlen) < 0)
		return q_writer_fail(w, "write", errno, err_r);
	w->flushed += (off_t)w->wlen;
	w->wlen = 0;
	return 0;
}

static int q_writer_put(q_writer *w, const void *data, size_t len, char **err_r)
{
	if (w->error != NULL)
		return q_writer_fail(w, "write", EIO, err_r);
	if (w->wlen + len > Q_WBUF_SIZE && q_writer_flush(w, err_r) < 0)
		return -1;
	if (len >= Q_WBUF_SIZE) {
		if (fs_write_all(w->fd, data, len) < 0)
			return q_writer_fail(w, "write", errno, err_r);
		w->flushed += (off_t)len;
		return 0;
	}
	memcpy(w->wbuf + w->wlen, data, len);
	w->wlen += len;
	return 0;
}

/* q_tmp_name: a fresh name in tmp/ (heap). */
static char *q_tmp_name(const char *queue_dir)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return xasprintf("%s/%s/%ld.%lu.%ld", queue_dir, Q_TMP, (long)getpid(), ++q_tmp_counter,
			 (long)tv.tv_usec);
}

/* q_pool_path: the path of a slot picked at random (an LCG per process,
 * seeded by the pid): slots tried one after another would follow the
 * takers' own trail of emptied slots and miss far more often. */
static char *q_pool_path(const char *queue_dir)
{
	static uint32_t state;

	if (state == 0)
		state = (uint32_t)getpid() * 2654435761u | 1;
	state = state * 1103515245u + 12345u;
	return xasprintf("%s/%s/%s%u", queue_dir, Q_TMP, Q_POOL_PREFIX,
			 (state >> 16) % Q_POOL_SLOTS);
}

/* q_lock_tmp: the writer's lock (see above); false when someone else
 * holds the file. */
static bool q_lock_tmp(int fd)
{
	int rc;

	while ((rc = flock(fd, LOCK_EX | LOCK_NB)) < 0 && errno == EINTR)
		;
	return rc == 0;
}

/* q_pool_open: opens and locks a file just taken from the pool, mode 0600
 * like a new one; *stale_r gets its old size. -1 (the file removed) when it
 * is not a regular file of ours with one link, which only a tampered queue
 * has, or when the sweeper holds its lock. */
static int q_pool_open(const char *path, off_t *stale_r)
{
	int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd >= 0 && q_lock_tmp(fd) && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_nlink == 1 &&
	    st.st_uid == geteuid() && ((st.st_mode & 07777) == 0600 || fchmod(fd, 0600) == 0)) {
		*stale_r = st.st_size;
		return fd;
	}
	if (fd >= 0)
		close(fd);
	unlink(path);
	return -1;
}

/* q_pool_take: a pooled file renamed to a fresh tmp name, open for
 * writing (*stale_r: its old size), or -1 when the slots tried are empty. */
static int q_pool_take(const char *queue_dir, char **path_r, off_t *stale_r)
{
	for (int tries = 0; tries < Q_POOL_TAKE_TRIES; tries++) {
		char *slot = q_pool_path(queue_dir);
		char *path = q_tmp_name(queue_dir);
		int moved = rename(slot, path);
		int rename_errno = errno;

		free(slot);
		int fd = moved == 0 ? q_pool_open(path, stale_r) : -1;
		if (fd >= 0) {
			*path_r = path;
			return fd;
		}
		free(path);
		if (moved == 0 || rename_errno != ENOENT)
			return -1; /* not a usable pool: create a file */
	}
	return -1;
}

/* q_recycle: the file is not emptied here: another process may take it
 * from its slot at once, and only the taker may touch it then. A file
 * over Q_POOL_MAX_SIZE is unlinked instead: the pool saves an inode, not
 * data blocks, and a full pool of large files would hold back space a
 * nearly full disk needs (256 slots of 10 MB messages are 2.5 GB). */
int q_recycle(const char *queue_dir, const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && st.st_size > Q_POOL_MAX_SIZE)
		return unlink(path);
	for (int tries = 0; tries < Q_POOL_PUT_TRIES; tries++) {
		char *slot = q_pool_path(queue_dir);
		int rc = renameat2(AT_FDCWD, path, AT_FDCWD, slot, RENAME_NOREPLACE);
		int rename_errno = errno;

		free(slot);
		if (rc == 0)
			return 0;
		if (rename_errno != EEXIST)
			break; /* EINVAL: no RENAME_NOREPLACE here; ENOENT: gone */
	}
	return unlink(path);
}

static int q_create_tmp(const char *queue_dir, char **path_r, off_t *stale_r, char **err_r)
{
	int fd = q_pool_take(queue_dir, path_r, stale_r);

	if (fd >= 0)
		return fd;
	for (int tries = 0; tries < 100; tries++) {
		*path_r = q_tmp_name(queue_dir);
		fd = open(*path_r, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 && q_lock_tmp(fd))
			return fd;
		if (fd >= 0) { /* only a sweep with a tiny max age gets here */
			unlink(*path_r);
			close(fd);
			errno = EEXIST;
		}
		if (errno != EEXIST) {
			*err_r = xasprintf("cannot create queue file %s: %s", *path_r, strerror(errno));
			free(*path_r);
			*path_r = NULL;
			return -1;
		}
		free(*path_r);
	}
	*err_r = xasprintf("cannot create a unique queue file in %s/%s", queue_dir, Q_TMP);
	*path_r = NULL;
	return -1;
}

q_writer *q_writer_new(const char *queue_dir, char **err_r)
{
	char *path = NULL;
	off_t stale = 0;
	int fd = q_create_tmp(queue_dir, &path, &stale, err_r);
	struct timeval tv;
	struct stat st;
	q_writer *w;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0) {
		*err_r = xasprintf("cannot stat queue file %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		free(path);
		return NULL;
	}
	gettimeofday(&tv, NULL);
	w = xcalloc(1, sizeof(*w));
	w->queue_dir = xstrdup(queue_dir);
	w->tmp_path = path;
	w->id = q_make_id(&tv, (uint64_t)st.st_ino);
	w->fd = fd;
	w->wbuf = xmalloc(Q_WBUF_SIZE);
	w->content_start = -1;
	w->stale_size = stale;
	return w;
}

const char *q_writer_id(const q_writer *w)
{
	return w->id;
}

static int q_check_envelope(const struct q_envelope *env, char **err_r)
{
	if (env->nrcpts < 1 || env->nrcpts > Q_MAX_RCPTS) {
		*err_r = xasprintf("bad recipient count %d", env->nrcpts);
		return -1;
	}
	if (env->ret < 0 || env->ret > 2) {
		*err_r = xasprintf("bad RET value %d", env->ret);
		return -1;
	}
	for (int i = 0; i < env->nrcpts; i++) {
		const struct q_rcpt *r = &env->rcpts[i];

		if (r->address == NULL || r->notify < 0 || r->notify > 15 ||
		    (r->state != '\0' && strchr("PDFR", r->state) == NULL)) {
			*err_r = xasprintf("bad recipient %d", i);
			return -1;
		}
	}
	return 0;
}

/* q_add_record: appends "<type><escaped value>\n"; -1 if over Q_MAX_LINE. */
static int q_add_record(buf *env, const char *head, const char *value, char **err_r)
{
	size_t start = buf_len(env);

	buf_puts(env, head);
	if (value != NULL)
		q_escape(env, value);
	if (buf_len(env) - start > Q_MAX_LINE - 1) {
		*err_r = xasprintf("%c record too long (%zu bytes)", head[0], buf_len(env) - start);
		return -1;
	}
	buf_putc(env, '\n');
	return 0;
}

static int q_format_rcpts(buf *env, const struct q_envelope *e, char **err_r)
{
	for (int i = 0; i < e->nrcpts; i++) {
		const struct q_rcpt *r = &e->rcpts[i];
		char head[5] = { 'R', r->state != '\0' ? r->state : Q_RCPT_PENDING,
				 q_hex[r->notify & 15], ' ', '\0' };

		if (q_add_record(env, head, r->address, err_r) < 0)
			return -1;
		if (r->orcpt != NULL && q_add_record(env, "O", r->orcpt, err_r) < 0)
			return -1;
	}
	return 0;
}

static int q_format_envelope(buf *env, const struct q_envelope *e, char **err_r)
{
	int rc = 0;

	buf_printf(env, "%s\nZ%0*d\nP%0*d\nQ%c\nT%lld\n", Q_MAGIC, Q_SIZE_DIGITS, 0, Q_SIZE_DIGITS, 0,
		   e->quarantine ? Q_FOLDER_JUNK : Q_FOLDER_INBOX, (long long)e->arrival);
	rc |= q_add_record(env, "S", e->sender != NULL ? e->sender : "", err_r);
	if (rc == 0 && e->envid != NULL)
		rc |= q_add_record(env, "E", e->envid, err_r);
	if (e->ret != 0)
		buf_puts(env, e->ret == 1 ? "DFULL\n" : "DHDRS\n");
	if (e->body_8bit)
		buf_puts(env, "B8BITMIME\n");
	if (e->smtputf8)
		buf_puts(env, "U\n");
	if (rc == 0 && e->client != NULL)
		rc |= q_add_record(env, "C", e->client, err_r);
	buf_printf(env, "N%d\n", e->nrcpts);
	if (rc == 0)
		rc |= q_format_rcpts(env, e, err_r);
	buf_puts(env, "X\n");
	if (rc == 0 && buf_len(env) > (size_t)Q_MAX_ENVELOPE) {
		*err_r = xasprintf("envelope too large (%zu bytes)", buf_len(env));
		rc = -1;
	}
	return rc;
}

int q_writer_envelope(q_writer *w, const struct q_envelope *env, char **err_r)
{
	buf *text;
	int rc;

	if (w->error != NULL)
		return q_writer_fail(w, "write", EIO, err_r);
	if (w->content_start >= 0) {
		*err_r = xstrdup("queue file envelope written twice");
		return -1;
	}
	if (q_check_envelope(env, err_r) < 0)
		return -1;
	text = buf_new(4096);
	rc = q_format_envelope(text, env, err_r);
	if (rc == 0)
		rc = q_writer_put(w, buf_cstr(text), buf_len(text), err_r);
	if (rc == 0)
		w->content_start = (off_t)buf_len(text);
	w->quarantine = env->quarantine;
	buf_free(&text);
	return rc;
}

int q_writer_content(q_writer *w, const void *data, size_t len, char **err_r)
{
	if (w->content_start < 0 && w->error == NULL) {
		*err_r = xstrdup("queue file content before envelope");
		return -1;
	}
	if (q_writer_put(w, data, len, err_r) < 0)
		return -1;
	if (w->tap != NULL && len > 0)
		w->tap(w->tap_ctx, data, len);
	return 0;
}

void q_writer_tap(q_writer *w, q_writer_tap_fn *fn, void *ctx)
{
	w->tap = fn;
	w->tap_ctx = fn != NULL ? ctx : NULL;
}

off_t q_writer_content_size(const q_writer *w)
{
	if (w->content_start < 0)
		return 0;
	return w->flushed + (off_t)w->wlen - w->content_start;
}

/* q_patch_size: fills in the Z and P records, in the buffer if it is
 * still there. Called after the trailer is queued. */
static int q_patch_size(q_writer *w, char **err_r)
{
	char digits[Q_SIZES_LEN + 1];
	long long top = w->top != NULL ? (long long)buf_len(w->top) : 0;

	snprintf(digits, sizeof(digits), "%0*lld\nP%0*lld\nQ%c", Q_SIZE_DIGITS,
		 (long long)q_writer_content_size(w) - top, Q_SIZE_DIGITS, top,
		 w->quarantine ? Q_FOLDER_JUNK : Q_FOLDER_INBOX);
	if (w->flushed == 0) {
		memcpy(w->wbuf + Q_SIZE_OFFSET, digits, Q_SIZES_LEN);
		return 0;
	}
	if (pwrite(w->fd, digits, Q_SIZES_LEN, Q_SIZE_OFFSET) != Q_SIZES_LEN)
		return q_writer_fail(w, "write", errno != 0 ? errno : EIO, err_r);
	return 0;
}

/* q_top_field_ok: one header field for the trailer: a name, a colon, and
 * lines that each end in LF, continuation lines starting with white
 * space, no NUL and no empty line (which would end the header). */
static bool q_top_field_ok(const char *f, size_t len)
{
	size_t name = 0;

	while (name < len && f[name] > 32 && f[name] < 127 && f[name] != ':')
		name++;
	if (name == 0 || name == len || f[name] != ':' || f[len - 1] != '\n')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (f[i] == '\0')
			return false;
		if (f[i] == '\n' && i + 1 < len && f[i + 1] != ' ' && f[i + 1] != '\t')
			return false;
	}
	return true;
}

int q_writer_top_header(q_writer *w, const char *field, char **err_r)
{
	size_t len = strlen(field);

	if (!q_top_field_ok(field, len)) {
		*err_r = xstrdup("malformed header field for the top of the message");
		return -1;
	}
	if ((w->top != NULL ? buf_len(w->top) : 0) + len > Q_MAX_TOP) {
		*err_r = xasprintf("top header fields over %d bytes", Q_MAX_TOP);
		return -1;
	}
	if (w->top == NULL)
		w->top = buf_new(len + 256);
	buf_append(w->top, field, len);
	return 0;
}

int q_writer_top_fields(q_writer *w, const char *text, size_t len, char **err_r)
{
	const char *p = text, *end = text + len;
	buf *field = buf_new(1024);
	int rc = 0;

	while (p < end && rc == 0) {
		buf_reset(field);
		do { /* one field: its first line and the folded ones after it */
			const char *eol = memchr(p, '\n', (size_t)(end - p));
			size_t n = eol != NULL ? (size_t)(eol - p) : (size_t)(end - p);

			buf_append(field, p, n > 0 && p[n - 1] == '\r' ? n - 1 : n);
			buf_putc(field, '\n');
			p += eol != NULL ? n + 1 : n;
		} while (p < end && (*p == ' ' || *p == '\t'));
		rc = q_writer_top_header(w, buf_cstr(field), err_r);
	}
	buf_free(&field);
	return rc;
}

void q_writer_quarantine(q_writer *w)
{
	w->quarantine = true;
}

static void q_writer_free(q_writer **wp)
{
	q_writer *w = *wp;

	if (w->fd >= 0)
		close(w->fd);
	free(w->queue_dir);
	free(w->tmp_path);
	free(w->id);
	free(w->wbuf);
	buf_free(&w->top);
	free(w->error);
	free(w);
	*wp = NULL;
}

static int q_writer_finish(q_writer *w, char **err_r)
{
	char *dst;
	int fd;

	if (w->error != NULL)
		return q_writer_fail(w, "write", EIO, err_r);
	if (w->content_start < 0) {
		*err_r = xstrdup("queue file has no envelope");
		return -1;
	}
	if (w->top != NULL && q_writer_put(w, buf_cstr(w->top), buf_len(w->top), err_r) < 0)
		return -1;
	if (q_patch_size(w, err_r) < 0 || q_writer_flush(w, err_r) < 0)
		return -1;
	if (w->stale_size > w->flushed && ftruncate(w->fd, w->flushed) < 0)
		return q_writer_fail(w, "truncate", errno, err_r);
	if (fsync(w->fd) < 0)
		return q_writer_fail(w, "fsync", errno, err_r);
	dst = q_path(w->queue_dir, Q_INCOMING, w->id);
	if (rename(w->tmp_path, dst) < 0) {
		free(dst);
		return q_writer_fail(w, "rename", errno, err_r);
	}
	free(dst);
	/* Closed after the rename, so the lock covers the file until it has
	 * left tmp/. The data reached the disk with the fsync, so close has
	 * nothing left to report; the file is committed whatever it says. */
	fd = w->fd;
	w->fd = -1;
	close(fd);
	return 0;
}

int q_writer_commit(q_writer **wp, char **err_r)
{
	q_writer *w = *wp;
	int rc = q_writer_finish(w, err_r);

	if (rc < 0 && w->error == NULL)
		unlink(w->tmp_path);
	q_writer_free(wp);
	return rc;
}

void q_writer_abort(q_writer **wp)
{
	if (*wp == NULL)
		return;
	if ((*wp)->error == NULL)
		unlink((*wp)->tmp_path);
	q_writer_free(wp);
}

/* ---- reading ------------------------------------------------------------ */

/* Record ranks: records come in this order; 'O' shares the rank of 'R'. */
static const char q_order[] = "ZPQTSEDBUCNRX";
#define Q_RANK(c) ((int)(strchr(q_order, (c)) - q_order) + 1)
#define Q_REQUIRED "ZTSNX"

struct q_parser {
	struct q_msg *msg;
	int rank; /* rank of the last record (1..); 0 until the first one */
	unsigned seen; /* bit per rank */
	char last; /* type of the last record */
	int declared; /* the N record */
	long long size; /* the Z record */
	long long top; /* the P record (0 when absent) */
	long line;
	char *err;
};

static int q_bad(struct q_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int q_bad(struct q_parser *p, const char *fmt, ...)
{
	buf *b = buf_new(128);
	va_list ap;

	buf_printf(b, "malformed queue file %s: line %ld: ", p->msg->path, p->line);
	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
	p->err = buf_steal_free(&b);
	return -1;
}

static int q_parse_num(const char *s, size_t len, long long max, long long *v_r)
{
	long long v = 0;

	if (len == 0 || len > 19)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v > max)
		return -1;
	*v_r = v;
	return 0;
}

static int q_parse_value(struct q_parser *p, char type, const char *s, size_t len, char **out_r)
{
	char *v = q_unescape(s, len);

	if (v == NULL)
		return q_bad(p, "bad escaped value in %c record", type);
	free(*out_r);
	*out_r = v;
	return 0;
}

static int q_parse_count(struct q_parser *p, const char *v, size_t len)
{
	long long n;

	if (q_parse_num(v, len, Q_MAX_RCPTS, &n) < 0 || n < 1)
		return q_bad(p, "bad recipient count");
	p->declared = (int)n;
	p->msg->env.rcpts = xcalloc((size_t)n, sizeof(struct q_rcpt));
	return 0;
}

static int q_parse_rcpt(struct q_parser *p, const char *v, size_t len, off_t at)
{
	struct q_envelope *env = &p->msg->env;
	struct q_rcpt *r;
	int notify;

	if (env->nrcpts >= p->declared)
		return q_bad(p, "more recipients than the %d declared", p->declared);
	if (len < 3 || strchr("PDFR", v[0]) == NULL || v[0] == '\0' || v[2] != ' ')
		return q_bad(p, "bad recipient record");
	notify = q_hex_value(v[1]);
	if (notify < 0)
		return q_bad(p, "bad recipient NOTIFY digit");
	r = &env->rcpts[env->nrcpts++];
	r->state = v[0];
	r->notify = notify;
	r->state_offset = at + 1;
	return q_parse_value(p, 'R', v + 3, len - 3, &r->address);
}

static int q_parse_orcpt(struct q_parser *p, const char *v, size_t len)
{
	struct q_envelope *env = &p->msg->env;

	if (p->last != 'R')
		return q_bad(p, "ORCPT record without a recipient");
	return q_parse_value(p, 'O', v, len, &env->rcpts[env->nrcpts - 1].orcpt);
}

static bool q_is(const char *v, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(v, want, len) == 0;
}

static int q_parse_flag(struct q_parser *p, char type, const char *v, size_t len)
{
	struct q_envelope *env = &p->msg->env;

	if (type == 'D' && (q_is(v, len, "FULL") || q_is(v, len, "HDRS")))
		env->ret = v[0] == 'F' ? 1 : 2;
	else if (type == 'B' && q_is(v, len, "8BITMIME"))
		env->body_8bit = true;
	else if (type == 'U' && len == 0)
		env->smtputf8 = true;
	else
		return q_bad(p, "bad %c record", type);
	return 0;
}

/* q_parse_record: one record after the order checks. 1 at the end marker. */
static int q_parse_record(struct q_parser *p, char type, const char *v, size_t len, off_t at)
{
	struct q_envelope *env = &p->msg->env;
	long long n;

	switch (type) {
	case 'Z':
		if (len != Q_SIZE_DIGITS || q_parse_num(v, len, INT64_MAX, &p->size) < 0)
			return q_bad(p, "bad content size");
		return 0;
	case 'P':
		if (len != Q_SIZE_DIGITS || q_parse_num(v, len, Q_MAX_TOP, &p->top) < 0)
			return q_bad(p, "bad top header size");
		return 0;
	case 'Q':
		if (len != 1 || (v[0] != Q_FOLDER_INBOX && v[0] != Q_FOLDER_JUNK))
			return q_bad(p, "bad folder record");
		env->quarantine = v[0] == Q_FOLDER_JUNK;
		return 0;
	case 'T':
		if (q_parse_num(v, len, INT64_MAX, &n) < 0)
			return q_bad(p, "bad arrival time");
		env->arrival = (time_t)n;
		return 0;
	case 'S':
		return q_parse_value(p, 'S', v, len, &env->sender);
	case 'E':
		return q_parse_value(p, 'E', v, len, &env->envid);
	case 'C':
		return q_parse_value(p, 'C', v, len, &env->client);
	case 'N':
		return q_parse_count(p, v, len);
	case 'R':
		return q_parse_rcpt(p, v, len, at);
	case 'O':
		return q_parse_orcpt(p, v, len);
	case 'X':
		if (len != 0)
			return q_bad(p, "bad end marker");
		if (env->nrcpts != p->declared)
			return q_bad(p, "%d recipients, %d declared", env->nrcpts, p->declared);
		return 1;
	default:
		return q_parse_flag(p, type, v, len);
	}
}

/* q_check_order: records in q_order order, singular ones once, the
 * required ones not skipped. */
static int q_check_order(struct q_parser *p, char type)
{
	int rank = type == 'O' ? Q_RANK('R') : Q_RANK(type);

	if (rank < p->rank || (rank == p->rank && type != 'R' && type != 'O'))
		return q_bad(p, "record %c out of order or repeated", type);
	for (const char *req = Q_REQUIRED; *req != '\0'; req++) {
		int r = Q_RANK(*req);

		if (r < rank && (p->seen & (1u << r)) == 0)
			return q_bad(p, "record %c missing before %c", *req, type);
	}
	p->rank = rank;
	p->seen |= 1u << rank;
	return 0;
}

static int q_parse_line(struct q_parser *p, const char *line, size_t len, off_t at)
{
	char type;
	int rc;

	p->line++;
	if (p->seen == 0) {
		if (!q_is(line, len, Q_MAGIC))
			return q_bad(p, "bad magic line (not a version 1 queue file)");
		p->seen = 1; /* bit 0: the magic line */
		return 0;
	}
	if (len == 0)
		return q_bad(p, "empty line");
	type = line[0];
	if (type == '\0' || (type != 'O' && strchr(q_order, type) == NULL))
		return q_bad(p, "unknown record type 0x%02x", (unsigned char)type);
	if (q_check_order(p, type) < 0)
		return -1;
	rc = q_parse_record(p, type, line + 1, len - 1, at);
	p->last = type;
	return rc;
}

/* q_read_envelope: reads and parses lines until the end marker; the first
 * read is small enough to be cheap and large enough for most envelopes. */
static int q_read_envelope(struct q_parser *p, int fd)
{
	buf *data = buf_new(Q_FIRST_READ);
	size_t pos = 0, want = Q_FIRST_READ;
	off_t base = 0; /* file offset of data[0] */
	bool eof = false;
	int rc = 0;

	while (rc == 0) {
		const char *start = buf_cstr(data) + pos;
		size_t avail = buf_len(data) - pos;
		const char *nl = memchr(start, '\n', avail);
		ssize_t n;

		if (nl != NULL) {
			size_t len = (size_t)(nl - start);

			if (len >= Q_MAX_LINE) {
				p->line++;
				rc = q_bad(p, "line longer than %d bytes", Q_MAX_LINE);
				break;
			}
			rc = q_parse_line(p, start, len, base + (off_t)pos);
			pos += len + 1;
			continue;
		}
		if (avail >= Q_MAX_LINE) {
			p->line++;
			rc = q_bad(p, "line longer than %d bytes", Q_MAX_LINE);
		} else if (base + (off_t)buf_len(data) >= Q_MAX_ENVELOPE) {
			rc = q_bad(p, "envelope larger than %ld bytes", Q_MAX_ENVELOPE);
		} else if (eof) {
			rc = q_bad(p, "truncated envelope (no end marker)");
		}
		if (rc != 0)
			break;
		buf_consume(data, pos);
		base += (off_t)pos;
		pos = 0;
		n = read(fd, buf_reserve(data, want), want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			p->err = xasprintf("cannot read queue file %s: %s", p->msg->path,
					   strerror(errno));
			rc = -1;
		} else if (n == 0) {
			eof = true;
		}
		buf_commit(data, n > 0 ? (size_t)n : 0);
		want = Q_NEXT_READ;
	}
	if (rc == 1)
		p->msg->content_offset = base + (off_t)pos;
	buf_free(&data);
	return rc == 1 ? 0 : -1;
}

/* q_read_top: reads and checks the top-header trailer of n bytes at off. */
static int q_read_top(struct q_msg *m, off_t off, size_t n, char **err_r)
{
	ssize_t got;

	m->top = xmalloc(n + 1);
	do {
		got = pread(m->fd, m->top, n, off);
	} while (got < 0 && errno == EINTR);
	if (got != (ssize_t)n) {
		*err_r = xasprintf("cannot read queue file %s: %s", m->path,
				   got < 0 ? strerror(errno) : "short read");
		return -1;
	}
	m->top[n] = '\0';
	m->top_len = n;
	for (size_t i = 0; i < n;) {
		const char *lf = memchr(m->top + i, '\n', n - i);
		size_t end = lf != NULL ? (size_t)(lf - m->top) + 1 : n;

		while (end < n && (m->top[end] == ' ' || m->top[end] == '\t')) {
			lf = memchr(m->top + end, '\n', n - end);
			end = lf != NULL ? (size_t)(lf - m->top) + 1 : n;
		}
		if (!q_top_field_ok(m->top + i, end - i)) {
			*err_r = xasprintf("malformed queue file %s: bad top header field", m->path);
			return -1;
		}
		i = end;
	}
	return 0;
}

static int q_msg_load(struct q_msg *m, int flags, char **err_r)
{
	struct q_parser p = { .msg = m };
	struct stat st;

	m->fd = open(m->path, flags | O_CLOEXEC);
	if (m->fd < 0 || fstat(m->fd, &st) < 0) {
		*err_r = xasprintf("cannot open queue file %s: %s", m->path, strerror(errno));
		return -1;
	}
	m->mtime = st.st_mtime;
	if (q_read_envelope(&p, m->fd) < 0) {
		*err_r = p.err;
		return -1;
	}
	m->content_size = st.st_size - m->content_offset - (off_t)p.top;
	if (m->content_size != p.size) {
		*err_r = xasprintf("malformed queue file %s: content is %lld bytes, %lld expected",
				   m->path, (long long)m->content_size, p.size);
		return -1;
	}
	if (p.top > 0)
		return q_read_top(m, m->content_offset + m->content_size, (size_t)p.top, err_r);
	return 0;
}

static int q_msg_open_flags(const char *path, int flags, struct q_msg **msg_r, char **err_r)
{
	struct q_msg *m = xcalloc(1, sizeof(*m));
	const char *slash = strrchr(path, '/');

	m->path = xstrdup(path);
	m->id = xstrdup(slash != NULL ? slash + 1 : path);
	m->fd = -1;
	if (!q_id_valid(m->id)) {
		*err_r = xasprintf("queue file %s: name is not a queue ID", path);
		q_msg_free(&m);
		return -1;
	}
	if (q_msg_load(m, flags, err_r) < 0) {
		q_msg_free(&m);
		return -1;
	}
	*msg_r = m;
	return 0;
}

int q_msg_open(const char *path, struct q_msg **msg_r, char **err_r)
{
	return q_msg_open_flags(path, O_RDWR, msg_r, err_r);
}

int q_msg_open_ro(const char *path, struct q_msg **msg_r, char **err_r)
{
	return q_msg_open_flags(path, O_RDONLY, msg_r, err_r);
}

void q_msg_free(struct q_msg **mp)
{
	struct q_msg *m = *mp;

	if (m == NULL)
		return;
	for (int i = 0; i < m->env.nrcpts; i++) {
		free(m->env.rcpts[i].address);
		free(m->env.rcpts[i].orcpt);
	}
	free(m->env.rcpts);
	free(m->env.sender);
	free(m->env.envid);
	free(m->env.client);
	free(m->top);
	if (m->fd >= 0)
		close(m->fd);
	free(m->id);
	free(m->path);
	free(m);
	*mp = NULL;
}

int q_rcpt_set_state(struct q_msg *msg, int i, char state)
{
	ssize_t n;

	if (i < 0 || i >= msg->env.nrcpts || state == '\0' || strchr("PDFR", state) == NULL) {
		errno = EINVAL;
		return -1;
	}
	do {
		n = pwrite(msg->fd, &state, 1, msg->env.rcpts[i].state_offset);
	} while (n < 0 && errno == EINTR);
	if (n != 1) {
		if (n == 0)
			errno = EIO;
		return -1;
	}
	msg->env.rcpts[i].state = state;
	return 0;
}

int q_msg_sync(struct q_msg *msg)
{
	return fdatasync(msg->fd);
}

int q_msg_pending(const struct q_msg *msg)
{
	int n = 0;

	for (int i = 0; i < msg->env.nrcpts; i++)
		if (msg->env.rcpts[i].state == Q_RCPT_PENDING)
			n++;
	return n;
}

off_t q_msg_size(const struct q_msg *msg)
{
	return (off_t)msg->top_len + msg->content_size;
}

ssize_t q_msg_pread(const struct q_msg *msg, void *dst, size_t len, off_t pos)
{
	size_t from_top = 0;
	ssize_t n;

	if (pos < 0 || pos >= q_msg_size(msg))
		return 0;
	if ((size_t)pos < msg->top_len) {
		from_top = msg->top_len - (size_t)pos;
		if (from_top > len)
			from_top = len;
		memcpy(dst, msg->top + pos, from_top);
		return (ssize_t)from_top; /* the content comes with the next call */
	}
	pos -= (off_t)msg->top_len;
	if ((off_t)len > msg->content_size - pos)
		len = (size_t)(msg->content_size - pos);
	do {
		n = pread(msg->fd, dst, len, msg->content_offset + pos);
	} while (n < 0 && errno == EINTR);
	return n;
}

int q_writer_copy_content(q_writer *w, const struct q_msg *msg, off_t len, int *last_r,
			  char **err_r)
{
	size_t chunk_size = 65536;
	char *chunk = xmalloc(chunk_size);
	off_t done = 0;
	int rc = 0;

	if (last_r != NULL)
		*last_r = '\n';
	while (done < len && rc == 0) {
		size_t want = len - done > (off_t)chunk_size ? chunk_size : (size_t)(len - done);
		ssize_t n = q_msg_pread(msg, chunk, want, done);

		if (n <= 0) {
			*err_r = xasprintf("reading %s: %s", msg->path,
					   n < 0 ? strerror(errno) : "unexpected end of file");
			rc = -1;
			break;
		}
		rc = q_writer_content(w, chunk, (size_t)n, err_r);
		if (last_r != NULL)
			*last_r = (unsigned char)chunk[n - 1];
		done += n;
	}
	free(chunk);
	return rc;
}
