/* fuzz_session.h: what the whole-session fuzz targets (fuzz_pop3_session,
 * fuzz_imapd_session) share: stubs of the svc skeleton's functions, a
 * scratch directory with the texthash maps of one user, the main.cf keys
 * both set, and one input run against a real session over a socketpair:
 * the input is written, the replies read and dropped, the client
 * half-closes and the loop runs until the session is gone (a session that
 * never ends aborts). */
#ifndef POSTERN_FUZZ_SESSION_H
#define POSTERN_FUZZ_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "ev.h"
#include "sess.h"

/* fuzz_session_init: once per process: SIGPIPE ignored, the log level
 * (debug when the environment has trace_env, which also copies the
 * replies to stderr; else only fatal), and a scratch directory (returned)
 * in /dev/shm or /tmp, named after name, removed at exit, that holds
 * example.org/ and the maps "passwd" (the line passwd_line) and
 * "mailboxes" (user@example.org in example.org/user/). */
const char *fuzz_session_init(const char *name, const char *trace_env, const char *passwd_line);

/* fuzz_session_config: the keys both targets set, with prefix "pop3d" or
 * "imapd": names, no TLS needed for plaintext logins, failed logins never
 * delayed or cut off, and the maps in top. */
cfg *fuzz_session_config(const char *top, const char *prefix);

/* fuzz_session_run: one input against a new session of sessions on loop;
 * preamble (NULL: none) is sent before it (imapd's LOGIN), and the first
 * FUZZ_SESSION_HEAD bytes of the replies must then hold expect (NULL: no
 * check), else the run aborts: a harness that never gets past its login
 * would fuzz nothing. */
#define FUZZ_SESSION_HEAD 4096
void fuzz_session_run(sess_server *sessions, ev_loop *loop, const char *preamble,
		      const char *expect, const uint8_t *data, size_t size);

/* fuzz_session_write_file: path holds len bytes of data (aborts on error). */
void fuzz_session_write_file(const char *path, const char *data, size_t len);
/* fuzz_session_rm_tree: removes path and everything below it. */
void fuzz_session_rm_tree(const char *path);

#endif
