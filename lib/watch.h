/* watch.h: change notification on the event loop (inotify): a program
 * watches a few directories or files (a Maildir folder's new/ and cur/,
 * a side file) and gets one callback soon after they change, however many
 * changes came in a burst. imapd uses it to wake IDLE sessions within a
 * second of a delivery or another session's flag change, without polling.
 *
 * One hub per process holds one inotify descriptor on the loop; watches
 * of the same path by many sessions share one kernel watch, so 10,000
 * IDLE sessions cost 10,000 small structs and one descriptor. */
#ifndef POSTERN_WATCH_H
#define POSTERN_WATCH_H

#include <stddef.h>

#include "ev.h"

/* Paths one watch may name. */
#define WATCH_MAX_PATHS 4
/* Changes within this many milliseconds of the first one make one call. */
#define WATCH_COALESCE_MS 20

typedef struct watch_hub watch_hub;
typedef struct watch watch;

/* watch_cb: something under the watch's paths changed (created, deleted,
 * renamed, written, attributes), or a watched directory itself went away.
 * The callback may remove this or any other watch. */
typedef void watch_cb(void *ctx);

/* watch_hub_new: NULL with a reason in *err_r (heap) when inotify is not
 * available (then the caller goes without wake-ups). */
watch_hub *watch_hub_new(ev_loop *loop, char **err_r);
/* watch_hub_free: every watch must be removed first. */
void watch_hub_free(watch_hub **hub);
/* watch_hub_kernel_watches: kernel watches in use (shared ones count once). */
size_t watch_hub_kernel_watches(const watch_hub *hub);

/* watch_add: calls cb(ctx) after changes to any of paths[0..n) (n at
 * most WATCH_MAX_PATHS). NULL with a reason in *err_r (heap) when a path
 * cannot be watched (missing, or the inotify watch limit reached). */
watch *watch_add(watch_hub *hub, const char *const *paths, size_t n, watch_cb *cb, void *ctx,
		 char **err_r);
/* watch_remove: no more calls; *w set to NULL (NULL is fine). */
void watch_remove(watch **w);

#endif
