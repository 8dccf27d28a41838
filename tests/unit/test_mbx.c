/* test_mbx.c: unit tests of opening a Maildir folder (lib/mbx.c,
 * mbx_scan.c, mbx_sync.c): UID assignment order and permanence across
 * reopen, delivery, new -> cur moves and deletion, UIDs appended in place
 * to a long list, a missing folder, and the descriptors of new/ and cur/
 * shared by the mbx of one folder in a process.
 * The other parts have their own files: test_mbx_uidlist.c, _lock.c,
 * _size.c and _msg.c, all on the scratch Maildir of mbx_fixture.c. */
#include "mbx_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "md.h"
#include "mem.h"

/* ---- UID assignment and permanence ------------------------------------- */

static void test_first_open(void **state)
{
	mbx *mb;
	char *ul;
	const struct mbx_msg *m;

	(void)state;
	mt_put("new/1000.b.host", "x\n");
	mt_put("new/999.z.host,S=77", "hello\n");
	mt_put("cur/1000.a.host:2,S", "abc\n");
	mt_put("new/.hidden", "no\n");
	mt_put("cur/12.line\nbreak", "no\n");
	mt_put("tmp/1.tmp.host", "no\n");
	mb = mt_open();
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
	assert_string_equal(mbx_path(mb), mt_mdir);

	ul = mt_slurp_rel(MBX_UIDLIST);
	assert_true(strncmp(ul, "3 V", 3) == 0);
	assert_non_null(strstr(ul, " N4 G"));
	assert_non_null(strstr(ul, "\n1 :999.z.host,S=77\n2 S4 :1000.a.host:2,S\n3 S2 :1000.b.host\n"));
	assert_false(mt_exists(MBX_UIDLIST ".lock"));
	free(ul);
	mbx_free(&mb);
	assert_null(mb);
}

static void test_reopen_and_new(void **state)
{
	mbx *mb;
	uint32_t validity;

	(void)state;
	mt_put("new/100.a.host", "a\n");
	mt_put("new/200.b.host", "b\n");
	mb = mt_open();
	validity = mbx_uidvalidity(mb);
	mbx_free(&mb);

	mb = mt_open(); /* reopen: same numbers */
	assert_int_equal(mbx_uidvalidity(mb), validity);
	assert_int_equal(mt_uid_of(mb, "100.a.host"), 1);
	assert_int_equal(mt_uid_of(mb, "200.b.host"), 2);
	mbx_free(&mb);

	mt_put("new/50.c.host", "c\n"); /* older name, delivered later: next UID */
	mb = mt_open();
	assert_int_equal(mbx_count(mb), 3);
	assert_int_equal(mt_uid_of(mb, "50.c.host"), 3);
	assert_int_equal(mbx_msg(mb, 2)->uid, 3);
	assert_int_equal(mbx_uidnext(mb), 4);
	assert_int_equal(mbx_uidvalidity(mb), validity);
	mbx_free(&mb);

	mt_move("new/100.a.host", "cur/100.a.host:2,RS"); /* read by a client */
	mb = mt_open();
	assert_int_equal(mt_uid_of(mb, "100.a.host"), 1);
	assert_int_equal(mbx_msg(mb, 0)->flags, MBX_REPLIED | MBX_SEEN);
	assert_false(mbx_msg(mb, 0)->in_new);
	mbx_free(&mb);
}

static void test_deleted_uid_not_reused(void **state)
{
	mbx *mb;
	char *ul;

	(void)state;
	mt_put("new/1.a.host", "a\n");
	mt_put("new/2.b.host", "b\n");
	mt_put("new/3.c.host", "c\n");
	mb = mt_open();
	mbx_free(&mb);
	mt_del("new/3.c.host");
	mb = mt_open(); /* nothing new: no rewrite needed, 3 just not listed */
	assert_int_equal(mbx_count(mb), 2);
	assert_int_equal(mbx_uidnext(mb), 4);
	mbx_free(&mb);
	mt_put("new/4.d.host", "d\n");
	mb = mt_open();
	assert_int_equal(mt_uid_of(mb, "4.d.host"), 4);
	assert_int_equal(mbx_uidnext(mb), 5);
	mbx_free(&mb);
	ul = mt_slurp_rel(MBX_UIDLIST);
	assert_null(strstr(ul, "3.c.host")); /* dropped on rewrite */
	assert_non_null(strstr(ul, " N5 "));
	free(ul);
}


/* A long list gets the UIDs of new files appended in place (no rewrite),
 * as Dovecot does; a stale record stays until a rewrite, its UID unused. */
