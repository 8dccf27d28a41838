/* dreq.c: parsing qmgr's delivery requests for local and smtp (see
 * dreq.h). */
#include "dreq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "q.h"

static int check_fields(const attr_rec *rec, bool want_nexthop, char **err_r)
{
	static const char *const known[] = { "queue_id", "queue_file", "recover", "rcpt",
					     "nexthop" };
	size_t nknown = sizeof(known) / sizeof(known[0]) - (want_nexthop ? 0 : 1);

	for (size_t i = 0; i < attr_count(rec); i++) {
		bool ok = false;

		for (size_t k = 0; k < nknown; k++)
			ok |= strcmp(attr_name_at(rec, i), known[k]) == 0;
		if (!ok) {
			*err_r = xasprintf("unknown field '%s'", attr_name_at(rec, i));
			return -1;
		}
	}
	return 0;
}

/* parse_index: a recipient index in [0, DREQ_MAX_INDEX]; -1 if not. */
static int parse_index(const char *value)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (*value < '0' || *value > '9' || *end != '\0' || errno != 0 || v > DREQ_MAX_INDEX)
		return -1;
	return (int)v;
}

static int parse_rcpts(const attr_rec *rec, int max_rcpts, struct dreq *rq, char **err_r)
{
	size_t count = attr_count(rec);

	rq->rcpts = xcalloc(count + 1, sizeof(*rq->rcpts));
	for (size_t i = 0; i < count; i++) {
		const char *value = attr_value_at(rec, i);
		int v;

		if (strcmp(attr_name_at(rec, i), "rcpt") != 0)
			continue;
		v = parse_index(value);
		if (v < 0 || rq->n >= max_rcpts) {
			*err_r = xasprintf(v < 0 ? "bad rcpt '%s'" : "too many rcpt fields at '%s'",
					   value);
			return -1;
		}
		for (int k = 0; k < rq->n; k++)
			if (rq->rcpts[k] == v) {
				*err_r = xasprintf("rcpt %d given twice", v);
				return -1;
			}
		rq->rcpts[rq->n++] = v;
	}
	return 0;
}

/* check_path: queue_file is queue_dir's active/<queue_id>. */
static int check_path(const char *queue_dir, const char *qid, const char *file, char **err_r)
{
	char *want = q_path(queue_dir, Q_ACTIVE, qid);
	int rc = strcmp(want, file) == 0 ? 0 : -1;

	free(want);
	if (rc < 0)
		*err_r = xasprintf("queue file %s is not in %s/", file, Q_ACTIVE);
	return rc;
}

int dreq_parse(const attr_rec *rec, const char *queue_dir, bool want_nexthop, int max_rcpts,
	       struct dreq *rq, char **err_r)
{
	const char *qid = attr_get(rec, "queue_id"), *file = attr_get(rec, "queue_file");
	const char *hop = attr_get(rec, "nexthop"), *recover = attr_get(rec, "recover");

	memset(rq, 0, sizeof(*rq));
	*err_r = NULL;
	if (strcmp(attr_protocol(rec), "delivery") != 0 || qid == NULL || file == NULL ||
	    (want_nexthop && hop == NULL) || !q_id_valid(qid) ||
	    check_fields(rec, want_nexthop, err_r) < 0 || check_path(queue_dir, qid, file, err_r) < 0 ||
	    parse_rcpts(rec, max_rcpts, rq, err_r) < 0) {
		if (*err_r == NULL)
			*err_r = xstrdup("not a valid delivery request");
		dreq_clear(rq);
		return -1;
	}
	rq->queue_id = xstrdup(qid);
	rq->queue_file = xstrdup(file);
	rq->nexthop = hop != NULL ? xstrdup(hop) : NULL;
	rq->recover = recover != NULL && strcmp(recover, "1") == 0;
	return 0;
}

void dreq_clear(struct dreq *rq)
{
	free(rq->queue_id);
	free(rq->queue_file);
	free(rq->nexthop);
	free(rq->rcpts);
	memset(rq, 0, sizeof(*rq));
}
