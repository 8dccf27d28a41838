/* mbx_msg.c: one message of an open folder: open it for reading, set its
 * flags (a rename into cur/), expunge it, its POP3 UIDL. Another process
 * may have renamed or removed the file since the folder was opened; then
 * the folder is scanned once (relocate) to bring every message's name up
 * to date, and a message whose base is gone counts as expunged. Delivery
 * is md.c's job; message contents are not parsed here. */
#include "mbx_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "md.h"
#include "mem.h"

/* relocate: after a file of ours was not found (another process renamed
 * or removed it), scans the folder once and brings every message's name
 * up to date, so many renames cost one scan, not one each. 0 when message
 * i still exists, else -1 with errno (ENOENT: gone). */
static int relocate(mbx *mb, size_t i)
{
	struct mbx_load ld = { 0 };
	char *err = NULL;
	bool found = false;

	mbx_msgs_own(mb);
	if (mbx_scan_all(mb, &ld, &err) < 0) {
		int saved = errno;

		log_warn("mbx: %s", err);
		free(err);
		mbx_load_clear(&ld);
		errno = saved != 0 ? saved : EIO;
		return -1;
	}
	qsort(ld.ents, ld.n, sizeof(*ld.ents), mbx_scan_cmp_ent);
	mbx_scan_dedupe(&ld);
	for (size_t k = 0; k < mb->n; k++) {
		struct mbx_msg *m = &mb->msgs[k].m;
		struct mbx_ent key = { .name = m->base, .baselen = (uint32_t)strlen(m->base) };
		const struct mbx_ent *e = bsearch(&key, ld.ents, ld.n, sizeof(*ld.ents), mbx_scan_cmp_ent);

		if (e != NULL && (e->in_new != m->in_new || strcmp(e->name, m->name) != 0))
			mbx_msg_set_name(&mb->ar, m, e->name, e->in_new);
		if (k == i)
			found = e != NULL;
	}
	mbx_load_clear(&ld);
	if (!found)
		errno = ENOENT;
	return found ? 0 : -1;
}

static int msg_dirfd(const mbx *mb, const struct mbx_msg *m)
{
	return m->in_new ? mb->new_fd : mb->cur_fd;
}

int mbx_msg_open(mbx *mb, size_t i)
{
	for (int try = 0; try < MBX_SCAN_TRIES; try++) {
		const struct mbx_msg *m = &mb->msgs[i].m; /* again after relocate */
		int fd = openat(msg_dirfd(mb, m), m->name, O_RDONLY | O_CLOEXEC);

		if (fd >= 0 || errno != ENOENT || relocate(mb, i) < 0)
			return fd >= 0 ? fd : -1;
	}
	errno = ENOENT;
	return -1;
}

int mbx_set_flags(mbx *mb, size_t i, unsigned flags)
{
	return mbx_set_info(mb, i, flags, NULL);
}

int mbx_set_info_once(mbx *mb, size_t i, unsigned flags, const char *keywords)
{
	struct mbx_msg *m;
	char *name;

	mbx_msgs_own(mb);
	m = &mb->msgs[i].m;
	name = mbx_name_with_flags(m, flags, keywords);
	int rc = 0;

	if (m->in_new || strcmp(name, m->name) != 0)
		rc = renameat(msg_dirfd(mb, m), m->name, mb->cur_fd, name);
	if (rc == 0)
		mbx_msg_set_name(&mb->ar, m, name, false);
	free(name);
	if (rc == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	if (relocate(mb, i) < 0)
		return errno == ENOENT ? 1 : -1;
	return 2;
}

int mbx_set_info(mbx *mb, size_t i, unsigned flags, const char *keywords)
{
	for (int try = 0; try < MBX_SCAN_TRIES; try++) {
		int rc = mbx_set_info_once(mb, i, flags, keywords);

		if (rc != 2)
			return rc;
	}
	return 1;
}

int mbx_expunge(mbx *mb, size_t i)
{
	struct mbx_msg *m;

	mbx_msgs_own(mb);
	m = &mb->msgs[i].m;
	if (m->psize < 0) /* for maildirsize: read before the file is gone */
		mbx_size_stat(mb, i);
	for (int try = 0; try < MBX_SCAN_TRIES; try++) {
		if (unlinkat(msg_dirfd(mb, m), m->name, 0) == 0) {
			char *root = mbx_quota_root(mb->path);

			if (md_quota_add(root, -m->psize, -1) < 0)
				log_warn("mbx: %s: cannot update maildirsize: %s", root, strerror(errno));
			free(root);
			return 0;
		}
		if (errno != ENOENT)
			return -1;
		if (relocate(mb, i) < 0)
			return errno == ENOENT ? 1 : -1;
	}
	return 1;
}

/* UIDs ascend strictly, so the message with uid is at most uid - first
 * places after the first and at most last - uid places before the last:
 * in a folder with few gaps the search starts (and mostly ends) there. */
long mbx_find_uid(const mbx *mb, uint32_t uid)
{
	size_t lo = 0, hi = mb->n;

	if (mb->n == 0 || uid < mb->msgs[0].m.uid || uid > mb->msgs[mb->n - 1].m.uid)
		return -1;
	if ((size_t)(uid - mb->msgs[0].m.uid) < hi)
		hi = (size_t)(uid - mb->msgs[0].m.uid) + 1;
	if ((size_t)(mb->msgs[mb->n - 1].m.uid - uid) < mb->n)
		lo = mb->n - 1 - (size_t)(mb->msgs[mb->n - 1].m.uid - uid);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mb->msgs[mid].m.uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < mb->n && mb->msgs[lo].m.uid == uid ? (long)lo : -1;
}

const char *mbx_pop3_uidl(const mbx *mb, size_t i)
{
	static char uidl[32];
	const struct mbx_msg *m = mbx_msg(mb, i);

	if (m->pop3_uidl != NULL)
		return m->pop3_uidl;
	snprintf(uidl, sizeof(uidl), "%08x%08x", m->uid, mb->uidvalidity);
	return uidl;
}
