/* netmatch.h: client address matching for mynetworks-style lists:
 * "127.0.0.0/8 [::1]/128 10.1.2.3 [2001:db8::]/32", separated by commas
 * and/or white space. IPv4-mapped IPv6 clients (::ffff:a.b.c.d) match the
 * IPv4 entries. */
#ifndef POSTERN_NETMATCH_H
#define POSTERN_NETMATCH_H

#include <stdbool.h>
#include <sys/socket.h>

typedef struct netmatch netmatch;

/* netmatch_new: NULL with *err_r (heap) naming the bad entry. */
netmatch *netmatch_new(const char *list, char **err_r);
void netmatch_free(netmatch **n);
bool netmatch_match(const netmatch *n, const struct sockaddr *sa);
/* netmatch_match_str: ip is a numeric address, with or without brackets. */
bool netmatch_match_str(const netmatch *n, const char *ip);

#endif
