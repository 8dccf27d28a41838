/* authhook.h: the checks that come after SPF and DKIM and judge their
 * verdicts together: DMARC (RFC 7489) plugs in here, later ARC. smtpd's
 * authres.c calls every hook of smtpd_auth_hooks for each message it
 * checks: at the end of the header (From: is known: start lookups), when
 * the content is complete (wait for them), and once every verdict is in
 * (add clauses to Authentication-Results, decide what becomes of the
 * message). ARC (smtpd/arc.c) comes first, then DMARC (smtpd/dmarc.c),
 * so that DMARC could see ARC's clause. */
#ifndef POSTERN_SMTPD_AUTHHOOK_H
#define POSTERN_SMTPD_AUTHHOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "dkim.h"
#include "spf.h"

struct session;

/* What SPF and DKIM found, for the hooks. spf_*_run: the check was made
 * (else its result is SPF_NONE and means nothing). mailfrom_domain: the
 * domain SPF authorised for MAIL FROM (the HELO name for the null
 * sender). dkim: the verdicts, one per DKIM-Signature, top first. */
struct smtpd_auth_view {
	const char *client_ip;
	const char *helo;
	const char *sender; /* "" for the null sender */
	bool spf_mailfrom_run, spf_helo_run;
	enum spf_result spf_mailfrom, spf_helo;
	const char *mailfrom_domain;
	const struct dkim_result *const *dkim;
	size_t ndkim;
	/* set by the ARC hook's judge for the hooks after it: the sealer of
	 * a passing chain that smtpd_arc_trusted_sealers names, else NULL */
	const char *arc_trusted_sealer;
};

/* What becomes of the message: accept it (as it is, or with the fields
 * the hook added); accept it into quarantine (local delivery files it in
 * the recipient's Junk folder: the queue file's Q record; text says why,
 * for the log); refuse it (code, dsn and text of the reply: 5xx or 4xx).
 * A refusal ends the judging; quarantine lets later hooks refuse. */
enum smtpd_auth_action { SMTPD_AUTH_ACCEPT, SMTPD_AUTH_QUARANTINE, SMTPD_AUTH_REFUSE };
struct smtpd_auth_decision {
	enum smtpd_auth_action action;
	int code;
	const char *dsn;
	char *text; /* heap */
};

/* One hook. header: the header block is complete; returns the hook's
 * state for this message (NULL: nothing to do, the other calls are
 * skipped). body: body bytes as they stream (may be NULL; the empty
 * line after the header is not passed). wait: the content is complete; returns true when the hook's
 * answers are in, else false and calls smtpd_authres_hook_ready(s) once
 * they are (never from inside wait); after any hook's ready call wait is
 * asked again, so a second call must only report. judge: every verdict is in: may add
 * clauses with authres_add to field and fill decision (which starts as
 * accept); it may leave findings in v for the hooks after it. free: the message is done (also when the session ends
 * first): cancels what runs. */
struct smtpd_auth_hook {
	const char *name;
	void *(*header)(struct session *s, const char *hdr, size_t len);
	void (*body)(void *state, const char *data, size_t len);
	bool (*wait)(void *state);
	void (*judge)(void *state, struct smtpd_auth_view *v, buf *field,
		      struct smtpd_auth_decision *decision);
	void (*free)(void *state);
};

/* The hooks, in order; ends with NULL. */
extern const struct smtpd_auth_hook *const smtpd_auth_hooks[];
#define SMTPD_AUTH_HOOKS_MAX 4

/* smtpd_authres_hook_ready: a hook's answers came in (authres.c). */
void smtpd_authres_hook_ready(struct session *s);

#endif
