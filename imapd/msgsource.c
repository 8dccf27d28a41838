/* msgsource.c: where FETCH and SEARCH get what struct imapmsg does not
 * hold (imapmsg.h's struct imapmsg_source): cached values from the
 * folder's postern-cache (lib/imapcache) and the message's bytes (read, or
 * mmap'd read-only when big, under lib/mapguard so a file cut short while
 * it is read costs the session, not the process) from the file lib/imapbox
 * finds by UID (ENOENT when another process expunged it: never another
 * message's bytes).
 * One cache handle per folder per process, shared by the sessions that
 * select it (refcounted), refreshed before a command and flushed after;
 * compaction at SELECT, CLOSE and EXPUNGE. Also the message sets of
 * FETCH, STORE and SEARCH: sequence or UID sets with "*" and "$"
 * resolved to ascending sequence numbers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imapbox_sizes.h"
#include "imapd.h"
#include "log.h"
#include "mapguard.h"
#include "mem.h"

/* One folder's cache, shared by this process's sessions. */
struct imapd_folder_cache {
	char *dir;
	uint32_t uidvalidity;
	imapcache *cache;
	bool sizes_recorded; /* imapd_msgsource_record_sizes ran */
	int refs;
	struct imapd_folder_cache *next;
};

static struct imapd_folder_cache *folder_caches;

/* Handles no session holds are kept open (at most this many, the most
 * recently left ones): the next SELECT of the folder then indexes only
 * what was appended since, and the values' checksums verified once in
 * this process are not verified again. */
#define IMAPD_IDLE_CACHES 2

/* ---- the shared cache handles ---- */

static void cache_destroy(struct imapd_folder_cache *fc)
{
	struct imapd_folder_cache **pp;

	for (pp = &folder_caches; *pp != fc; pp = &(*pp)->next)
		;
	*pp = fc->next;
	imapcache_close(&fc->cache);
	free(fc->dir);
	free(fc);
}

/* cache_trim: closes idle handles past IMAPD_IDLE_CACHES (the list is
 * most recently used first). */
static void cache_trim(void)
{
	unsigned idle = 0;
	struct imapd_folder_cache *fc = folder_caches, *next;

	for (; fc != NULL; fc = next) {
		next = fc->next;
		if (fc->refs == 0 && ++idle > IMAPD_IDLE_CACHES)
			cache_destroy(fc);
	}
}

/* cache_to_front: fc becomes the most recently used handle. */
static void cache_to_front(struct imapd_folder_cache *fc)
{
	struct imapd_folder_cache **pp;

	for (pp = &folder_caches; *pp != fc; pp = &(*pp)->next)
		;
	*pp = fc->next;
	fc->next = folder_caches;
	folder_caches = fc;
}

static struct imapd_folder_cache *cache_ref(const char *dir, uint32_t uidvalidity)
{
	struct imapd_folder_cache *fc;
	char *err = NULL;

	for (fc = folder_caches; fc != NULL; fc = fc->next)
		if (fc->uidvalidity == uidvalidity && strcmp(fc->dir, dir) == 0) {
			if (fc->refs++ == 0 && fc->cache != NULL &&
			    imapcache_refresh(fc->cache, &err) < 0) {
				log_warn("%s: FETCH cache refresh: %s", dir, err);
				free(err);
			}
			cache_to_front(fc);
			return fc;
		}
	fc = xcalloc(1, sizeof(*fc));
	if (imapcache_open(dir, uidvalidity, &fc->cache, &err) < 0) {
		log_warn("%s: FETCH cache not usable: %s", dir, err);
		free(err);
		fc->cache = NULL;
	}
	fc->dir = xstrdup(dir);
	fc->uidvalidity = uidvalidity;
	fc->refs = 1;
	fc->next = folder_caches;
	folder_caches = fc;
	return fc;
}

/* cache_unref: the last session gone, the handle stays open idle (its
 * queued values written now, as imapcache_close would) or is closed when
 * it could not be opened. */
static void cache_unref(struct imapd_folder_cache **fcp)
{
	struct imapd_folder_cache *fc = *fcp;
	char *err = NULL;

	*fcp = NULL;
	if (fc == NULL || --fc->refs > 0)
		return;
	if (fc->cache == NULL) {
		cache_destroy(fc);
		return;
	}
	if (imapcache_flush(fc->cache, &err) < 0) {
		log_warn("%s: FETCH cache write: %s", fc->dir, err);
		free(err);
	}
	cache_trim();
}

