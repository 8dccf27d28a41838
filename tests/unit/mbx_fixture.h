/* mbx_fixture.h: the scratch Maildir of the mbx unit tests: mt_setup
 * makes mt_top (a temporary directory, with the log file "log") holding
 * the Maildir mt_mdir; mt_teardown removes it all. Paths given to the
 * helpers are relative to the Maildir ("new/1.a", "dovecot-uidlist"). */
#ifndef POSTERN_TEST_MBX_FIXTURE_H
#define POSTERN_TEST_MBX_FIXTURE_H
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mbx.h"

extern char mt_top[64];
extern char *mt_mdir;

int mt_setup(void **state);
int mt_teardown(void **state);
/* mt_path: heap "<mt_mdir>/<rel>". */
char *mt_path(const char *rel);
void mt_put_file(const char *rel, const char *data, size_t len);
void mt_put(const char *rel, const char *text);
bool mt_exists(const char *rel);
/* mt_slurp / mt_slurp_rel: the file's contents (heap), "" when missing. */
char *mt_slurp(const char *path);
char *mt_slurp_rel(const char *rel);
void mt_move(const char *from, const char *to);
void mt_del(const char *rel);
/* mt_open: the folder opened by mbx_open, or the test fails. */
mbx *mt_open(void);
/* mt_uid_of: the UID of the message with this base, 0 if not listed. */
uint32_t mt_uid_of(const mbx *mb, const char *base);
/* mt_index_of: the index of the message with this base, or the test fails. */
size_t mt_index_of(const mbx *mb, const char *base);

#define MT_TEST(fn) cmocka_unit_test_setup_teardown(fn, mt_setup, mt_teardown)
#endif
