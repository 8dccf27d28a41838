/* mapgen.c: the map generation counter of mapgen.h.
 *
 * File format: 8 bytes, the counter in host byte order (the file never
 * leaves the machine). It is created empty and grown to 8 zero bytes under
 * an flock, so a process that opens it while another creates it never maps
 * a short file (touching a page past the end would be SIGBUS). The daemons
 * map it MAP_SHARED and read it with an acquire load; mailctl maps it
 * writable and adds one with an atomic add, so two mailctls at once lose
 * no step. Both mappings share the page cache page, so the new value is
 * visible to every daemon the moment the add is done.
 *
 * XXX: a daemon keeps the inode it mapped; if the file is removed and made
 * again (a wiped queue directory) while daemons run, they stop seeing
 * bumps until restarted, and fall back to the once-a-second check. */
#include "mapgen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "mem.h"

#define MAPGEN_LEN sizeof(uint64_t)

static const uint64_t *attached; /* the daemon's read-only mapping */

/* give_to_dir_owner: a counter root made belongs to the owner of the
 * directory it is in (the mail owner), like everything in private/. */
static void give_to_dir_owner(int fd, const char *dir)
{
	struct stat st;

	if (geteuid() == 0 && stat(dir, &st) == 0)
		(void)fchown(fd, st.st_uid, st.st_gid);
}

/* open_counter: the counter file of queue_dir, at least MAPGEN_LEN bytes
 * long. writable: the caller needs to write (else read-only will do). -1
 * with errno. */
static int open_counter(const char *queue_dir, bool writable)
{
	char *dir = fs_join(queue_dir, "private");
	char *path = fs_join(dir, MAPGEN_FILE);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	struct stat st;
	int saved;

	if (fd < 0 && !writable && (errno == EACCES || errno == EROFS))
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd < 0) {
		free(dir);
		return -1;
	}
	if (flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0)
		goto fail;
	if (st.st_size < (off_t)MAPGEN_LEN) {
		if (ftruncate(fd, (off_t)MAPGEN_LEN) < 0)
			goto fail;
		give_to_dir_owner(fd, dir);
	}
	flock(fd, LOCK_UN);
	free(dir);
	return fd;
fail:
	saved = errno;
	close(fd);
	free(dir);
	errno = saved;
	return -1;
}

static char *counter_error(const char *queue_dir, const char *what)
{
	return xasprintf("cannot %s %s/private/%s: %s", what, queue_dir, MAPGEN_FILE,
			 strerror(errno));
}

int mapgen_attach(const char *queue_dir, char **err_r)
{
	int fd = open_counter(queue_dir, false);
	void *p;

	*err_r = NULL;
	if (fd < 0) {
		*err_r = counter_error(queue_dir, "open");
		return -1;
	}
	p = mmap(NULL, MAPGEN_LEN, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		*err_r = counter_error(queue_dir, "map");
		close(fd);
		return -1;
	}
	close(fd); /* the mapping keeps the file */
	mapgen_detach();
	attached = p;
	return 0;
}

void mapgen_detach(void)
{
	if (attached != NULL)
		munmap((void *)attached, MAPGEN_LEN);
	attached = NULL;
}

uint64_t mapgen_current(void)
{
	return attached != NULL ? __atomic_load_n(attached, __ATOMIC_ACQUIRE) : 0;
}

uint64_t mapgen_bump(const char *queue_dir, char **err_r)
{
	int fd = open_counter(queue_dir, true);
	uint64_t *p, now;

	*err_r = NULL;
	if (fd < 0) {
		*err_r = counter_error(queue_dir, "open");
		return 0;
	}
	p = mmap(NULL, MAPGEN_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		*err_r = counter_error(queue_dir, "map");
		return 0;
	}
	now = __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST);
	if (now == 0) /* wrapped (never in practice): 0 means "not attached" */
		now = __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST);
	munmap(p, MAPGEN_LEN);
	return now;
}
