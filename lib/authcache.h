/* authcache.h: remembers successful password checks, as Dovecot's
 * auth_cache does, so a client that logs in again and again (a mail client
 * polling, a script sending one message per connection) does not pay the
 * crypt(3) cost (milliseconds of CPU) every time. An entry is an
 * HMAC-SHA256, under a random key of this process, of the user name, the
 * password and the stored passwd entry: no password is kept, and a changed
 * password or passwd entry simply misses. Failed checks are never cached.
 * Fixed size (direct-mapped slots), entries expire after a TTL. */
#ifndef POSTERN_AUTHCACHE_H
#define POSTERN_AUTHCACHE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct authcache authcache;

/* authcache_new: slots entries, each valid for ttl_seconds; NULL (no
 * cache) when either is 0. */
authcache *authcache_new(size_t slots, unsigned ttl_seconds);
void authcache_free(authcache **c);
/* authcache_hit: true when this exact user/password/entry was verified
 * within the TTL. A NULL cache never hits. */
bool authcache_hit(authcache *c, const char *user, const char *password, const char *entry);
/* authcache_add: records a successful verification. */
void authcache_add(authcache *c, const char *user, const char *password, const char *entry);

#endif
