/* test_mbx_size.c: unit tests of message sizes with CRLF line ends
 * (lib/mbx_size.c): mbx_vsize_of on tables of inputs and offsets, line
 * ends split across read boundaries, sizes recorded as W exts and read
 * back without touching the files, and a file that vanished. */
#include "mbx_fixture.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "mem.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		MT_TEST(test_vsize_of),
		MT_TEST(test_vsizes),
		MT_TEST(test_vsizes_vanished),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
