/* test_mbx_msg.c: unit tests of single messages (lib/mbx_msg.c) and of
 * the flag letters (lib/mbx_name.c): finding a message another process
 * renamed or removed, flag renames keeping keywords, expunge with a
 * maildirsize update, the POP3 UIDL format, flags parsed and formatted. */
#include "mbx_fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"

/* ---- single messages ---------------------------------------------------- */

static void test_msg_open_renamed(void **state)
{
	mbx *mb;
	size_t i;
	int fd;
	char c = 0;

	(void)state;
	mt_put("new/1.a.host", "A");
	mt_put("new/2.b.host", "B");
	mb = mt_open();
	i = mt_index_of(mb, "2.b.host");
	mt_move("new/2.b.host", "cur/2.b.host:2,RSb"); /* someone else read it */
	fd = mbx_msg_open(mb, i);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(c, 'B');
	close(fd);
	assert_string_equal(mbx_msg(mb, i)->name, "2.b.host:2,RSb");
	/* the one rescan also noticed message 1's move, before it is used */
	mt_move("new/1.a.host", "cur/1.a.host:2,T");
	fd = mbx_msg_open(mb, i);
	assert_true(fd >= 0);
	close(fd);
	mt_move("cur/2.b.host:2,RSb", "cur/2.b.host:2,RSb2"); /* forces a rescan */
	fd = mbx_msg_open(mb, i);
	assert_true(fd >= 0);
	close(fd);
	assert_string_equal(mbx_msg(mb, mt_index_of(mb, "1.a.host"))->name, "1.a.host:2,T");
	mt_move("cur/2.b.host:2,RSb2", "cur/2.b.host:2,RSb");
	assert_false(mbx_msg(mb, i)->in_new);
	assert_int_equal(mbx_msg(mb, i)->flags, MBX_REPLIED | MBX_SEEN);
	assert_string_equal(mbx_msg(mb, i)->keywords, "b");

	mt_move("cur/2.b.host:2,RSb", "cur/2.b.host:2,S"); /* renamed again in cur/ */
	fd = mbx_msg_open(mb, i);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mbx_msg(mb, i)->flags, MBX_SEEN);

	mt_del("cur/2.b.host:2,S"); /* expunged elsewhere */
	errno = 0;
	assert_int_equal(mbx_msg_open(mb, i), -1);
	assert_int_equal(errno, ENOENT);
	fd = mbx_msg_open(mb, mt_index_of(mb, "1.a.host"));
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
	mt_put("new/1.a.host", "A");
	mt_put("cur/2.b.host:2,Fzab", "B");
	mb = mt_open();
	i = mt_index_of(mb, "1.a.host");
	assert_int_equal(mbx_set_flags(mb, i, MBX_SEEN), 0);
	assert_true(mt_exists("cur/1.a.host:2,S"));
	assert_false(mt_exists("new/1.a.host"));
	assert_false(mbx_msg(mb, i)->in_new);
	assert_string_equal(mbx_msg(mb, i)->name, "1.a.host:2,S");
	assert_int_equal(mbx_msg(mb, i)->flags, MBX_SEEN);
	assert_int_equal(mbx_set_flags(mb, i, MBX_SEEN), 0); /* no change */
	assert_true(mt_exists("cur/1.a.host:2,S"));

	i = mt_index_of(mb, "2.b.host");
	assert_int_equal(mbx_set_flags(mb, i, MBX_SEEN | MBX_DRAFT | MBX_TRASHED), 0);
	assert_true(mt_exists("cur/2.b.host:2,DSTabz")); /* F gone, keywords kept */
	assert_string_equal(mbx_msg(mb, i)->keywords, "abz");
	assert_int_equal(mbx_set_flags(mb, i, 0), 0);
	assert_true(mt_exists("cur/2.b.host:2,abz"));

	mt_move("cur/2.b.host:2,abz", "cur/2.b.host:2,Rc"); /* changed elsewhere */
	assert_int_equal(mbx_set_flags(mb, i, MBX_SEEN | MBX_REPLIED), 0);
	assert_true(mt_exists("cur/2.b.host:2,RSc"));
	mt_del("cur/2.b.host:2,RSc");
	assert_int_equal(mbx_set_flags(mb, i, MBX_SEEN), 1);
	mbx_free(&mb);
}

static void test_expunge(void **state)
{
	mbx *mb;
	char *ms;

	(void)state;
	mt_put("new/1.a.host,S=5", "hello");
	mt_put("new/2.b.host", "bye\n");
	mt_put("new/3.c.host", "c");
	mb = mt_open();
	assert_int_equal(mbx_expunge(mb, 0), 0); /* no maildirsize: none made */
	assert_false(mt_exists("new/1.a.host,S=5"));
	assert_false(mt_exists("maildirsize"));
	mt_put("maildirsize", "0S,0C\n9 2\n");
	assert_int_equal(mbx_expunge(mb, 1), 0);
	ms = mt_slurp_rel("maildirsize");
	assert_string_equal(ms, "0S,0C\n9 2\n-4 -1\n");
	free(ms);
	assert_int_equal(mbx_expunge(mb, 1), 1); /* already gone */
	mt_move("new/3.c.host", "cur/3.c.host:2,S");
	assert_int_equal(mbx_expunge(mb, 2), 0); /* found after a move */
	assert_false(mt_exists("cur/3.c.host:2,S"));
	mbx_free(&mb);
	mb = mt_open();
	assert_int_equal(mbx_count(mb), 0);
	assert_int_equal(mbx_uidnext(mb), 4);
	mbx_free(&mb);
}

static void test_pop3_uidl(void **state)
{
	char want[32];
	mbx *mb;

	(void)state;
	mt_put(MBX_UIDLIST, "3 V3735928559 N300 G00\n255 :1.a\n"
			 "256 P0123456789012345678901234567890123456789012345678901234567890123456789X :3.c\n"
			 "257 Pok-70 :4.d\n");
	mt_put("new/1.a", "a");
	mt_put("new/3.c", "c");
	mt_put("new/4.d", "d");
	mb = mt_open();
	assert_string_equal(mbx_pop3_uidl(mb, 0), "000000ffdeadbeef");
	assert_null(mbx_msg(mb, 1)->pop3_uidl); /* 71 chars: not a usable UIDL */
	assert_string_equal(mbx_pop3_uidl(mb, 1), "00000100deadbeef");
	assert_string_equal(mbx_pop3_uidl(mb, 2), "ok-70");
	mbx_free(&mb);
	mt_put("new/2.b", "b");
	mb = mt_open();
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		MT_TEST(test_msg_open_renamed),
		MT_TEST(test_set_flags),
		MT_TEST(test_expunge),
		MT_TEST(test_pop3_uidl),
		MT_TEST(test_flags_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
