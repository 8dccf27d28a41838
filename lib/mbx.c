/* mbx.c: one Maildir folder as a list of messages with permanent UIDs,
 * kept in Dovecot's dovecot-uidlist (v3) file (format and locking rules
 * in mbx.h). mbx_open scans new/ and cur/, matches the files to the
 * uidlist records by base name (both sorted, then merged), and when files
 * without a UID exist takes the dot-lock, reads and scans again, numbers
 * them and replaces the uidlist. Single messages are opened, renamed for
 * flags and removed here, and found again when another process renamed
 * them. Delivery is md.c's job; message contents are not parsed. */
#include "mbx.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "md.h"
#include "mem.h"

int mbx_lock_wait_ms = MBX_LOCK_WAIT_MS;

#define MBX_LOCK_SUFFIX ".lock"
#define MBX_SCAN_TRIES 5           /* scans while a directory keeps changing */
#define MBX_LINE_MAX 16384         /* longest uidlist line accepted */
#define MBX_HDR_EXTRA_MAX 4096     /* unknown header fields kept, in bytes */
#define MBX_LOCK_POLL_MS 10
#define MBX_ARENA_BLOCK 65536
#define MBX_CHUNK 65536            /* read size for mbx_vsize_of */
#define MBX_READAHEAD 32           /* files mbx_vsizes keeps open ahead */

/* ---- string arena: many small strings freed together -------------------- */

struct arena {
	struct arena *next;
	size_t used, size;
	char data[];
};

static char *arena_alloc(struct arena **ar, size_t len)
{
	struct arena *a = *ar;
	char *p;

	if (a == NULL || a->size - a->used < len) {
		size_t size = len > MBX_ARENA_BLOCK ? len : MBX_ARENA_BLOCK;

		a = xmalloc(sizeof(*a) + size);
		a->used = 0;
		a->size = size;
		a->next = *ar;
		*ar = a;
	}
	p = a->data + a->used;
	a->used += len;
	return p;
}

