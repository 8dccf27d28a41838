/* md.c: Maildir delivery and Maildir++ quota (see md.h). A delivery writes
 * a tmp file under a name of its own, fsyncs it, hard-links it to
 * new/<name> and removes the tmp name; link() failing with EEXIST is how a
 * retried delivery finds its earlier copy. It never fsyncs new/ itself
 * (md_sync_new, batched by the caller) and never touches cur/ (that
 * belongs to pop3d and imapd).
 *
 * The tmp name is unique per process and delivery attempt (md_tmp_name),
 * made with O_EXCL, and never reused or removed by another attempt: two
 * processes delivering the same message at once (one left over from
 * before a crash, one recovering) each write and link only their own
 * file, so new/ gets one complete copy, and a writer killed half-way
 * leaves a file nobody links. Such left-overs are removed once 36 hours
 * old (the Maildir convention), by the first delivery of a process into
 * that Maildir and then at most once an hour (md_tmp_clean).
 *
 * Quota (Maildir++, as Courier and Dovecot): maildirsize in the Maildir
 * root holds "<limit>S" (or "<limit>S,<count>C") on line one and
 * "<bytes> <count>" change lines after it; usage is their sum. A message is
 * refused (MD_QUOTA) when usage + its size would exceed the limit, so the
 * mailbox never grows past it; an empty message is still refused once the
 * usage has reached the limit. The file is recalculated from the messages
 * (the ",S=" size in names when present, else stat) when it is missing,
 * malformed, larger than 5120 bytes or its limit differs from ours.
 * XXX: a delivery that appends while another process recalculates can be
 * lost from the count until the next recalculation; Courier has the same
 * race and the file is only an estimate. Count limits ("C") are kept in the
 * file but not enforced: the configuration has byte limits only. */
#include "md.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "mem.h"

#define MD_COPY_CHUNK (128 * 1024)
#define MD_SIZE_FILE "maildirsize"
#define MD_SIZE_MAX 5120
#define MD_SCAN_TRIES 3
#define MD_TMP_TRIES 100
#define MD_TMP_MAX_AGE (36 * 3600) /* a tmp file this old is abandoned */
#define MD_TMP_CLEAN_INTERVAL 3600 /* per process and Maildir */
#define MD_TMP_CLEAN_SLOTS 256

/* ---- names ------------------------------------------------------------- */

/* md_hostname: gethostname() with '/', ':' and ',' written as "\057",
 * "\072" and "\054", as the Maildir name conventions require. Cached. */
static const char *md_hostname(void)
{
	static char *host;
	char raw[256];
	buf *b;

	if (host != NULL)
		return host;
	if (gethostname(raw, sizeof(raw)) < 0 || raw[0] == '\0')
		strcpy(raw, "localhost");
	raw[sizeof(raw) - 1] = '\0';
	b = buf_new(sizeof(raw));
	for (const char *p = raw; *p != '\0'; p++) {
		if (*p == '/' || *p == ':' || *p == ',')
			buf_printf(b, "\\%03o", (unsigned char)*p);
		else
			buf_putc(b, *p);
	}
	host = buf_steal_free(&b);
	return host;
}

/* md_path_hash: FNV-1a of the Maildir path, trailing slashes ignored, so
 * one message for two mailboxes of one recipient gets two names. */
static uint32_t md_path_hash(const char *path)
{
	size_t len = strlen(path);
	uint32_t h = 2166136261u;

	while (len > 1 && path[len - 1] == '/')
		len--;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)path[i];
		h *= 16777619u;
	}
	return h;
}

/* md_address_hash: FNV-1a (64 bits) of a final address. */
static unsigned long long md_address_hash(const char *address)
{
	unsigned long long h = 14695981039346656037ull;

	for (const unsigned char *p = (const unsigned char *)address; *p; p++) {
		h ^= *p;
		h *= 1099511628211ull;
	}
	return h;
}

