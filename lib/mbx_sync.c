/* mbx_sync.c: brings the uidlist in line with a scan. Each file gets the
 * UID of the record with its base name (both lists sorted by base, then
 * merged); files without one get the next UIDs in delivery order (the
 * names' leading time stamp, then the name); the new uidlist is written
 * under the lock. A record whose file was not seen is dropped only when
 * the scan was stable, else kept, so a file the scan missed keeps its UID. */
#include "mbx_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "mem.h"

static void take_rec(struct mbx_ent *e, struct mbx_rec *r)
{
	r->matched = true;
	e->uid = r->uid;
	e->rec = r;
	if (e->psize < 0)
		e->psize = r->s;
	if (e->vsize < 0)
		e->vsize = r->w;
}

/* The match is a hash join on the base name (a sort of 100,000 names by
 * memcmp cost more than the rest of an open): files are put in a table,
 * a file seen twice (moved new -> cur during the scan) keeps its cur/
 * entry, then each record in UID order finds its file, and the files are
 * laid out in UID order (files without a record last), so the message
 * list needs no sort when nothing is new. */

static uint32_t base_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	/* FNV's low bits only see the low bits of the input: mix the high
	 * ones down (MurmurHash3's finaliser), or names that differ in a
	 * digit's high bits pile up in one run of the table */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

#define MBX_PREFETCH 16 /* records looked ahead in the match */

struct match_tab {
	uint32_t *slot; /* ent index + 1, 0 empty */
	size_t mask;
};

static void tab_init(struct match_tab *t, size_t n)
{
	size_t size = 64;

	while (size < 2 * n)
		size *= 2;
	t->slot = xcalloc(size, sizeof(*t->slot));
	t->mask = size - 1;
}

/* tab_find: the slot holding name's base (hash h), or the empty one to
 * take. */
static uint32_t *tab_find(const struct match_tab *t, const struct mbx_ent *ents, uint32_t h, const char *name,
			  size_t len)
{
	size_t i = h & t->mask;

	for (;; i = (i + 1) & t->mask) {
		const struct mbx_ent *e;

		if (t->slot[i] == 0)
			return &t->slot[i];
		e = &ents[t->slot[i] - 1];
		if (e->baselen == len && memcmp(e->name, name, len) == 0)
			return &t->slot[i];
	}
}

/* match_dedupe: the table of files by base; of a file seen in new/ and
 * cur/ the cur/ entry stays in the table, the other is marked dead
 * (in_new set and uid UINT32_MAX). */
static void match_dedupe(struct mbx_load *ld, struct match_tab *t, const uint32_t *h)
{
	for (size_t k = 0; k < ld->n; k++) {
		struct mbx_ent *e = &ld->ents[k];
		uint32_t *slot;

		if (k + MBX_PREFETCH < ld->n)
			__builtin_prefetch(&t->slot[h[k + MBX_PREFETCH] & t->mask]);
		slot = tab_find(t, ld->ents, h[k], e->name, e->baselen);

		if (*slot == 0) {
			*slot = (uint32_t)k + 1;
		} else if (ld->ents[*slot - 1].in_new && !e->in_new) {
			ld->ents[*slot - 1].uid = UINT32_MAX;
			*slot = (uint32_t)k + 1;
		} else {
			e->uid = UINT32_MAX;
		}
	}
}

/* mbx_sync_match: gives each file the UID of the record with its base
 * name (of two records for one base the lower UID wins) and orders the
 * files by UID, files without a record last. */