static char *arena_strndup(struct arena **ar, const char *s, size_t len)
{
	char *p = arena_alloc(ar, len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static void arena_free(struct arena **ar)
{
	while (*ar != NULL) {
		struct arena *next = (*ar)->next;

		free(*ar);
		*ar = next;
	}
}

/* ---- types --------------------------------------------------------------- */

/* One uidlist record. exts holds every ext token but S and W, as read. */
struct rec {
	uint32_t uid;
	uint32_t baselen;
	bool matched;
	const char *name;
	const char *exts;
	long long s;           /* the S ext, -1 if none */
	long long w;           /* the W ext, -1 if none */
	const char *pop3;      /* the P ext's value, or NULL */
};

struct ulist {
	bool valid;            /* read and parsed as v3 */
	const char *bad;       /* why not valid when the file exists */
	unsigned bad_line;
	uint32_t uidvalidity, nextuid;
	const char *guid;      /* NULL: make one on write */
	const char *hdr_extra; /* unknown header fields, "" if none */
	struct rec *recs;      /* in UID order */
	size_t n;
};

/* One file found by the scan. */
struct ent {
	const char *name;
	uint32_t baselen;
	bool in_new;
	uint32_t uid;          /* 0: none yet */
	long long psize, vsize;
	const struct rec *rec; /* its uidlist record, or NULL */
};

/* Everything one pass over the folder learns; the last pass's becomes the
 * mbx's (its arena owns all strings). */
struct load {
	struct arena *ar;
	struct ulist ul;
	struct ent *ents;
	size_t n, cap;
	bool stable;           /* no directory changed during the scan */
	size_t nnew;           /* files without a UID */
};

struct imsg {
	struct mbx_msg m;
	const char *exts;      /* uidlist ext tokens except W, "" */
	bool vsize_read;       /* vsize was counted from the file here */
};

struct mbx {
	char *path, *ulist_path, *lock_path;
	int new_fd, cur_fd;
	struct arena *ar;
	uint32_t uidvalidity, nextuid;
	struct imsg *msgs;
	size_t n;
};

/* ---- file names ------------------------------------------------------------ */

static size_t name_baselen(const char *name)
{
	const char *info = strstr(name, ":2,");

	return info != NULL ? (size_t)(info - name) : strlen(name);
}

/* name_size_field: the number after ",<key>=" in the base, -1 if none. */
static long long name_size_field(const char *name, size_t baselen, char key)
{
	const char *end = name + baselen;

	for (const char *p = name; p < end; p++) {
		long long v = 0;
		const char *d;

		if (p[0] != ',' || end - p < 4 || p[1] != key || p[2] != '=')
			continue;
		for (d = p + 3; d < end && *d >= '0' && *d <= '9' && v < (1LL << 50); d++)
			v = v * 10 + (*d - '0');
		if (d > p + 3 && (d == end || *d == ','))
			return v;
	}
	return -1;
}

static unsigned long long name_leading_number(const char *name)
{
	unsigned long long v = 0;

	for (; *name >= '0' && *name <= '9' && v < (1ULL << 58); name++)
		v = v * 10 + (unsigned)(*name - '0');
	return v;
}

/* name_info: the letters after ":2,", "" if none. */
static const char *name_info(const char *name, size_t baselen)
{
	return name[baselen] == ':' ? name + baselen + 3 : "";
}

static const char *keywords_of(struct arena **ar, const char *letters)
{
	size_t n = 0;
	char *kw;

	for (const char *p = letters; *p != '\0'; p++)
		n += *p >= 'a' && *p <= 'z';
	if (n == 0)
		return "";
	kw = arena_alloc(ar, n + 1);
	n = 0;
	for (const char *p = letters; *p != '\0'; p++)
		if (*p >= 'a' && *p <= 'z')
			kw[n++] = *p;
	kw[n] = '\0';
	return kw;
}

static const char flag_letters[] = "DFPRST"; /* bit i of enum mbx_flag */

unsigned mbx_flags_parse(const char *letters)
{
	unsigned flags = 0;

	for (; *letters != '\0'; letters++) {
		const char *f = strchr(flag_letters, *letters);

		if (f != NULL)
			flags |= 1u << (f - flag_letters);
	}
	return flags;
}

void mbx_flags_format(unsigned flags, char *out)
{
	for (int i = 0; flag_letters[i] != '\0'; i++)
		if (flags & (1u << i))
			*out++ = flag_letters[i];
	*out = '\0';
}

/* msg_set_name: points m at its (new) file name and rereads the flags. */
static void msg_set_name(struct arena **ar, struct mbx_msg *m, const char *name, bool in_new)
{
	size_t baselen = name_baselen(name);
	const char *info;

	m->name = arena_strndup(ar, name, strlen(name));
	info = name_info(m->name, baselen);
	m->in_new = in_new;
	m->flags = mbx_flags_parse(info);
	m->keywords = keywords_of(ar, info);
}

/* ---- directory scan -------------------------------------------------------- */

static bool same_mtime(const struct stat *a, const struct stat *b)
{
	return a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ino == b->st_ino;
}

static DIR *open_dir_fd(int fd)
{
	int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (dup_fd < 0)
		return NULL;
	d = fdopendir(dup_fd);
	if (d == NULL)
		close(dup_fd);
	return d;
}

static struct ent *load_add_ent(struct load *ld)
{
	if (ld->n == ld->cap) {
		ld->cap = ld->cap == 0 ? 256 : ld->cap * 2;
		ld->ents = xrealloc(ld->ents, ld->cap * sizeof(*ld->ents));
	}
	return &ld->ents[ld->n++];
}

/* scan_file: adds one directory entry. Only a file system without d_type
 * costs a stat here; files that vanished since readdir are skipped (the
 * directory's mtime changed, so the scan is repeated). psize stays -1
 * when the name has no ",S=" (see stat_missing). */
static void scan_file(const mbx *mb, struct load *ld, DIR *d, const struct dirent *de, bool in_new)
{
	size_t baselen = name_baselen(de->d_name);
	long long psize = name_size_field(de->d_name, baselen, 'S');
	struct ent *e;

	if (de->d_type == DT_UNKNOWN) {
		struct stat st;

		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0) {
			if (errno != ENOENT)
				log_warn("mbx: %s: cannot stat %s/%s: %s", mb->path, in_new ? "new" : "cur",
					 de->d_name, strerror(errno));
			return;
		}
		if (!S_ISREG(st.st_mode))
			return;
		if (psize < 0)
			psize = (long long)st.st_size;
	}
	e = load_add_ent(ld);
	e->name = arena_strndup(&ld->ar, de->d_name, strlen(de->d_name));
	e->baselen = (uint32_t)baselen;
	e->in_new = in_new;
	e->uid = 0;
	e->psize = psize;
	e->vsize = name_size_field(e->name, baselen, 'W');
	e->rec = NULL;
}

static int scan_dir(const mbx *mb, struct load *ld, bool in_new, char **err_r)
{
	DIR *d = open_dir_fd(in_new ? mb->new_fd : mb->cur_fd);
	struct dirent *de;

	if (d == NULL) {
		*err_r = xasprintf("cannot open %s/%s: %s", mb->path, in_new ? "new" : "cur",
				   strerror(errno));
		return -1;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || de->d_type == DT_DIR)
			continue;
		if (strpbrk(de->d_name, "\r\n") != NULL) { /* would break the uidlist's lines */
			log_warn("mbx: %s: ignoring a file whose name has a line break", mb->path);
			continue;
		}
		if (ld->n >= MBX_MAX_MESSAGES) {
			*err_r = xasprintf("%s: more than %d messages", mb->path, MBX_MAX_MESSAGES);
			closedir(d);
			return -1;
		}
		scan_file(mb, ld, d, de, in_new);
		errno = 0;
	}
	if (errno != 0) {
		*err_r = xasprintf("cannot read %s/%s: %s", mb->path, in_new ? "new" : "cur",
				   strerror(errno));
		closedir(d);
		return -1;
	}
	closedir(d);
	return 0;
}

static int stat_dirs(const mbx *mb, struct stat *new_st, struct stat *cur_st, char **err_r)
{
	if (fstat(mb->new_fd, new_st) < 0 || fstat(mb->cur_fd, cur_st) < 0) {
		*err_r = xasprintf("cannot stat %s: %s", mb->path, strerror(errno));
		return -1;
	}
	return 0;
}

/* scan_all: new/ before cur/, so a file moved new -> cur meanwhile is
 * seen at least once; repeated while either directory's mtime changes
 * under us. XXX: a change within the file system's timestamp tick of our
 * first stat goes unnoticed (Dovecot has the same blind spot). */
