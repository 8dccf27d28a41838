/* watch.c: inotify change notification on lib/ev (see watch.h). The hub
 * owns one inotify descriptor; kernel watch descriptors (wd) index a
 * table of entries, each with the watches that use it (the kernel gives
 * the same wd for the same path, so sharing is free). An event marks each
 * watch of its wd due (once) and arms one coalescing timer; when it fires
 * the due watches are called in turn, each taken off the due list first,
 * so a callback may remove any watch. */
#include "watch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

#define WATCH_MASK                                                                          \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_MODIFY |  \
	 IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
/* Bytes read from the inotify descriptor at a time. */
#define WATCH_READ_BUF 4096

struct wd_entry {
	watch **subs;
	size_t nsubs, cap;
	bool gone; /* the kernel dropped the watch (IN_IGNORED) */
};

struct watch_hub {
	ev_loop *loop;
	int fd;
	ev_io *io;
	ev_timer *timer;   /* the coalescing delay (made at first use) */
	bool armed;
	struct wd_entry **entries; /* by wd */
	size_t nentries;
	size_t kernel_watches;
	watch *due;        /* watches to call, doubly linked */
};

struct watch {
	watch_hub *hub;
	watch_cb *cb;
	void *ctx;
	int wds[WATCH_MAX_PATHS];
	size_t n;
	bool is_due;
	watch *due_prev, *due_next;
};

/* ---- the due list ---- */

static void on_timer(void *ctx);

static void due_unlink(watch *w)
{
	if (!w->is_due)
		return;
	if (w->due_prev != NULL)
		w->due_prev->due_next = w->due_next;
	else
		w->hub->due = w->due_next;
	if (w->due_next != NULL)
		w->due_next->due_prev = w->due_prev;
	w->due_prev = w->due_next = NULL;
	w->is_due = false;
}

static void due_mark(watch *w)
{
	watch_hub *hub = w->hub;

	if (w->is_due)
		return;
	w->is_due = true;
	w->due_prev = NULL;
	w->due_next = hub->due;
	if (hub->due != NULL)
		hub->due->due_prev = w;
	hub->due = w;
	if (hub->armed)
		return;
	if (hub->timer == NULL)
		hub->timer = ev_timer_add(hub->loop, WATCH_COALESCE_MS, false, on_timer, hub);
	else
		ev_timer_reset(hub->timer, WATCH_COALESCE_MS);
	hub->armed = true;
}

static void on_timer(void *ctx)
{
	watch_hub *hub = ctx;

	hub->armed = false;
	while (hub->due != NULL) {
		watch *w = hub->due;

		due_unlink(w);
		w->cb(w->ctx);
	}
}

/* ---- kernel events ---- */

static struct wd_entry *entry_of(watch_hub *hub, int wd)
{
	if (wd < 0 || (size_t)wd >= hub->nentries)
		return NULL;
	return hub->entries[wd];
}

static void on_event(watch_hub *hub, const struct inotify_event *ev)
{
	struct wd_entry *e = entry_of(hub, ev->wd);

	if (e == NULL)
		return;
	if (ev->mask & IN_IGNORED) {
		if (!e->gone)
			hub->kernel_watches--;
		e->gone = true;
	}
	for (size_t i = 0; i < e->nsubs; i++)
		due_mark(e->subs[i]);
}

static void on_io(void *ctx, int fd, int events)
{
	watch_hub *hub = ctx;
	char data[WATCH_READ_BUF] __attribute__((aligned(__alignof__(struct inotify_event))));
	(void)events;

	for (;;) {
		ssize_t got = read(fd, data, sizeof(data));
		size_t off = 0;

		if (got <= 0) {
			if (got < 0 && errno != EAGAIN && errno != EINTR)
				log_warn("inotify read: %s", strerror(errno));
			return;
		}
		while (off + sizeof(struct inotify_event) <= (size_t)got) {
			const struct inotify_event *ev = (const void *)(data + off);

			on_event(hub, ev);
			off += sizeof(struct inotify_event) + ev->len;
		}
	}
}

/* ---- the hub ---- */