static void test_append_in_place(void **state)
{
	mbx *mb;
	char *ul, *ul2, name[64];

	(void)state;
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "cur/%d.m%d.host:2,S", 1000 + i, i);
		mt_put(name, "x\n");
	}
	mbx_free(&(mbx *){ mt_open() });
	mt_del("cur/1000.m0.host:2,S");
	mt_put("new/5000.new.host", "new\n");
	ul = mt_slurp_rel(MBX_UIDLIST);
	mb = mt_open();
	assert_int_equal(mt_uid_of(mb, "5000.new.host"), 301);
	assert_int_equal(mbx_count(mb), 300);
	mbx_free(&mb);
	ul2 = mt_slurp_rel(MBX_UIDLIST);
	assert_int_equal(strncmp(ul, ul2, strlen(ul)), 0); /* only appended */
	assert_string_equal(ul2 + strlen(ul), "301 S4 :5000.new.host\n");
	mb = mt_open();
	assert_int_equal(mbx_uidnext(mb), 302);
	assert_int_equal(mt_uid_of(mb, "1001.m1.host"), 2);
	mbx_free(&mb);
	free(ul);
	free(ul2);
}

static void test_missing_folder(void **state)
{
	mbx *mb = NULL;
	char *err = NULL;
	char *p = xasprintf("%s/nothere", mt_top);

	(void)state;
	assert_int_equal(mbx_open(p, &mb, &err), -1);
	assert_null(mb);
	assert_non_null(strstr(err, "nothere"));
	free(err);
	free(p);
}

/* ---- directory descriptors shared in a process ---------------------------- */

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static void read_first(mbx *mb, char want)
{
	int fd = mbx_msg_open(mb, 0);
	char c = 0;

	assert_true(fd >= 0);
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(c, want);
	close(fd);
}

static void test_shared_dir_fds(void **state)
{
	mbx *a, *b, *c;
	char *moved = xasprintf("%s/old", mt_top);
	int before;

	(void)state;
	mt_put("cur/1000.x:2,S", "A\n");
	a = mt_open();
	before = open_fds();
	b = mt_open();
	assert_int_equal(open_fds(), before); /* new/ and cur/ not opened again */
	mbx_free(&a);
	read_first(b, 'A');                    /* still usable after a is gone */
	/* a folder replaced under the same path gets its own descriptors */
	assert_int_equal(rename(mt_mdir, moved), 0);
	assert_int_equal(md_create(mt_mdir, false, NULL), 0);
	mt_put("cur/2000.y:2,S", "B\n");
	c = mt_open();
	read_first(c, 'B');
	read_first(b, 'A');
	mbx_free(&b);
	mbx_free(&c);
	free(moved);
}

/* age: sets the mtime of new/, cur/ and the uidlist 10 s back, as for a
 * folder left alone since (the cache keeps only scans of such). */
static void age(void)
{
	const char *rel[] = { "new", "cur", MBX_UIDLIST };
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { 0 } };

	clock_gettime(CLOCK_REALTIME, &ts[1]);
	ts[1].tv_sec -= 10;
	for (size_t k = 0; k < 3; k++) {
		char *p = mt_path(rel[k]);

		assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
		free(p);
	}
}

/* The last scan of an unchanged folder is reused (no rescan); a delivery,
 * a flag change by rename and a uidlist rewritten by another process are
 * seen by the next open; a scan of just-changed directories is not kept. */
