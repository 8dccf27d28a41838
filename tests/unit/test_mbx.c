/* test_mbx.c: unit tests for the Maildir folder with permanent UIDs
 * (lib/mbx*.c): UID assignment order and permanence across reopen,
 * delivery, new -> cur moves and deletion; a Dovecot-written uidlist
 * (flags in stored names, W/P/G exts, unknown fields kept); corrupt
 * uidlist, stale and fresh locks; CRLF sizes; finding renamed and deleted
 * messages; flag renames, expunge with maildirsize, UIDL format; and two
 * processes opening one folder at once never giving a UID twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "mbx.h"
#include "md.h"
#include "mem.h"

static char top[64];
static char *mdir; /* top/Maildir */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static char *mpath(const char *rel)
{
	return xasprintf("%s/%s", mdir, rel);
}

static void put_file(const char *rel, const char *data, size_t len)
{
	char *p = mpath(rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, data, len), 0);
	close(fd);
	free(p);
}

static void put(const char *rel, const char *text)
{
	put_file(rel, text, strlen(text));
}

static bool exists(const char *rel)
{
	char *p = mpath(rel);
	struct stat st;
	bool ok = stat(p, &st) == 0;

	free(p);
	return ok;
}

/* slurp: the file's contents (heap), "" when missing. */
static char *slurp(const char *path)
{
	buf *b = buf_new(256);
	char *err = NULL;

	if (fs_read_file(path, b, 1 << 24, &err) < 0)
		free(err);
	return buf_steal_free(&b);
}

static char *slurp_rel(const char *rel)
{
	char *p = mpath(rel);
	char *s = slurp(p);

	free(p);
	return s;
}

static void move(const char *from, const char *to)
{
	char *a = mpath(from), *b = mpath(to);

	assert_int_equal(rename(a, b), 0);
	free(a);
	free(b);
}

static void del(const char *rel)
{
	char *p = mpath(rel);

	assert_int_equal(unlink(p), 0);
	free(p);
}

static mbx *open_ok(void)
{
	mbx *mb = NULL;
	char *err = NULL;

	if (mbx_open(mdir, &mb, &err) < 0)
		fail_msg("mbx_open: %s", err);
	return mb;
}

/* uid_of: the UID of the message with this base, 0 if not listed. */
static uint32_t uid_of(const mbx *mb, const char *base)
{
	for (size_t i = 0; i < mbx_count(mb); i++)
		if (strcmp(mbx_msg(mb, i)->base, base) == 0)
			return mbx_msg(mb, i)->uid;
	return 0;
}

static size_t index_of(const mbx *mb, const char *base)
{
	for (size_t i = 0; i < mbx_count(mb); i++)
		if (strcmp(mbx_msg(mb, i)->base, base) == 0)
			return i;
	fail_msg("no message %s", base);
	return 0;
}

