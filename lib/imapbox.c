/* imapbox.c: opening and closing a selected folder, and the session's view
 * of it: sequence numbers <-> UIDs, flags and keywords as IMAP shows them,
 * struct imapmsg for FETCH and SEARCH. Maildir's P ("passed") has no IMAP
 * flag: it is kept on disk through every change and not shown, as Dovecot
 * does. The view changes only in imapbox_take (imapbox_sync.c) and for
 * this session's own STORE (imapbox_store.c). */
#include "imapbox_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "mem.h"

void ibx_stamp_of(const char *path, struct ibx_stamp *st)
{
	struct stat sb;

	memset(st, 0, sizeof(*st));
	if (stat(path, &sb) == 0) {
		st->mtime = sb.st_mtim;
		st->ino = sb.st_ino;
		st->size = sb.st_size;
	}
}

bool ibx_stamp_eq(const struct ibx_stamp *a, const struct ibx_stamp *b)
{
	return a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ino == b->ino && a->size == b->size;
}

int ibx_errno_result(int err)
{
	return err == ENOSPC || err == EDQUOT ? IMAPBOX_NOSPACE : IMAPBOX_TEMP;
}

unsigned ibx_imap_flags(uint32_t mask)
{
	/* enum mbx_flag and the IMAPMSG_ system bits are the same six bits */
	return mask & IBX_MASK_FLAGS;
}

const char *imapbox_result_str(int result)
{
	switch (result) {
	case IMAPBOX_OK: return "ok";
	case IMAPBOX_TEMP: return "temporary failure";
	case IMAPBOX_LIMIT: return "no keyword letter left";
	case IMAPBOX_OVERQUOTA: return "over quota";
	case IMAPBOX_NOSPACE: return "disk full";
	case IMAPBOX_BAD: return "bad argument";
	case IMAPBOX_NONEXISTENT: return "no such folder";
	case IMAPBOX_READONLY: return "folder is read-only";
	default: return "unknown result";
	}
}

/* ---- open, close ---- */

static void set_watch(imapbox *box)
{
	box->watch[0] = fs_join(box->path, "new");
	box->watch[1] = fs_join(box->path, "cur");
	box->watch[2] = xstrdup(box->path);
	box->watch[3] = NULL;
	box->watch[4] = fs_join(box->path, MBX_UIDLIST);
}

unsigned long imapbox_kept_hits;

/* open_kept: the box kept from an earlier session of dir, brought up to
 * date; NULL when none is kept or it cannot be used (then freed). */
static imapbox *open_kept(const char *dir, bool read_write)
{
	imapbox *box = ibx_unpark(dir);
	struct imapbox_changes ch;
	char *err = NULL;

	if (box == NULL)
		return NULL;
	if (ibx_reuse(box, read_write, &err) < 0) {
		log_info("imapbox: %s: kept state not used: %s", dir, err);
		free(err);
		ibx_free(box);
		return NULL;
	}
	imapbox_take(box, true, &ch);
	if (ch.uidvalidity_changed) {
		ibx_free(box);
		return NULL;
	}
	imapbox_kept_hits++;
	return box;
}

int imapbox_open(const char *dir, bool read_write, imapbox **box_r, char **err_r)
{
	imapbox *box;
	struct imapbox_changes ch;
	char *cur = fs_join(dir, "cur");
	struct stat st;
	int rc = stat(cur, &st);

	free(cur);
	*box_r = NULL;
	if (rc < 0 || !S_ISDIR(st.st_mode)) {
		*err_r = xasprintf("%s is not a Maildir: %s", dir, rc < 0 ? strerror(errno) : "cur is no directory");
		return rc < 0 && errno != ENOENT && errno != ENOTDIR ? IMAPBOX_TEMP : IMAPBOX_NONEXISTENT;
	}
	if ((*box_r = open_kept(dir, read_write)) != NULL)
		return IMAPBOX_OK;
	box = xcalloc(1, sizeof(*box));
	box->path = xstrdup(dir);
	box->rw = read_write;
	ibx_kw_init(&box->kw, dir);
	ibx_mseq_init(&box->ms, dir, 0);
	set_watch(box);
	if (ibx_full_sync(box, err_r) < 0) {
		ibx_free(box);
		return IMAPBOX_TEMP;
	}
	box->uidvalidity = box->snap_uidvalidity;
	imapbox_take(box, true, &ch);
	*box_r = box;
	return IMAPBOX_OK;
}

