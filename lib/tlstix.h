/* tlstix.h: TLS session tickets that every process of an instance can
 * open, so a client that comes back resumes its session whichever process
 * of a service (or which service of the same kind) takes the connection,
 * as Postfix's tlsmgr allows.
 *
 * Keys come from a hash chain, not from a file: master makes a random
 * 32-byte state when it starts and moves it one step (SHA-256) per epoch
 * of TLSTIX_EPOCH_SECONDS of wall-clock time, one epoch behind the
 * current one. It hands that state and its epoch to each child it starts
 * through a pipe (POSTERN_TLSTIX_FD), and every process moves its own
 * copy along the same chain (keeping the keys of the epoch before), so
 * all of them hold the same keys for the same epoch without talking to
 * each other. A step cannot be undone: once the chain has moved past an epoch,
 * its keys are gone from every process (forward secrecy of the tickets of
 * the epochs before the previous one). Nothing is written to disk; a
 * restart of master starts a new chain and old tickets just fail to open
 * (a full handshake follows).
 *
 * Tickets are sealed with AES-256-CBC and HMAC-SHA256 under the keys of
 * the current epoch; those of the previous epoch still open (and the
 * client gets a fresh ticket). A process started without a chain (not by
 * master, e.g. a test) makes its own random one: its tickets open only in
 * that process. */
#ifndef POSTERN_TLSTIX_H
#define POSTERN_TLSTIX_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <openssl/ssl.h>

#define TLSTIX_EPOCH_SECONDS 3600
#define TLSTIX_STATE_LEN 32
#define TLSTIX_ENV "POSTERN_TLSTIX_FD"

struct tlstix_chain {
	uint64_t epoch;
	unsigned char state[TLSTIX_STATE_LEN];
};

/* tlstix_chain_new: a random chain at the epoch of now. false when the
 * random source fails. */
bool tlstix_chain_new(struct tlstix_chain *c, time_t now);
/* tlstix_chain_advance: moves c forward to epoch (never backward). */
void tlstix_chain_advance(struct tlstix_chain *c, uint64_t epoch);
/* tlstix_epoch: the epoch number of a wall-clock time. */
uint64_t tlstix_epoch(time_t now);

/* tlstix_master_epoch: the epoch master keeps its chain at: the one
 * before now's, so a child can derive the keys of both epochs a ticket
 * may come from. */
uint64_t tlstix_master_epoch(time_t now);
/* tlstix_send: master's side: writes the chain into a new pipe and
 * returns its read end (close-on-exec cleared by the caller's dup), or -1. */
int tlstix_send(const struct tlstix_chain *c);
/* tlstix_inherit: a child's side, at start: reads the chain from the fd
 * named by POSTERN_TLSTIX_FD (closing it and removing the variable, so
 * nothing started later inherits either). Without the variable the
 * process makes its own chain. Idempotent. */
void tlstix_inherit(void);

/* tlstix_enable: ctx issues one ticket per full handshake (TLS 1.2 and
 * 1.3) under the shared keys and resumes sessions up to lifetime seconds
 * old (at most TLSTIX_EPOCH_SECONDS); sid_ctx keeps one kind of server's
 * sessions from resuming on another ("smtpd", "pop3d"). lifetime 0: no
 * tickets and no session cache at all. */
void tlstix_enable(SSL_CTX *ctx, unsigned lifetime, const char *sid_ctx);

/* tlstix_set_clock: tests: the time source for the key epochs. */
void tlstix_set_clock(time_t (*clock)(time_t *));

#endif
