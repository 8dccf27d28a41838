/* reload.c: master's reload (SIGHUP or "mailctl reload"). The new
 * main.cf and master.cf are read and checked completely first; if anything
 * is wrong the running configuration stays as it is. Otherwise:
 *   - a service that is gone: its workers are stopped, its sockets closed;
 *   - a new service: its sockets are bound (all new binds succeed, or the
 *     reload is refused), then its workers start;
 *   - a changed service (any column or argument), or every service when
 *     main.cf changed: old workers get SIGTERM and finish their sessions,
 *     new ones start at once on the same, never closed, sockets;
 *   - an unchanged service keeps its workers; they get SIGHUP and reread
 *     what they cache (renewed TLS certificates) for new connections. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "mem.h"
#include "svc.h"

/* Binds the sockets of services that are new in mcf; on failure every
 * socket bound here is closed again. */
static int bind_new(struct master *m, struct mcf *mcf, cfg *config, struct service **fresh)
{
	cfg *saved_cfg = m->config;
	struct mcf *saved_mcf = m->mcf;
	int rc = 0;

	m->config = config; /* bind with the new inet_interfaces etc. */
	m->mcf = mcf;
	for (int i = 0; i < mcf->count && rc == 0; i++) {
		char *key = mcf_service_key(&mcf->services[i]);

		if (service_find(m, key) == NULL) {
			fresh[i] = service_new(m, &mcf->services[i]);
			rc = service_bind(m, fresh[i]);
		}
		free(key);
	}
	m->config = saved_cfg;
	m->mcf = saved_mcf;
	if (rc < 0)
		for (int i = 0; i < mcf->count; i++)
			service_free(m, &fresh[i]);
	return rc;
}

static bool in_new(struct mcf *mcf, const char *key)
{
	for (int i = 0; i < mcf->count; i++) {
		char *k = mcf_service_key(&mcf->services[i]);
		bool same = strcmp(k, key) == 0;

		free(k);
		if (same)
			return true;
	}
	return false;
}

/* Builds the new service table in master.cf order. */
static void switch_services(struct master *m, struct mcf *mcf, bool main_changed,
			    struct service **fresh)
{
	struct service **table = xcalloc((size_t)mcf->count + 1, sizeof(*table));

	for (int i = 0; i < m->nsvcs; i++) {
		if (!in_new(mcf, m->svcs[i]->key)) {
			log_info("reload: service %s removed", m->svcs[i]->key);
			service_free(m, &m->svcs[i]);
		}
	}
	for (int i = 0; i < mcf->count; i++) {
		struct mcf_service *def = &mcf->services[i];
		char *key = mcf_service_key(def);
		struct service *s = fresh[i] ? fresh[i] : service_find(m, key);

		if (fresh[i] != NULL) {
			log_info("reload: service %s added", key);
		} else if (main_changed || !mcf_service_equal(s->def, def)) {
			log_info("reload: service %s restarted", key);
			spawn_retire(m, s);
			s->fails = 0;
			s->next_start_ms = 0;
			service_set_def(m, s, def);
		} else {
			service_set_def(m, s, def);
			spawn_signal(m, s, SIGHUP);
		}
		table[i] = s;
		free(key);
	}
	free(m->svcs);
	m->svcs = table;
	m->nsvcs = mcf->count;
}

int master_reload(struct master *m)
{
	struct service **fresh;
	struct mcf *mcf;
	cfg *config;
	char *text;
	bool main_changed;

	buf_reset(m->errors);
	log_info("reloading configuration %s", m->config_dir);
	if (master_load(m, &config, &mcf, &text) < 0) {
		log_warn("reload refused: configuration errors (see above); still running the old one");
		free(text);
		return -1;
	}
	fresh = xcalloc((size_t)mcf->count + 1, sizeof(*fresh));
	if (bind_new(m, mcf, config, fresh) < 0) {
		log_warn("reload refused: still running the old configuration");
		free(fresh);
		free(text);
		mcf_free(&mcf);
		cfg_free(&config);
		return -1;
	}
	main_changed = strcmp(text, m->main_cf_text) != 0;
	if (strcmp(cfg_get(config, "queue_directory"), cfg_get(m->config, "queue_directory")) != 0) {
		log_warn("reload: a new queue_directory takes effect only after a restart");
		cfg_set(config, "queue_directory", cfg_get(m->config, "queue_directory"));
	}
	cfg_free(&m->config);
	m->config = config;
	free(m->main_cf_text);
	m->main_cf_text = text;
	svc_setup_log(m->config, "master");
	switch_services(m, mcf, main_changed, fresh);
	mcf_free(&m->mcf);
	m->mcf = mcf;
	free(fresh);
	for (int i = 0; i < m->nsvcs; i++) {
		spawn_fill(m, m->svcs[i]);
		service_arm_wakeup(m, m->svcs[i]);
	}
	log_info("reload complete: %d service(s)", m->nsvcs);
	return 0;
}
