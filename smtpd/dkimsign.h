/* dkimsign.h: smtpd's DKIM signing (dkimsign.c): mail of clients that did
 * AUTH and of trusted clients (mynetworks, the local sendmail socket) is
 * signed once per message as it streams in, with the keys lib/dkim_policy
 * finds for its From: (else envelope sender) domain. data.c calls these at
 * the end of the header, for each piece of the body and at the end of the
 * content; the signatures become top header fields of the queue file
 * (q_writer_top_header), so every reader puts them above the message. */
#ifndef POSTERN_SMTPD_DKIMSIGN_H
#define POSTERN_SMTPD_DKIMSIGN_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "cfg.h"

struct session;
struct smtpd_txn;
struct smtpd_sign;

/* smtpd_sign_init: the signing policy of c (log_fatal on bad settings). */
void smtpd_sign_init(cfg *c);
/* smtpd_sign_header: the header block is complete: hdr[0..len) and the
 * fields smtpd added (added, may be NULL). at_blank_line: the body bytes
 * handed over next start with the separating empty line. Starts the
 * signing when this message is to be signed. */
void smtpd_sign_header(struct session *s, const char *hdr, size_t len, const buf *added,
		       bool at_blank_line);
/* smtpd_sign_body: body bytes, as written to the queue file. */
void smtpd_sign_body(struct session *s, const char *data, size_t len);
/* smtpd_sign_end: the content is complete: adds the DKIM-Signature fields
 * to the queue file. 0 (also when nothing is signed), or -1 after logging
 * when the message cannot be signed now (the caller answers 451 4.7.0). */
int smtpd_sign_end(struct session *s);
/* smtpd_sign_free: the transaction ends. */
void smtpd_sign_free(struct smtpd_sign **sp);

#endif