static int setup(void **state)
{
	char *err = NULL;
	char *logf;

	(void)state;
	strcpy(top, "/tmp/test_mbx.XXXXXX");
	if (mkdtemp(top) == NULL)
		return -1;
	mdir = xasprintf("%s/Maildir", top);
	if (md_create(mdir, false, &err) < 0)
		return -1;
	logf = xasprintf("%s/log", top);
	if (log_open_file(logf, &err) < 0)
		return -1;
	free(logf);
	mbx_lock_wait_ms = MBX_LOCK_WAIT_MS;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(mdir);
	return nftw(top, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- UID assignment and permanence ------------------------------------- */

static void test_first_open(void **state)
{
	mbx *mb;
	char *ul;
	const struct mbx_msg *m;

	(void)state;
	put("new/1000.b.host", "x\n");
	put("new/999.z.host,S=77", "hello\n");
	put("cur/1000.a.host:2,S", "abc\n");
	put("new/.hidden", "no\n");
	put("cur/12.line\nbreak", "no\n");
	put("tmp/1.tmp.host", "no\n");
	mb = open_ok();
	assert_int_equal(mbx_count(mb), 3);
	/* numeric leading number first (999 < 1000), then name */
	assert_string_equal(mbx_msg(mb, 0)->base, "999.z.host,S=77");
	assert_string_equal(mbx_msg(mb, 1)->base, "1000.a.host");
	assert_string_equal(mbx_msg(mb, 2)->base, "1000.b.host");
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(mbx_msg(mb, i)->uid, i + 1);
	assert_int_equal(mbx_uidnext(mb), 4);
	assert_true(mbx_uidvalidity(mb) >= (uint32_t)time(NULL) - 5);
	m = mbx_msg(mb, 0);
	assert_int_equal(m->psize, 77); /* from the name, not the file */
	assert_true(m->in_new);
	assert_int_equal(m->vsize, -1);
	m = mbx_msg(mb, 1);
	assert_int_equal(m->psize, 4);
	assert_false(m->in_new);
	assert_int_equal(m->flags, MBX_SEEN);
	assert_string_equal(m->name, "1000.a.host:2,S");
	assert_string_equal(m->keywords, "");
	assert_null(m->pop3_uidl);
	assert_string_equal(mbx_path(mb), mdir);

	ul = slurp_rel(MBX_UIDLIST);
	assert_true(strncmp(ul, "3 V", 3) == 0);
	assert_non_null(strstr(ul, " N4 G"));
	assert_non_null(strstr(ul, "\n1 :999.z.host,S=77\n2 S4 :1000.a.host:2,S\n3 S2 :1000.b.host\n"));
	assert_false(exists(MBX_UIDLIST ".lock"));
	free(ul);
	mbx_free(&mb);
	assert_null(mb);
}

static void test_reopen_and_new(void **state)
{
	mbx *mb;
	uint32_t validity;

	(void)state;
	put("new/100.a.host", "a\n");
	put("new/200.b.host", "b\n");
	mb = open_ok();
	validity = mbx_uidvalidity(mb);
	mbx_free(&mb);

	mb = open_ok(); /* reopen: same numbers */
	assert_int_equal(mbx_uidvalidity(mb), validity);
	assert_int_equal(uid_of(mb, "100.a.host"), 1);
	assert_int_equal(uid_of(mb, "200.b.host"), 2);
	mbx_free(&mb);

	put("new/50.c.host", "c\n"); /* older name, delivered later: next UID */
	mb = open_ok();
	assert_int_equal(mbx_count(mb), 3);
	assert_int_equal(uid_of(mb, "50.c.host"), 3);
	assert_int_equal(mbx_msg(mb, 2)->uid, 3);
	assert_int_equal(mbx_uidnext(mb), 4);
	assert_int_equal(mbx_uidvalidity(mb), validity);
	mbx_free(&mb);

	move("new/100.a.host", "cur/100.a.host:2,RS"); /* read by a client */
	mb = open_ok();
	assert_int_equal(uid_of(mb, "100.a.host"), 1);
	assert_int_equal(mbx_msg(mb, 0)->flags, MBX_REPLIED | MBX_SEEN);
	assert_false(mbx_msg(mb, 0)->in_new);
	mbx_free(&mb);
}

static void test_deleted_uid_not_reused(void **state)
{
	mbx *mb;
	char *ul;

	(void)state;
	put("new/1.a.host", "a\n");
	put("new/2.b.host", "b\n");
	put("new/3.c.host", "c\n");
	mb = open_ok();
	mbx_free(&mb);
	del("new/3.c.host");
	mb = open_ok(); /* nothing new: no rewrite needed, 3 just not listed */
	assert_int_equal(mbx_count(mb), 2);
	assert_int_equal(mbx_uidnext(mb), 4);
	mbx_free(&mb);
	put("new/4.d.host", "d\n");
	mb = open_ok();
	assert_int_equal(uid_of(mb, "4.d.host"), 4);
	assert_int_equal(mbx_uidnext(mb), 5);
	mbx_free(&mb);
	ul = slurp_rel(MBX_UIDLIST);
	assert_null(strstr(ul, "3.c.host")); /* dropped on rewrite */
	assert_non_null(strstr(ul, " N5 "));
	free(ul);
}

/* ---- a uidlist Dovecot wrote ---------------------------------------------- */

static const char dovecot_uidlist[] =
	"3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1 Xkept\n"
	"25006 W2186 :1276528487.M364837P9451.kurkku,S=2142,W=2186:2,S\n"
	"25010 G0123456789abcdef0123456789abcdef P+mig-uidl-1 W55 :1276528500.M1P2.kurkku:2,RS\n"
	"25011 :1276528501.M1P3.kurkku\n"
	"25020 Zfuture S999 :1276528600.M1P4.kurkku\n";

static void test_dovecot_uidlist(void **state)
{
	mbx *mb;
	const struct mbx_msg *m;
	char *ul;

	(void)state;
	put(MBX_UIDLIST, dovecot_uidlist);
	/* the files as they are now: flags changed since Dovecot wrote them */
	put("cur/1276528487.M364837P9451.kurkku,S=2142,W=2186:2,FS", "x\n");
	put("cur/1276528500.M1P2.kurkku:2,Sa", "y\n");
	put("new/1276528600.M1P4.kurkku", "z\n");
	put("new/1276529999.M1P5.kurkku", "new one\n");
	mb = open_ok();
	assert_int_equal(mbx_uidvalidity(mb), 1275660208);
	assert_int_equal(mbx_count(mb), 4);
	m = mbx_msg(mb, 0);
	assert_int_equal(m->uid, 25006);
	assert_int_equal(m->psize, 2142);
	assert_int_equal(m->vsize, 2186);
	assert_int_equal(m->flags, MBX_FLAGGED | MBX_SEEN);
	assert_string_equal(mbx_pop3_uidl(mb, 0), "000061ae4c0907b0");
	m = mbx_msg(mb, 1);
	assert_int_equal(m->uid, 25010);
	assert_int_equal(m->vsize, 55);
	assert_int_equal(m->psize, 2);
	assert_string_equal(m->keywords, "a");
	assert_string_equal(m->pop3_uidl, "+mig-uidl-1");
	assert_string_equal(mbx_pop3_uidl(mb, 1), "+mig-uidl-1");
	assert_int_equal(mbx_msg(mb, 2)->uid, 25020);
	assert_int_equal(mbx_msg(mb, 2)->psize, 999); /* the S ext, not a stat */
	assert_true(mbx_msg(mb, 2)->in_new);
	assert_int_equal(mbx_msg(mb, 3)->uid, 25022);
	assert_int_equal(mbx_uidnext(mb), 25023);
	mbx_free(&mb);

	ul = slurp_rel(MBX_UIDLIST);
	assert_non_null(strstr(ul, "3 V1275660208 N25023 G3085f01b7f11094c501100008c4a11c1 Xkept\n"));
	assert_non_null(strstr(ul, "\n25010 G0123456789abcdef0123456789abcdef P+mig-uidl-1 S2 W55 "
				   ":1276528500.M1P2.kurkku:2,Sa\n"));
	assert_non_null(strstr(ul, "\n25020 Zfuture S999 :1276528600.M1P4.kurkku\n"));
	assert_non_null(strstr(ul, "\n25022 S8 :1276529999.M1P5.kurkku\n"));
	assert_null(strstr(ul, "25011")); /* its file is gone */
	free(ul);
}

/* Dovecot appends records under the lock without rewriting the header:
 * the next UID is past the last record even when N says less. */
static void test_dovecot_appended(void **state)
{
	mbx *mb;

	(void)state;
	put(MBX_UIDLIST, "3 V1234 N3 Gabc\n1 :1.a\n2 :2.b\n7 :3.c\n");
	put("new/1.a", "a\n");
	put("new/3.c", "c\n");
	put("new/9.d", "d\n");
	mb = open_ok();
	assert_int_equal(uid_of(mb, "1.a"), 1);
	assert_int_equal(uid_of(mb, "3.c"), 7);
	assert_int_equal(uid_of(mb, "9.d"), 8);
	assert_int_equal(mbx_uidvalidity(mb), 1234);
	mbx_free(&mb);
}

/* A record with two valid W exts: the first counts, always (a second one
 * kept verbatim used to win after a rewrite; found by fuzz_uidlist). */
static void test_duplicate_size_ext(void **state)
{
	mbx *mb;

	(void)state;
	put(MBX_UIDLIST, "3 V1234 N3 Gabc\n1 W22 W25 :1.a\n");
	put("new/1.a", "a\n");
	put("new/2.b", "b\n"); /* forces a rewrite */
	for (int round = 0; round < 3; round++) {
		mb = open_ok();
		assert_int_equal(mbx_msg(mb, 0)->vsize, 22);
		mbx_free(&mb);
	}
}

static void test_corrupt_uidlist(void **state)
{
	static const char *const bad[] = {
		"1 1251561665 363\n362 1255167605.V802.host:2,\n", /* version 1 */
		"3 V1234 N10 Gabc\n5 :a\n4 :b\n",                   /* UIDs not increasing */
		"3 V1234 N10 Gabc\nfive :a\n",                      /* bad UID */
		"3 V1234 N10 Gabc\n5 W12\n",                        /* no file name */
		"3 N10 Gabc\n5 :a\n",                               /* no UIDVALIDITY */
		"3 V1234 N10 Gabc\n5 :../../etc/passwd\n",          /* slash */
		"",                                                 /* empty */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *logf = xasprintf("%s/log", top);
		char *log_text, *ul;
		mbx *mb;

		put(MBX_UIDLIST, bad[i]);
		put("new/5.m.host", "m\n");
		put("new/6.n.host", "n\n");
		truncate(logf, 0);
		mb = open_ok();
		assert_int_equal(mbx_count(mb), 2);
		assert_int_equal(uid_of(mb, "5.m.host"), 1);
		assert_int_equal(uid_of(mb, "6.n.host"), 2);
		assert_int_not_equal(mbx_uidvalidity(mb), 1234);
		mbx_free(&mb);
		log_text = slurp(logf);
		if (strstr(log_text, "dovecot-uidlist is bad") == NULL)
			fail_msg("case %zu: no log line, log: %s", i, log_text);
		ul = slurp_rel(MBX_UIDLIST);
		assert_true(strncmp(ul, "3 V", 3) == 0);
		free(ul);
		free(log_text);
		free(logf);
	}
}

/* ---- the lock ---------------------------------------------------------- */

static void test_stale_lock(void **state)
{
	struct timespec old[2];
	char *lock = mpath(MBX_UIDLIST ".lock");
	mbx *mb;

	(void)state;
	put(MBX_UIDLIST ".lock", "");
	old[0].tv_sec = old[1].tv_sec = time(NULL) - MBX_LOCK_STALE - 10;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, lock, old, 0), 0);
	put("new/1.a.host", "a\n");
	mb = open_ok();
	assert_int_equal(uid_of(mb, "1.a.host"), 1);
	assert_false(exists(MBX_UIDLIST ".lock"));
	assert_true(exists(MBX_UIDLIST));
	mbx_free(&mb);
	free(lock);
}

