/* service.c: master's table of services: one entry per master.cf line with
 * its listening sockets and its process slots. Sockets are bound once and
 * survive reloads for as long as the service keeps its name and type. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "master.h"
#include "mem.h"
#include "sock.h"

struct service *service_new(struct master *m, struct mcf_service *def)
{
	struct service *s = xcalloc(1, sizeof(*s));

	s->master = m;
	s->key = mcf_service_key(def);
	service_set_def(m, s, def);
	return s;
}

void service_set_def(struct master *m, struct service *s, struct mcf_service *def)
{
	(void)m;
	s->def = def;
	if (def->maxproc != s->nslots) {
		pid_t *slots = xcalloc((size_t)def->maxproc, sizeof(pid_t));

		for (int i = 0; i < s->nslots && i < def->maxproc; i++)
			slots[i] = s->slots[i];
		free(s->slots);
		s->slots = slots;
		s->nslots = def->maxproc;
	}
}

struct service *service_find(struct master *m, const char *key)
{
	for (int i = 0; i < m->nsvcs; i++)
		if (strcmp(m->svcs[i]->key, key) == 0)
			return m->svcs[i];
	return NULL;
}

char *service_command_path(struct master *m, const struct mcf_service *def)
{
	if (strchr(def->command, '/') != NULL)
		return xstrdup(def->command);
	return fs_join(cfg_get(m->config, "daemon_directory"), def->command);
}

static bool want_ipv6(cfg *config)
{
	const char *protocols = cfg_get(config, "inet_protocols");

	return strstr(protocols, "all") != NULL || strstr(protocols, "ipv6") != NULL;
}

static int bind_inet(struct master *m, struct service *s)
{
	char *host = NULL, *port = NULL, *err = NULL;
	const char *iface = cfg_get(m->config, "inet_interfaces");
	int n;

	if (sock_parse_inet(s->def->name, &host, &port, &err) < 0)
		goto fail;
	if (host == NULL && strcmp(iface, "all") != 0) {
		char **list = cfg_split_list(iface);

		/* XXX only the first of several inet_interfaces is bound for a bare port */
		if (list[0] != NULL)
			host = xstrdup(strcmp(list[0], "loopback-only") == 0 ? "127.0.0.1" : list[0]);
		cfg_free_list(&list);
	}
	n = sock_listen_inet(host, port, want_ipv6(m->config), s->listen_fds, MASTER_MAX_LISTEN, &err);
	if (n < 0)
		goto fail;
	s->nlisten = n;
	s->listen_desc = n > 0 ? sock_local_name(s->listen_fds[0]) : xstrdup(s->def->name);
	for (int i = 1; i < n; i++) {
		char *more = sock_local_name(s->listen_fds[i]);
		char *joined = xasprintf("%s,%s", s->listen_desc, more);

		free(more);
		free(s->listen_desc);
		s->listen_desc = joined;
	}
	free(host);
	free(port);
	return 0;
fail:
	master_error(m, "%s:%d: service %s: %s", m->mcf->path, s->def->line, s->def->name, err);
	free(err);
	free(host);
	free(port);
	return -1;
}

static int bind_unix(struct master *m, struct service *s)
{
	const char *queue = cfg_get(m->config, "queue_directory");
	char *dir = fs_join(queue, s->def->private_ ? "private" : "public");
	char *err = NULL;
	int fd;

	s->unix_path = fs_join(dir, s->def->name);
	free(dir);
	fd = sock_listen_unix(s->unix_path, s->def->private_ ? 0600 : 0666, &err);
	if (fd < 0) {
		master_error(m, "%s:%d: service %s: %s", m->mcf->path, s->def->line, s->def->name,
			     err);
		free(err);
		return -1;
	}
	if (m->is_root && chown(s->unix_path, m->owner_uid, m->owner_gid) < 0)
		log_warn("cannot chown %s: %s", s->unix_path, strerror(errno));
	s->listen_fds[0] = fd;
	s->nlisten = 1;
	s->listen_desc = xstrdup(s->unix_path);
	return 0;
}

int service_bind(struct master *m, struct service *s)
{
	return s->def->type == MCF_INET ? bind_inet(m, s) : bind_unix(m, s);
}

void service_free(struct master *m, struct service **sp)
{
	struct service *s = *sp;

	if (s == NULL)
		return;
	spawn_retire(m, s);
	for (int i = 0; i < s->nlisten; i++)
		close(s->listen_fds[i]);
	if (s->unix_path != NULL)
		unlink(s->unix_path);
	ev_timer_remove(&s->respawn);
	ev_timer_remove(&s->settle);
	ev_timer_remove(&s->wakeup);
	free(s->unix_path);
	free(s->listen_desc);
	free(s->slots);
	free(s->key);
	free(s);
	*sp = NULL;
}

/* Postfix-style wakeup: poke a unix service every def->wakeup seconds by
 * connecting and sending the record "protocol=wakeup", so a queue manager
 * rescans even when no trigger arrives. */
static void on_wakeup(void *ctx)
{
	struct service *s = ctx;
	char *err = NULL;
	int fd = sock_connect_unix(s->unix_path, &err);

	if (fd < 0) {
		log_warn("wakeup %s: %s", s->key, err);
		free(err);
		return;
	}
	sock_set_nonblock(fd, true);
	if (write(fd, "protocol=wakeup\n\n", 17) < 0)
		log_warn("wakeup %s: %s", s->key, strerror(errno));
	close(fd);
}

void service_arm_wakeup(struct master *m, struct service *s)
{
	ev_timer_remove(&s->wakeup);
	if (s->def->wakeup > 0 && s->def->type == MCF_UNIX)
		s->wakeup = ev_timer_add(m->loop, (uint64_t)s->def->wakeup * 1000, true, on_wakeup, s);
}
