/* sasl_passdb.h: the backend that connects the SASL engine (sasl.h) to
 * the password database (passdb.h), shared by smtpd, pop3d and imapd:
 * PLAIN and LOGIN verify against the stored hash, SCRAM-SHA-256 gets the
 * stored keys, CRAM-MD5 the stored HMAC context when the server turns
 * that mechanism on. A map that cannot answer is SASL_TEMP, never a
 * failed login. */
#ifndef POSTERN_SASL_PASSDB_H
#define POSTERN_SASL_PASSDB_H

#include <stdbool.h>

#include "passdb.h"
#include "sasl.h"

/* sasl_passdb_backend: fills *b; the ctx given to sasl_new with it must be
 * the passdb. cram_md5 false leaves CRAM-MD5 off (not advertised). */
void sasl_passdb_backend(struct sasl_backend *b, bool cram_md5);

#endif