static int scan_all(const mbx *mb, struct load *ld, char **err_r)
{
	struct stat n1, c1, n2, c2;

	if (ld->ents == NULL) { /* never NULL for qsort/bsearch, even when empty */
		ld->cap = 256;
		ld->ents = xmalloc(ld->cap * sizeof(*ld->ents));
	}
	for (int try = 0; try < MBX_SCAN_TRIES; try++) {
		ld->n = 0;
		if (stat_dirs(mb, &n1, &c1, err_r) < 0 || scan_dir(mb, ld, true, err_r) < 0 ||
		    scan_dir(mb, ld, false, err_r) < 0 || stat_dirs(mb, &n2, &c2, err_r) < 0)
			return -1;
		ld->stable = same_mtime(&n1, &n2) && same_mtime(&c1, &c2);
		if (ld->stable)
			return 0;
	}
	log_info("mbx: %s: folder kept changing during %d scans", mb->path, MBX_SCAN_TRIES);
	return 0;
}

/* ---- uidlist parsing ------------------------------------------------------- */

/* parse_u32: all of [s, end) as a decimal number in 0..UINT32_MAX. */
static int parse_u32(const char *s, const char *end, uint32_t *v_r)
{
	uint64_t v = 0;

	if (s == end || end - s > 10)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > UINT32_MAX)
		return -1;
	*v_r = (uint32_t)v;
	return 0;
}

static int parse_size(const char *s, const char *end, long long *v_r)
{
	long long v = 0;

	if (s == end || end - s > 15)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	*v_r = v;
	return 0;
}

static void append_token(buf *b, const char *tok, size_t len)
{
	if (buf_len(b) > 0)
		buf_putc(b, ' ');
	buf_append(b, tok, len);
}

/* parse_header: "3 V<uidvalidity> N<nextuid> G<guid> [other fields]". */
static const char *parse_header(struct load *ld, char *line, buf *extra)
{
	struct ulist *ul = &ld->ul;
	bool have_v = false, have_n = false;
	char *p = line + 1;

	if (line[0] != '3' || (line[1] != ' ' && line[1] != '\0'))
		return "not a version 3 header";
	while (*p != '\0') {
		char *tok, *end;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		tok = p;
		end = tok + strcspn(tok, " ");
		p = end;
		if (*tok == 'V') {
			if (parse_u32(tok + 1, end, &ul->uidvalidity) < 0 || ul->uidvalidity == 0)
				return "bad UIDVALIDITY";
			have_v = true;
		} else if (*tok == 'N') {
			if (parse_u32(tok + 1, end, &ul->nextuid) < 0 || ul->nextuid == 0)
				return "bad next UID";
			have_n = true;
		} else if (*tok == 'G' && end - tok > 1 && end - tok <= 65) {
			ul->guid = arena_strndup(&ld->ar, tok + 1, (size_t)(end - tok - 1));
		} else {
			append_token(extra, tok, (size_t)(end - tok));
			if (buf_len(extra) > MBX_HDR_EXTRA_MAX)
				return "header too long";
		}
	}
	if (!have_v || !have_n)
		return "header without UIDVALIDITY or next UID";
	ul->hdr_extra = arena_strndup(&ld->ar, buf_cstr(extra), buf_len(extra));
	return NULL;
}

/* valid_uidl: a usable POP3 UIDL (RFC 1939: 1-70 chars 0x21-0x7E). */
static bool valid_uidl(const char *s, const char *end)
{
	if (end - s < 1 || end - s > 70)
		return false;
	for (; s < end; s++)
		if (*s < 0x21 || *s > 0x7e)
			return false;
	return true;
}

/* parse_ext: one ext token of a record; valid S and W are taken out (and
 * written back from their values), the rest kept as they are. A second
 * valid S or W is dropped: the first one counts, and keeping the other
 * verbatim would put it before the first on rewrite (format_rec writes
 * the kept exts first), so the size would change from one open to the
 * next (found by fuzz_uidlist). */
static const char *parse_ext(struct load *ld, struct rec *r, const char *tok, const char *end,
			     buf *exts)
{
	long long size;

	if ((*tok == 'S' || *tok == 'W') && parse_size(tok + 1, end, &size) == 0) {
		long long *slot = *tok == 'S' ? &r->s : &r->w;

		if (*slot < 0)
			*slot = size;
		return NULL;
	}
	if (*tok == 'P' && valid_uidl(tok + 1, end))
		r->pop3 = arena_strndup(&ld->ar, tok + 1, (size_t)(end - tok - 1));
	append_token(exts, tok, (size_t)(end - tok));
	return NULL;
}

/* parse_record: "<uid> [<ext>...] :<file name>", UIDs increasing. */
static const char *parse_record(struct load *ld, struct rec *r, char *line, uint32_t prev_uid,
				buf *exts)
{
	char *p = line + strcspn(line, " ");
	const char *why;

	memset(r, 0, sizeof(*r));
	r->s = -1;
	r->w = -1;
	if (parse_u32(line, p, &r->uid) < 0 || r->uid == 0)
		return "bad UID";
	if (r->uid <= prev_uid)
		return "UIDs not in increasing order";
	buf_reset(exts);
	for (;;) {
		char *tok, *end;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			return "record without a file name";
		if (*p == ':')
			break;
		tok = p;
		end = tok + strcspn(tok, " ");
		p = end;
		if ((why = parse_ext(ld, r, tok, end, exts)) != NULL)
			return why;
	}
	p++;
	if (*p == '\0' || strchr(p, '/') != NULL)
		return "bad file name";
	r->name = arena_strndup(&ld->ar, p, strlen(p));
	r->baselen = (uint32_t)name_baselen(r->name);
	r->exts = buf_len(exts) == 0 ? "" : arena_strndup(&ld->ar, buf_cstr(exts), buf_len(exts));
	return NULL;
}

static void ulist_add_rec(struct ulist *ul, size_t *cap, const struct rec *r)
{
	if (ul->n == *cap) {
		*cap = *cap == 0 ? 256 : *cap * 2;
		ul->recs = xrealloc(ul->recs, *cap * sizeof(*ul->recs));
	}
	ul->recs[ul->n++] = *r;
}

