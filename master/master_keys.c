/* master_keys.c: the main.cf keys only master reads (mailctl reads every
 * key, so it does not count): where inet services listen, how many
 * processes a service gets, how a crashing service is restarted and how
 * long a stop may take. Data only; compiled into libpostern so every
 * program knows these keys (see cfg_key_tables). Documented in
 * docs/config.md. */
#include "cfg.h"

const struct cfg_key master_cfg_keys[] = {
	/* Listening sockets */
	{ "inet_interfaces", CFG_LIST, "all", CFG_NO_BOUNDS,
	  "local addresses inet services listen on: all, loopback-only or addresses" },

	/* Processes */
	{ "default_process_limit", CFG_INT, "0", 0, 10000,
	  "processes of one service when master.cf says '-' for maxproc; 0 means one per CPU, at least 2" },
	{ "service_restart_delay_max", CFG_TIME, "30s", 1, 3600,
	  "longest wait before master restarts a service that keeps crashing" },
	{ "service_stop_timeout", CFG_TIME, "10s", 1, 600,
	  "how long master waits after SIGTERM before it sends SIGKILL" },

	{ NULL, CFG_STR, NULL, 0, 0, NULL },
};
