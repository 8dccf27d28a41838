/* mbx_sync.c: brings the uidlist in line with a scan. Each file gets the
 * UID of the record with its base name (both lists sorted by base, then
 * merged); files without one get the next UIDs in delivery order (the
 * names' leading time stamp, then the name); the new uidlist is written
 * under the lock. A record whose file was not seen is dropped only when
 * the scan was stable, else kept, so a file the scan missed keeps its UID. */
#include "mbx_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mem.h"

static int cmp_rec_base(const void *a, const void *b)
{
	const struct mbx_rec *x = *(const struct mbx_rec *const *)a, *y = *(const struct mbx_rec *const *)b;
	int c = mbx_name_cmp_base(x->name, x->baselen, y->name, y->baselen);

	return c != 0 ? c : (x->uid > y->uid) - (x->uid < y->uid);
}

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

/* mbx_sync_match: gives each file the UID of the record with its base name. */
void mbx_sync_match(struct mbx_load *ld)
{
	struct mbx_ulist *ul = &ld->ul;
	struct mbx_rec **byname;
	size_t i = 0, j = 0;

	qsort(ld->ents, ld->n, sizeof(*ld->ents), mbx_scan_cmp_ent);
	mbx_scan_dedupe(ld);
	byname = xmalloc((ul->n + 1) * sizeof(*byname));
	for (size_t k = 0; k < ul->n; k++) {
		ul->recs[k].matched = false;
		byname[k] = &ul->recs[k];
	}
	qsort(byname, ul->n, sizeof(*byname), cmp_rec_base);
	while (i < ld->n && j < ul->n) {
		struct mbx_ent *e = &ld->ents[i];
		int c = mbx_name_cmp_base(e->name, e->baselen, byname[j]->name, byname[j]->baselen);

		if (c == 0)
			take_rec(e, byname[j]);
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	free(byname);
	ld->nnew = 0;
	for (size_t k = 0; k < ld->n; k++)
		ld->nnew += ld->ents[k].uid == 0;
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
