/* test_mapguard.c: a guarded mapping whose file is cut short reads zeros
 * and reports the hit; an unguarded one still kills the process. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mapguard.h"

#define PAGES 8

/* map_file: a file of PAGES pages of 'x', mapped; the fd in *fd_r. */
static const char *map_file(int *fd_r, size_t *len_r)
{
	char path[] = "/tmp/test_mapguard.XXXXXX";
	size_t len = (size_t)sysconf(_SC_PAGESIZE) * PAGES;
	char *data = malloc(len);
	int fd = mkstemp(path);
	void *p;

	assert_non_null(data);
	assert_true(fd >= 0);
	unlink(path);
	memset(data, 'x', len);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	free(data);
	p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	assert_true(p != MAP_FAILED);
	*fd_r = fd;
	*len_r = len;
	return p;
}

static void test_truncated_reads_zeros(void **state)
{
	size_t len, sum = 0;
	int fd, slot;
	const char *p = map_file(&fd, &len);

	(void)state;
	slot = mapguard_add(p, len);
	assert_true(slot >= 0);
	assert_int_equal(p[0], 'x');
	assert_int_equal(ftruncate(fd, 100), 0);
	for (size_t i = len / 2; i < len; i++)
		sum += (unsigned char)p[i];
	assert_int_equal(sum, 0);
	assert_true(mapguard_hit(slot));
	mapguard_remove(slot);
	assert_false(mapguard_hit(slot));
	munmap((void *)p, len);
	close(fd);
}

static void test_untouched_not_hit(void **state)
{
	size_t len;
	int fd, slot;
	const char *p = map_file(&fd, &len);

	(void)state;
	slot = mapguard_add(p, len);
	assert_int_equal(p[len - 1], 'x');
	assert_false(mapguard_hit(slot));
	mapguard_remove(slot);
	munmap((void *)p, len);
	close(fd);
}

static void test_unguarded_still_dies(void **state)
{
	size_t len;
	int fd, status, guard_slot;
	const char *p = map_file(&fd, &len);
	pid_t pid;

	(void)state;
	/* the handler is installed (another mapping is guarded), but this
	 * mapping is not: its fault must still end the process by SIGBUS */
	guard_slot = mapguard_add(&guard_slot, 1);
	assert_true(guard_slot >= 0);
	assert_int_equal(ftruncate(fd, 0), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		volatile char c = p[len - 1];

		(void)c;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGBUS);
	mapguard_remove(guard_slot);
	munmap((void *)p, len);
	close(fd);
}

static void test_table_full(void **state)
{
	int slots[MAPGUARD_MAX];
	char x;

	(void)state;
	for (int i = 0; i < MAPGUARD_MAX; i++) {
		slots[i] = mapguard_add(&x, 1);
		assert_true(slots[i] >= 0);
	}
	assert_int_equal(mapguard_add(&x, 1), -1);
	for (int i = 0; i < MAPGUARD_MAX; i++)
		mapguard_remove(slots[i]);
	mapguard_remove(-1);
	assert_true(mapguard_add(&x, 1) >= 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncated_reads_zeros),
		cmocka_unit_test(test_untouched_not_hit),
		cmocka_unit_test(test_unguarded_still_dies),
		cmocka_unit_test(test_table_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