/* md_legacy_key: the key by recipient index, "<arrival>.Q<id>R<index>M<hash>.",
 * of deliveries without a final address (and of every delivery made
 * before keys by address existed: recover mode looks for both). */
static char *md_legacy_key(const struct md_delivery *d)
{
	return xasprintf("%lld.Q%sR%dM%08x.", (long long)d->arrival, d->queue_id, d->rcpt_index,
			 md_path_hash(d->maildir));
}

/* md_delivery_key: the part of the name that identifies the delivery:
 * "<arrival>.Q<id>A<address hash>M<hash>." or the legacy key (host and
 * size follow it). */
static char *md_delivery_key(const struct md_delivery *d)
{
	if (d->address == NULL)
		return md_legacy_key(d);
	return xasprintf("%lld.Q%sA%016llxM%08x.", (long long)d->arrival, d->queue_id,
			 md_address_hash(d->address), md_path_hash(d->maildir));
}

char *md_delivery_name(const struct md_delivery *d, off_t size)
{
	char *key = md_delivery_key(d);
	char *name = xasprintf("%s%s,S=%lld", key, md_hostname(), (long long)size);

	free(key);
	return name;
}

/* md_tmp_name: the tmp/ path of one attempt at delivery d:
 * "<sec>.P<pid>N<counter>.Q<id>R<index>.<host>". The counter is the
 * process's own, so no two attempts of one process share it, and the pid
 * (and host, for a Maildir shared over NFS) keeps processes apart. */
static char *md_tmp_name(const struct md_delivery *d)
{
	static unsigned long counter;

	return xasprintf("%s/tmp/%lld.P%ldN%lu.Q%sR%d.%s", d->maildir, (long long)time(NULL),
			 (long)getpid(), ++counter, d->queue_id, d->rcpt_index, md_hostname());
}

char *md_unique_name(void)
{
	static unsigned long counter;
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return xasprintf("%lld.M%06ldP%ldQ%lu.%s", (long long)tv.tv_sec, (long)tv.tv_usec,
			 (long)getpid(), ++counter, md_hostname());
}

/* ---- directories ------------------------------------------------------- */

