/* dmarc_int.h: the check's state, shared by dmarc_check.c (discovery and
 * judgement) and dmarc_report.c (the report line). Not for callers. */
#ifndef POSTERN_DMARC_INT_H
#define POSTERN_DMARC_INT_H

#include "dmarc.h"

/* A DKIM verdict as the check keeps it: d= normalised and its
 * organisational domain. */
struct dmarc_sig {
	char *domain, *org, *selector;
	enum dkim_status status;
};

enum dmarc_phase { PHASE_FROM, PHASE_ORG, PHASE_DONE };

/* One author domain's discovery and verdict. */
struct dmarc_author {
	char *domain, *org;
	enum dmarc_phase phase;
	bool have_record;
	bool at_org; /* the record came from the organisational domain */
	struct dmarc_record record;
	char *policy_domain;
	char *reason;
	enum dmarc_result result;
	enum dmarc_policy policy, disposition;
	bool sampled_out, spf_aligned, dkim_aligned;
	const char *dkim_domain;
};

struct dmarc_check {
	struct txt_resolver resolver;
	dmarc_sample_fn *sample;
	void *sample_ctx;
	dmarc_done_cb *cb;
	void *ctx;
	char *source_ip;
	char *spf_domain, *spf_org; /* NULL: no SPF identity */
	enum spf_result spf;
	struct dmarc_sig sigs[DMARC_MAX_DKIM];
	size_t nsigs;
	struct dmarc_author authors[DMARC_MAX_AUTHORS];
	size_t nauthors, cur;
	enum dmarc_from_status from_status;
	void *pending;
	bool waiting, in_start, in_pump, done, judged;
	const struct dmarc_author *chosen; /* NULL: no author (permerror) */
	struct dmarc_verdict verdict;
};

/* dmarc_pair_aligned: name (with its organisational domain org) is in
 * alignment with the author a under mode. */
bool dmarc_pair_aligned(const struct dmarc_author *a, const char *name, const char *org,
			enum dmarc_align mode);

#endif