static long long ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_fresh_lock(void **state)
{
	mbx *mb = NULL;
	char *err = NULL;
	long long t0;

	(void)state;
	put("new/1.a.host", "a\n");
	mb = open_ok();
	mbx_free(&mb);
	put(MBX_UIDLIST ".lock", "");
	mb = open_ok(); /* nothing to number: readers never lock */
	assert_int_equal(mbx_count(mb), 1);
	mbx_free(&mb);

	put("new/2.b.host", "b\n");
	mbx_lock_wait_ms = 150;
	t0 = ms_now();
	assert_int_equal(mbx_open(mdir, &mb, &err), -1);
	assert_true(ms_now() - t0 >= 150);
	assert_null(mb);
	assert_non_null(err);
	assert_non_null(strstr(err, "locked"));
	free(err);
	assert_true(exists(MBX_UIDLIST ".lock")); /* not ours to remove */
	del(MBX_UIDLIST ".lock");
	mb = open_ok();
	assert_int_equal(uid_of(mb, "2.b.host"), 2);
	mbx_free(&mb);
}

/* ---- sizes --------------------------------------------------------------- */

static void test_vsize_of(void **state)
{
	static const struct {
		const char *data;
		off_t offset; /* counting starts at the current offset */
		long long vsize;
	} cases[] = {
		{ "", 0, 0 },
		{ "a\nb\n", 0, 6 },
		{ "a\r\nb\r\n", 0, 6 },
		{ "a\r\nb\n", 0, 6 },
		{ "a\nb", 0, 4 },
		{ "\n\n\n", 0, 6 },
		{ "\r\r\n\r", 0, 4 },
		{ "no newline", 0, 10 },
		{ "a\r\nb\r\n", 2, 5 }, /* its CR is before the offset */
		{ "a\r\nb\r\n", 3, 3 },
		{ "a\nb\n", 4, 0 },
	};
	char *p = xasprintf("%s/v", top);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);

		assert_true(fd >= 0);
		assert_int_equal(fs_write_all(fd, cases[i].data, strlen(cases[i].data)), 0);
		assert_int_equal(lseek(fd, cases[i].offset, SEEK_SET), cases[i].offset);
		if (mbx_vsize_of(fd) != cases[i].vsize)
			fail_msg("case %zu", i);
		close(fd);
	}
	free(p);
	assert_int_equal(mbx_vsize_of(-1), -1);
}