static imapcache *session_cache(const struct session *s)
{
	return s->fcache != NULL ? s->fcache->cache : NULL;
}

/* ---- struct imapmsg_source ---- */

static int src_cached(void *ctx, const struct imapmsg *m, enum imapmsg_field field, buf *out)
{
	struct session *s = ctx;
	imapcache *c = session_cache(s);

	if (c == NULL)
		return 0;
	return imapcache_get_buf(c, m->uid, imapbox_msg_base(s->box, m->seq), field, out);
}

static int src_cached_ref(void *ctx, const struct imapmsg *m, enum imapmsg_field field,
			  const char **val_r, size_t *len_r)
{
	struct session *s = ctx;
	imapcache *c = session_cache(s);

	if (c == NULL)
		return 0;
	return imapcache_get(c, m->uid, imapbox_msg_base(s->box, m->seq), field, val_r, len_r);
}

/* store_sibling: ENVELOPE and the header block come from the same parse
 * of the header: when one was missing, the other is most likely missing
 * too (a cold folder), and a client that asks for one soon asks for the
 * other (envelope list, then header fields): both are cached at once. */
static void store_sibling(struct session *s, imapcache *c, const struct imapmsg *m,
			  enum imapmsg_field field, const char *base)
{
	enum imapmsg_field other = field == IMAPMSG_ENVELOPE ? IMAPMSG_HEADER : IMAPMSG_ENVELOPE;
	buf *vals[IMAPMSG_NFIELDS] = { NULL };
	const char *val;
	size_t len;

	if (s->map == NULL || s->map_uid != m->uid ||
	    imapcache_get(c, m->uid, base, other, &val, &len) == 1)
		return;
	vals[other] = buf_new(1024);
	imapcache_compute(s->map, s->maplen, vals);
	(void)imapcache_put(c, m->uid, base, other, buf_cstr(vals[other]), buf_len(vals[other]));
	buf_free(&vals[other]);
}

static void src_store(void *ctx, const struct imapmsg *m, enum imapmsg_field field,
		      const char *value, size_t len)
{
	struct session *s = ctx;
	imapcache *c = session_cache(s);
	const char *base;

	if (c == NULL)
		return;
	base = imapbox_msg_base(s->box, m->seq);
	(void)imapcache_put(c, m->uid, base, field, value, len);
	if (field == IMAPMSG_ENVELOPE || field == IMAPMSG_HEADER)
		store_sibling(s, c, m, field, base);
}

static void src_release(void *ctx, const struct imapmsg *m)
{
	struct session *s = ctx;

	(void)m;
	if (s->map != NULL && s->map_heap) {
		free((void *)s->map);
	} else if (s->map != NULL && s->maplen > 0) {
		if (mapguard_hit(s->map_guard))
			log_warn("%s: message UID %u was cut short while it was read", s->client,
				 s->map_uid);
		mapguard_remove(s->map_guard);
		munmap((void *)s->map, s->maplen);
	}
	s->map = NULL;
	s->maplen = 0;
	s->map_heap = false;
}

/* read_small: a small file is read into the heap (cheaper than mapping
 * and unmapping it); its length as read. */
