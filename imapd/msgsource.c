/* msgsource.c: where FETCH and SEARCH get what struct imapmsg does not
 * hold (imapmsg.h's struct imapmsg_source): cached values from the
 * folder's postern-cache (lib/imapcache) and the message's bytes, mmap'd
 * read-only from the file lib/imapbox finds by the message's UID (ENOENT
 * when another process expunged it: never another message's bytes).
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

#include "imapd.h"
#include "log.h"
#include "mem.h"

/* One folder's cache, shared by this process's sessions. */
struct imapd_folder_cache {
	char *dir;
	uint32_t uidvalidity;
	imapcache *cache;
	int refs;
	struct imapd_folder_cache *next;
};

static struct imapd_folder_cache *folder_caches;

/* ---- the shared cache handles ---- */

static struct imapd_folder_cache *cache_ref(const char *dir, uint32_t uidvalidity)
{
	struct imapd_folder_cache *fc;
	char *err = NULL;

	for (fc = folder_caches; fc != NULL; fc = fc->next)
		if (fc->uidvalidity == uidvalidity && strcmp(fc->dir, dir) == 0) {
			fc->refs++;
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

static void cache_unref(struct imapd_folder_cache **fcp)
{
	struct imapd_folder_cache *fc = *fcp, **pp;

	*fcp = NULL;
	if (fc == NULL || --fc->refs > 0)
		return;
	for (pp = &folder_caches; *pp != fc; pp = &(*pp)->next)
		;
	*pp = fc->next;
	imapcache_close(&fc->cache);
	free(fc->dir);
	free(fc);
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

static void src_store(void *ctx, const struct imapmsg *m, enum imapmsg_field field,
		      const char *value, size_t len)
{
	struct session *s = ctx;
	imapcache *c = session_cache(s);

	if (c != NULL)
		(void)imapcache_put(c, m->uid, imapbox_msg_base(s->box, m->seq), field, value, len);
}

static void src_release(void *ctx, const struct imapmsg *m)
{
	struct session *s = ctx;

	(void)m;
	if (s->map != NULL && s->maplen > 0)
		munmap((void *)s->map, s->maplen);
	s->map = NULL;
	s->maplen = 0;
}

static int src_data(void *ctx, const struct imapmsg *m, const char **data_r, size_t *len_r)
{
	struct session *s = ctx;
	struct stat st;
	void *p;
	int fd, saved;

	src_release(s, m);
	fd = imapbox_msg_open(s->box, m->seq);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (st.st_size == 0) {
		close(fd);
		s->map = "";
		*data_r = s->map;
		*len_r = 0;
		return 0;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	close(fd);
	s->map = p;
	s->maplen = (size_t)st.st_size;
	*data_r = s->map;
	*len_r = s->maplen;
	return 0;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static const struct imapmsg_source msg_source = {
	.cached = src_cached,
	.store = src_store,
	.data = src_data,
	.release = src_release,
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

/* ---- per folder and per command ---- */

void imapd_msgsource_compact(struct session *s)
{
	imapcache *c = session_cache(s);
	uint32_t n = s->box != NULL ? imapbox_count(s->box) : 0;
	struct imapcache_live *live;
	size_t k = 0;
	char *err = NULL;

	if (c == NULL)
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
