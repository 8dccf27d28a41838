/* qmgr_keys.c: the main.cf keys only qmgr reads: queue scans, retry
 * backoff, expiry, delivery concurrency and its memory bound. Data only;
 * compiled into libpostern so every program knows these keys (see
 * cfg_key_tables). Every key has a section in docs/config.md. */
#include "cfg.h"

const struct cfg_key qmgr_cfg_keys[] = {
	/* Scans, retries and expiry */
	{ "queue_run_delay", CFG_TIME, "300s", 1, 86400,
	  "how often qmgr scans the deferred queue for messages due for retry" },
	{ "minimal_backoff_time", CFG_TIME, "300s", 1, 86400,
	  "shortest wait before a deferred message is tried again" },
	{ "maximal_backoff_time", CFG_TIME, "4000s", 1, 604800,
	  "longest wait between two delivery attempts of a deferred message" },
	{ "maximal_queue_lifetime", CFG_TIME, "5d", 0, 31536000,
	  "how long a message may stay deferred before it is returned as undeliverable" },
	{ "bounce_queue_lifetime", CFG_TIME, "5d", 0, 31536000,
	  "how long a bounce (null sender) may stay deferred before it is given up "
	  "(at most maximal_queue_lifetime)" },
	{ "delay_warning_time", CFG_TIME, "0h", 0, 31536000,
	  "after this long in the queue the sender is warned once that the message is "
	  "delayed; 0 turns the warning off" },
	{ "2bounce_notice_recipient", CFG_STR, "postmaster", 1, 0,
	  "who gets a bounce that could not be delivered (a double bounce)" },
	{ "queue_tmp_max_age", CFG_TIME, "600s", 1, 86400,
	  "age after which qmgr removes a file from queue tmp/ that no writer holds" },

	/* Concurrency and memory */
	{ "local_destination_concurrency_limit", CFG_INT, "20", 1, 1000,
	  "most deliveries qmgr runs at once through local" },
	{ "qmgr_message_active_limit", CFG_INT, "1000", 1, 1000000,
	  "most messages qmgr holds in memory at once" },
	{ "smtp_transport_concurrency_limit", CFG_INT, "100", 1, 10000,
	  "most deliveries qmgr runs at once through smtp, over all destinations" },
	{ "default_destination_concurrency_limit", CFG_INT, "20", 1, 1000,
	  "most deliveries at once to one destination (next hop)" },
	{ "smtp_destination_concurrency_limit", CFG_INT, "$default_destination_concurrency_limit",
	  1, 1000, "most smtp deliveries at once to one destination" },
	{ "initial_destination_concurrency", CFG_INT, "5", 1, 1000,
	  "deliveries at once to a destination before any succeeded" },
	{ "smtp_destination_rate_delay", CFG_TIME, "0s", 0, 3600,
	  "pause between two smtp deliveries to one destination (then one at a time)" },
	{ "smtp_destination_recipient_limit", CFG_INT, "50", 1, 50,
	  "most recipients in one smtp delivery (one transaction)" },

	{ NULL, CFG_STR, NULL, 0, 0, NULL },
};