/* big_file: n bytes of 'x' then tail: the CR and LF of a line end fall on
 * two sides of a 64 KB (or 128 KB) read. */
static char *big_file(size_t n, const char *tail, size_t *len_r)
{
	size_t tl = strlen(tail);
	char *d = xmalloc(n + tl);

	memset(d, 'x', n);
	for (size_t i = 999; i < n; i += 1000)
		d[i] = '\n';
	memcpy(d + n, tail, tl);
	*len_r = n + tl;
	return d;
}

static void test_vsizes(void **state)
{
	static const struct {
		const char *name, *data;
		long long vsize;
	} files[] = {
		{ "1.lf", "a\nb\n", 6 },
		{ "2.crlf", "a\r\nb\r\n", 6 },
		{ "3.mixed", "a\r\nb\nc\n", 9 },
		{ "4.nofinal", "a\nb", 4 },
		{ "5.empty", "", 0 },
		{ "6.named,S=4,W=99", "a\nb\n", 99 }, /* W= in the name is believed */
	};
	size_t nfiles = sizeof(files) / sizeof(files[0]);
	size_t big_len, lines;
	char *big = big_file(65535, "\r\nend", &big_len);
	char *err = NULL, *ul;
	mbx *mb;

	(void)state;
	for (size_t i = 0; i < nfiles; i++) {
		char *rel = xasprintf("new/%s", files[i].name);

		put(rel, files[i].data);
		free(rel);
	}
	put_file("cur/7.big:2,S", big, big_len);
	lines = 65535 / 1000;
	mb = open_ok();
	assert_int_equal(mbx_count(mb), nfiles + 1);
	assert_int_equal(mbx_vsizes(mb, &err), 0);
	for (size_t i = 0; i < nfiles; i++)
		if (mbx_msg(mb, i)->vsize != files[i].vsize)
			fail_msg("%s: vsize %lld", files[i].name, mbx_msg(mb, i)->vsize);
	assert_int_equal(mbx_msg(mb, nfiles)->vsize, (long long)(big_len + lines));
	mbx_free(&mb);

	ul = slurp_rel(MBX_UIDLIST); /* recorded as W exts */
	assert_non_null(strstr(ul, "\n1 S4 W6 :1.lf\n"));
	assert_non_null(strstr(ul, "\n3 S7 W9 :3.mixed\n"));
	free(ul);
	mb = open_ok(); /* known without reading the files */
	for (size_t i = 0; i < nfiles; i++)
		assert_int_equal(mbx_msg(mb, i)->vsize, files[i].vsize);
	assert_int_equal(mbx_msg(mb, nfiles)->vsize, (long long)(big_len + lines));
	mbx_free(&mb);
	free(big);
}

