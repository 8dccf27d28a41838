/* imapcache.c: opening, indexing and reading the per-folder FETCH cache
 * (writing is imapcache_write.c, the byte codec imapcache_rec.c).
 *
 * The file postern-cache (all numbers little-endian, 32-bit):
 *
 *   header  "PCACHE1\n" UIDVALIDITY crc32c(first 12 bytes)      16 bytes
 *   record  magic "PCR1", len (whole record), uid,
 *           base_len (16 bits), nfields (8 bits), 0 (8 bits),
 *           base name (base_len bytes, the Maildir name up to ":2,"),
 *           nfields x { field (8 bits), 0, 0, 0, vlen, crc32c(value) },
 *           crc32c(everything above),
 *           the values, in table order
 *   record  ... to the end of the file
 *
 * A record holds one or more fields of one message (imapmsg.h's enum
 * imapmsg_field); a later record for the same UID and field replaces an
 * earlier one. A value is used only when the record's base name is the
 * message's now (a UID never names two files in one UIDVALIDITY, but a
 * rebuilt uidlist or a restored backup must never show one file's
 * ENVELOPE for another) and its own checksum matches (checked on first
 * use, so opening reads only the records' heads, not their values).
 *
 * Concurrency. Writers (imapd sessions in several processes) append under
 * flock(LOCK_EX | LOCK_NB) on the file: a writer that does not get the
 * lock keeps its records queued, so nobody waits. Under the lock the
 * writer first indexes what others appended and cuts off an incomplete or
 * bad tail (only a crashed writer leaves one, since nobody else writes
 * while the lock is held), then appends its records with one pwrite at
 * the end. Readers take no lock: they index records up to the first one
 * that is incomplete (perhaps being written right now; read again at the
 * next refresh) or bad (then nothing after it is used; the next writer
 * replaces the file by an empty one, by rename: truncating it could take
 * bytes from under a reader of another version that took the record for
 * good, and touching a mapped page past the end of a file is SIGBUS).
 * Bytes are never changed in place and never removed below a complete
 * record, so a mapping never loses bytes it indexed. Compaction
 * writes the live records to postern-cache.<pid>.tmp and renames it over
 * the file, holding the old file's lock; everyone notices the new inode
 * at the next refresh or lock and opens it again. A file with another
 * UIDVALIDITY or a bad header is replaced the same way by an empty one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "imapcache_int.h"
#include "log.h"
#include "mem.h"

static size_t uid_hash(uint32_t uid, size_t nslots)
{
	return (size_t)((uid * 2654435761u) & (uint32_t)(nslots - 1));
}

struct imapcache_entry *imapcache_find(imapcache *c, uint32_t uid)
{
	size_t h = c->hint;

	/* FETCH 1:* asks in UID order, and records mostly are in it too */
	if (h < c->nentries && c->entries[h].uid == uid)
		return &c->entries[h];
	if (h + 1 < c->nentries && c->entries[h + 1].uid == uid) {
		c->hint = h + 1;
		return &c->entries[h + 1];
	}
	if (c->nslots == 0)
		return NULL;
	for (size_t i = uid_hash(uid, c->nslots);; i = (i + 1) & (c->nslots - 1)) {
		uint32_t s = c->slots[i];

		if (s == 0)
			return NULL;
		if (c->entries[s - 1].uid == uid) {
			c->hint = s - 1;
			return &c->entries[s - 1];
		}
	}
}

static void slots_grow(imapcache *c)
{
	size_t n = c->nslots ? c->nslots * 2 : 1024;

	free(c->slots);
	c->slots = xcalloc(n, sizeof(*c->slots));
	c->nslots = n;
	for (size_t e = 0; e < c->nentries; e++) {
		size_t i = uid_hash(c->entries[e].uid, n);

		while (c->slots[i] != 0)
			i = (i + 1) & (n - 1);
		c->slots[i] = (uint32_t)(e + 1);
	}
}

struct imapcache_entry *imapcache_entry_get(imapcache *c, uint32_t uid)
{
	struct imapcache_entry *e = imapcache_find(c, uid);
	size_t i;