static void test_scan_cache(void **state)
{
	mbx *a, *b;
	unsigned long hits = mbx_cache_hits;

	(void)state;
	mt_put("cur/1000.a.host:2,S", "a\n");
	mt_put("new/1001.b.host", "bb\n");
	mbx_free(&(mbx *){ mt_open() }); /* numbers them: writes the uidlist */
	a = mt_open();                   /* young stamps: not kept */
	mbx_free(&a);
	age();
	a = mt_open();                   /* scanned, kept */
	assert_int_equal(mbx_cache_hits, hits);
	b = mt_open();                   /* from the kept scan */
	assert_int_equal(mbx_cache_hits, hits + 1);
	assert_int_equal(mbx_count(b), 2);
	assert_string_equal(mbx_msg(b, 1)->name, "1001.b.host");
	assert_int_equal(mbx_msg(b, 1)->psize, 3);
	mbx_free(&b);
	assert_int_equal(mbx_open_rescan(mt_mdir, &b, &(char *){ NULL }), 0); /* scans */
	assert_int_equal(mbx_cache_hits, hits + 1);
	assert_int_equal(mbx_count(b), 2);
	mbx_free(&a);                    /* b keeps the shared strings alive */
	assert_string_equal(mbx_msg(b, 0)->base, "1000.a.host");
	mbx_free(&b);

	mt_move("new/1001.b.host", "cur/1001.b.host:2,FS");
	b = mt_open();
	assert_int_equal(mbx_cache_hits, hits + 1);
	assert_int_equal(mbx_msg(b, 1)->flags, MBX_FLAGGED | MBX_SEEN);
	assert_false(mbx_msg(b, 1)->in_new);
	mbx_free(&b);

	age();
	mbx_free(&(mbx *){ mt_open() });
	mt_put("new/1002.c.host", "c\n");
	b = mt_open();
	assert_int_equal(mbx_cache_hits, hits + 1);
	assert_int_equal(mbx_count(b), 3);
	assert_int_equal(mt_uid_of(b, "1002.c.host"), 3);
	mbx_free(&b);

	age();
	mbx_free(&(mbx *){ mt_open() });
	/* another process renumbers (a new UIDVALIDITY) within the same second:
	 * the uidlist's inode and size differ */
	mt_put(MBX_UIDLIST ".new", "3 V7 N10 G0123456789abcdef0123456789abcdef\n"
				   "7 :1000.a.host\n8 :1001.b.host\n9 :1002.c.host\n");
	mt_move(MBX_UIDLIST ".new", MBX_UIDLIST);
	b = mt_open();
	assert_int_equal(mbx_cache_hits, hits + 1);
	assert_int_equal(mbx_uidvalidity(b), 7);
	assert_int_equal(mt_uid_of(b, "1002.c.host"), 9);
	mbx_free(&b);
}

/* Two opens that find the same files share one list; a change by one
 * (a rename, a size learned) is its own, the other keeps what it saw. */
static void test_shared_list_cow(void **state)
{
	mbx *a, *b;
	unsigned long shared = mbx_cache_shared;
	int fd;

	(void)state;
	mt_put("cur/1000.a.host:2,S", "a\n");
	mt_put("cur/1001.b.host:2,", "bb\n");
	mbx_free(&(mbx *){ mt_open() });
	a = mt_open();
	b = mt_open(); /* young stamps: scanned, found equal, shared */
	assert_int_equal(mbx_cache_shared, shared + 1);
	assert_ptr_equal(mbx_msg_peek(a, 0), mbx_msg_peek(b, 0));
	assert_int_equal(mbx_set_flags(a, 1, MBX_SEEN | MBX_FLAGGED), 0);
	assert_string_equal(mbx_msg(a, 1)->name, "1001.b.host:2,FS");
	assert_string_equal(mbx_msg_peek(b, 1)->name, "1001.b.host:2,");
	assert_int_equal(mbx_msg_peek(b, 1)->flags, 0);
	assert_int_equal(mbx_msg(b, 0)->psize, 2);
	assert_int_equal(mbx_msg(b, 1)->psize, 3);
	read_first(b, 'a');
	fd = mbx_msg_open(b, 1); /* found again by its base */
	assert_true(fd >= 0);
	close(fd);
	assert_string_equal(mbx_msg(b, 1)->name, "1001.b.host:2,FS");
	assert_int_equal(mbx_msg_peek(b, 1)->flags, MBX_SEEN | MBX_FLAGGED);
	mbx_free(&a);
	assert_string_equal(mbx_msg(b, 0)->base, "1000.a.host");
	mbx_free(&b);
}

/* mbx_mtime_settled: 50 ms after a sub-second mtime, 2 s after a whole
 * second one (a file system with coarse stamps). */
static void test_mtime_settled(void **state)
{
	struct timespec fine = { 1000, 500000000 }, coarse = { 1000, 0 };
	struct timespec t = { 1000, 540000000 };

	(void)state;
	assert_false(mbx_mtime_settled(&fine, &t));
	t.tv_nsec = 560000000;
	assert_true(mbx_mtime_settled(&fine, &t));
	t = (struct timespec){ 1001, 900000000 };
	assert_false(mbx_mtime_settled(&coarse, &t));
	t = (struct timespec){ 1002, 0 };
	assert_true(mbx_mtime_settled(&coarse, &t));
	t = (struct timespec){ 999, 0 }; /* the clock went back */
	assert_false(mbx_mtime_settled(&fine, &t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		MT_TEST(test_first_open),
		MT_TEST(test_reopen_and_new),
		MT_TEST(test_deleted_uid_not_reused),
		MT_TEST(test_append_in_place),
		MT_TEST(test_missing_folder),
		MT_TEST(test_shared_dir_fds),
		MT_TEST(test_scan_cache),
		MT_TEST(test_shared_list_cow),
		MT_TEST(test_mtime_settled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
