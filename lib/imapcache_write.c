/* imapcache_write.c: writing the per-folder FETCH cache: queueing values
 * (imapcache_put), appending them under the file's lock without waiting
 * for it (imapcache_flush), and compaction into a new file renamed over
 * the old one (imapcache_compact). The format and the locking rules are
 * described at the top of imapcache.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fsutil.h"
#include "imapcache_int.h"
#include "log.h"
#include "mem.h"

#define COMPACT_CHUNK (1024 * 1024) /* compaction writes in chunks of this */

static void pending_drop(imapcache *c)
{
	buf_reset(c->pending);
	for (size_t e = 0; e < c->nentries; e++)
		c->entries[e].pending = 0;
}

/* cached_already: whether field of uid is indexed or queued for base. */
static bool cached_already(imapcache *c, const struct imapcache_entry *e, const char *base,
			   size_t base_len, unsigned f)
{
	const char *v;
	size_t len;
	uint32_t crc;

	if (e == NULL)
		return false;
	if (e->pending & (1u << f))
		return true;
	return e->rec[f] != 0 && imapcache_value(c, e->rec[f], base, base_len, f, &v, &len, &crc);
}

static int queue(imapcache *c, uint32_t uid, const char *base, const char *vals[],
		 size_t lens[])
{
	size_t base_len = strlen(base);
	struct imapcache_entry *e;
	int n = 0;
	char *err = NULL;

	if (c->read_only || uid == 0 || base_len == 0 || base_len > IMAPCACHE_MAX_BASE)
		return 0;
	e = imapcache_find(c, uid);
	for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++) {
		if (vals[f] == NULL)
			continue;
		if (lens[f] > IMAPCACHE_MAX_VALUE || cached_already(c, e, base, base_len, f))
			vals[f] = NULL;
		else
			n++;
	}
	if (n == 0)
		return 0;
	imapcache_rec_encode(c->pending, uid, base, base_len, vals, lens);
	e = imapcache_entry_get(c, uid);
	for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++)
		if (vals[f] != NULL)
			e->pending |= (uint8_t)(1u << f);
	if (buf_len(c->pending) >= IMAPCACHE_MAX_PENDING && imapcache_flush(c, &err) < 0) {
		log_warn("imapcache: %s", err);
		free(err);
	}
	return n;
}

int imapcache_put(imapcache *c, uint32_t uid, const char *base, enum imapmsg_field field,
		  const char *value, size_t len)
{
	const char *vals[IMAPMSG_NFIELDS] = { 0 };
	size_t lens[IMAPMSG_NFIELDS] = { 0 };

	if (c == NULL || (unsigned)field >= IMAPMSG_NFIELDS)
		return 0;
	vals[field] = value != NULL ? value : "";
	lens[field] = len;
	return queue(c, uid, base, vals, lens);
}

int imapcache_put_all(imapcache *c, uint32_t uid, const char *base,
		      buf *const in[IMAPMSG_NFIELDS])
{
	const char *vals[IMAPMSG_NFIELDS] = { 0 };
	size_t lens[IMAPMSG_NFIELDS] = { 0 };

	if (c == NULL)
		return 0;
	for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++)
		if (in[f] != NULL) {
			vals[f] = buf_cstr(in[f]);
			lens[f] = buf_len(in[f]);
		}
	return queue(c, uid, base, vals, lens);
}

int imapcache_lock(imapcache *c, char **err_r)
{
	off_t size;

	for (int attempt = 0; attempt < 3; attempt++) {
		if (c->fd < 0 && imapcache_reopen(c, err_r) < 0)
			return -1;
		if (c->fd < 0)
			return 0;
		if (flock(c->fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno == EWOULDBLOCK)
				return 0;
			*err_r = xasprintf("flock %s: %s", c->path, strerror(errno));
			return -1;
		}
		if (imapcache_replaced(c)) {
			flock(c->fd, LOCK_UN);
			if (imapcache_reopen(c, err_r) < 0)
				return -1;
			continue;
		}
		if (imapcache_scan(c, &size, err_r) < 0) {
			flock(c->fd, LOCK_UN);
			return -1;
		}
		if (size > (off_t)c->end && c->bad_at == c->end) {
			log_info("imapcache: %s: bad record at offset %u, file made anew", c->path,
				 (unsigned)c->end);
			if (imapcache_fresh_file(c, err_r) < 0) {
				flock(c->fd, LOCK_UN);
				return -1;
			}
			flock(c->fd, LOCK_UN);
			if (imapcache_reopen(c, err_r) < 0)
				return -1;
			continue;
		}
		if (size > (off_t)c->end) {
			/* nobody writes while we hold the lock: a crash left this
			 * incomplete record, which no reader can have indexed */
			log_info("imapcache: %s: cut off %lld bytes of torn tail", c->path,
				 (long long)(size - c->end));
			if (ftruncate(c->fd, c->end) < 0) {
				*err_r = xasprintf("ftruncate %s: %s", c->path, strerror(errno));
				flock(c->fd, LOCK_UN);
				return -1;
			}
		}
		return 1;
	}
	return 0;
}

void imapcache_unlock(imapcache *c)
{
	if (c->fd >= 0)
		flock(c->fd, LOCK_UN);
}

