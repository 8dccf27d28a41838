/* authfail.c: the per-address table of failed logins (authfail.h).
 * A linear array: lookups happen only on AUTH and its failures, and the
 * table is small (hundreds of slots), so a scan costs less than hashing
 * would save. A slot's window starts at its address's first failure;
 * after window_ms the count starts again from zero.
 *
 * Shared tables: the slots live in a file mapped MAP_SHARED by every
 * process of the server kind, behind a header naming the layout; each
 * operation holds an flock(2) on it. Times are CLOCK_MONOTONIC
 * milliseconds, the same in every process; slots left from before a
 * reboot have times from another clock and read as expired or, at worst,
 * as a window that ends early. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authfail.h"
#include "cfg.h"
#include "fsutil.h"
#include "log.h"
#include "mem.h"

/* Client addresses are our own inet_ntop text: at most 45 bytes. */
#define AUTHFAIL_IP_MAX 64

struct authfail_slot {
	char ip[AUTHFAIL_IP_MAX]; /* "" = free */
	unsigned count;
	uint64_t first_ms, last_ms;
};

struct authfail {
	struct authfail_slot *slots;
	size_t nslots;
	unsigned limit;
	uint64_t window_ms, base_delay_ms;
	int fd; /* the shared file, or -1 */
	void *map;
	size_t map_len;
};

#define AUTHFAIL_MAGIC "PAUTHF1"

struct authfail_header {
	char magic[8];
	uint64_t nslots, slot_size;
};

authfail *authfail_new(size_t slots, unsigned limit, uint64_t window_ms,
		       uint64_t base_delay_ms)
{
	authfail *a = xcalloc(1, sizeof(*a));

	a->nslots = slots > 0 ? slots : 1;
	a->slots = xcalloc(a->nslots, sizeof(*a->slots));
	a->limit = limit > 0 ? limit : 1;
	a->window_ms = window_ms;
	a->base_delay_ms = base_delay_ms;
	a->fd = -1;
	return a;
}

/* map_shared: maps path (made or reset to the layout of a when it has
 * another) in place of a's private slots. -1 with errno. */
static int map_shared(authfail *a, const char *path)
{
	struct authfail_header want = { .magic = AUTHFAIL_MAGIC, .nslots = a->nslots,
					.slot_size = sizeof(struct authfail_slot) };
	size_t len = sizeof(want) + a->nslots * sizeof(struct authfail_slot);
	struct stat st;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	void *map;

	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0)
		goto fail;
	if ((size_t)st.st_size != len && (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)len) < 0))
		goto fail;
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		goto fail;
	if (memcmp(map, &want, sizeof(want)) != 0) {
		memset(map, 0, len);
		memcpy(map, &want, sizeof(want));
	}
	flock(fd, LOCK_UN);
	free(a->slots);
	a->slots = (struct authfail_slot *)((char *)map + sizeof(want));
	a->fd = fd;
	a->map = map;
	a->map_len = len;
	return 0;
fail:;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

authfail *authfail_new_shared(const char *path, size_t slots, unsigned limit,
			      uint64_t window_ms, uint64_t base_delay_ms)
{
	authfail *a = authfail_new(slots, limit, window_ms, base_delay_ms);

	if (map_shared(a, path) < 0)
		log_warn("failed-login table %s: %s; each process keeps its own", path,
			 strerror(errno));
	return a;
}

authfail *authfail_from_cfg(cfg *c, const char *prefix, const char *service)
{
	char *key_limit = xasprintf("%s_auth_failure_limit", prefix);
	char *key_window = xasprintf("%s_auth_failure_window", prefix);
	char *key_delay = xasprintf("%s_auth_failure_delay", prefix);
	char *name = xasprintf("authfail.%s", service);

	for (char *p = name; *p != '\0'; p++)
		if (*p == '/')
			*p = '_';
	char *private_dir = fs_join(cfg_get(c, "queue_directory"), "private");
	char *path = fs_join(private_dir, name);
	authfail *a = authfail_new_shared(path, AUTHFAIL_SERVICE_SLOTS,
					  (unsigned)cfg_get_int(c, key_limit),
					  (uint64_t)cfg_get_int(c, key_window) * 1000,
					  (uint64_t)cfg_get_int(c, key_delay) * 1000);

	free(key_limit);
	free(key_window);
	free(key_delay);
	free(name);
	free(private_dir);
	free(path);
	return a;
}

void authfail_free(authfail **ap)
{
	authfail *a = *ap;

	if (a == NULL)
		return;
	if (a->fd >= 0) {
		munmap(a->map, a->map_len);
		close(a->fd);
	} else {
		free(a->slots);
	}
	free(a);
	*ap = NULL;
}

static void table_lock(authfail *a)
{
	while (a->fd >= 0 && flock(a->fd, LOCK_EX) < 0 && errno == EINTR)
		;
}

static void table_unlock(authfail *a)
{
	if (a->fd >= 0)
		flock(a->fd, LOCK_UN);
}

static bool slot_live(const authfail *a, const struct authfail_slot *slot, uint64_t now_ms)
{
	return slot->ip[0] != '\0' && now_ms - slot->first_ms < a->window_ms;
}

static struct authfail_slot *find(authfail *a, const char *ip, uint64_t now_ms)
{
	for (size_t i = 0; i < a->nslots; i++) {
		struct authfail_slot *slot = &a->slots[i];
		if (slot_live(a, slot, now_ms) && strcmp(slot->ip, ip) == 0)
			return slot;
	}
	return NULL;
}

/* take_slot: a free or expired slot, else the least recently used one. */
static struct authfail_slot *take_slot(authfail *a, const char *ip, uint64_t now_ms)
{
	struct authfail_slot *victim = &a->slots[0];

	for (size_t i = 0; i < a->nslots; i++) {
		struct authfail_slot *slot = &a->slots[i];
		if (!slot_live(a, slot, now_ms)) {
			victim = slot;
			break;
		}
		if (slot->last_ms < victim->last_ms)
			victim = slot;
	}
	memset(victim, 0, sizeof(*victim));
	snprintf(victim->ip, sizeof(victim->ip), "%s", ip);
	victim->first_ms = now_ms;
	return victim;
}

bool authfail_blocked(authfail *a, const char *ip, uint64_t now_ms)
{
	unsigned count = authfail_count(a, ip, now_ms);

	return count >= a->limit;
}

unsigned authfail_count(authfail *a, const char *ip, uint64_t now_ms)
{
	table_lock(a);
	const struct authfail_slot *slot = find(a, ip, now_ms);
	unsigned count = slot != NULL ? slot->count : 0;
	table_unlock(a);
	return count;
}

uint64_t authfail_record(authfail *a, const char *ip, uint64_t now_ms, bool *cut_r)
{
	uint64_t delay = a->base_delay_ms;
	unsigned count;

	table_lock(a);
	struct authfail_slot *slot = find(a, ip, now_ms);
	if (slot == NULL)
		slot = take_slot(a, ip, now_ms);
	count = ++slot->count;
	slot->last_ms = now_ms;
	table_unlock(a);
	*cut_r = count >= a->limit;
	for (unsigned i = 1; i < count && delay < AUTHFAIL_MAX_FACTOR * a->base_delay_ms; i++)
		delay *= 2;
	if (delay > AUTHFAIL_MAX_FACTOR * a->base_delay_ms)
		delay = AUTHFAIL_MAX_FACTOR * a->base_delay_ms;
	return delay;
}
