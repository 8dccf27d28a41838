/* imapbox_modseq.c: postern-modseq, the CONDSTORE MODSEQ of every message
 * of a folder and its HIGHESTMODSEQ, shared by every imapd process.
 *
 * Format: binary, host byte order (the file is a side file of this host's
 * Maildir, rebuilt when it does not parse). A 24-byte header, then 24-byte
 * records:
 *
 *   header: "PSTMSEQ1" | u32 UIDVALIDITY | u32 check | u64 floor
 *   record: u32 UID | u32 mask | u64 MODSEQ | u32 kind | u32 check
 *
 * mask is the message's Maildir flags (bits 0-5, D F P R S T) and keyword
 * letters (bits 6-31, a-z) as of that MODSEQ; kind 0 is a state, 1 an
 * expunge. check is FNV-1a over the other 20 bytes. floor is a MODSEQ no
 * earlier one exceeds (a rebuilt file starts above the old one's highest,
 * so HIGHESTMODSEQ never goes down). A later record of a UID replaces an
 * earlier one; HIGHESTMODSEQ is the largest MODSEQ in the file and floor.
 *
 * Writers hold flock(LOCK_EX) on the file, read what others appended
 * since (so the next MODSEQ is theirs + 1), append their records with one
 * write, and unlock: a STORE costs a rename and a 24-byte append, never a
 * rewrite. When dead records (replaced or expunged) make up most of the
 * file, the lock holder writes the live ones into a new file and renames
 * it over; every process checks the inode after taking the lock and on
 * each refresh, and reopens a replaced file. Readers do not lock: they
 * read whole records past their offset, and stop at a record whose check
 * fails (an append still being written). A bad record seen under the lock,
 * a bad header or another UIDVALIDITY makes the file be rebuilt from the
 * folder's messages (ibx_mseq_rebuild), above the highest MODSEQ known.
 *
 * Order of work, which keeps other sessions from misreading a change: a
 * writer renames (or unlinks) the message file first and records it
 * after; a reader reads the records first and scans the directories
 * after, so any record it has read is matched by what its scan sees. */
#include "imapbox_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "mem.h"

#define IBX_REC 24
static const char ibx_magic[8] = { 'P', 'S', 'T', 'M', 'S', 'E', 'Q', '1' };
#define IBX_KIND_STATE 0u
#define IBX_KIND_EXPUNGE 1u
#define IBX_COMPACT_SLACK 1024 /* dead records tolerated beyond the live */
#define IBX_READ_CHUNK (IBX_REC * 8192)