void imapbox_close(imapbox **box_p)
{
	imapbox *box = *box_p;

	*box_p = NULL;
	if (box != NULL && !ibx_park(box))
		ibx_free(box);
}

void ibx_free(imapbox *box)
{
	if (box == NULL)
		return;
	mbx_free(&box->mb);
	ibx_kw_free(&box->kw);
	ibx_mseq_free(&box->ms);
	free(box->view);
	free(box->meta);
	free(box->snap);
	free(box->out_seqs);
	free(box->out_uids);
	free(box->out_changed);
	free(box->out_modified);
	for (int i = 0; i < 5; i++)
		free(box->watch[i]);
	free(box->path);
	free(box);
}

const char *imapbox_path(const imapbox *box)
{
	return box->path;
}

bool imapbox_read_write(const imapbox *box)
{
	return box->rw;
}

uint32_t imapbox_uidvalidity(const imapbox *box)
{
	return box->uidvalidity;
}

uint32_t imapbox_uidnext(const imapbox *box)
{
	return box->uidnext;
}

uint64_t imapbox_highestmodseq(const imapbox *box)
{
	return box->snap_highest;
}

const char *const *imapbox_watch_paths(const imapbox *box)
{
	return (const char *const *)box->watch;
}

/* ---- the view ---- */

static const struct ibx_view *view_at(const imapbox *box, uint32_t seq)
{
	if (seq < 1 || seq > box->nview)
		log_panic("imapbox: sequence number %u of %zu", seq, box->nview);
	return &box->view[seq - 1];
}

uint32_t imapbox_count(const imapbox *box)
{
	return (uint32_t)box->nview;
}

uint32_t imapbox_recent(const imapbox *box)
{
	return box->nrecent;
}

void ibx_view_changed(imapbox *box)
{
	box->unseen_known = false;
}

uint32_t imapbox_unseen_first(imapbox *box)
{
	size_t i = 0;

	if (box->unseen_known) /* kept until the view changes */
		return box->unseen_first;
	while (i < box->nview && (box->view[i].mask & MBX_SEEN))
		i++;
	box->unseen_first = i < box->nview ? (uint32_t)i + 1 : 0;
	box->unseen_known = true;
	return box->unseen_first;
}

uint32_t imapbox_uid(const imapbox *box, uint32_t seq)
{
	return view_at(box, seq)->uid;
}

