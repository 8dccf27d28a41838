/* mbx_uidlist.c: reads and writes dovecot-uidlist, the UID index of one
 * Maildir folder, in Dovecot's version 3 format, so a mail store moves
 * between Dovecot and Postern without UID (or POP3 UIDL) changes.
 *
 * Format. The first line is the header, each further line one record:
 *
 *   3 V<uidvalidity> N<nextuid> G<mailbox GUID, 32 hex digits> [other...]
 *   <uid> [<ext>...] :<file name>
 *
 * Records come in increasing UID order. An ext is one letter and a value
 * without spaces: S<size on disk>, W<size with CRLF line ends> (what POP3
 * and IMAP report), P<POP3 UIDL migrated from another server>, G<message
 * GUID>; exts and header fields we do not know are kept as read, so a
 * rewrite by Postern loses nothing Dovecot wrote. A record names its file
 * by the base (the part before ":2,"), since a flag change renames the
 * file but keeps the record. We add S (when the name has no ",S=") and W
 * ourselves, so the next open needs neither a stat nor a read per
 * message. Of two S (or W) exts in one record the first counts and the
 * second is dropped. Anything else wrong (not version 3, a bad number,
 * UIDs not increasing, a line over MBX_LINE_MAX bytes) makes the whole
 * file bad: the caller logs it and starts over with a new UIDVALIDITY,
 * which tells clients to forget their caches rather than trust wrong UIDs.
 *
 * Races. Readers never lock: Postern only ever replaces the file whole,
 * by rename, so a reader sees the old or the new text. A writer holds
 * the dot-lock (mbx_lock.c), writes the new text into the lock file
 * itself, fsyncs it and renames it over dovecot-uidlist: one rename both
 * publishes the file and releases the lock. A writer reads the file again
 * once it holds the lock (mbx.c), because another process may have given
 * out UIDs since its unlocked read. Dovecot also appends records in place
 * under the lock without updating the header: so a record's UID may reach
 * N (N then counts as the last UID + 1), and a reader may see a last line
 * still being written, which it leaves out (it has no newline yet). */
#include "mbx_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "mem.h"

#define MBX_LINE_MAX 16384     /* longest uidlist line accepted */
#define MBX_HDR_EXTRA_MAX 4096 /* unknown header fields kept, in bytes */

/* ---- parsing ---- */

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
static const char *parse_header(struct mbx_load *ld, char *line, buf *extra)
{
	struct mbx_ulist *ul = &ld->ul;
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
			ul->guid = mbx_arena_strndup(&ld->ar, tok + 1, (size_t)(end - tok - 1));
		} else {
			append_token(extra, tok, (size_t)(end - tok));
			if (buf_len(extra) > MBX_HDR_EXTRA_MAX)
				return "header too long";
		}
	}
	if (!have_v || !have_n)
		return "header without UIDVALIDITY or next UID";
	ul->hdr_extra = mbx_arena_strndup(&ld->ar, buf_cstr(extra), buf_len(extra));
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
static const char *parse_ext(struct mbx_load *ld, struct mbx_rec *r, const char *tok, const char *end,
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
		r->pop3 = mbx_arena_strndup(&ld->ar, tok + 1, (size_t)(end - tok - 1));
	append_token(exts, tok, (size_t)(end - tok));
	return NULL;
}

/* parse_record: "<uid> [<ext>...] :<file name>", UIDs increasing. */
static const char *parse_record(struct mbx_load *ld, struct mbx_rec *r, char *line, uint32_t prev_uid,
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
	r->name = mbx_arena_strndup(&ld->ar, p, strlen(p));
	r->baselen = (uint32_t)mbx_name_baselen(r->name);
	r->exts = buf_len(exts) == 0 ? "" : mbx_arena_strndup(&ld->ar, buf_cstr(exts), buf_len(exts));
	return NULL;
}

static void ulist_add_rec(struct mbx_ulist *ul, size_t *cap, const struct mbx_rec *r)
{
	if (ul->n == *cap) {
		*cap = *cap == 0 ? 256 : *cap * 2;
		ul->recs = xrealloc(ul->recs, *cap * sizeof(*ul->recs));
	}
	ul->recs[ul->n++] = *r;
}

/* parse_lines: the whole file; a last line without its newline is being
 * appended by Dovecot (it appends under the lock) and is left out. */
static void parse_lines(struct mbx_load *ld, char *data, size_t len)
{
	struct mbx_ulist *ul = &ld->ul;
	buf *scratch = buf_new(256);
	char *p = data, *end = data + len;
	size_t cap = 0;
	unsigned lineno = 0;
	uint32_t prev_uid = 0;
	struct mbx_rec r;

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
	ul->torn = ul->bad == NULL && p < end;
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

int mbx_ulist_load(const mbx *mb, struct mbx_load *ld, char **err_r)
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

/* ---- writing ---- */

void mbx_ulist_make_guid(struct mbx_arena **ar, const char **guid_r)
{
	unsigned char raw[16];
	char *hex = mbx_arena_alloc(ar, 33);

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		unsigned long long x = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 32);

		for (size_t i = 0; i < sizeof(raw); i++, x = x * 6364136223846793005ULL + 1442695040888963407ULL)
			raw[i] = (unsigned char)(x >> 56);
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	*guid_r = hex;
}

static void format_rec(buf *out, const struct mbx_rec *r)
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

buf *mbx_ulist_format(const struct mbx_ulist *ul, const struct mbx_rec *recs, size_t n)
{
	buf *out = buf_new(64 + n * 80);

	buf_printf(out, "3 V%u N%u G%s%s%s\n", ul->uidvalidity, ul->nextuid, ul->guid,
		   ul->hdr_extra[0] != '\0' ? " " : "", ul->hdr_extra);
	for (size_t i = 0; i < n; i++)
		format_rec(out, &recs[i]);
	return out;
}

int mbx_ulist_commit(const mbx *mb, int lockfd, const buf *content, char **err_r)
{
	if (fs_write_all(lockfd, buf_cstr(content), buf_len(content)) < 0 || fsync(lockfd) < 0) {
		*err_r = xasprintf("cannot write %s: %s", mb->lock_path, strerror(errno));
		mbx_lock_release(mb, lockfd);
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
