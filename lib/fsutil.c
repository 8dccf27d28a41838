/* fsutil.c: durable writes, whole-file reads, directory creation and the
 * free space of a file system. */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "mem.h"

int fs_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int fs_fsync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int rc;

	if (slash == NULL)
		return fs_fsync_dir(".");
	dir = slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
	rc = fs_fsync_dir(dir);
	free(dir);
	return rc;
}

int fs_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, char **err_r)
{
	char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0) {
		*err_r = xasprintf("cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	if (fchmod(fd, mode) < 0 || fs_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		*err_r = xasprintf("cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0 || fs_fsync_parent(path) < 0) {
		*err_r = xasprintf("cannot rename %s to %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

int fs_read_file(const char *path, buf *out, size_t max, char **err_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t total = 0;
	int err;

	if (fd < 0) {
		err = errno;
		*err_r = xasprintf("cannot open %s: %s", path, strerror(err));
		errno = err;
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, buf_reserve(out, 65536), 65536);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			*err_r = xasprintf("cannot read %s: %s", path, strerror(err));
			break;
		}
		if (n == 0) {
			close(fd);
			return 0;
		}
		total += (size_t)n;
		if (total > max) {
			err = EFBIG;
			*err_r = xasprintf("%s is larger than %zu bytes", path, max);
			break;
		}
		buf_commit(out, (size_t)n);
	}
	close(fd);
	errno = err;
	return -1;
}

int fs_mkdir_p(const char *dir, mode_t mode, char **err_r)
{
	char *path = xstrdup(dir);

	for (char *p = path + 1;; p++) {
		char saved = *p;

		if (saved != '/' && saved != '\0')
			continue;
		*p = '\0';
		if (mkdir(path, mode) < 0 && errno != EEXIST) {
			*err_r = xasprintf("cannot create directory %s: %s", path, strerror(errno));
			free(path);
			return -1;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(path);
	return 0;
}

char *fs_join(const char *dir, const char *name)
{
	size_t len = strlen(dir);

	if (len > 0 && dir[len - 1] == '/')
		return xasprintf("%s%s", dir, name);
	return xasprintf("%s/%s", dir, name);
}

int fs_free_bytes(const char *path, long long *free_r)
{
	struct statvfs st;
	unsigned long long unit;

	if (statvfs(path, &st) < 0)
		return -1;
	unit = st.f_frsize != 0 ? st.f_frsize : st.f_bsize;
	if (unit != 0 && st.f_bavail > (unsigned long long)LLONG_MAX / unit)
		*free_r = LLONG_MAX;
	else
		*free_r = (long long)(st.f_bavail * unit);
	return 0;
}

bool fs_space_short(long long free_bytes, long long reserve, long long need)
{
	return need > free_bytes || free_bytes - need < reserve;
}

long fs_raise_open_limit(long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return LONG_MAX; /* unknown: nobody should hold back for it */
	if (rl.rlim_cur == RLIM_INFINITY)
		return LONG_MAX;
	if (want > 0 && rl.rlim_cur < (rlim_t)want) {
		struct rlimit raised = rl;

		raised.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)want ?
					  rl.rlim_max : (rlim_t)want;
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl.rlim_cur = raised.rlim_cur;
	}
	return rl.rlim_cur > (rlim_t)LONG_MAX ? LONG_MAX : (long)rl.rlim_cur;
}