long ibx_view_find(const imapbox *box, uint32_t uid)
{
	size_t lo = 0, hi = box->nview;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (box->view[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < box->nview && box->view[lo].uid == uid ? (long)lo : -(long)lo - 1;
}

uint32_t imapbox_seq_of_uid(const imapbox *box, uint32_t uid, bool nearest)
{
	long pos = ibx_view_find(box, uid);

	if (pos >= 0)
		return (uint32_t)pos + 1;
	return nearest ? (uint32_t)(-pos - 1) + 1 : 0;
}

unsigned imapbox_flags(const imapbox *box, uint32_t seq)
{
	const struct ibx_view *v = view_at(box, seq);

	return ibx_imap_flags(v->mask) | (v->recent ? IMAPMSG_RECENT : 0);
}

uint64_t imapbox_modseq(const imapbox *box, uint32_t seq)
{
	return view_at(box, seq)->modseq;
}

bool imapbox_expunged(const imapbox *box, uint32_t seq)
{
	return view_at(box, seq)->expunged;
}

static const struct {
	unsigned bit;
	const char *name;
} ibx_sysflags[] = {
	{ IMAPMSG_ANSWERED, "\\Answered" }, { IMAPMSG_FLAGGED, "\\Flagged" },
	{ IMAPMSG_DELETED, "\\Deleted" },   { IMAPMSG_SEEN, "\\Seen" },
	{ IMAPMSG_DRAFT, "\\Draft" },
};

static void put_word(buf *out, const char *w)
{
	if (buf_len(out) > 0 && buf_cstr(out)[buf_len(out) - 1] != '(')
		buf_putc(out, ' ');
	buf_puts(out, w);
}

void imapbox_flags_text(const imapbox *box, uint32_t seq, buf *out)
{
	const struct ibx_view *v = view_at(box, seq);
	size_t start = buf_len(out);

	buf_putc(out, '(');
	for (size_t i = 0; i < sizeof(ibx_sysflags) / sizeof(ibx_sysflags[0]); i++)
		if (v->mask & ibx_sysflags[i].bit)
			put_word(out, ibx_sysflags[i].name);
	for (int k = 0; k < IMAPBOX_MAX_KEYWORDS; k++)
		if ((v->mask & (1u << (IBX_KW_SHIFT + k))) && box->kw.names[k] != NULL)
			put_word(out, box->kw.names[k]);
	if (v->recent)
		put_word(out, "\\Recent");
	(void)start;
	buf_putc(out, ')');
}

static void flags_list(const imapbox *box, buf *out, bool star)
{
	buf_putc(out, '(');
	for (size_t i = 0; i < sizeof(ibx_sysflags) / sizeof(ibx_sysflags[0]); i++)
		put_word(out, ibx_sysflags[i].name);
	for (int k = 0; k < IMAPBOX_MAX_KEYWORDS; k++)
		if (box->kw.names[k] != NULL)
			put_word(out, box->kw.names[k]);
	if (star)
		put_word(out, "\\*");
	buf_putc(out, ')');
}

void imapbox_flags_list(const imapbox *box, buf *out)
{
	flags_list(box, out, false);
}

void imapbox_permanentflags(const imapbox *box, buf *out)
{
	if (!box->rw) {
		buf_puts(out, "()");
		return;
	}
	flags_list(box, out, box->kw.count < IMAPBOX_MAX_KEYWORDS);
}

/* ---- one message ---- */

static long msg_index(imapbox *box, uint32_t seq)
{
	const struct ibx_view *v = view_at(box, seq);
	long idx = v->expunged ? -1 : mbx_find_uid(box->mb, v->uid);

	if (idx < 0)
		errno = ENOENT;
	return idx;
}

int imapbox_msg_open(imapbox *box, uint32_t seq)
{
	long idx = msg_index(box, seq);

	return idx < 0 ? -1 : mbx_msg_open(box->mb, (size_t)idx);
}

const char *imapbox_msg_base(const imapbox *box, uint32_t seq)
{
	long idx = mbx_find_uid(box->mb, view_at(box, seq)->uid);

	return idx < 0 ? "" : mbx_msg_peek(box->mb, (size_t)idx)->base;
}

/* msg_learn: the mtime and CRLF size of message idx from its file. */
static int msg_learn(imapbox *box, size_t idx, struct ibx_meta *v, unsigned need)
{
	int fd = mbx_msg_open(box->mb, idx);
	struct stat st;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	v->idate = st.st_mtime;
	if ((need & IMAPBOX_NEED_SIZE) && v->vsize < 0 && (v->vsize = mbx_vsize_of(fd)) < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return 0;
}

int imapbox_msg(imapbox *box, uint32_t seq, unsigned need, struct imapmsg *m)
{
	const struct ibx_view *v = view_at(box, seq);
	long idx = msg_index(box, seq);
	struct ibx_meta *mt;
	size_t nk = 0;

	if (idx < 0)
		return IMAPBOX_TEMP;
	if (box->meta == NULL) {
		box->meta = xmalloc((box->nview + 1) * sizeof(*box->meta));
		for (size_t k = 0; k < box->nview; k++)
			box->meta[k] = (struct ibx_meta){ .vsize = -1, .idate = -1 };
	}
	mt = &box->meta[v - box->view];
	if (mt->vsize < 0)
		mt->vsize = mbx_msg_peek(box->mb, (size_t)idx)->vsize;
	if ((((need & IMAPBOX_NEED_DATE) && mt->idate < 0) || ((need & IMAPBOX_NEED_SIZE) && mt->vsize < 0)) &&
	    msg_learn(box, (size_t)idx, mt, need) < 0)
		return IMAPBOX_TEMP;
	for (int k = 0; k < IMAPBOX_MAX_KEYWORDS; k++)
		if ((v->mask & (1u << (IBX_KW_SHIFT + k))) && box->kw.names[k] != NULL)
			box->kwnames[nk++] = box->kw.names[k];
	memset(m, 0, sizeof(*m));
	m->seq = seq;
	m->uid = v->uid;
	m->flags = ibx_imap_flags(v->mask) | (v->recent ? IMAPMSG_RECENT : 0);
	m->keywords = box->kwnames;
	m->nkeywords = nk;
	m->internaldate = mt->idate >= 0 ? mt->idate : 0;
	m->size = mt->vsize;
	m->modseq = v->modseq;
	return IMAPBOX_OK;
}
