/* fsutil.h: small file-system helpers with the durability rules of the
 * project: a file that must survive a crash is written to a temporary name,
 * fsynced, renamed into place, and its directory fsynced. Also the free
 * space of a file system (for queue_minfree and local_minfree), and the
 * process's open-file limit. */
#ifndef POSTERN_FSUTIL_H
#define POSTERN_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "buf.h"

/* fs_write_all: writes all len bytes, retrying partial writes and EINTR.
 * 0, or -1 with errno (a write that makes no progress is EIO). */
int fs_write_all(int fd, const void *data, size_t len);
/* fs_fsync_dir: fsync the directory dir. 0 or -1 (errno). */
int fs_fsync_dir(const char *dir);
/* fs_fsync_parent: fsync the directory holding path. */
int fs_fsync_parent(const char *path);
/* fs_write_atomic: replaces path with data (mode), durably. 0 or -1 with
 * *err_r (heap). */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, char **err_r);
/* fs_read_file: appends the file's contents to out, refusing files larger
 * than max bytes. 0 or -1 with *err_r (heap) and errno set (ENOENT for a
 * missing file, EFBIG for one over max). */
int fs_read_file(const char *path, buf *out, size_t max, char **err_r);
/* fs_mkdir_p: creates dir and missing parents with mode. 0 or -1 (*err_r). */
int fs_mkdir_p(const char *dir, mode_t mode, char **err_r);
/* fs_join: "dir/name" as a heap string. */
char *fs_join(const char *dir, const char *name);

/* fs_free_bytes: the bytes an unprivileged writer can still use on the file
 * system holding path (statvfs f_bavail * f_frsize; root's reserved blocks
 * do not count). Not cached: one statvfs costs about 0.5 us. 0, or -1 with
 * errno. */
int fs_free_bytes(const char *path, long long *free_r);
/* fs_space_short: whether writing need bytes where free bytes are free
 * leaves less than reserve (need, reserve >= 0; no overflow). */
bool fs_space_short(long long free_bytes, long long reserve, long long need);

/* fs_raise_open_limit: raises the soft RLIMIT_NOFILE towards want (as
 * far as the hard limit allows; never lowers it) and returns the soft
 * limit now in force (LONG_MAX for none, or when it cannot be read). */
long fs_raise_open_limit(long want);

#endif
