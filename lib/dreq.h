/* dreq.h: the delivery request qmgr sends to its delivery agents, local
 * and smtp (docs/internals.md): protocol=delivery with queue_id,
 * queue_file, recover, nexthop (smtp only) and the rcpt indexes. One
 * parser for both agents, so they refuse the same malformed requests: a
 * queue_file that is not active/<queue_id> of the agent's own queue (an
 * agent reads no other file on qmgr's say-so), unknown fields, recipient
 * indexes that are no numbers, repeat or are too many. */
#ifndef POSTERN_DREQ_H
#define POSTERN_DREQ_H

#include <stdbool.h>

#include "attr.h"

/* Largest recipient index a request may name. */
#define DREQ_MAX_INDEX 1000000

struct dreq {
	char *queue_id;
	char *queue_file;
	char *nexthop; /* NULL unless the agent asked for one */
	bool recover;
	int *rcpts;
	int n;
};

/* dreq_parse: rec into *rq (strings copied: rec may go). want_nexthop:
 * the nexthop field is required, else it is refused. At most max_rcpts
 * recipients. Returns 0, or -1 with *err_r (heap) and *rq cleared. */
int dreq_parse(const attr_rec *rec, const char *queue_dir, bool want_nexthop, int max_rcpts,
	       struct dreq *rq, char **err_r);
void dreq_clear(struct dreq *rq);

#endif