static int pwrite_all(int fd, const char *p, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int imapcache_flush(imapcache *c, char **err_r)
{
	size_t len = buf_len(c->pending);
	off_t size;
	int rc;

	*err_r = NULL;
	if (len == 0)
		return 0;
	if (c->read_only) {
		pending_drop(c);
		return 0;
	}
	rc = imapcache_lock(c, err_r);
	if (rc <= 0) {
		if (rc < 0 || len > 2 * (size_t)IMAPCACHE_MAX_PENDING)
			pending_drop(c);
		return rc;
	}
	if ((uint64_t)c->end + len > IMAPCACHE_MAX_FILE) {
		pending_drop(c);
		imapcache_unlock(c);
		return 0;
	}
	if (pwrite_all(c->fd, buf_cstr(c->pending), len, c->end) < 0) {
		*err_r = xasprintf("write %s: %s", c->path, strerror(errno));
		if (ftruncate(c->fd, c->end) < 0)
			log_warn("imapcache: ftruncate %s: %s", c->path, strerror(errno));
		pending_drop(c);
		imapcache_unlock(c);
		return -1;
	}
	buf_reset(c->pending); /* indexing the records clears their pending bits */
	rc = imapcache_scan(c, &size, err_r);
	imapcache_unlock(c);
	return rc < 0 ? -1 : 1;
}

/* live_values: the newest values of a live message that are for its base
 * and whose checksum holds; returns how many. */
static unsigned live_values(imapcache *c, const struct imapcache_live *l, const char *vals[],
			    size_t lens[], size_t *rec_len_r)
{
	struct imapcache_entry *e = imapcache_find(c, l->uid);
	size_t base_len = strlen(l->base);
	unsigned n = 0;
	uint32_t crc;

	*rec_len_r = 0;
	for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++) {
		vals[f] = NULL;
		if (e == NULL || e->rec[f] == 0 ||
		    !imapcache_value(c, e->rec[f], l->base, base_len, f, &vals[f], &lens[f], &crc))
			continue;
		if (!(e->checked & (1u << f))) {
			if (imapcache_crc32c(0, vals[f], lens[f]) != crc) {
				vals[f] = NULL;
				e->rec[f] = 0;
				c->memo.valid = false;
				continue;
			}
			e->checked |= (uint8_t)(1u << f);
		}
		n++;
		*rec_len_r += IMAPCACHE_REC_FIELD + lens[f];
	}
	if (n > 0)
		*rec_len_r += IMAPCACHE_REC_FIXED + base_len + 4;
	return n;
}

/* compact_write: writes the live records after a header to fd. */
static int compact_write(imapcache *c, int fd, const struct imapcache_live *live, size_t n)
{
	buf *out = buf_new(COMPACT_CHUNK + IMAPCACHE_MAX_VALUE * IMAPMSG_NFIELDS);
	const char *vals[IMAPMSG_NFIELDS];
	size_t lens[IMAPMSG_NFIELDS], rec_len;
	char hdr[IMAPCACHE_HDR_LEN];
	int rc = 0;

	imapcache_header_encode(hdr, c->uidvalidity);
	buf_append(out, hdr, sizeof(hdr));
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (live_values(c, &live[i], vals, lens, &rec_len) > 0)
			imapcache_rec_encode(out, live[i].uid, live[i].base, strlen(live[i].base),
					     vals, lens);
		if (buf_len(out) >= COMPACT_CHUNK || i + 1 == n) {
			rc = fs_write_all(fd, buf_cstr(out), buf_len(out));
			buf_reset(out);
		}
	}
	if (rc == 0 && buf_len(out) > 0)
		rc = fs_write_all(fd, buf_cstr(out), buf_len(out));
	buf_free(&out);
	return rc;
}

static int compact_rewrite(imapcache *c, const struct imapcache_live *live, size_t n,
			   char **err_r)
{
	char *tmp = xasprintf("%s.%ld.tmp", c->path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	int rc = 0;

	if (fd < 0 || compact_write(c, fd, live, n) < 0 || rename(tmp, c->path) < 0) {
		*err_r = xasprintf("compact %s: %s", tmp, strerror(errno));
		unlink(tmp);
		rc = -1;
	}
	if (fd >= 0)
		close(fd);
	free(tmp);
	return rc;
}

int imapcache_compact(imapcache *c, const struct imapcache_live *live, size_t n, bool force,
		      char **err_r)
{
	const char *vals[IMAPMSG_NFIELDS];
	size_t lens[IMAPMSG_NFIELDS], rec_len, new_size = IMAPCACHE_HDR_LEN, dead;
	int rc;

	*err_r = NULL;
	if (c->read_only)
		return 0;
	if (imapcache_flush(c, err_r) < 0)
		return -1;
	if (buf_len(c->pending) > 0)
		return 0;
	rc = imapcache_lock(c, err_r);
	if (rc <= 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		live_values(c, &live[i], vals, lens, &rec_len);
		new_size += rec_len;
	}
	dead = c->end > new_size ? c->end - new_size : 0;
	if (!force && (dead * 100 < (size_t)c->end * IMAPCACHE_COMPACT_PCT ||
		       dead < IMAPCACHE_COMPACT_MIN)) {
		imapcache_unlock(c);
		return 0;
	}
	rc = compact_rewrite(c, live, n, err_r);
	imapcache_unlock(c);
	if (rc < 0)
		return -1;
	log_info("imapcache: %s: compacted from %u to %zu bytes", c->path, (unsigned)c->end,
		 new_size);
	return imapcache_reopen(c, err_r) < 0 ? -1 : 1;
}