/* parse_lines: the whole file; a last line without its newline is being
 * appended by Dovecot (it appends under the lock) and is left out. */
static void parse_lines(struct load *ld, char *data, size_t len)
{
	struct ulist *ul = &ld->ul;
	buf *scratch = buf_new(256);
	char *p = data, *end = data + len;
	size_t cap = 0;
	unsigned lineno = 0;
	uint32_t prev_uid = 0;
	struct rec r;

	ul->bad = NULL;
	while (p < end && ul->bad == NULL) {
		char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			break;
		*nl = '\0';
		lineno++;
		if (nl - p > MBX_LINE_MAX)
			ul->bad = "line too long";
		else if (lineno == 1)
			ul->bad = parse_header(ld, p, scratch);
		else if (*p == '\0')
			; /* an empty line: harmless */
		else if ((ul->bad = parse_record(ld, &r, p, prev_uid, scratch)) == NULL) {
			prev_uid = r.uid;
			ulist_add_rec(ul, &cap, &r);
			if (ul->n > MBX_MAX_MESSAGES)
				ul->bad = "too many records";
		}
		p = nl + 1;
	}
	buf_free(&scratch);
	if (ul->bad == NULL && lineno == 0)
		ul->bad = "empty file";
	ul->bad_line = lineno;
	ul->valid = ul->bad == NULL;
	if (ul->valid && prev_uid >= ul->nextuid)
		ul->nextuid = prev_uid + 1; /* records appended without a header update */
	if (ul->valid && prev_uid == UINT32_MAX) {
		ul->valid = false;
		ul->bad = "UIDs used up";
	}
}

/* ulist_load: reads the uidlist into ld->ul. A missing or bad file is not
 * an error (ul.valid false, ul.bad says why for a bad one). */
static int ulist_load(const mbx *mb, struct load *ld, char **err_r)
{
	buf *data = buf_new(4096);
	char *err = NULL;
	int rc = 0;

	memset(&ld->ul, 0, sizeof(ld->ul));
	if (fs_read_file(mb->ulist_path, data, (size_t)MBX_MAX_MESSAGES * 1024, &err) == 0)
		parse_lines(ld, buf_data(data), buf_len(data));
	else if (errno == EFBIG)
		ld->ul.bad = "file too large";
	else if (errno != ENOENT)
		rc = -1;
	if (rc < 0)
		*err_r = err;
	else
		free(err);
	buf_free(&data);
	return rc;
}

/* ---- uidlist writing and the lock -------------------------------------- */

static void make_guid(struct arena **ar, const char **guid_r)
{
	unsigned char raw[16];
	char *hex = arena_alloc(ar, 33);

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		unsigned long long x = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 32);

		for (size_t i = 0; i < sizeof(raw); i++, x = x * 6364136223846793005ULL + 1442695040888963407ULL)
			raw[i] = (unsigned char)(x >> 56);
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	*guid_r = hex;
}

static void format_rec(buf *out, const struct rec *r)
{
	char num[32];

	buf_append(out, num, (size_t)snprintf(num, sizeof(num), "%u", r->uid));
	if (r->exts[0] != '\0') {
		buf_putc(out, ' ');
		buf_puts(out, r->exts);
	}
	if (r->s >= 0)
		buf_append(out, num, (size_t)snprintf(num, sizeof(num), " S%lld", r->s));
	if (r->w >= 0)
		buf_append(out, num, (size_t)snprintf(num, sizeof(num), " W%lld", r->w));
	buf_append(out, " :", 2);
	buf_puts(out, r->name);
	buf_putc(out, '\n');
}

static buf *ulist_format(const struct ulist *ul, const struct rec *recs, size_t n)
{
	buf *out = buf_new(64 + n * 80);

	buf_printf(out, "3 V%u N%u G%s%s%s\n", ul->uidvalidity, ul->nextuid, ul->guid,
		   ul->hdr_extra[0] != '\0' ? " " : "", ul->hdr_extra);
	for (size_t i = 0; i < n; i++)
		format_rec(out, &recs[i]);
	return out;
}

static void lock_release(const mbx *mb, int lockfd)
{
	close(lockfd);
	if (unlink(mb->lock_path) < 0 && errno != ENOENT)
		log_warn("mbx: cannot remove %s: %s", mb->lock_path, strerror(errno));
}

/* ulist_commit: writes content into the lock file, fsyncs it and renames
 * it over the uidlist, which also releases the lock. */
static int ulist_commit(const mbx *mb, int lockfd, const buf *content, char **err_r)
{
	if (fs_write_all(lockfd, buf_cstr(content), buf_len(content)) < 0 || fsync(lockfd) < 0) {
		*err_r = xasprintf("cannot write %s: %s", mb->lock_path, strerror(errno));
		lock_release(mb, lockfd);
		return -1;
	}
	close(lockfd);
	if (rename(mb->lock_path, mb->ulist_path) < 0) {
		*err_r = xasprintf("cannot rename %s: %s", mb->lock_path, strerror(errno));
		unlink(mb->lock_path);
		return -1;
	}
	if (fs_fsync_dir(mb->path) < 0)
		log_warn("mbx: cannot fsync %s: %s", mb->path, strerror(errno));
	return 0;
}

/* lock_break: removes a lock left by a crashed process. It is renamed
 * aside first and checked to be the same file, so a lock taken afresh by
 * someone else in the meantime is put back rather than lost. */