static void test_vsizes_vanished(void **state)
{
	char *err = NULL;
	mbx *mb;

	(void)state;
	put("new/1.a", "a\nb\n");
	put("new/2.b", "abc");
	mb = open_ok();
	del("new/1.a");
	assert_int_equal(mbx_vsizes(mb, &err), 0);
	assert_int_equal(mbx_msg(mb, 0)->vsize, 4); /* its psize */
	assert_int_equal(mbx_msg(mb, 1)->vsize, 3);
	mbx_free(&mb);
}

/* ---- single messages ---------------------------------------------------- */

static void test_msg_open_renamed(void **state)
{
	mbx *mb;
	size_t i;
	int fd;
	char c = 0;

	(void)state;
	put("new/1.a.host", "A");
	put("new/2.b.host", "B");
	mb = open_ok();
	i = index_of(mb, "2.b.host");
	move("new/2.b.host", "cur/2.b.host:2,RSb"); /* someone else read it */
	fd = mbx_msg_open(mb, i);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(c, 'B');
	close(fd);
	assert_string_equal(mbx_msg(mb, i)->name, "2.b.host:2,RSb");
	/* the one rescan also noticed message 1's move, before it is used */
	move("new/1.a.host", "cur/1.a.host:2,T");
	fd = mbx_msg_open(mb, i);
	assert_true(fd >= 0);
	close(fd);
	move("cur/2.b.host:2,RSb", "cur/2.b.host:2,RSb2"); /* forces a rescan */
	fd = mbx_msg_open(mb, i);
	assert_true(fd >= 0);
	close(fd);
	assert_string_equal(mbx_msg(mb, index_of(mb, "1.a.host"))->name, "1.a.host:2,T");
	move("cur/2.b.host:2,RSb2", "cur/2.b.host:2,RSb");
	assert_false(mbx_msg(mb, i)->in_new);
	assert_int_equal(mbx_msg(mb, i)->flags, MBX_REPLIED | MBX_SEEN);
	assert_string_equal(mbx_msg(mb, i)->keywords, "b");

	move("cur/2.b.host:2,RSb", "cur/2.b.host:2,S"); /* renamed again in cur/ */
	fd = mbx_msg_open(mb, i);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mbx_msg(mb, i)->flags, MBX_SEEN);

	del("cur/2.b.host:2,S"); /* expunged elsewhere */
	errno = 0;
	assert_int_equal(mbx_msg_open(mb, i), -1);
	assert_int_equal(errno, ENOENT);
	fd = mbx_msg_open(mb, index_of(mb, "1.a.host"));
	assert_true(fd >= 0);
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(c, 'A');
	close(fd);
	mbx_free(&mb);
}

