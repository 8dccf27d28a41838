/* dnsmasq.c: the private dnsmasq of the unit tests (see dnsmasq.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dnsmasq.h"
#include "mem.h"

int dnsmasq_free_udp_port(int *fd_r)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	if (fd_r != NULL)
		*fd_r = fd;
	else
		close(fd);
	return ntohs(sin.sin_port);
}

/* tcp_ready: dnsmasq accepts TCP on its port once it is up. */
static bool tcp_ready(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return ok;
}

static pid_t start(int port, const char *const *records)
{
	static const char *const fixed[] = { DNSMASQ, "--keep-in-foreground",
					     "--conf-file=/dev/null", "--pid-file=",
					     "--no-resolv", "--no-hosts", "--bind-interfaces",
					     "--listen-address=127.0.0.1", "--user=root" };
	size_t nfixed = sizeof(fixed) / sizeof(fixed[0]), nrec = 0, n = 0;
	char **argv;
	pid_t pid;

	while (records[nrec] != NULL)
		nrec++;
	argv = xcalloc(nfixed + nrec + 2, sizeof(*argv));
	for (size_t i = 0; i < nfixed; i++)
		argv[n++] = xstrdup(fixed[i]);
	argv[n++] = xasprintf("--port=%d", port);
	for (size_t i = 0; i < nrec; i++)
		argv[n++] = xstrdup(records[i]);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	for (size_t i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
	return pid;
}

int dnsmasq_run(int port, const char *const *records, pid_t *pid_r)
{
	if (access(DNSMASQ, X_OK) != 0) {
		fprintf(stderr, "%s missing (./install-deps test)\n", DNSMASQ);
		return -1;
	}
	*pid_r = start(port, records);
	for (int i = 0; i < 500 && !tcp_ready(port); i++) {
		if (waitpid(*pid_r, NULL, WNOHANG) == *pid_r) { /* it could not bind */
			fprintf(stderr, "dnsmasq exited at start on port %d\n", port);
			*pid_r = 0;
			return -1;
		}
		usleep(10000);
	}
	if (!tcp_ready(port) || waitpid(*pid_r, NULL, WNOHANG) == *pid_r) {
		fprintf(stderr, "dnsmasq did not come up on port %d\n", port);
		dnsmasq_stop(pid_r);
		return -1;
	}
	return 0;
}

int dnsmasq_start(const char *const *records, int *port_r, pid_t *pid_r)
{
	for (int tries = 0; tries < DNSMASQ_TRIES; tries++) {
		*port_r = dnsmasq_free_udp_port(NULL);
		if (dnsmasq_run(*port_r, records, pid_r) == 0)
			return 0;
		if (access(DNSMASQ, X_OK) != 0)
			break;
	}
	return -1;
}

void dnsmasq_stop(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		waitpid(*pid, NULL, 0);
		*pid = 0;
	}
}

dns_resolver *dnsmasq_resolver(ev_loop *loop, int port, unsigned timeout_ms, unsigned retries,
			       unsigned cache_max)
{
	char servers[64], *err = NULL;
	struct dns_settings set = { servers, timeout_ms, retries, cache_max };
	dns_resolver *r;

	snprintf(servers, sizeof(servers), "127.0.0.1:%d", port);
	r = dns_new(loop, &set, &err);
	if (r == NULL)
		fail_msg("dns_new: %s", err);
	return r;
}