static void lock_break(const mbx *mb, const struct stat *stale)
{
	char *aside = xasprintf("%s.stale.%d", mb->lock_path, (int)getpid());
	struct stat st;

	if (rename(mb->lock_path, aside) < 0) {
		free(aside);
		return;
	}
	if (lstat(aside, &st) == 0 && (st.st_ino != stale->st_ino || st.st_dev != stale->st_dev)) {
		if (link(aside, mb->lock_path) < 0)
			log_warn("mbx: %s: could not put back a fresh lock: %s", mb->path, strerror(errno));
	} else {
		log_warn("mbx: %s: removed stale lock %s (%lld seconds old)", mb->path, mb->lock_path,
			 (long long)(time(NULL) - stale->st_mtime));
	}
	unlink(aside);
	free(aside);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* lock_take: the dot-lock, waiting up to wait_ms. The fd, or -1 with
 * *err_r (NULL err_r: no message wanted). */
static int lock_take(const mbx *mb, int wait_ms, char **err_r)
{
	long long deadline = now_ms() + wait_ms;

	for (;;) {
		int fd = open(mb->lock_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		struct stat st;

		if (fd >= 0)
			return fd;
		if (errno != EEXIST) {
			if (err_r != NULL)
				*err_r = xasprintf("cannot create %s: %s", mb->lock_path, strerror(errno));
			return -1;
		}
		if (stat(mb->lock_path, &st) < 0)
			continue; /* released meanwhile */
		if (time(NULL) - st.st_mtime > MBX_LOCK_STALE) {
			lock_break(mb, &st);
			continue;
		}
		if (now_ms() >= deadline) {
			if (err_r != NULL)
				*err_r = xasprintf("%s is locked by another process", mb->ulist_path);
			return -1;
		}
		usleep(MBX_LOCK_POLL_MS * 1000);
	}
}

/* ---- matching files to records ---------------------------------------- */

static int cmp_base(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int cmp_ent_base(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	return cmp_base(x->name, x->baselen, y->name, y->baselen);
}

static int cmp_rec_base(const void *a, const void *b)
{
	const struct rec *x = *(const struct rec *const *)a, *y = *(const struct rec *const *)b;
	int c = cmp_base(x->name, x->baselen, y->name, y->baselen);

	return c != 0 ? c : (x->uid > y->uid) - (x->uid < y->uid);
}

/* dedupe_ents: one entry per base (sorted by base); the one in cur/ wins,
 * as a file seen in both was moved there during the scan. */
static void dedupe_ents(struct load *ld)
{
	size_t out = 0;

	for (size_t i = 0; i < ld->n; i++) {
		if (out > 0 && cmp_ent_base(&ld->ents[out - 1], &ld->ents[i]) == 0) {
			if (ld->ents[out - 1].in_new && !ld->ents[i].in_new)
				ld->ents[out - 1] = ld->ents[i];
			continue;
		}
		ld->ents[out++] = ld->ents[i];
	}
	ld->n = out;
}

static void take_rec(struct ent *e, struct rec *r)
{
	r->matched = true;
	e->uid = r->uid;
	e->rec = r;
	if (e->psize < 0)
		e->psize = r->s;
	if (e->vsize < 0)
		e->vsize = r->w;
}

/* match: gives each file the UID of the record with its base name. */
static void match(struct load *ld)
{
	struct ulist *ul = &ld->ul;
	struct rec **byname;
	size_t i = 0, j = 0;

	qsort(ld->ents, ld->n, sizeof(*ld->ents), cmp_ent_base);
	dedupe_ents(ld);
	byname = xmalloc((ul->n + 1) * sizeof(*byname));
	for (size_t k = 0; k < ul->n; k++) {
		ul->recs[k].matched = false;
		byname[k] = &ul->recs[k];
	}
	qsort(byname, ul->n, sizeof(*byname), cmp_rec_base);
	while (i < ld->n && j < ul->n) {
		struct ent *e = &ld->ents[i];
		int c = cmp_base(e->name, e->baselen, byname[j]->name, byname[j]->baselen);

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
	const struct ent *x = *(const struct ent *const *)a, *y = *(const struct ent *const *)b;
	unsigned long long nx = name_leading_number(x->name), ny = name_leading_number(y->name);

	if (nx != ny)
		return nx < ny ? -1 : 1;
	return cmp_base(x->name, x->baselen, y->name, y->baselen);
}

/* ulist_reset: forget the records and start a new UIDVALIDITY. */
static void ulist_reset(struct load *ld, uint32_t old_validity)
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

/* assign: numbers the files without a UID, oldest name first. */
static void assign(const mbx *mb, struct load *ld)
{
	struct ent **fresh;
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
		make_guid(&ld->ar, &ld->ul.guid);
	if (ld->ul.hdr_extra == NULL)
		ld->ul.hdr_extra = "";
}

static int cmp_rec_uid(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	return (x->uid > y->uid) - (x->uid < y->uid);
}

/* write_scan: the new uidlist: one record per file, plus (when the scan
 * may have missed files) the records nobody matched, so no UID is lost. */
static int write_scan(const mbx *mb, struct load *ld, int lockfd, char **err_r)
{
	struct rec *out = xmalloc((ld->n + ld->ul.n + 1) * sizeof(*out));
	size_t n = 0;
	buf *content;
	int rc;

	for (size_t k = 0; k < ld->n; k++) {
		const struct ent *e = &ld->ents[k];

		/* S: the size a stat found, so the next open needs none */
		long long s = name_size_field(e->name, e->baselen, 'S') < 0 ? e->psize : -1;

		out[n++] = (struct rec){ .uid = e->uid, .name = e->name, .s = s, .w = e->vsize,
					 .exts = e->rec != NULL ? e->rec->exts : "" };
	}
	for (size_t k = 0; !ld->stable && k < ld->ul.n; k++)
		if (!ld->ul.recs[k].matched)
			out[n++] = ld->ul.recs[k];
	qsort(out, n, sizeof(*out), cmp_rec_uid);
	content = ulist_format(&ld->ul, out, n);
	rc = ulist_commit(mb, lockfd, content, err_r);
	buf_free(&content);
	free(out);
	return rc;
}

/* ---- mbx_open ----------------------------------------------------------- */

static void load_clear(struct load *ld)
{
	arena_free(&ld->ar);
	free(ld->ul.recs);
	free(ld->ents);
	memset(ld, 0, sizeof(*ld));
}

/* stat_missing: psize for the files that have it neither in the name nor
 * in the uidlist. A file gone since the scan (renamed or expunged) makes
 * it return 1 when retry is set (the caller scans again); otherwise such
 * files are left out, and the scan counts as unstable. */
static int stat_missing(const mbx *mb, struct load *ld, bool retry)
{
	size_t out = 0;

	for (size_t k = 0; k < ld->n; k++) {
		struct ent *e = &ld->ents[k];
		struct stat st;

		if (e->psize < 0 && fstatat(e->in_new ? mb->new_fd : mb->cur_fd, e->name, &st, 0) < 0) {
			if (errno == ENOENT && retry)
				return 1;
			if (errno == ENOENT)
				continue;
			log_warn("mbx: %s: cannot stat %s/%s: %s", mb->path, e->in_new ? "new" : "cur",
				 e->name, strerror(errno));
			st.st_size = 0;
		}
		if (e->psize < 0)
			e->psize = (long long)st.st_size;
		ld->ents[out++] = *e;
	}
	if (out < ld->n) {
		ld->stable = false;
		ld->n = out;
		ld->nnew = 0;
		for (size_t k = 0; k < ld->n; k++)
			ld->nnew += ld->ents[k].uid == 0;
	}
	return 0;
}

/* load_run: one pass. Without the lock (lockfd < 0) it stops with 1 as
 * soon as it knows the uidlist must be written; with it, it writes (and
 * so releases the lock). */
static int load_run(const mbx *mb, struct load *ld, int lockfd, char **err_r)
{
	if (ulist_load(mb, ld, err_r) < 0)
		goto fail;
	for (int try = 1;; try++) {
		if (scan_all(mb, ld, err_r) < 0)
			goto fail;
		match(ld);
		if (lockfd < 0 && !(ld->ul.valid && ld->nnew == 0))
			return 1;
		if (stat_missing(mb, ld, try < MBX_SCAN_TRIES) == 0)
			break;
	}
	if (ld->ul.valid && ld->nnew == 0) {
		if (lockfd >= 0)
			lock_release(mb, lockfd);
		return 0;
	}
	assign(mb, ld);
	return write_scan(mb, ld, lockfd, err_r);
fail:
	if (lockfd >= 0)
		lock_release(mb, lockfd);
	return -1;
}

static int cmp_msg_uid(const void *a, const void *b)
{
	const struct imsg *x = a, *y = b;

	return (x->m.uid > y->m.uid) - (x->m.uid < y->m.uid);
}

/* adopt: the mbx takes the pass's strings and makes its message list. */
static void adopt(mbx *mb, struct load *ld)
{
	mb->ar = ld->ar;
	ld->ar = NULL;
	mb->uidvalidity = ld->ul.uidvalidity;
	mb->nextuid = ld->ul.nextuid;
	mb->n = ld->n;
	mb->msgs = xcalloc(ld->n + 1, sizeof(*mb->msgs));
	for (size_t k = 0; k < ld->n; k++) {
		const struct ent *e = &ld->ents[k];
		struct imsg *im = &mb->msgs[k];
		const char *info = name_info(e->name, e->baselen);

		im->m.uid = e->uid;
		im->m.base = arena_strndup(&mb->ar, e->name, e->baselen);
		im->m.name = e->name;
		im->m.in_new = e->in_new;
		im->m.flags = mbx_flags_parse(info);
		im->m.keywords = keywords_of(&mb->ar, info);
		im->m.psize = e->psize;
		im->m.vsize = e->vsize;
		im->m.pop3_uidl = e->rec != NULL ? e->rec->pop3 : NULL;
		im->exts = e->rec != NULL ? e->rec->exts : "";
	}
	qsort(mb->msgs, mb->n, sizeof(*mb->msgs), cmp_msg_uid);
}

static int open_subdir(const char *maildir, const char *sub)
{
	char *p = fs_join(maildir, sub);
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int saved = errno;

	free(p);
	errno = saved;
	return fd;
}

static mbx *mbx_alloc(const char *maildir, char **err_r)
{
	mbx *mb = xcalloc(1, sizeof(*mb));

	mb->path = xstrdup(maildir);
	mb->ulist_path = fs_join(maildir, MBX_UIDLIST);
	mb->lock_path = xasprintf("%s%s", mb->ulist_path, MBX_LOCK_SUFFIX);
	mb->cur_fd = -1;
	mb->new_fd = open_subdir(maildir, "new");
	if (mb->new_fd >= 0)
		mb->cur_fd = open_subdir(maildir, "cur");
	if (mb->new_fd < 0 || mb->cur_fd < 0) {
		*err_r = xasprintf("cannot open Maildir %s: %s", maildir, strerror(errno));
		mbx_free(&mb);
	}
	return mb;
}

int mbx_open(const char *maildir, mbx **mb_r, char **err_r)
{
	struct load ld = { 0 };
	mbx *mb = mbx_alloc(maildir, err_r);
	int rc, lockfd;

	*mb_r = NULL;
	if (mb == NULL)
		return -1;
	rc = load_run(mb, &ld, -1, err_r);
	if (rc == 1) {
		load_clear(&ld);
		lockfd = lock_take(mb, mbx_lock_wait_ms, err_r);
		rc = lockfd < 0 ? -1 : load_run(mb, &ld, lockfd, err_r);
	}
	if (rc < 0) {
		load_clear(&ld);
		mbx_free(&mb);
		return -1;
	}
	adopt(mb, &ld);
	load_clear(&ld);
	*mb_r = mb;
	return 0;
}

void mbx_free(mbx **mb_p)
{
	mbx *mb = *mb_p;

	if (mb == NULL)
		return;
	if (mb->new_fd >= 0)
		close(mb->new_fd);
	if (mb->cur_fd >= 0)
		close(mb->cur_fd);
	arena_free(&mb->ar);
	free(mb->msgs);
	free(mb->path);
	free(mb->ulist_path);
	free(mb->lock_path);
	free(mb);
	*mb_p = NULL;
}

const char *mbx_path(const mbx *mb)
{
	return mb->path;
}

uint32_t mbx_uidvalidity(const mbx *mb)
{
	return mb->uidvalidity;
}

uint32_t mbx_uidnext(const mbx *mb)
{
	return mb->nextuid;
}

size_t mbx_count(const mbx *mb)
{
	return mb->n;
}

const struct mbx_msg *mbx_msg(const mbx *mb, size_t i)
{
	if (i >= mb->n)
		log_panic("mbx_msg: index %zu of %zu", i, mb->n);
	return &mb->msgs[i].m;
}

/* ---- sizes --------------------------------------------------------------- */

long long mbx_vsize_of(int fd)
{
	char chunk[MBX_CHUNK];
	long long total = 0;
	bool prev_cr = false;

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		const char *p = chunk, *end, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return total;
		end = chunk + n;
		while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			if (!(nl > chunk ? nl[-1] == '\r' : prev_cr))
				total++;
			p = nl + 1;
		}
		prev_cr = end[-1] == '\r';
		total += n;
	}
}

/* record_vsizes: adds the W exts learned here to the uidlist when the
 * lock is free at once; records are matched by UID and base name. */
static void record_vsizes(const mbx *mb)
{
	struct load ld = { 0 };
	char *err = NULL;
	int lockfd = lock_take(mb, 0, NULL);
	size_t changed = 0, j = 0;

	if (lockfd < 0)
		return;
	if (ulist_load(mb, &ld, &err) < 0 || !ld.ul.valid || ld.ul.uidvalidity != mb->uidvalidity) {
		lock_release(mb, lockfd);
		goto out;
	}
	for (size_t k = 0; k < ld.ul.n; k++) {
		struct rec *r = &ld.ul.recs[k];
		const struct imsg *im;

		while (j < mb->n && mb->msgs[j].m.uid < r->uid)
			j++;
		if (j == mb->n)
			break;
		im = &mb->msgs[j];
		if (im->m.uid == r->uid && im->vsize_read && r->w < 0 &&
		    cmp_base(im->m.base, strlen(im->m.base), r->name, r->baselen) == 0) {
			r->w = im->m.vsize;
			changed++;
		}
	}
	if (changed == 0) {
		lock_release(mb, lockfd);
	} else {
		buf *content;

		if (ld.ul.guid == NULL)
			make_guid(&ld.ar, &ld.ul.guid);
		content = ulist_format(&ld.ul, ld.ul.recs, ld.ul.n);
		if (ulist_commit(mb, lockfd, content, &err) < 0)
			log_info("mbx: %s: sizes not recorded: %s", mb->path, err);
		buf_free(&content);
	}
out:
	free(err);
	load_clear(&ld);
}

/* vsize_ahead: opens message i (kept in the window until its turn) and
 * asks the kernel to start reading it, so that with a cold page cache
 * many files are read at once rather than one after the other. */
static void vsize_ahead(mbx *mb, size_t i, int *fd_r, int *errno_r)
{
	*fd_r = mbx_msg_open(mb, i);
	*errno_r = errno;
	if (*fd_r >= 0)
		(void)posix_fadvise(*fd_r, 0, 0, POSIX_FADV_WILLNEED);
}

/* vsize_one: counts message i from fd (or notes it vanished). */
static int vsize_one(mbx *mb, size_t i, int fd, int open_errno, char **err_r)
{
	struct imsg *im = &mb->msgs[i];

	if (fd < 0 && open_errno == ENOENT) {
		im->m.vsize = im->m.psize >= 0 ? im->m.psize : 0;
		return 0;
	}
	errno = open_errno;
	if (fd < 0 || (im->m.vsize = mbx_vsize_of(fd)) < 0) {
		*err_r = xasprintf("cannot read %s/%s/%s: %s", mb->path, im->m.in_new ? "new" : "cur",
				   im->m.name, strerror(errno));
		im->m.vsize = -1;
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	im->vsize_read = true;
	return 1;
}

int mbx_vsizes(mbx *mb, char **err_r)
{
	int fds[MBX_READAHEAD], errs[MBX_READAHEAD];
	size_t *todo = xmalloc((mb->n + 1) * sizeof(*todo));
	size_t n = 0, opened = 0, learned = 0;
	int rc = 0;

	for (size_t i = 0; i < mb->n; i++)
		if (mb->msgs[i].m.vsize < 0)
			todo[n++] = i;
	for (size_t k = 0; k < n && rc >= 0; k++) {
		for (; opened < n && opened < k + MBX_READAHEAD; opened++)
			vsize_ahead(mb, todo[opened], &fds[opened % MBX_READAHEAD], &errs[opened % MBX_READAHEAD]);
		rc = vsize_one(mb, todo[k], fds[k % MBX_READAHEAD], errs[k % MBX_READAHEAD], err_r);
		learned += rc > 0;
		if (rc < 0) /* close what the window still holds */
			for (size_t j = k + 1; j < opened; j++)
				if (fds[j % MBX_READAHEAD] >= 0)
					close(fds[j % MBX_READAHEAD]);
	}
	free(todo);
	if (learned > 0)
		record_vsizes(mb);
	return rc < 0 ? -1 : 0;
}

/* ---- single messages ------------------------------------------------------- */

/* relocate: after a file of ours was not found (another process renamed
 * or removed it), scans the folder once and brings every message's name
 * up to date, so many renames cost one scan, not one each. 0 when message
 * i still exists, else -1 with errno (ENOENT: gone). */
static int relocate(mbx *mb, size_t i)
{
	struct load ld = { 0 };
	char *err = NULL;
	bool found = false;

	if (scan_all(mb, &ld, &err) < 0) {
		int saved = errno;

		log_warn("mbx: %s", err);
		free(err);
		load_clear(&ld);
		errno = saved != 0 ? saved : EIO;
		return -1;
	}
	qsort(ld.ents, ld.n, sizeof(*ld.ents), cmp_ent_base);
	dedupe_ents(&ld);
	for (size_t k = 0; k < mb->n; k++) {
		struct mbx_msg *m = &mb->msgs[k].m;
		struct ent key = { .name = m->base, .baselen = (uint32_t)strlen(m->base) };
		const struct ent *e = bsearch(&key, ld.ents, ld.n, sizeof(*ld.ents), cmp_ent_base);

		if (e != NULL && (e->in_new != m->in_new || strcmp(e->name, m->name) != 0))
			msg_set_name(&mb->ar, m, e->name, e->in_new);
		if (k == i)
			found = e != NULL;
	}
	load_clear(&ld);
	if (!found)
		errno = ENOENT;
	return found ? 0 : -1;
}

static int msg_dirfd(const mbx *mb, const struct mbx_msg *m)
{
	return m->in_new ? mb->new_fd : mb->cur_fd;
}

int mbx_msg_open(mbx *mb, size_t i)
{
	struct mbx_msg *m = &mb->msgs[i].m;

	for (int try = 0; try < MBX_SCAN_TRIES; try++) {
		int fd = openat(msg_dirfd(mb, m), m->name, O_RDONLY | O_CLOEXEC);

		if (fd >= 0 || errno != ENOENT || relocate(mb, i) < 0)
			return fd >= 0 ? fd : -1;
	}
	errno = ENOENT;
	return -1;
}

/* flags_name: "<base>:2,<letters>": the given flags, plus the letters of
 * the current name that are not standard flags (keywords), ASCII order. */
static char *flags_name(const struct mbx_msg *m, unsigned flags)
{
	bool set[128] = { false };
	char letters[128];
	size_t n = 0;

	mbx_flags_format(flags, letters);
	for (const char *p = letters; *p != '\0'; p++)
		set[(unsigned char)*p] = true;
	for (const char *p = name_info(m->name, strlen(m->base)); *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c > ' ' && c < 127 && c != '/' && c != ':' && strchr(flag_letters, c) == NULL)
			set[c] = true;
	}
	for (int c = 0; c < 128; c++)
		if (set[c])
			letters[n++] = (char)c;
	letters[n] = '\0';
	return xasprintf("%s:2,%s", m->base, letters);
}

int mbx_set_flags(mbx *mb, size_t i, unsigned flags)
{
	struct mbx_msg *m = &mb->msgs[i].m;

	for (int try = 0; try < MBX_SCAN_TRIES; try++) {
		char *name = flags_name(m, flags);
		int rc = 0;

		if (m->in_new || strcmp(name, m->name) != 0)
			rc = renameat(msg_dirfd(mb, m), m->name, mb->cur_fd, name);
		if (rc == 0)
			msg_set_name(&mb->ar, m, name, false);
		free(name);
		if (rc == 0)
			return 0;
		if (errno != ENOENT)
			return -1;
		if (relocate(mb, i) < 0)
			return errno == ENOENT ? 1 : -1;
	}
	return 1;
}

int mbx_expunge(mbx *mb, size_t i)
{
	struct mbx_msg *m = &mb->msgs[i].m;

	for (int try = 0; try < MBX_SCAN_TRIES; try++) {
		if (unlinkat(msg_dirfd(mb, m), m->name, 0) == 0) {
			if (md_quota_add(mb->path, -m->psize, -1) < 0)
				log_warn("mbx: %s: cannot update maildirsize: %s", mb->path, strerror(errno));
			return 0;
		}
		if (errno != ENOENT)
			return -1;
		if (relocate(mb, i) < 0)
			return errno == ENOENT ? 1 : -1;
	}
	return 1;
}

const char *mbx_pop3_uidl(const mbx *mb, size_t i)
{
	static char uidl[32];
	const struct mbx_msg *m = mbx_msg(mb, i);

	if (m->pop3_uidl != NULL)
		return m->pop3_uidl;
	snprintf(uidl, sizeof(uidl), "%08x%08x", m->uid, mb->uidvalidity);
	return uidl;
}