	if (e != NULL)
		return e;
	if ((c->nentries + 1) * 2 > c->nslots)
		slots_grow(c);
	if (c->nentries == c->entries_cap) {
		c->entries_cap = c->entries_cap ? c->entries_cap * 2 : 256;
		c->entries = xrealloc(c->entries, c->entries_cap * sizeof(*c->entries));
	}
	e = &c->entries[c->nentries++];
	memset(e, 0, sizeof(*e));
	e->uid = uid;
	for (i = uid_hash(uid, c->nslots); c->slots[i] != 0; i = (i + 1) & (c->nslots - 1))
		;
	c->slots[i] = (uint32_t)c->nentries;
	return e;
}

static void index_record(imapcache *c, uint32_t off, const struct imapcache_rec *r)
{
	struct imapcache_entry *e = imapcache_entry_get(c, r->uid);

	for (unsigned i = 0; i < r->nfields; i++) {
		e->rec[r->f[i].field] = off;
		e->checked &= (uint8_t)~(1u << r->f[i].field);
		e->pending &= (uint8_t)~(1u << r->f[i].field);
	}
	c->records++;
}

int imapcache_value(const imapcache *c, uint32_t off, const char *base, size_t base_len,
		    enum imapmsg_field field, const char **val_r, size_t *len_r, uint32_t *crc_r)
{
	const char *p = c->map + off, *tab;
	size_t rb = (unsigned char)p[12] | (size_t)(unsigned char)p[13] << 8;
	unsigned n = (unsigned char)p[14];
	size_t voff;

	if (rb != base_len || memcmp(p + IMAPCACHE_REC_FIXED, base, base_len) != 0)
		return 0;
	tab = p + IMAPCACHE_REC_FIXED + rb;
	voff = IMAPCACHE_REC_FIXED + rb + (size_t)IMAPCACHE_REC_FIELD * n + 4;
	for (unsigned i = 0; i < n; i++, tab += IMAPCACHE_REC_FIELD) {
		if ((unsigned char)tab[0] == (unsigned)field) {
			*val_r = p + voff;
			*len_r = imapcache_get32(tab + 4);
			*crc_r = imapcache_get32(tab + 8);
			return 1;
		}
		voff += imapcache_get32(tab + 4);
	}
	return 0;
}

void imapcache_drop_file(imapcache *c)
{
	if (c->map != NULL)
		munmap((void *)c->map, c->map_len);
	c->map = NULL;
	c->map_len = 0;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->entries);
	free(c->slots);
	c->entries = NULL;
	c->slots = NULL;
	c->nentries = c->entries_cap = c->nslots = 0;
	c->end = c->bad_at = 0;
	c->records = 0;
	c->memo.valid = false;
}

/* remap: maps size bytes of the file (grown: mremap keeps what is
 * mapped and its page tables). */
static int remap(imapcache *c, size_t size, char **err_r)
{
	void *m;

	if (c->map != NULL)
		m = mremap((void *)c->map, c->map_len, size, MREMAP_MAYMOVE);
	else
		m = mmap(NULL, size, PROT_READ, MAP_SHARED, c->fd, 0);
	if (m == MAP_FAILED) {
		*err_r = xasprintf("mmap %s: %s", c->path, strerror(errno));
		imapcache_drop_file(c); /* misses until a refresh works */
		return -1;
	}
	c->map = m;
	c->map_len = size;
	return 0;
}

int imapcache_scan(imapcache *c, off_t *size_r, char **err_r)
{
	struct stat st;
	size_t size;
	struct imapcache_rec r;

	if (fstat(c->fd, &st) < 0) {
		*err_r = xasprintf("fstat %s: %s", c->path, strerror(errno));
		return -1;
	}
	*size_r = st.st_size;
	size = st.st_size > (off_t)IMAPCACHE_MAX_FILE ? IMAPCACHE_MAX_FILE : (size_t)st.st_size;
	if (size <= c->end)
		return 0;
	if (size > c->map_len && remap(c, size, err_r) < 0)
		return -1;
	while (c->end < size) {
		int rc = imapcache_rec_parse(c->map + c->end, size - c->end, &r);

		if (rc < 0 && c->bad_at != c->end) {
			c->bad_at = c->end;
			c->bad_records++;
			log_warn("imapcache: %s: bad record at offset %u, not used past it", c->path,
				 (unsigned)c->end);
		}
		if (rc <= 0)
			break;
		index_record(c, c->end, &r);
		c->end += r.len;
	}
	return 0;
}