void mbx_sync_match(struct mbx_load *ld)
{
	struct mbx_ulist *ul = &ld->ul;
	struct match_tab t;
	struct mbx_ent *out = xmalloc((ld->n + 1) * sizeof(*out));
	bool *taken = xcalloc(ld->n + 1, sizeof(*taken));
	uint32_t *h = xmalloc((ld->n + ul->n + 1) * sizeof(*h)), *rh = h + ld->n;
	size_t n = 0;

	for (size_t k = 0; k < ld->n; k++) {
		ld->ents[k].uid = 0;
		ld->ents[k].rec = NULL;
		h[k] = base_hash(ld->ents[k].name, ld->ents[k].baselen);
	}
	for (size_t k = 0; k < ul->n; k++)
		rh[k] = base_hash(ul->recs[k].name, ul->recs[k].baselen);
	tab_init(&t, ld->n);
	match_dedupe(ld, &t, h);
	/* the loop is bound by memory latency: slots and files are fetched
	 * a few records ahead */
	for (size_t k = 0; k < ul->n; k++) {
		struct mbx_rec *r = &ul->recs[k];
		uint32_t *slot;

		if (k + MBX_PREFETCH < ul->n)
			__builtin_prefetch(&t.slot[rh[k + MBX_PREFETCH] & t.mask]);
		if (k + MBX_PREFETCH / 2 < ul->n) {
			uint32_t ahead = t.slot[rh[k + MBX_PREFETCH / 2] & t.mask];

			if (ahead != 0) {
				__builtin_prefetch(&ld->ents[ahead - 1]);
				__builtin_prefetch(ld->ents[ahead - 1].name);
			}
		}
		slot = tab_find(&t, ld->ents, rh[k], r->name, r->baselen);
		r->matched = false;
		if (*slot == 0 || taken[*slot - 1])
			continue;
		taken[*slot - 1] = true;
		take_rec(&ld->ents[*slot - 1], r);
		out[n++] = ld->ents[*slot - 1];
	}
	free(h);
	ld->nnew = 0;
	for (size_t k = 0; k < ld->n; k++)
		if (!taken[k] && ld->ents[k].uid == 0) {
			out[n++] = ld->ents[k];
			ld->nnew++;
		}
	free(taken);
	free(t.slot);
	free(ld->ents);
	ld->ents = out;
	ld->n = n;
	ld->cap = ld->n + 1;
}

static int cmp_new_order(const void *a, const void *b)
{
	const struct mbx_ent *x = *(const struct mbx_ent *const *)a, *y = *(const struct mbx_ent *const *)b;
	unsigned long long nx = mbx_name_leading_number(x->name), ny = mbx_name_leading_number(y->name);

	if (nx != ny)
		return nx < ny ? -1 : 1;
	return mbx_name_cmp_base(x->name, x->baselen, y->name, y->baselen);
}

/* ulist_reset: forget the records and start a new UIDVALIDITY. */
static void ulist_reset(struct mbx_load *ld, uint32_t old_validity)
{
	uint32_t now = (uint32_t)time(NULL);

	ld->ul.uidvalidity = now > old_validity ? now : old_validity + 1;
	if (ld->ul.uidvalidity == 0)
		ld->ul.uidvalidity = 1;
	ld->ul.nextuid = 1;
	ld->ul.n = 0;
	ld->ul.guid = NULL;
	ld->ul.hdr_extra = "";
	for (size_t k = 0; k < ld->n; k++) {
		ld->ents[k].uid = 0;
		ld->ents[k].rec = NULL;
	}
	ld->nnew = ld->n;
}

/* mbx_sync_assign: numbers the files without a UID, oldest name first. */
void mbx_sync_assign(const mbx *mb, struct mbx_load *ld)
{
	struct mbx_ent **fresh;
	size_t nf = 0;

	if (!ld->ul.valid) {
		if (ld->ul.bad != NULL)
			log_warn("mbx: %s: %s is bad (line %u: %s); recreated with new UIDs", mb->path,
				 MBX_UIDLIST, ld->ul.bad_line, ld->ul.bad);
		ulist_reset(ld, ld->ul.bad != NULL ? ld->ul.uidvalidity : 0);
	} else if ((uint64_t)ld->ul.nextuid + ld->nnew > UINT32_MAX) {
		log_warn("mbx: %s: UIDs used up; renumbering with a new UIDVALIDITY", mb->path);
		ulist_reset(ld, ld->ul.uidvalidity);
	}
	fresh = xmalloc((ld->nnew + 1) * sizeof(*fresh));
	for (size_t k = 0; k < ld->n; k++)
		if (ld->ents[k].uid == 0)
			fresh[nf++] = &ld->ents[k];
	qsort(fresh, nf, sizeof(*fresh), cmp_new_order);
	for (size_t k = 0; k < nf; k++)
		fresh[k]->uid = ld->ul.nextuid++;
	free(fresh);
	if (ld->ul.guid == NULL)
		mbx_ulist_make_guid(&ld->ar, &ld->ul.guid);
	if (ld->ul.hdr_extra == NULL)
		ld->ul.hdr_extra = "";
}