static void test_set_flags(void **state)
{
	mbx *mb;
	size_t i;

	(void)state;
	put("new/1.a.host", "A");
	put("cur/2.b.host:2,Fzab", "B");
	mb = open_ok();
	i = index_of(mb, "1.a.host");
	assert_int_equal(mbx_set_flags(mb, i, MBX_SEEN), 0);
	assert_true(exists("cur/1.a.host:2,S"));
	assert_false(exists("new/1.a.host"));
	assert_false(mbx_msg(mb, i)->in_new);
	assert_string_equal(mbx_msg(mb, i)->name, "1.a.host:2,S");
	assert_int_equal(mbx_msg(mb, i)->flags, MBX_SEEN);
	assert_int_equal(mbx_set_flags(mb, i, MBX_SEEN), 0); /* no change */
	assert_true(exists("cur/1.a.host:2,S"));

	i = index_of(mb, "2.b.host");
	assert_int_equal(mbx_set_flags(mb, i, MBX_SEEN | MBX_DRAFT | MBX_TRASHED), 0);
	assert_true(exists("cur/2.b.host:2,DSTabz")); /* F gone, keywords kept */
	assert_string_equal(mbx_msg(mb, i)->keywords, "abz");
	assert_int_equal(mbx_set_flags(mb, i, 0), 0);
	assert_true(exists("cur/2.b.host:2,abz"));

	move("cur/2.b.host:2,abz", "cur/2.b.host:2,Rc"); /* changed elsewhere */
	assert_int_equal(mbx_set_flags(mb, i, MBX_SEEN | MBX_REPLIED), 0);
	assert_true(exists("cur/2.b.host:2,RSc"));
	del("cur/2.b.host:2,RSc");
	assert_int_equal(mbx_set_flags(mb, i, MBX_SEEN), 1);
	mbx_free(&mb);
}