static int read_small(int fd, size_t size, char **data_r, size_t *len_r)
{
	char *data = xmalloc(size + 1);
	size_t got = 0;

	while (got < size) {
		ssize_t n = pread(fd, data + got, size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;

			free(data);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*data_r = data;
	*len_r = got;
	return 0;
}

/* load: the bytes of the open file fd into s->map; 0 or -1 with errno. */
static int load(struct session *s, int fd)
{
	struct stat st;
	char *data;
	size_t len;
	void *p;

	if (fstat(fd, &st) < 0)
		return -1;
	if (st.st_size == 0) {
		s->map = "";
		return 0;
	}
	if ((size_t)st.st_size <= IMAPD_READ_SMALL) {
		if (read_small(fd, (size_t)st.st_size, &data, &len) < 0)
			return -1;
		s->map = data;
		s->maplen = len;
		s->map_heap = true;
		return 0;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	s->map_guard = mapguard_add(p, (size_t)st.st_size);
	if (s->map_guard < 0) { /* every guard in use: read it instead */
		munmap(p, (size_t)st.st_size);
		if (read_small(fd, (size_t)st.st_size, &data, &len) < 0)
			return -1;
		s->map = data;
		s->maplen = len;
		s->map_heap = true;
		return 0;
	}
	s->map = p;
	s->maplen = (size_t)st.st_size;
	return 0;
}

bool imapd_msgsource_cut_short(const struct session *s)
{
	return s->map != NULL && !s->map_heap && s->maplen > 0 && mapguard_hit(s->map_guard);
}

static int src_data(void *ctx, const struct imapmsg *m, const char **data_r, size_t *len_r)
{
	struct session *s = ctx;
	int fd, r, saved;

	if (s->map == NULL || s->map_uid != m->uid) {
		src_release(s, m);
		fd = imapbox_msg_open(s->box, m->seq);
		if (fd < 0)
			return -1;
		r = load(s, fd);
		saved = errno;
		close(fd);
		errno = saved;
		if (r < 0)
			return -1;
		s->map_uid = m->uid;
	}
	*data_r = s->map; /* maybe loaded already by imapd_msg_size */
	*len_r = s->maplen;
	return 0;
}

static const struct imapmsg_source msg_source = {
	.cached = src_cached,
	.store = src_store,
	.data = src_data,
	.release = src_release,
	.cached_ref = src_cached_ref,
};

int imapd_msg(struct session *s, uint32_t seq, unsigned need, struct imapmsg *m)
{
	if (imapbox_expunged(s->box, seq)) {
		errno = ENOENT;
		return -1;
	}
	if (imapbox_msg(s->box, seq, need, m) != IMAPBOX_OK)
		return -1;
	m->source = &msg_source;
	m->source_ctx = s;
	return 0;
}

void imapd_msg_release(struct session *s)
{
	src_release(s, NULL);
}

int imapd_msg_size(struct session *s, struct imapmsg *m)
{
	const char *data;
	size_t len;
	long long size;

	if (m->size >= 0)
		return 0;
	if (src_data(s, m, &data, &len) < 0)
		return -1;
	size = (long long)len;
	for (const char *p = data, *end = data + len, *nl;
	     p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL; p = nl + 1)
		if (nl == data || nl[-1] != '\r')
			size++; /* a bare LF goes out as CRLF */
	m->size = size;
	return 0;
}

/* ---- per folder and per command ---- */

/* compact_worth: imapcache_compact weighs every live value; skip that walk
 * when the stats already say there is too little to gain: a small file,
 * or no message gone and little replaced. */
static bool compact_worth(imapcache *c, uint32_t nview)
{
	struct imapcache_stats st;
	size_t dead;

	imapcache_stats(c, &st);
	if (st.read_only || st.file_bytes < IMAPCACHE_COMPACT_MIN)
		return false;
	if (st.messages > nview)
		return true;
	dead = st.file_bytes > st.live_bytes ? st.file_bytes - st.live_bytes : 0;
	return dead * 100 >= (size_t)st.file_bytes * IMAPCACHE_COMPACT_PCT;
}

void imapd_msgsource_compact(struct session *s)
{
	imapcache *c = session_cache(s);
	uint32_t n = s->box != NULL ? imapbox_count(s->box) : 0;
	struct imapcache_live *live;
	size_t k = 0;
	char *err = NULL;

	if (c == NULL || !compact_worth(c, n))
		return;
	live = xcalloc(n + 1, sizeof(*live));
	for (uint32_t seq = 1; seq <= n; seq++) {
		if (imapbox_expunged(s->box, seq))
			continue;
		live[k].uid = imapbox_uid(s->box, seq);
		live[k].base = imapbox_msg_base(s->box, seq);
		k++;
	}
	if (imapcache_compact(c, live, k, false, &err) < 0) {
		log_warn("%s: user=%s: cache compaction of %s failed: %s", s->client, s->login,
			 imapbox_path(s->box), err);
		free(err);
	}
	free(live);
}

void imapd_msgsource_open(struct session *s)
{
	imapd_msgsource_close(s);
	s->fcache = cache_ref(imapbox_path(s->box), imapbox_uidvalidity(s->box));
	imapd_msgsource_compact(s);
}

void imapd_msgsource_close(struct session *s)
{
	imapd_msg_release(s);
	if (s->fcache == NULL)
		return;
	if (s->box != NULL)
		imapd_msgsource_compact(s);
	imapd_msgsource_flush(s);
	cache_unref(&s->fcache);
}

void imapd_msgsource_refresh(struct session *s)
{
	imapcache *c = session_cache(s);
	char *err = NULL;

	if (c != NULL && imapcache_refresh(c, &err) < 0) {
		log_warn("%s: user=%s: cache refresh: %s", s->client, s->login, err);
		free(err);
	}
}

void imapd_msgsource_flush(struct session *s)
{
	imapcache *c = session_cache(s);
	char *err = NULL;

	if (c != NULL && imapcache_flush(c, &err) < 0) {
		log_warn("%s: user=%s: cache write: %s", s->client, s->login, err);
		free(err);
	}
}

bool imapd_msgsource_sizes_unknown(struct session *s, const uint32_t *seqs, size_t n)
{
	return s->fcache != NULL && !s->fcache->sizes_recorded &&
	       imapbox_sizes_worth_recording(s->box, seqs, n);
}

void imapd_msgsource_record_sizes(struct session *s)
{
	char *err = NULL;
	uint64_t start = imapd_clock_ms();

	if (s->fcache == NULL || s->fcache->sizes_recorded)
		return;
	s->fcache->sizes_recorded = true;
	if (imapbox_sizes_record(imapbox_path(s->box), &err) < 0) {
		log_warn("%s: user=%s: cannot record message sizes of %s: %s", s->client, s->login,
			 imapbox_path(s->box), err != NULL ? err : "?");
		free(err);
		return;
	}
	log_info("%s: user=%s: message sizes of %s recorded in the uidlist (%llu ms)", s->client,
		 s->login, imapbox_path(s->box), (unsigned long long)(imapd_clock_ms() - start));
}

/* ---- message sets ---- */

/* uids_to_seqs: the sequence numbers of the UIDs of set that are in the
 * view, ascending, appended to out. */
static void uids_to_seqs(struct session *s, const imapseq *set, uint32_t **seqs, size_t *n,
			 size_t *cap)
{
	size_t nr;
	const struct imapseq_range *r = imapseq_ranges(set, &nr);
	uint32_t count = imapbox_count(s->box);

	for (size_t i = 0; i < nr; i++) {
		for (uint32_t seq = imapbox_seq_of_uid(s->box, r[i].lo, true);
		     seq >= 1 && seq <= count && imapbox_uid(s->box, seq) <= r[i].hi; seq++) {
			if (*n == *cap) {
				*cap = *cap * 2 + 64;
				*seqs = xrealloc(*seqs, *cap * sizeof(**seqs));
			}
			(*seqs)[(*n)++] = seq;
		}
	}
}

int imapd_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

bool imapd_msgset(struct session *s, const struct imapcmd_arg *a, bool uid, uint32_t **seqs_r,
		  size_t *n_r)
{
	uint32_t count = imapbox_count(s->box);
	uint32_t max = uid ? (count > 0 ? imapbox_uid(s->box, count) : 0) : count;
	imapseq *set = imapseq_new(), *saved_uids = imapseq_new();
	const char *why = NULL;
	size_t n = 0, cap = 0;
	uint32_t *seqs = NULL;

	*seqs_r = NULL;
	*n_r = 0;
	if (a->type != IMAPCMD_ATOM ||
	    imapseq_parse(set, a->str, a->len, max, 0, &why) < 0) {
		imapd_bad(s, "Invalid message set: %s", why != NULL ? why : "not an atom");
		goto fail;
	}
	if (!uid && (imapseq_max(set) > count)) {
		imapd_bad(s, "Invalid message number (%u messages).", count);
		goto fail;
	}
	if (uid)
		uids_to_seqs(s, set, &seqs, &n, &cap);
	else {
		size_t total = (size_t)imapseq_count(set);
		struct imapseq_iter it;
		uint32_t v;

		seqs = xcalloc(total + 1, sizeof(*seqs));
		imapseq_iter_init(&it, set);
		while (imapseq_iter_next(&it, &v))
			seqs[n++] = v;
		cap = total + 1;
	}
	if (imapseq_has_saved(set) && s->saved != NULL) {
		/* "$" is kept as UIDs; add those still in the view */
		size_t before = n;

		imapseq_add_set(saved_uids, s->saved);
		uids_to_seqs(s, saved_uids, &seqs, &n, &cap);
		if (n > before) {
			size_t k = 0;

			qsort(seqs, n, sizeof(*seqs), imapd_cmp_u32);
			for (size_t i = 0; i < n; i++)
				if (k == 0 || seqs[k - 1] != seqs[i])
					seqs[k++] = seqs[i];
			n = k;
		}
	}
	imapseq_free(&set);
	imapseq_free(&saved_uids);
	*seqs_r = seqs;
	*n_r = n;
	return true;
fail:
	imapseq_free(&set);
	imapseq_free(&saved_uids);
	free(seqs);
	return false;
}