static int md_mkdir(const char *maildir, const char *sub, char **err_r)
{
	char *dir = fs_join(maildir, sub);

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		*err_r = xasprintf("cannot create directory %s: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	free(dir);
	return 0;
}

static int md_touch(const char *maildir, const char *name, char **err_r)
{
	char *path = fs_join(maildir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		*err_r = xasprintf("cannot create %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	close(fd);
	free(path);
	return 0;
}

int md_create(const char *maildir, bool folder, char **err_r)
{
	if (fs_mkdir_p(maildir, 0700, err_r) < 0 || md_mkdir(maildir, "tmp", err_r) < 0 ||
	    md_mkdir(maildir, "new", err_r) < 0 || md_mkdir(maildir, "cur", err_r) < 0)
		return -1;
	if (folder && md_touch(maildir, "maildirfolder", err_r) < 0)
		return -1;
	return 0;
}

int md_sync_new(const char *maildir)
{
	char *dir = fs_join(maildir, "new");
	int rc = fs_fsync_dir(dir);
	int saved = errno;

	free(dir);
	errno = saved;
	return rc;
}

/* ---- quota ------------------------------------------------------------- */

/* md_name_size: the n of ",S=<n>" in a Maildir name (before any ":2,"
 * flags), -1 without one. */
static long long md_name_size(const char *name)
{
	const char *colon = strchr(name, ':');
	const char *p = strstr(name, ",S=");
	long long v = 0;
	int digits = 0;

	if (p == NULL || (colon != NULL && p > colon))
		return -1;
	for (p += 3; *p >= '0' && *p <= '9' && digits < 18; p++, digits++)
		v = v * 10 + (*p - '0');
	if (digits == 0 || (*p != '\0' && *p != ',' && *p != ':'))
		return -1;
	return v;
}

static int md_sum_dir(const char *maildir, const char *sub, long long *bytes, long long *count,
		      char **err_r)
{
	char *dir = fs_join(maildir, sub);
	DIR *dh = opendir(dir);
	struct dirent *de;

	if (dh == NULL) {
		int saved = errno;

		if (saved == ENOENT) {
			free(dir);
			return 0;
		}
		*err_r = xasprintf("cannot read directory %s: %s", dir, strerror(saved));
		free(dir);
		return -1;
	}
	while ((de = readdir(dh)) != NULL) {
		long long size = md_name_size(de->d_name);
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (size < 0) {
			if (fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode))
				continue; /* gone meanwhile (expunged, moved) or not mail */
			size = st.st_size;
		}
		*bytes += size;
		(*count)++;
	}
	closedir(dh);
	free(dir);
	return 0;
}

/* md_sum_all: new/ and cur/ of the root and of every Maildir++ folder. */
static int md_sum_all(const char *root, long long *bytes, long long *count, char **err_r)
{
	DIR *dh;
	struct dirent *de;
	int rc = 0;

	if (md_sum_dir(root, "new", bytes, count, err_r) < 0 ||
	    md_sum_dir(root, "cur", bytes, count, err_r) < 0)
		return -1;
	dh = opendir(root);
	if (dh == NULL && errno == ENOENT)
		return 0; /* no Maildir yet: empty */
	if (dh == NULL) {
		*err_r = xasprintf("cannot read directory %s: %s", root, strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(dh)) != NULL) {
		char *folder;

		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		folder = fs_join(root, de->d_name);
		rc = md_sum_dir(folder, "new", bytes, count, err_r);
		if (rc == 0)
			rc = md_sum_dir(folder, "cur", bytes, count, err_r);
		free(folder);
	}
	closedir(dh);
	return rc;
}

static int md_parse_ll(const char **p, long long *v_r, bool allow_sign)
{
	const char *s = *p;
	bool neg = false;
	long long v = 0;
	int digits = 0;

	if (allow_sign && *s == '-') {
		neg = true;
		s++;
	}
	for (; *s >= '0' && *s <= '9'; s++) {
		if (++digits > 18)
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (digits == 0)
		return -1;
	*v_r = neg ? -v : v;
	*p = s;
	return 0;
}

/* md_quota_parse: sums maildirsize text; -1 when it must be recalculated
 * (malformed, limit differs, negative total, last line unterminated). */
static int md_quota_parse(const char *text, long long quota, long long *bytes_r, long long *count_r)
{
	const char *p = text;
	long long limit, count_limit, bytes = 0, count = 0;

	if (md_parse_ll(&p, &limit, false) < 0 || *p++ != 'S' || limit != quota)
		return -1;
	if (*p == ',' && (p++, md_parse_ll(&p, &count_limit, false) < 0 || *p++ != 'C'))
		return -1;
	if (*p++ != '\n')
		return -1;
	while (*p != '\0') {
		long long b, c;

		if (md_parse_ll(&p, &b, true) < 0 || *p++ != ' ' || md_parse_ll(&p, &c, true) < 0 ||
		    *p++ != '\n')
			return -1;
		bytes += b;
		count += c;
	}
	if (bytes < 0 || count < 0)
		return -1;
	*bytes_r = bytes;
	*count_r = count;
	return 0;
}

/* md_quota_read: the usage from maildirsize, -1 if it must be recalculated. */
static int md_quota_read(const char *path, long long quota, long long *bytes_r, long long *count_r)
{
	char text[MD_SIZE_MAX + 2];
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (len < sizeof(text) - 1) {
		ssize_t n = read(fd, text + len, sizeof(text) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len > MD_SIZE_MAX || memchr(text, '\0', len) != NULL)
		return -1;
	text[len] = '\0';
	return md_quota_parse(text, quota, bytes_r, count_r);
}

static int md_quota_recalc(const char *root, const char *path, long long quota, long long *bytes_r,
			   long long *count_r, char **err_r)
{
	long long bytes = 0, count = 0;
	char *text;
	int rc;

	if (md_sum_all(root, &bytes, &count, err_r) < 0)
		return -1;
	*bytes_r = bytes;
	*count_r = count;
	if (quota <= 0 || (access(root, F_OK) < 0 && errno == ENOENT))
		return 0; /* nothing to write, or no Maildir to write it in yet */
	text = xasprintf("%lldS\n%lld %lld\n", quota, bytes, count);
	rc = fs_write_atomic(path, text, strlen(text), 0600, err_r);
	free(text);
	return rc;
}

int md_quota_usage(const char *maildir, long long quota_bytes, long long *bytes_r,
		   long long *count_r, char **err_r)
{
	char *path = fs_join(maildir, MD_SIZE_FILE);
	long long bytes = 0, count = 0;
	int rc = 0;

	if (quota_bytes <= 0 || md_quota_read(path, quota_bytes, &bytes, &count) < 0)
		rc = md_quota_recalc(maildir, path, quota_bytes, &bytes, &count, err_r);
	free(path);
	if (rc == 0) {
		*bytes_r = bytes;
		*count_r = count;
	}
	return rc;
}

int md_quota_add(const char *maildir, long long bytes, long long count)
{
	char *path = fs_join(maildir, MD_SIZE_FILE);
	char line[64];
	int len = snprintf(line, sizeof(line), "%lld %lld\n", bytes, count);
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	int rc = 0;

	free(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1; /* recalculated on next use */
	if (write(fd, line, (size_t)len) != len)
		rc = -1;
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

/* ---- delivery ----------------------------------------------------------- */

struct md_job {
	const struct md_delivery *d;
	const char *prefix;
	char *name; /* final base name */
	char *tmp_path;
	char *new_path;
	off_t size; /* prefix + content */
};

static int md_check_request(const struct md_delivery *d, char **err_r)
{
	const char *id = d->queue_id;
	size_t n = 0;

	if (id != NULL)
		for (; id[n] != '\0'; n++)
			if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'A' && id[n] <= 'Z') ||
			      (id[n] >= 'a' && id[n] <= 'z')))
				break;
	if (d->maildir == NULL || d->maildir[0] == '\0' || id == NULL || n == 0 ||
	    id[n] != '\0' || n > 64 || d->rcpt_index < 0 || d->length < 0 ||
	    (d->length > 0 && d->src_fd < 0)) {
		*err_r = xstrdup("bad Maildir delivery request");
		return -1;
	}
	return 0;
}

/* md_scan_for: is there a name starting with key or key2 (may be NULL) in
 * maildir/sub? Rescans while the directory changed during the scan (a
 * rename new/ -> cur/ or a flag change can hide a file from one readdir
 * pass). */
static int md_scan_for(const char *maildir, const char *sub, const char *key, const char *key2,
		       bool *found_r, char **err_r)
{
	char *dir = fs_join(maildir, sub);
	size_t keylen = strlen(key), key2len = key2 ? strlen(key2) : 0;
	int rc = 0;

	*found_r = false;
	for (int tries = 0; tries < MD_SCAN_TRIES && !*found_r; tries++) {
		struct stat before, after;
		struct dirent *de;
		DIR *dh;

		if (stat(dir, &before) < 0 || (dh = opendir(dir)) == NULL) {
			if (errno != ENOENT) {
				*err_r = xasprintf("cannot read directory %s: %s", dir, strerror(errno));
				rc = -1;
			}
			break;
		}
		while (!*found_r && (de = readdir(dh)) != NULL)
			*found_r = strncmp(de->d_name, key, keylen) == 0 ||
				   (key2 != NULL && strncmp(de->d_name, key2, key2len) == 0);
		closedir(dh);
		if (*found_r || stat(dir, &after) < 0 ||
		    (after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
		     after.st_mtim.tv_nsec == before.st_mtim.tv_nsec))
			break;
	}
	free(dir);
	return rc;
}

/* md_find_earlier: MD_DUPLICATE when this delivery was made before. In
 * recover mode new/ and cur/ are searched by key (any host, size or
 * flags), after one stat of the exact name in new/: after a crash most
 * recovered deliveries were made and are still there, and a qmgr killed
 * again and again must not pay two directory scans for each of them;
 * otherwise link() in md_link_new is the check, plus one stat here when
 * a quota or free-space check would come first. */
static enum md_result md_find_earlier(struct md_job *j, char **err_r)
{
	const struct md_delivery *d = j->d;
	bool found = false;
	struct stat st;
	char *key, *legacy;
	int rc;

	if (!d->recover) {
		/* checks that may refuse come next: a copy already in new/ must
		 * not be deferred by them */
		if ((d->quota_bytes > 0 || d->min_free > 0) && stat(j->new_path, &st) == 0)
			return MD_DUPLICATE;
		return MD_OK;
	}
	if (stat(j->new_path, &st) == 0)
		return MD_DUPLICATE;
	key = md_delivery_key(d);
	legacy = d->address != NULL ? md_legacy_key(d) : NULL;
	rc = md_scan_for(d->maildir, "new", key, legacy, &found, err_r);
	if (rc == 0 && !found)
		rc = md_scan_for(d->maildir, "cur", key, legacy, &found, err_r);
	free(legacy);
	free(key);
	if (rc < 0)
		return MD_TEMP;
	return found ? MD_DUPLICATE : MD_OK;
}

/* md_quota_root: the Maildir holding maildirsize (the parent of a folder). */
static char *md_quota_root(const char *maildir)
{
	char *marker = fs_join(maildir, "maildirfolder");
	char *root;
	const char *slash;
	size_t len = strlen(maildir);
	struct stat st;

	if (stat(marker, &st) < 0) {
		free(marker);
		return xstrdup(maildir);
	}
	free(marker);
	while (len > 1 && maildir[len - 1] == '/')
		len--;
	root = xstrndup(maildir, len);
	slash = strrchr(root, '/');
	if (slash == NULL) {
		free(root);
		return xstrdup(".");
	}
	root[slash == root ? 1 : (size_t)(slash - root)] = '\0';
	return root;
}

static enum md_result md_quota_check(struct md_job *j, char **err_r)
{
	long long limit = j->d->quota_bytes, bytes, count;
	char *root;
	int rc;

	if (limit <= 0)
		return MD_OK;
	root = md_quota_root(j->d->maildir);
	rc = md_quota_usage(root, limit, &bytes, &count, err_r);
	free(root);
	if (rc < 0)
		return MD_TEMP;
	if (bytes >= limit || (long long)j->size > limit - bytes) {
		*err_r = xasprintf("mailbox full: %lld of %lld bytes used, message is %lld bytes",
				   bytes, limit, (long long)j->size);
		return MD_QUOTA;
	}
	return MD_OK;
}

/* md_space_check: the free-space reserve of the Maildir's file system
 * (local_minfree): the message must leave min_free bytes free. A file
 * system that cannot be asked is MD_TEMP with the reason. */
static enum md_result md_space_check(struct md_job *j, char **err_r)
{
	long long free_bytes;

	if (j->d->min_free <= 0)
		return MD_OK;
	if (fs_free_bytes(j->d->maildir, &free_bytes) < 0) {
		*err_r = xasprintf("mail store %s: cannot get its free space: %s", j->d->maildir,
				   strerror(errno));
		return MD_TEMP;
	}
	if (!fs_space_short(free_bytes, j->d->min_free, (long long)j->size))
		return MD_OK;
	*err_r = xasprintf("mail store %s: %lld bytes free, below local_minfree %lld "
			   "(message %lld bytes)", j->d->maildir, free_bytes, j->d->min_free,
			   (long long)j->size);
	return MD_SPACE;
}

/* md_out: a write buffer for the tmp file, so a small message is one
 * write(2) for prefix and content together. */
struct md_out {
	int fd;
	char *buf;
	size_t len, cap;
};

static int md_out_flush(struct md_out *o)
{
	if (fs_write_all(o->fd, o->buf, o->len) < 0)
		return -1;
	o->len = 0;
	return 0;
}

static int md_out_put(struct md_out *o, const char *data, size_t len)
{
	while (len > 0) {
		size_t n = o->cap - o->len < len ? o->cap - o->len : len;

		memcpy(o->buf + o->len, data, n);
		o->len += n;
		data += n;
		len -= n;
		if (o->len == o->cap && md_out_flush(o) < 0)
			return -1;
	}
	return 0;
}

/* md_out_copy: appends length bytes of src_fd from offset, pread straight
 * into the buffer. A source shorter than promised is EIO. */
static int md_out_copy(struct md_out *o, int src_fd, off_t offset, off_t length)
{
	while (length > 0) {
		size_t room = o->cap - o->len;
		size_t want = (off_t)room < length ? room : (size_t)length;
		ssize_t n = pread(src_fd, o->buf + o->len, want, offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		o->len += (size_t)n;
		offset += n;
		length -= n;
		if (o->len == o->cap && md_out_flush(o) < 0)
			return -1;
	}
	return md_out_flush(o);
}

/* md_clean_due: true when this process has not cleaned maildir's tmp/ in
 * the last MD_TMP_CLEAN_INTERVAL (a small table by path hash; a collision
 * only costs an extra clean). */
static bool md_clean_due(const char *maildir, time_t now)
{
	static struct {
		uint32_t hash;
		time_t when;
	} done[MD_TMP_CLEAN_SLOTS];
	uint32_t h = md_path_hash(maildir);
	size_t slot = h % MD_TMP_CLEAN_SLOTS;

	if (done[slot].when != 0 && done[slot].hash == h &&
	    now - done[slot].when < MD_TMP_CLEAN_INTERVAL && now >= done[slot].when)
		return false;
	done[slot].hash = h;
	done[slot].when = now;
	return true;
}

int md_tmp_clean(const char *maildir, time_t now)
{
	char *dir = fs_join(maildir, "tmp");
	DIR *dh = opendir(dir);
	struct dirent *de;
	int removed = 0;

	while (dh != NULL && (de = readdir(dh)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.' ||
		    fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || now - st.st_ctim.tv_sec < MD_TMP_MAX_AGE)
			continue;
		if (unlinkat(dirfd(dh), de->d_name, 0) == 0) {
			log_info("removed stale Maildir tmp file %s/%s (%lld h old)", dir, de->d_name,
				 (long long)(now - st.st_ctim.tv_sec) / 3600);
			removed++;
		}
	}
	if (dh != NULL)
		closedir(dh);
	free(dir);
	return removed;
}

/* md_open_tmp: creates a tmp file under a fresh unique name (j->tmp_path),
 * making the Maildir when it is missing. An existing name is never
 * touched: it belongs to someone else, and the next counter is taken. */
static int md_open_tmp(struct md_job *j, char **err_r)
{
	bool made = false;
	int err = 0;

	for (int tries = 0; tries < MD_TMP_TRIES; tries++) {
		const char *base;
		int fd;

		free(j->tmp_path);
		j->tmp_path = md_tmp_name(j->d);
		fd = open(j->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		err = errno;
		if (err == EEXIST)
			continue;
		if (err != ENOENT || made)
			break;
		base = strrchr(j->d->maildir, '/');
		base = base != NULL ? base + 1 : j->d->maildir;
		if (md_create(j->d->maildir, base[0] == '.', err_r) < 0)
			return -1;
		made = true;
	}
	*err_r = xasprintf("cannot create %s: %s", j->tmp_path, strerror(err));
	return -1;
}

/* md_write_tmp: a tmp file of this attempt with prefix and content,
 * fsynced; on error the tmp file is removed. */
static enum md_result md_write_tmp(struct md_job *j, char **err_r)
{
	size_t plen = strlen(j->prefix);
	off_t total = (off_t)plen + j->d->length;
	time_t now = time(NULL);
	struct md_out o;
	int rc;

	if (md_clean_due(j->d->maildir, now))
		md_tmp_clean(j->d->maildir, now);
	o = (struct md_out){ .fd = md_open_tmp(j, err_r) };
	if (o.fd < 0)
		return MD_TEMP;
	o.cap = total < MD_COPY_CHUNK ? (size_t)total + 1 : MD_COPY_CHUNK;
	o.buf = xmalloc(o.cap);
	rc = md_out_put(&o, j->prefix, plen);
	if (rc == 0)
		rc = md_out_copy(&o, j->d->src_fd, j->d->offset, j->d->length);
	if (rc == 0)
		rc = fsync(o.fd);
	if (rc < 0)
		*err_r = xasprintf("cannot write %s: %s", j->tmp_path, strerror(errno));
	if (close(o.fd) < 0 && rc == 0) {
		*err_r = xasprintf("cannot close %s: %s", j->tmp_path, strerror(errno));
		rc = -1;
	}
	free(o.buf);
	if (rc < 0) {
		unlink(j->tmp_path);
		return MD_TEMP;
	}
	return MD_OK;
}

/* md_link_new: the commit point: the attempt's own tmp file gets the
 * deterministic final name. link() refuses an existing name, which is
 * the duplicate check (also against another attempt racing this one);
 * where the file system has no hard links, a rename that refuses to
 * replace does the same. */
static enum md_result md_link_new(struct md_job *j, char **err_r)
{
	int rc = link(j->tmp_path, j->new_path);

	if (rc < 0 && (errno == EPERM || errno == ENOSYS || errno == EOPNOTSUPP))
		rc = renameat2(AT_FDCWD, j->tmp_path, AT_FDCWD, j->new_path, RENAME_NOREPLACE);
	if (rc < 0) {
		int saved = errno;

		unlink(j->tmp_path);
		if (saved == EEXIST)
			return MD_DUPLICATE;
		*err_r = xasprintf("cannot link %s to %s: %s", j->tmp_path, j->new_path,
				   strerror(saved));
		return MD_TEMP;
	}
	if (unlink(j->tmp_path) < 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", j->tmp_path, strerror(errno));
	return MD_OK;
}

static void md_quota_account(struct md_job *j)
{
	char *root;

	if (j->d->quota_bytes <= 0)
		return;
	root = md_quota_root(j->d->maildir);
	if (md_quota_add(root, (long long)j->size, 1) < 0)
		log_warn("%s: cannot update %s/%s: %s", j->d->queue_id, root, MD_SIZE_FILE,
			 strerror(errno));
	free(root);
}

enum md_result md_deliver(const struct md_delivery *d, char **name_r, char **err_r)
{
	struct md_job j = { .d = d };
	enum md_result res;

	if (name_r != NULL)
		*name_r = NULL;
	if (md_check_request(d, err_r) < 0)
		return MD_TEMP;
	j.prefix = d->prefix != NULL ? d->prefix : "";
	j.size = (off_t)strlen(j.prefix) + d->length;
	j.name = md_delivery_name(d, j.size);
	j.new_path = xasprintf("%s/new/%s", d->maildir, j.name);
	res = md_find_earlier(&j, err_r);
	if (res == MD_OK)
		res = md_quota_check(&j, err_r);
	if (res == MD_OK)
		res = md_space_check(&j, err_r);
	if (res == MD_OK)
		res = md_write_tmp(&j, err_r);
	if (res == MD_OK)
		res = md_link_new(&j, err_r);
	if (res == MD_OK)
		md_quota_account(&j);
	if ((res == MD_OK || res == MD_DUPLICATE) && name_r != NULL) {
		*name_r = j.name;
		j.name = NULL;
	}
	free(j.name);
	free(j.tmp_path);
	free(j.new_path);
	return res;
}
