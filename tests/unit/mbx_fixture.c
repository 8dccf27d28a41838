/* mbx_fixture.c: the scratch Maildir the mbx unit tests (test_mbx*.c)
 * share: a fresh folder in /tmp for each test, a log file beside it, and
 * small helpers that write, move, read and remove its files and open it.
 * Assertions fail the running test; nothing here tests mbx itself. */
#include "mbx_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "md.h"
#include "mem.h"

char mt_top[64];
char *mt_mdir; /* mt_top/Maildir */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

char *mt_path(const char *rel)
{
	return xasprintf("%s/%s", mt_mdir, rel);
}

void mt_put_file(const char *rel, const char *data, size_t len)
{
	char *p = mt_path(rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, data, len), 0);
	close(fd);
	free(p);
}

void mt_put(const char *rel, const char *text)
{
	mt_put_file(rel, text, strlen(text));
}

bool mt_exists(const char *rel)
{
	char *p = mt_path(rel);
	struct stat st;
	bool ok = stat(p, &st) == 0;

	free(p);
	return ok;
}

/* mt_slurp: the file's contents (heap), "" when missing. */
char *mt_slurp(const char *path)
{
	buf *b = buf_new(256);
	char *err = NULL;

	if (fs_read_file(path, b, 1 << 24, &err) < 0)
		free(err);
	return buf_steal_free(&b);
}

char *mt_slurp_rel(const char *rel)
{
	char *p = mt_path(rel);
	char *s = mt_slurp(p);

	free(p);
	return s;
}

void mt_move(const char *from, const char *to)
{
	char *a = mt_path(from), *b = mt_path(to);

	assert_int_equal(rename(a, b), 0);
	free(a);
	free(b);
}

void mt_del(const char *rel)
{
	char *p = mt_path(rel);

	assert_int_equal(unlink(p), 0);
	free(p);
}

mbx *mt_open(void)
{
	mbx *mb = NULL;
	char *err = NULL;

	if (mbx_open(mt_mdir, &mb, &err) < 0)
		fail_msg("mbx_open: %s", err);
	return mb;
}

/* mt_uid_of: the UID of the message with this base, 0 if not listed. */
uint32_t mt_uid_of(const mbx *mb, const char *base)
{
	for (size_t i = 0; i < mbx_count(mb); i++)
		if (strcmp(mbx_msg(mb, i)->base, base) == 0)
			return mbx_msg(mb, i)->uid;
	return 0;
}

size_t mt_index_of(const mbx *mb, const char *base)
{
	for (size_t i = 0; i < mbx_count(mb); i++)
		if (strcmp(mbx_msg(mb, i)->base, base) == 0)
			return i;
	fail_msg("no message %s", base);
	return 0;
}

int mt_setup(void **state)
{
	char *err = NULL;
	char *logf;

	(void)state;
	strcpy(mt_top, "/tmp/test_mbx.XXXXXX");
	if (mkdtemp(mt_top) == NULL)
		return -1;
	mt_mdir = xasprintf("%s/Maildir", mt_top);
	if (md_create(mt_mdir, false, &err) < 0)
		return -1;
	logf = xasprintf("%s/log", mt_top);
	if (log_open_file(logf, &err) < 0)
		return -1;
	free(logf);
	mbx_lock_wait_ms = MBX_LOCK_WAIT_MS;
	return 0;
}

int mt_teardown(void **state)
{
	(void)state;
	free(mt_mdir);
	return nftw(mt_top, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
