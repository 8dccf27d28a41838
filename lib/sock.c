/* sock.c: socket creation, binding, connecting and address printing. */
#include "sock.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "mem.h"

#define LISTEN_BACKLOG 1024

int sock_parse_inet(const char *spec, char **host_r, char **port_r, char **err_r)
{
	const char *colon;

	*host_r = *port_r = NULL;
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (close == NULL || close[1] != ':' || close[2] == '\0' || close == spec + 1) {
			*err_r = xasprintf("bad address '%s': expected [address]:port", spec);
			return -1;
		}
		*host_r = xstrndup(spec + 1, (size_t)(close - spec - 1));
		*port_r = xstrdup(close + 2);
		return 0;
	}
	colon = strrchr(spec, ':');
	if (colon == NULL) {
		*port_r = xstrdup(spec);
	} else {
		*host_r = xstrndup(spec, (size_t)(colon - spec));
		*port_r = xstrdup(colon + 1);
	}
	if (**port_r == '\0' || (*host_r != NULL && **host_r == '\0')) {
		*err_r = xasprintf("bad address '%s': expected [host:]port", spec);
		free(*host_r);
		free(*port_r);
		*host_r = *port_r = NULL;
		return -1;
	}
	return 0;
}

static int bind_one(const struct addrinfo *ai, const char *host, const char *port, char **err_r)
{
	int one = 1;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);

	if (fd < 0) {
		*err_r = xasprintf("cannot create socket for %s:%s: %s", host, port, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		*err_r = xasprintf("cannot bind %s%s%s:%s: %s", ai->ai_family == AF_INET6 ? "[" : "",
				   host, ai->ai_family == AF_INET6 ? "]" : "", port,
				   strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int sock_listen_inet(const char *host, const char *port, bool want_ipv6, int *fds, int max,
		     char **err_r)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res, *ai;
	bool any = host == NULL || strcmp(host, "all") == 0;
	int n = 0, rc;

	hints.ai_family = want_ipv6 ? AF_UNSPEC : AF_INET;
	rc = getaddrinfo(any ? NULL : host, port, &hints, &res);
	if (rc != 0) {
		*err_r = xasprintf("cannot resolve %s:%s: %s", any ? "*" : host, port,
				   gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && n < max; ai = ai->ai_next) {
		char numeric[NI_MAXHOST];
		int fd;

		getnameinfo(ai->ai_addr, ai->ai_addrlen, numeric, sizeof(numeric), NULL, 0,
			    NI_NUMERICHOST);
		fd = bind_one(ai, numeric, port, err_r);
		if (fd < 0) {
			while (n > 0)
				close(fds[--n]);
			freeaddrinfo(res);
			return -1;
		}
		fds[n++] = fd;
	}
	freeaddrinfo(res);
	return n;
}

static int unix_address(const char *path, struct sockaddr_un *sun, char **err_r)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		*err_r = xasprintf("socket path too long: %s", path);
		return -1;
	}
	strcpy(sun->sun_path, path);
	return 0;
}

int sock_listen_unix(const char *path, int mode, char **err_r)
{
	struct sockaddr_un sun;
	int fd;

	if (unix_address(path, &sun, err_r) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err_r = xasprintf("cannot create socket %s: %s", path, strerror(errno));
		return -1;
	}
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, (mode_t)mode) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0) {
		*err_r = xasprintf("cannot bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int sock_connect_unix(const char *path, char **err_r)
{
	struct sockaddr_un sun;
	int fd;

	if (unix_address(path, &sun, err_r) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		*err_r = xasprintf("cannot connect to %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int wait_connected(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int err = 0;
	socklen_t len = sizeof(err);

	if (poll(&pfd, 1, timeout_ms) <= 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

int sock_connect_inet(const char *host, const char *port, int timeout_ms, char **err_r)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC };
	struct addrinfo *res;
	int fd = -1, rc = getaddrinfo(host, port, &hints, &res);

	if (rc != 0) {
		*err_r = xasprintf("cannot resolve %s:%s: %s", host, port, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) < 0 &&
	    (errno != EINPROGRESS || wait_connected(fd, timeout_ms) < 0)) {
		*err_r = xasprintf("cannot connect to %s:%s: %s", host, port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0)
		sock_set_nonblock(fd, false);
	return fd;
}

int sock_connect_start(const struct sockaddr *sa, socklen_t len)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, sa, len) < 0 && errno != EINPROGRESS) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

int sock_connect_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

static char *name_of(const struct sockaddr_storage *ss, socklen_t len)
{
	char host[NI_MAXHOST], port[NI_MAXSERV];

	if (ss->ss_family == AF_UNIX) {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)ss;

		return xstrdup(len > sizeof(sa_family_t) ? sun->sun_path : "unix");
	}
	if (getnameinfo((const struct sockaddr *)ss, len, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return xstrdup("unknown");
	if (ss->ss_family == AF_INET6)
		return xasprintf("[%s]:%s", host, port);
	return xasprintf("%s:%s", host, port);
}

char *sock_local_name(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return xstrdup("unknown");
	return name_of(&ss, len);
}

char *sock_peer_name(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return xstrdup("unknown");
	return name_of(&ss, len);
}

char *sock_peer_addr(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char text[INET6_ADDRSTRLEN];
	const void *addr;
	int family = AF_INET;

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return xstrdup("unknown");
	if (ss.ss_family == AF_INET) {
		addr = &((const struct sockaddr_in *)&ss)->sin_addr;
	} else if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)&ss)->sin6_addr;

		addr = IN6_IS_ADDR_V4MAPPED(a6) ? (const void *)&a6->s6_addr[12] : (const void *)a6;
		family = IN6_IS_ADDR_V4MAPPED(a6) ? AF_INET : AF_INET6;
	} else {
		return xstrdup("unknown");
	}
	if (inet_ntop(family, addr, text, sizeof(text)) == NULL)
		return xstrdup("unknown");
	return xstrdup(text);
}

int sock_set_nodelay(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int sock_set_nonblock(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0)
		return -1;
	flags = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, flags);
}

int sock_set_cloexec(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0)
		return -1;
	flags = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
	return fcntl(fd, F_SETFD, flags);
}
