/* sock.h: listening and connecting sockets, inet and Unix-domain. Used by
 * master to bind services, by the service skeleton to accept, and by the
 * tools and tests to connect. Every fd is created close-on-exec; master
 * clears the flag on the fds it hands to a child. */
#ifndef POSTERN_SOCK_H
#define POSTERN_SOCK_H

#include <stdbool.h>
#include <sys/socket.h>

/* sock_parse_inet: splits "[host:]port", "[v6]:port" into *host_r (heap,
 * NULL when absent) and *port_r (heap). 0 or -1 with *err_r. */
int sock_parse_inet(const char *spec, char **host_r, char **port_r, char **err_r);
/* sock_listen_inet: binds and listens on every address host:port resolves
 * to (host NULL or "all" = every interface, with IPv6 only when
 * inet_protocols allows). Writes up to max fds into fds; returns the count,
 * or -1 with *err_r ("cannot bind 127.0.0.1:25: Address already in use"). */
int sock_listen_inet(const char *host, const char *port, bool want_ipv6, int *fds, int max,
		     char **err_r);
/* sock_listen_unix: removes a stale socket file, binds, chmods, listens. */
int sock_listen_unix(const char *path, int mode, char **err_r);
/* sock_connect_unix: blocking connect. -1 with *err_r. */
int sock_connect_unix(const char *path, char **err_r);
/* sock_connect_inet: blocking connect to host:port with a timeout in ms. */
int sock_connect_inet(const char *host, const char *port, int timeout_ms, char **err_r);
/* sock_connect_start: a non-blocking, close-on-exec TCP socket of sa's
 * family whose connect to sa is done or in progress (EINPROGRESS): watch
 * it for writing, then ask sock_connect_error. Returns the fd, or -1 with
 * errno (ECONNREFUSED, ENETUNREACH, ...). */
int sock_connect_start(const struct sockaddr *sa, socklen_t len);
/* sock_connect_error: the outcome of a non-blocking connect on fd once it
 * became writable: 0 connected, else the errno value (SO_ERROR). */
int sock_connect_error(int fd);
/* sock_local_name: "127.0.0.1:10025", "[::1]:25" or the Unix path (heap). */
char *sock_local_name(int fd);
/* sock_peer_name: like sock_local_name for the peer; "unknown" if unset. */
char *sock_peer_name(int fd);
/* sock_peer_addr: the peer's address alone ("192.0.2.1", "2001:db8::1";
 * IPv4-mapped IPv6 addresses as IPv4), "unknown" for non-inet sockets. */
char *sock_peer_addr(int fd);
/* sock_set_nodelay: TCP_NODELAY, for servers whose replies end in a
 * partial segment that must not wait for the client's delayed ACK. */
int sock_set_nodelay(int fd);
int sock_set_nonblock(int fd, bool on);
int sock_set_cloexec(int fd, bool on);

#endif