static void test_expunge(void **state)
{
	mbx *mb;
	char *ms;

	(void)state;
	put("new/1.a.host,S=5", "hello");
	put("new/2.b.host", "bye\n");
	put("new/3.c.host", "c");
	mb = open_ok();
	assert_int_equal(mbx_expunge(mb, 0), 0); /* no maildirsize: none made */
	assert_false(exists("new/1.a.host,S=5"));
	assert_false(exists("maildirsize"));
	put("maildirsize", "0S,0C\n9 2\n");
	assert_int_equal(mbx_expunge(mb, 1), 0);
	ms = slurp_rel("maildirsize");
	assert_string_equal(ms, "0S,0C\n9 2\n-4 -1\n");
	free(ms);
	assert_int_equal(mbx_expunge(mb, 1), 1); /* already gone */
	move("new/3.c.host", "cur/3.c.host:2,S");
	assert_int_equal(mbx_expunge(mb, 2), 0); /* found after a move */
	assert_false(exists("cur/3.c.host:2,S"));
	mbx_free(&mb);
	mb = open_ok();
	assert_int_equal(mbx_count(mb), 0);
	assert_int_equal(mbx_uidnext(mb), 4);
	mbx_free(&mb);
}

static void test_pop3_uidl(void **state)
{
	char want[32];
	mbx *mb;

	(void)state;
	put(MBX_UIDLIST, "3 V3735928559 N300 G00\n255 :1.a\n"
			 "256 P0123456789012345678901234567890123456789012345678901234567890123456789X :3.c\n"
			 "257 Pok-70 :4.d\n");
	put("new/1.a", "a");
	put("new/3.c", "c");
	put("new/4.d", "d");
	mb = open_ok();
	assert_string_equal(mbx_pop3_uidl(mb, 0), "000000ffdeadbeef");
	assert_null(mbx_msg(mb, 1)->pop3_uidl); /* 71 chars: not a usable UIDL */
	assert_string_equal(mbx_pop3_uidl(mb, 1), "00000100deadbeef");
	assert_string_equal(mbx_pop3_uidl(mb, 2), "ok-70");
	mbx_free(&mb);
	put("new/2.b", "b");
	mb = open_ok();
	snprintf(want, sizeof(want), "0000012c%08x", 3735928559u);
	assert_string_equal(mbx_pop3_uidl(mb, 3), want);
	mbx_free(&mb);
}

static void test_flags_table(void **state)
{
	static const struct {
		const char *letters;
		unsigned flags;
		const char *formatted;
	} cases[] = {
		{ "", 0, "" },
		{ "S", MBX_SEEN, "S" },
		{ "TSRPFD", 0x3f, "DFPRST" },
		{ "Sab", MBX_SEEN, "S" },
		{ "xyzQ", 0, "" },
		{ "FR", MBX_FLAGGED | MBX_REPLIED, "FR" },
	};
	char out[8];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(mbx_flags_parse(cases[i].letters), cases[i].flags);
		mbx_flags_format(cases[i].flags, out);
		assert_string_equal(out, cases[i].formatted);
	}
}

static void test_missing_folder(void **state)
{
	mbx *mb = NULL;
	char *err = NULL;
	char *p = xasprintf("%s/nothere", top);

	(void)state;
	assert_int_equal(mbx_open(p, &mb, &err), -1);
	assert_null(mb);
	assert_non_null(strstr(err, "nothere"));
	free(err);
	free(p);
}