/* A list is appended to when it is long (a short one is rewritten: cheap,
 * and it drops records of vanished files) and holds few stale records. */
#define MBX_APPEND_MIN_RECORDS 256
#define MBX_APPEND_STALE_DIV 8 /* stale records up to 1/8 of the list (+16) */

bool mbx_sync_can_append(const struct mbx_load *ld)
{
	size_t unmatched = 0;

	if (!ld->ul.valid || ld->ul.torn || ld->ul.n < MBX_APPEND_MIN_RECORDS ||
	    (uint64_t)ld->ul.nextuid + ld->nnew >= UINT32_MAX)
		return false;
	for (size_t k = 0; k < ld->ul.n; k++)
		unmatched += !ld->ul.recs[k].matched;
	return unmatched <= ld->ul.n / MBX_APPEND_STALE_DIV + 16;
}

int mbx_sync_append(const mbx *mb, struct mbx_load *ld, int lockfd, char **err_r)
{
	struct mbx_ent **fresh = xmalloc((ld->nnew + 1) * sizeof(*fresh));
	buf *text = buf_new(ld->nnew * 80 + 16);
	size_t nf = 0;
	int fd, rc = 0;

	for (size_t k = 0; k < ld->n; k++)
		if (ld->ents[k].uid == 0)
			fresh[nf++] = &ld->ents[k];
	qsort(fresh, nf, sizeof(*fresh), cmp_new_order);
	for (size_t k = 0; k < nf; k++) {
		struct mbx_ent *e = fresh[k];

		e->uid = ld->ul.nextuid++;
		buf_printf(text, "%u", e->uid);
		if (mbx_name_size_field(e->name, e->baselen, 'S') < 0 && e->psize >= 0)
			buf_printf(text, " S%lld", e->psize);
		if (e->vsize >= 0)
			buf_printf(text, " W%lld", e->vsize);
		buf_printf(text, " :%s\n", e->name);
	}
	fd = open(mb->ulist_path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 || fs_write_all(fd, buf_cstr(text), buf_len(text)) < 0 || fsync(fd) < 0) {
		*err_r = xasprintf("cannot append to %s: %s", mb->ulist_path, strerror(errno));
		rc = -1; /* XXX: a partial append is a torn line: the next writer rewrites */
	}
	if (fd >= 0)
		close(fd);
	mbx_lock_release(mb, lockfd);
	buf_free(&text);
	free(fresh);
	return rc;
}

static int cmp_rec_uid(const void *a, const void *b)
{
	const struct mbx_rec *x = a, *y = b;

	return (x->uid > y->uid) - (x->uid < y->uid);
}

/* mbx_sync_write: the new uidlist: one record per file, plus (when the
 * scan may have missed files) the records nobody matched, so no UID is
 * lost. */
int mbx_sync_write(const mbx *mb, struct mbx_load *ld, int lockfd, char **err_r)
{
	struct mbx_rec *out = xmalloc((ld->n + ld->ul.n + 1) * sizeof(*out));
	size_t n = 0;
	buf *content;
	int rc;

	for (size_t k = 0; k < ld->n; k++) {
		const struct mbx_ent *e = &ld->ents[k];

		/* S: the size a stat found, so the next open needs none */
		long long s = mbx_name_size_field(e->name, e->baselen, 'S') < 0 ? e->psize : -1;

		out[n++] = (struct mbx_rec){ .uid = e->uid, .name = e->name, .s = s, .w = e->vsize,
					 .exts = e->rec != NULL ? e->rec->exts : "" };
	}
	for (size_t k = 0; !ld->stable && k < ld->ul.n; k++)
		if (!ld->ul.recs[k].matched)
			out[n++] = ld->ul.recs[k];
	qsort(out, n, sizeof(*out), cmp_rec_uid);
	content = mbx_ulist_format(&ld->ul, out, n);
	rc = mbx_ulist_commit(mb, lockfd, content, err_r);
	buf_free(&content);
	free(out);
	return rc;
}