static uint32_t fnv(const unsigned char *p, size_t len, uint32_t h)
{
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static uint32_t rec_check(const unsigned char *r)
{
	return fnv(r + 20, 0, fnv(r, 20, 2166136261u));
}

static uint32_t hdr_check(const unsigned char *h)
{
	return fnv(h + 16, 8, fnv(h, 12, 2166136261u));
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void put_hdr(unsigned char *h, uint32_t uidvalidity, uint64_t floor)
{
	uint32_t c;

	memcpy(h, ibx_magic, 8);
	memcpy(h + 8, &uidvalidity, 4);
	memcpy(h + 16, &floor, 8);
	c = hdr_check(h);
	memcpy(h + 12, &c, 4);
}

static void put_rec(unsigned char *r, uint32_t uid, uint32_t mask, uint64_t modseq, uint32_t kind)
{
	uint32_t c;

	memcpy(r, &uid, 4);
	memcpy(r + 4, &mask, 4);
	memcpy(r + 8, &modseq, 8);
	memcpy(r + 16, &kind, 4);
	c = rec_check(r);
	memcpy(r + 20, &c, 4);
}

void ibx_mseq_init(struct ibx_mseq *ms, const char *dir, uint32_t uidvalidity)
{
	memset(ms, 0, sizeof(*ms));
	ms->path = fs_join(dir, IMAPBOX_MODSEQ_FILE);
	ms->fd = -1;
	ms->uidvalidity = uidvalidity;
}

void ibx_mseq_free(struct ibx_mseq *ms)
{
	if (ms->fd >= 0)
		close(ms->fd);
	free(ms->path);
	free(ms->recs);
	memset(ms, 0, sizeof(*ms));
	ms->fd = -1;
}

/* ---- the table ---- */

static size_t table_pos(const struct ibx_mseq *ms, uint32_t uid)
{
	size_t lo = 0, hi = ms->n;

	if (ms->n > 0 && ms->recs[ms->n - 1].uid < uid)
		return ms->n; /* appends come in UID order mostly */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ms->recs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct ibx_mrec *ibx_mseq_find(const struct ibx_mseq *ms, uint32_t uid)
{
	size_t pos = table_pos(ms, uid);

	return pos < ms->n && ms->recs[pos].uid == uid ? &ms->recs[pos] : NULL;
}

static void table_apply(struct ibx_mseq *ms, uint32_t uid, uint32_t mask, uint64_t modseq, bool expunged)
{
	size_t pos = table_pos(ms, uid);
	struct ibx_mrec *r;

	if (modseq > ms->highest)
		ms->highest = modseq;
	if (pos == ms->n || ms->recs[pos].uid != uid) {
		if (ms->n == ms->cap) {
			ms->cap = ms->cap == 0 ? 64 : ms->cap * 2;
			ms->recs = xrealloc(ms->recs, ms->cap * sizeof(*ms->recs));
		}
		memmove(&ms->recs[pos + 1], &ms->recs[pos], (ms->n - pos) * sizeof(*ms->recs));
		ms->n++;
	}
	r = &ms->recs[pos];
	r->uid = uid;
	r->mask = mask;
	r->modseq = modseq;
	r->expunged = expunged;
}

static void table_reset(struct ibx_mseq *ms)
{
	ms->n = 0;
	ms->nfile = 0;
	ms->offset = 0;
}

/* ---- reading ---- */

int ibx_mseq_parse(struct ibx_mseq *ms, const unsigned char *data, size_t len, bool with_header,
		   size_t *used_r)
{
	size_t off = 0;

	*used_r = 0;
	if (with_header) {
		if (len < IBX_REC || memcmp(data, ibx_magic, 8) != 0 || get32(data + 12) != hdr_check(data) ||
		    get64(data + 16) > IBX_MODSEQ_MAX)
			return -1;
		ms->floor = get64(data + 16);
		if (ms->floor > ms->highest)
			ms->highest = ms->floor;
		if (ms->uidvalidity == 0) /* not known yet: the folder's is compared later */
			ms->uidvalidity = get32(data + 8);
		if (get32(data + 8) != ms->uidvalidity)
			return -1;
		off = IBX_REC;
	}
	for (; len - off >= IBX_REC; off += IBX_REC) {
		const unsigned char *r = data + off;
		uint32_t uid = get32(r), kind = get32(r + 16);
		uint64_t modseq = get64(r + 8);

		if (get32(r + 20) != rec_check(r) || uid == 0 || modseq == 0 || modseq > IBX_MODSEQ_MAX ||
		    kind > IBX_KIND_EXPUNGE)
			break;
		table_apply(ms, uid, get32(r + 4), modseq, kind == IBX_KIND_EXPUNGE);
		ms->nfile++;
	}
	*used_r = off;
	return 0;
}

/* reopen: (re)opens the file when it is not open or was replaced. 1 when
 * opened afresh (table to be read from the start), 0 when unchanged, -1
 * with *err_r. A missing file leaves fd -1 and corrupt set. */
static int reopen(struct ibx_mseq *ms, char **err_r)
{
	struct stat st;

	if (stat(ms->path, &st) < 0) {
		if (errno != ENOENT) {
			*err_r = xasprintf("cannot stat %s: %s", ms->path, strerror(errno));
			return -1;
		}
		if (ms->fd >= 0)
			close(ms->fd);
		ms->fd = -1;
		ms->corrupt = true;
		table_reset(ms);
		return 0;
	}
	if (ms->fd >= 0 && st.st_ino == ms->ino && st.st_dev == ms->dev)
		return 0;
	if (ms->fd >= 0)
		close(ms->fd);
	/* read-only: closing a descriptor opened for writing is an inotify
	 * IN_CLOSE_WRITE that wakes every IDLE session of the folder; the
	 * appends open the file for writing apart (open_for_append) */
	ms->fd = open(ms->path, O_RDONLY | O_CLOEXEC);
	if (ms->fd < 0 || fstat(ms->fd, &st) < 0) {
		*err_r = xasprintf("cannot open %s: %s", ms->path, strerror(errno));
		if (ms->fd >= 0)
			close(ms->fd);
		ms->fd = -1;
		return -1;
	}
	ms->ino = st.st_ino;
	ms->dev = st.st_dev;
	ms->corrupt = false;
	table_reset(ms);
	return 1;
}

/* read_tail: records from ms->offset to the end. A record that fails its
 * check stops the read; under the lock that makes the file corrupt. */
static int read_tail(struct ibx_mseq *ms, bool locked, char **err_r)
{
	unsigned char *chunk = xmalloc(IBX_READ_CHUNK);
	int got = 0;

	for (;;) {
		ssize_t n = pread(ms->fd, chunk, IBX_READ_CHUNK, ms->offset);
		size_t used;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*err_r = xasprintf("cannot read %s: %s", ms->path, strerror(errno));
			free(chunk);
			return -1;
		}
		if (n == 0)
			break;
		if (ibx_mseq_parse(ms, chunk, (size_t)n, ms->offset == 0, &used) < 0) {
			ms->corrupt = true;
			break;
		}
		got |= used > 0;
		ms->offset += (off_t)used;
		if (used < (size_t)n - (size_t)n % IBX_REC || (used < (size_t)n && n < IBX_READ_CHUNK)) {
			if (locked) /* a bad record, or a torn one of a crashed writer */
				ms->corrupt = true;
			break;
		}
	}
	free(chunk);
	if (got && ms->cap > ms->n + ms->n / 8 + 64) { /* no slack kept while idle */
		ms->cap = ms->n + 64;
		ms->recs = xrealloc(ms->recs, ms->cap * sizeof(*ms->recs));
	}
	return got;
}

int ibx_mseq_refresh(struct ibx_mseq *ms, char **err_r)
{
	int rc = reopen(ms, err_r);

	if (rc < 0)
		return -1;
	if (ms->fd < 0 || ms->corrupt)
		return rc;
	rc = read_tail(ms, ms->locked, err_r);
	return rc;
}

bool ibx_mseq_need_rebuild(const struct ibx_mseq *ms)
{
	return ms->fd < 0 || ms->corrupt;
}

int ibx_mseq_lock(struct ibx_mseq *ms, char **err_r)
{
	for (int try = 0; try < 5; try++) {
		struct stat st;

		if (ibx_mseq_refresh(ms, err_r) < 0)
			return -1;
		if (ms->fd < 0) { /* missing: the caller rebuilds it. XXX: two
				   * processes may both do so; the last rename
				   * wins and the other reopens it on its next
				   * refresh (its records were only rebuilt ones) */
			ms->locked = true;
			return 0;
		}
		if (flock(ms->fd, LOCK_EX) < 0) {
			*err_r = xasprintf("cannot lock %s: %s", ms->path, strerror(errno));
			return -1;
		}
		if (stat(ms->path, &st) == 0 && st.st_ino == ms->ino && st.st_dev == ms->dev) {
			ms->locked = true;
			if (!ms->corrupt && read_tail(ms, true, err_r) < 0) {
				ibx_mseq_unlock(ms);
				return -1;
			}
			return 0;
		}
		flock(ms->fd, LOCK_UN); /* replaced meanwhile: again on the new one */
	}
	*err_r = xasprintf("%s keeps being replaced", ms->path);
	return -1;
}

void ibx_mseq_unlock(struct ibx_mseq *ms)
{
	if (ms->fd >= 0 && ms->locked)
		flock(ms->fd, LOCK_UN);
	ms->locked = false;
}

/* ---- writing ---- */

/* write_file: a new file with the table's live records (or the given
 * ones), renamed over the old; our fd moves to it, still locked. */
static int write_file(struct ibx_mseq *ms, const unsigned char *recs, size_t nrecs, char **err_r)
{
	char *tmp = xasprintf("%s.tmp.%d", ms->path, (int)getpid());
	unsigned char hdr[IBX_REC];
	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct stat st;

	put_hdr(hdr, ms->uidvalidity, ms->highest);
	if (fd < 0 || flock(fd, LOCK_EX) < 0 || fs_write_all(fd, hdr, sizeof(hdr)) < 0 ||
	    fs_write_all(fd, recs, nrecs * IBX_REC) < 0 || fstat(fd, &st) < 0 || rename(tmp, ms->path) < 0) {
		*err_r = xasprintf("cannot write %s: %s", ms->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	if (ms->fd >= 0)
		close(ms->fd); /* drops the old file's lock: waiters see it replaced */
	ms->fd = fd;
	ms->ino = st.st_ino;
	ms->dev = st.st_dev;
	ms->offset = (off_t)(IBX_REC + nrecs * IBX_REC);
	ms->nfile = nrecs;
	ms->floor = ms->highest;
	ms->corrupt = false;
	ms->locked = true;
	return 0;
}

static int compact(struct ibx_mseq *ms, char **err_r)
{
	unsigned char *out = xmalloc((ms->n + 1) * IBX_REC);
	size_t k = 0;
	int rc;

	for (size_t i = 0; i < ms->n; i++)
		if (!ms->recs[i].expunged)
			ms->recs[k++] = ms->recs[i];
	ms->n = k;
	for (size_t i = 0; i < ms->n; i++)
		put_rec(out + i * IBX_REC, ms->recs[i].uid, ms->recs[i].mask, ms->recs[i].modseq,
			IBX_KIND_STATE);
	rc = write_file(ms, out, ms->n, err_r);
	free(out);
	return rc;
}

int ibx_mseq_rebuild(struct ibx_mseq *ms, const mbx *mb, char **err_r)
{
	size_t count = mbx_count(mb);
	unsigned char *out = xmalloc((count + 1) * IBX_REC);
	uint64_t fresh;
	int rc;

	if (ms->n > 0 || ms->highest > 0)
		log_warn("imapbox: %s: missing or bad, rebuilt above MODSEQ %llu", ms->path,
			 (unsigned long long)ms->highest);
	fresh = ms->highest + 1;
	for (size_t i = 0; i < count; i++) {
		const struct mbx_msg *m = mbx_msg_peek(mb, i);
		const struct ibx_mrec *old = ibx_mseq_find(ms, m->uid);
		uint32_t mask = ibx_mask_of(m);
		uint64_t modseq = old != NULL && !old->expunged && old->mask == mask ? old->modseq : fresh;

		put_rec(out + i * IBX_REC, m->uid, mask, modseq, IBX_KIND_STATE);
	}
	ms->uidvalidity = mbx_uidvalidity(mb);
	ms->highest = fresh;
	ms->n = 0;
	for (size_t i = 0; i < count; i++)
		table_apply(ms, get32(out + i * IBX_REC), get32(out + i * IBX_REC + 4),
			    get64(out + i * IBX_REC + 8), false);
	ms->highest = fresh; /* the header's floor: above every older one */
	rc = write_file(ms, out, count, err_r);
	free(out);
	return rc;
}

/* open_for_append: a writable descriptor of the file ms->fd has open
 * (under the lock, so the path still names it), -1 with errno. */
static int open_for_append(const struct ibx_mseq *ms)
{
	int fd = open(ms->path, O_WRONLY | O_CLOEXEC);
	struct stat st;

	if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_ino != ms->ino || st.st_dev != ms->dev)) {
		close(fd);
		errno = ESTALE;
		return -1;
	}
	return fd;
}

int ibx_mseq_append(struct ibx_mseq *ms, struct ibx_mchange *ch, size_t n, char **err_r)
{
	unsigned char *out;
	int wfd;

	if (!ms->locked || ms->fd < 0 || ms->corrupt)
		log_panic("ibx_mseq_append: %s not locked or not rebuilt", ms->path);
	if (n == 0)
		return 0;
	out = xmalloc(n * IBX_REC);
	for (size_t k = 0; k < n; k++) {
		ch[k].modseq = ++ms->highest;
		put_rec(out + k * IBX_REC, ch[k].uid, ch[k].mask, ch[k].modseq,
			ch[k].expunged ? IBX_KIND_EXPUNGE : IBX_KIND_STATE);
	}
	wfd = open_for_append(ms);
	if (wfd < 0 || pwrite(wfd, out, n * IBX_REC, ms->offset) != (ssize_t)(n * IBX_REC)) {
		*err_r = xasprintf("cannot append to %s: %s", ms->path, strerror(errno));
		if (wfd >= 0 && ftruncate(wfd, ms->offset) < 0)
			ms->corrupt = true;
		if (wfd >= 0)
			close(wfd);
		ms->highest -= n;
		free(out);
		return -1;
	}
	close(wfd);
	free(out);
	ms->offset += (off_t)(n * IBX_REC);
	ms->nfile += n;
	for (size_t k = 0; k < n; k++)
		table_apply(ms, ch[k].uid, ch[k].mask, ch[k].modseq, ch[k].expunged);
	if (ms->nfile > 2 * ms->n + IBX_COMPACT_SLACK && compact(ms, err_r) < 0) {
		log_warn("imapbox: %s", *err_r); /* the appends stand; compaction waits */
		free(*err_r);
		*err_r = NULL;
	}
	return 0;
}
