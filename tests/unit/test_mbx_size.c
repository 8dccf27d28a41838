/* test_mbx_size.c: unit tests of message sizes with CRLF line ends
 * (lib/mbx_size.c): mbx_vsize_of on tables of inputs and offsets, line
 * ends split across read boundaries, sizes recorded as W exts and read
 * back without touching the files, a file that vanished, and physical
 * sizes found by stat recorded as S in a uidlist that lacked them (as
 * Dovecot writes it) once there are many. */
#include "mbx_fixture.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "mem.h"

/* Files in a folder whose sizes stat finds (above MBX_STAT_RECORD_MIN). */
#define MBX_TEST_MANY 100

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
	char *p = xasprintf("%s/v", mt_top);

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

		mt_put(rel, files[i].data);
		free(rel);
	}
	mt_put_file("cur/7.big:2,S", big, big_len);
	lines = 65535 / 1000;
	mb = mt_open();
	assert_int_equal(mbx_count(mb), nfiles + 1);
	assert_int_equal(mbx_vsizes(mb, &err), 0);
	for (size_t i = 0; i < nfiles; i++)
		if (mbx_msg(mb, i)->vsize != files[i].vsize)
			fail_msg("%s: vsize %lld", files[i].name, mbx_msg(mb, i)->vsize);
	assert_int_equal(mbx_msg(mb, nfiles)->vsize, (long long)(big_len + lines));
	mbx_free(&mb);

	ul = mt_slurp_rel(MBX_UIDLIST); /* recorded as W exts */
	assert_non_null(strstr(ul, "\n1 S4 W6 :1.lf\n"));
	assert_non_null(strstr(ul, "\n3 S7 W9 :3.mixed\n"));
	free(ul);
	mb = mt_open(); /* known without reading the files */
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
	mt_put("new/1.a", "a\nb\n");
	mt_put("new/2.b", "abc");
	mb = mt_open();
	mt_del("new/1.a");
	assert_int_equal(mbx_vsizes(mb, &err), 0);
	assert_int_equal(mbx_msg(mb, 0)->vsize, 4); /* its psize */
	assert_int_equal(mbx_msg(mb, 1)->vsize, 3);
	mbx_free(&mb);
}

/* dovecot_folder: n files in cur/ of 3 + k bytes and a uidlist naming
 * them without sizes, as Dovecot writes it. */
static void dovecot_folder(int n)
{
	buf *ul = buf_new(256);

	buf_printf(ul, "3 V1700000000 N%d G0123456789abcdef0123456789abcdef\n", n + 1);
	for (int k = 1; k <= n; k++) {
		char name[64], *data = xasprintf("%*s\n", 2 + k, "x");

		snprintf(name, sizeof(name), "cur/%d.M%dP1.test:2,S", 1600000000 + k, k);
		mt_put(name, data);
		buf_printf(ul, "%d :%d.M%dP1.test\n", k, 1600000000 + k, k);
		free(data);
	}
	mt_put("dovecot-uidlist", buf_cstr(ul));
	buf_free(&ul);
}

static void test_stat_sizes_recorded(void **state)
{
	mbx *mb;
	char *ul;

	(void)state;
	dovecot_folder(MBX_TEST_MANY);
	mb = mt_open();
	for (size_t i = 0; i < mbx_count(mb); i++)
		assert_int_equal(mbx_msg(mb, i)->psize, (long long)(3 + mbx_msg(mb, i)->uid));
	mbx_free(&mb);
	ul = mt_slurp_rel("dovecot-uidlist");
	assert_non_null(strstr(ul, "\n1 S4 :1600000001.M1P1.test:2,S\n"));
	assert_non_null(strstr(ul, "\n100 S103 :1600000100.M100P1.test:2,S\n"));
	free(ul);
	/* read back from the uidlist: a file's size change is not seen by stat */
	mt_put("cur/1600000001.M1P1.test:2,S", "longer than four\n");
	mb = mt_open();
	assert_int_equal(mbx_msg(mb, 0)->psize, 4);
	mbx_free(&mb);
}

static void test_few_stat_sizes_not_written(void **state)
{
	mbx *mb;
	char *before, *after;

	(void)state;
	dovecot_folder(5);
	before = mt_slurp_rel("dovecot-uidlist");
	mb = mt_open();
	assert_int_equal(mbx_msg(mb, 4)->psize, 8);
	mbx_free(&mb);
	after = mt_slurp_rel("dovecot-uidlist");
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* A uidlist without sizes: the open reads none (psize -1 through
 * mbx_msg_peek), mbx_msg stats the file on first need, also after another
 * process renamed it; a file gone since the open counts 0; an expunge
 * still takes the size off maildirsize. */
static void test_lazy_sizes(void **state)
{
	mbx *mb;
	char *ul;

	(void)state;
	dovecot_folder(5);
	mb = mt_open();
	for (size_t i = 0; i < mbx_count(mb); i++)
		assert_int_equal(mbx_msg_peek(mb, i)->psize, -1);
	assert_int_equal(mbx_msg(mb, 0)->psize, 4);
	assert_int_equal(mbx_msg_peek(mb, 0)->psize, 4);
	assert_int_equal(mbx_msg_peek(mb, 1)->psize, -1);
	mt_move("cur/1600000002.M2P1.test:2,S", "cur/1600000002.M2P1.test:2,FS");
	assert_int_equal(mbx_msg(mb, 1)->psize, 5);
	assert_string_equal(mbx_msg(mb, 1)->name, "1600000002.M2P1.test:2,FS");
	mt_del("cur/1600000003.M3P1.test:2,S");
	assert_int_equal(mbx_msg(mb, 2)->psize, 0);
	mt_put("maildirsize", "1000S\n100 5\n");
	assert_int_equal(mbx_msg_peek(mb, 3)->psize, -1);
	assert_int_equal(mbx_expunge(mb, 3), 0);
	mbx_free(&mb);
	ul = mt_slurp_rel("maildirsize");
	assert_non_null(strstr(ul, "\n-7 -1\n"));
	free(ul);
	ul = mt_slurp_rel("dovecot-uidlist"); /* too few stats to rewrite it */
	assert_null(strstr(ul, " S"));
	free(ul);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		MT_TEST(test_vsize_of),
		MT_TEST(test_vsizes),
		MT_TEST(test_vsizes_vanished),
		MT_TEST(test_stat_sizes_recorded),
		MT_TEST(test_few_stat_sizes_not_written),
		MT_TEST(test_lazy_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
