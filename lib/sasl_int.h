/* sasl_int.h: private to the SASL engine (sasl.c, sasl_cram.c,
 * sasl_scram.c): the exchange state and the per-mechanism step functions.
 * sasl.c owns the framing (base64, "*", limits, the done flag); a
 * mechanism step sees only decoded bytes. */
#ifndef POSTERN_SASL_INT_H
#define POSTERN_SASL_INT_H

#include "buf.h"
#include "sasl.h"

struct sasl_scram;

/* A mechanism step: in[0..len) is the decoded client message (NUL after
 * it), or in is NULL when the client sent nothing (first step without an
 * initial response). Fills challenge (raw, not base64) on SASL_CONTINUE. */
typedef int sasl_mech_step(sasl_server *s, const char *in, size_t len, buf *challenge);

struct sasl_server {
	const char *mech_name;
	sasl_mech_step *step_fn;
	const struct sasl_backend *backend;
	void *ctx;
	unsigned int stage;     /* mechanism's own progress, from 0 */
	unsigned int calls;     /* sasl_step calls so far */
	bool done;
	const char *reason;
	char *nonce;            /* injected by sasl_set_nonce, else NULL */
	char *login;            /* the claimed authentication identity */
	char *authzid;
	char *user;             /* set on success only */
	char *cram_challenge;
	struct sasl_scram *scram;
};

/* sasl_end: records reason and returns result, for one-line error exits. */
int sasl_end(sasl_server *s, int result, const char *reason);
/* sasl_check_name: 0 if name[0..len) is an acceptable identity: 1 to
 * SASL_MAX_NAME bytes of well-formed UTF-8 without control characters
 * (so no NUL); else -1. */
int sasl_check_name(const char *name, size_t len);
/* sasl_set_login: checks and records the claimed identity. Returns
 * SASL_CONTINUE when it is fine, else SASL_BAD (reason set). */
int sasl_set_login(sasl_server *s, const char *name, size_t len);
/* sasl_verify_result: maps a backend answer to the step result and, on
 * SASL_OK, sets s->user from s->login. */
int sasl_verify_result(sasl_server *s, int backend_result);

int sasl_cram_step(sasl_server *s, const char *in, size_t len, buf *challenge);
int sasl_scram_step(sasl_server *s, const char *in, size_t len, buf *challenge);
void sasl_scram_free(struct sasl_scram **sc);

#endif