/* ---- two processes at once ------------------------------------------------ */

#define RACE_ROUNDS 40

/* race_child: delivers a file and opens the folder, RACE_ROUNDS times,
 * writing every "uid base" it was shown to out. */
static int race_child(int id, const char *out)
{
	FILE *f = fopen(out, "w");

	if (f == NULL)
		return 1;
	for (int r = 0; r < RACE_ROUNDS; r++) {
		char *rel = xasprintf("new/%d.R%dC%d.host", 1000 + r, r, id);
		char *p = mpath(rel);
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
		mbx *mb = NULL;
		char *err = NULL;

		if (fd < 0 || write(fd, "x\n", 2) != 2)
			return 1;
		close(fd);
		if (mbx_open(mdir, &mb, &err) < 0) {
			fprintf(stderr, "child %d: %s\n", id, err);
			return 1;
		}
		for (size_t i = 0; i < mbx_count(mb); i++)
			fprintf(f, "%u %s\n", mbx_msg(mb, i)->uid, mbx_msg(mb, i)->base);
		mbx_free(&mb);
		free(rel);
		free(p);
	}
	return fclose(f) == 0 ? 0 : 1;
}

struct seen {
	uint32_t uid;
	char base[64];
};

static int cmp_seen(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;

	return x->uid != y->uid ? (x->uid > y->uid) - (x->uid < y->uid) : strcmp(x->base, y->base);
}

static size_t read_seen(const char *path, struct seen *s, size_t n, size_t max)
{
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	while (n < max && fscanf(f, "%u %63s", &s[n].uid, s[n].base) == 2)
		n++;
	fclose(f);
	return n;
}

static void test_two_processes(void **state)
{
	size_t max = 2 * RACE_ROUNDS * 2 * RACE_ROUNDS;
	struct seen *s;
	char out[2][128];
	pid_t pid[2];
	int status[2];
	size_t n = 0;
	mbx *mb;

	(void)state;
	for (int c = 0; c < 2; c++) { /* nothing on the heap across fork */
		snprintf(out[c], sizeof(out[c]), "%s/race%d", top, c);
		pid[c] = fork();
		assert_true(pid[c] >= 0);
		if (pid[c] == 0)
			_exit(race_child(c, out[c]));
	}
	/* reap both before any assert: teardown must not run under a child */
	for (int c = 0; c < 2; c++)
		assert_int_equal(waitpid(pid[c], &status[c], 0), pid[c]);
	for (int c = 0; c < 2; c++)
		assert_true(WIFEXITED(status[c]) && WEXITSTATUS(status[c]) == 0);
	s = xcalloc(max, sizeof(*s));
	for (int c = 0; c < 2; c++)
		n = read_seen(out[c], s, n, max);
	/* each UID names one file and each file has one UID, in every view */
	qsort(s, n, sizeof(*s), cmp_seen);
	for (size_t i = 1; i < n; i++)
		if (s[i].uid == s[i - 1].uid && strcmp(s[i].base, s[i - 1].base) != 0)
			fail_msg("UID %u given to %s and %s", s[i].uid, s[i - 1].base, s[i].base);
	mb = open_ok();
	assert_int_equal(mbx_count(mb), 2 * RACE_ROUNDS);
	assert_int_equal(mbx_uidnext(mb), 2 * RACE_ROUNDS + 1);
	for (size_t i = 0; i < n; i++)
		if (uid_of(mb, s[i].base) != s[i].uid)
			fail_msg("%s: UID %u, later %u", s[i].base, s[i].uid, uid_of(mb, s[i].base));
	mbx_free(&mb);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_and_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_uid_not_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dovecot_uidlist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_size_ext, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dovecot_appended, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_uidlist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fresh_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vsize_of, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vsizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vsizes_vanished, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msg_open_renamed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expunge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pop3_uidl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flags_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_processes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