bool imapcache_replaced(const imapcache *c)
{
	struct stat st;

	if (stat(c->path, &st) < 0)
		return true;
	return st.st_ino != c->ino || st.st_dev != c->dev;
}

int imapcache_fresh_file(imapcache *c, char **err_r)
{
	char hdr[IMAPCACHE_HDR_LEN];
	char *tmp = xasprintf("%s.%ld.tmp", c->path, (long)getpid());
	int rc = 0;

	imapcache_header_encode(hdr, c->uidvalidity);
	if (fs_write_atomic(tmp, hdr, sizeof(hdr), 0600, err_r) < 0 || rename(tmp, c->path) < 0) {
		if (*err_r == NULL)
			*err_r = xasprintf("rename %s: %s", tmp, strerror(errno));
		unlink(tmp);
		rc = -1;
	}
	free(tmp);
	return rc;
}

/* init_file: the file has no usable header for us. Under its lock: an
 * empty file gets a header, a bad one or one for an older UIDVALIDITY is
 * replaced (one for a newer UIDVALIDITY means our UIDs are stale: no
 * cache). 1 when the file should be opened again, 0 when there is no
 * cache for now (busy, stale), -1 on error. */
static int init_file(imapcache *c, char **err_r)
{
	char hdr[IMAPCACHE_HDR_LEN];
	struct stat st;
	int rc = 1;

	if (flock(c->fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? 0 : -1;
	if (imapcache_replaced(c) || fstat(c->fd, &st) < 0)
		rc = 1;
	else if (st.st_size == 0) {
		imapcache_header_encode(hdr, c->uidvalidity);
		if (pwrite(c->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
			*err_r = xasprintf("write %s: %s", c->path, strerror(errno));
			rc = -1;
		}
	} else if (pread(c->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
		   imapcache_header_check(hdr, sizeof(hdr), c->uidvalidity) < 0 ||
		   imapcache_get32(hdr + 8) < c->uidvalidity) {
		log_info("imapcache: %s: bad header or an older UIDVALIDITY, made anew", c->path);
		rc = imapcache_fresh_file(c, err_r) < 0 ? -1 : 1;
	} else if (imapcache_get32(hdr + 8) > c->uidvalidity)
		rc = 0; /* we are the stale one: no cache for us */
	flock(c->fd, LOCK_UN);
	return rc;
}

static int open_fd(imapcache *c, char **err_r)
{
	struct stat st;

	c->read_only = false;
	c->fd = open(c->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (c->fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM)) {
		c->read_only = true;
		c->fd = open(c->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (c->fd < 0 && errno == ENOENT)
			return 0;
	}
	if (c->fd < 0 || fstat(c->fd, &st) < 0) {
		*err_r = xasprintf("open %s: %s", c->path, strerror(errno));
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*err_r = xasprintf("%s: not a regular file", c->path);
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	return 0;
}

int imapcache_reopen(imapcache *c, char **err_r)
{
	char hdr[IMAPCACHE_HDR_LEN];
	off_t size;

	for (int attempt = 0; attempt < 4; attempt++) {
		int rc;

		imapcache_drop_file(c);
		if (open_fd(c, err_r) < 0 || c->fd < 0)
			return c->fd < 0 && *err_r == NULL ? 0 : -1;
		if (pread(c->fd, hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) &&
		    imapcache_header_check(hdr, sizeof(hdr), c->uidvalidity) == 1) {
			c->end = IMAPCACHE_HDR_LEN;
			return imapcache_scan(c, &size, err_r);
		}
		if (c->read_only)
			break;
		rc = init_file(c, err_r);
		if (rc <= 0) {
			imapcache_drop_file(c);
			return rc;
		}
	}
	imapcache_drop_file(c);
	return 0;
}

int imapcache_open(const char *dir, uint32_t uidvalidity, imapcache **c_r, char **err_r)
{
	struct stat st;
	imapcache *c;
	char *err = NULL;

	*c_r = NULL;
	*err_r = NULL;
	if (stat(dir, &st) < 0) {
		*err_r = xasprintf("imapcache: %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		*err_r = xasprintf("imapcache: %s: not a directory", dir);
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->dir = xstrdup(dir);
	c->path = fs_join(dir, IMAPCACHE_FILE);
	c->uidvalidity = uidvalidity;
	c->fd = -1;
	c->pending = buf_new(0);
	if (imapcache_reopen(c, &err) < 0) {
		log_warn("imapcache: %s (going on without cache until it works)", err);
		free(err);
	}
	*c_r = c;
	return 0;
}

void imapcache_close(imapcache **cp)
{
	imapcache *c = *cp;
	char *err = NULL;

	if (c == NULL)
		return;
	if (imapcache_flush(c, &err) < 0) {
		log_warn("imapcache: %s", err);
		free(err);
	}
	imapcache_drop_file(c);
	buf_free(&c->pending);
	free(c->dir);
	free(c->path);
	free(c);
	*cp = NULL;
}

int imapcache_refresh(imapcache *c, char **err_r)
{
	off_t size;

	*err_r = NULL;
	if (c->fd < 0 || imapcache_replaced(c))
		return imapcache_reopen(c, err_r);
	return imapcache_scan(c, &size, err_r);
}

int imapcache_get(imapcache *c, uint32_t uid, const char *base, enum imapmsg_field field,
		  const char **val_r, size_t *len_r)
{
	struct imapcache_entry *e;
	uint32_t crc;

	if (c == NULL || c->fd < 0 || (unsigned)field >= IMAPMSG_NFIELDS)
		return 0;
	e = imapcache_find(c, uid);
	if (e == NULL || e->rec[field] == 0 ||
	    !imapcache_value(c, e->rec[field], base, strlen(base), field, val_r, len_r, &crc))
		return 0;
	if (!(e->checked & (1u << field))) {
		if (imapcache_crc32c(0, *val_r, *len_r) != crc) {
			log_warn("imapcache: %s: bad value checksum for uid %u", c->path, uid);
			e->rec[field] = 0;
			c->bad_records++;
			return 0;
		}
		e->checked |= (uint8_t)(1u << field);
	}
	return 1;
}

int imapcache_get_buf(imapcache *c, uint32_t uid, const char *base, enum imapmsg_field field,
		      buf *out)
{
	const char *v;
	size_t len;

	if (!imapcache_get(c, uid, base, field, &v, &len))
		return 0;
	buf_append(out, v, len);
	return 1;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* live_bytes: bytes of the records that hold at least one newest value. */
static size_t live_bytes(const imapcache *c)
{
	uint32_t *offs = xmalloc((c->nentries * IMAPMSG_NFIELDS + 1) * sizeof(*offs));
	size_t n = 0, total = 0;

	for (size_t e = 0; e < c->nentries; e++)
		for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++)
			if (c->entries[e].rec[f] != 0)
				offs[n++] = c->entries[e].rec[f];
	qsort(offs, n, sizeof(*offs), cmp_u32);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || offs[i] != offs[i - 1])
			total += imapcache_get32(c->map + offs[i] + 4);
	free(offs);
	return total;
}

/* count_messages: UIDs with at least one value. */
static size_t count_messages(const imapcache *c)
{
	size_t n = 0;

	for (size_t e = 0; e < c->nentries; e++)
		for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++)
			if (c->entries[e].rec[f] != 0) {
				n++;
				break;
			}
	return n;
}

static bool memo_current(const imapcache *c)
{
	return c->memo.valid && c->memo.ino == c->ino && c->memo.end == c->end &&
	       c->memo.records == c->records && c->memo.bad_records == c->bad_records;
}

void imapcache_stats(imapcache *c, struct imapcache_stats *st)
{
	if (!memo_current(c)) {
		c->memo.messages = count_messages(c);
		c->memo.live_bytes = c->fd >= 0 ? live_bytes(c) : 0;
		c->memo.ino = c->ino;
		c->memo.end = c->end;
		c->memo.records = c->records;
		c->memo.bad_records = c->bad_records;
		c->memo.valid = c->fd >= 0;
	}
	memset(st, 0, sizeof(*st));
	st->file_bytes = c->end;
	st->records = c->records;
	st->messages = c->memo.messages;
	st->live_bytes = c->memo.live_bytes;
	st->bad_records = c->bad_records;
	st->pending_bytes = buf_len(c->pending);
	st->read_only = c->read_only;
}