watch_hub *watch_hub_new(ev_loop *loop, char **err_r)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	watch_hub *hub;

	if (fd < 0) {
		*err_r = xasprintf("inotify_init1: %s", strerror(errno));
		return NULL;
	}
	hub = xcalloc(1, sizeof(*hub));
	hub->loop = loop;
	hub->fd = fd;
	hub->io = ev_io_add(loop, fd, EV_READ, on_io, hub);
	return hub;
}

void watch_hub_free(watch_hub **hub)
{
	watch_hub *h = *hub;

	if (h == NULL)
		return;
	for (size_t i = 0; i < h->nentries; i++) {
		if (h->entries[i] != NULL)
			log_panic("watch_hub_free with watches in use");
	}
	ev_io_remove(&h->io);
	ev_timer_remove(&h->timer);
	close(h->fd);
	free(h->entries);
	free(h);
	*hub = NULL;
}

size_t watch_hub_kernel_watches(const watch_hub *hub)
{
	return hub->kernel_watches;
}

/* ---- watches ---- */

static void entry_add(watch_hub *hub, int wd, watch *w)
{
	struct wd_entry *e;

	if ((size_t)wd >= hub->nentries) {
		size_t n = hub->nentries * 2 > (size_t)wd + 1 ? hub->nentries * 2 : (size_t)wd + 16;

		hub->entries = xrealloc(hub->entries, n * sizeof(*hub->entries));
		memset(hub->entries + hub->nentries, 0, (n - hub->nentries) * sizeof(*hub->entries));
		hub->nentries = n;
	}
	e = hub->entries[wd];
	if (e == NULL || e->gone) {
		if (e == NULL) {
			e = xcalloc(1, sizeof(*e));
			hub->entries[wd] = e;
		}
		e->gone = false;
		hub->kernel_watches++;
	}
	if (e->nsubs == e->cap) {
		e->cap = e->cap > 0 ? e->cap * 2 : 2;
		e->subs = xrealloc(e->subs, e->cap * sizeof(*e->subs));
	}
	e->subs[e->nsubs++] = w;
}

static void entry_drop(watch_hub *hub, int wd, watch *w)
{
	struct wd_entry *e = entry_of(hub, wd);

	if (e == NULL)
		return;
	for (size_t i = 0; i < e->nsubs; i++) {
		if (e->subs[i] == w) {
			e->subs[i] = e->subs[--e->nsubs];
			break;
		}
	}
	if (e->nsubs > 0)
		return;
	if (!e->gone) {
		inotify_rm_watch(hub->fd, wd);
		hub->kernel_watches--;
	}
	free(e->subs);
	free(e);
	hub->entries[wd] = NULL;
}

watch *watch_add(watch_hub *hub, const char *const *paths, size_t n, watch_cb *cb, void *ctx,
		 char **err_r)
{
	watch *w;

	if (n == 0 || n > WATCH_MAX_PATHS) {
		*err_r = xasprintf("watch_add: %zu paths (1 to %d)", n, WATCH_MAX_PATHS);
		return NULL;
	}
	w = xcalloc(1, sizeof(*w));
	w->hub = hub;
	w->cb = cb;
	w->ctx = ctx;
	for (size_t i = 0; i < n; i++) {
		int wd = inotify_add_watch(hub->fd, paths[i], WATCH_MASK);

		if (wd < 0) {
			*err_r = xasprintf("inotify_add_watch %s: %s", paths[i], strerror(errno));
			watch_remove(&w);
			return NULL;
		}
		/* the same path twice in one watch: one entry suffices */
		bool dup = false;

		for (size_t j = 0; j < w->n; j++)
			dup = dup || w->wds[j] == wd;
		if (dup)
			continue;
		entry_add(hub, wd, w);
		w->wds[w->n++] = wd;
	}
	return w;
}

void watch_remove(watch **w)
{
	watch *x = *w;

	if (x == NULL)
		return;
	due_unlink(x);
	for (size_t i = 0; i < x->n; i++)
		entry_drop(x->hub, x->wds[i], x);
	free(x);
	*w = NULL;
}
