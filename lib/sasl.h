/* sasl.h: the SASL server engine shared by smtpd, pop3d and imapd:
 * PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195) and SCRAM-SHA-256
 * (RFC 5802, RFC 7677; no channel binding, no -PLUS). It is protocol
 * neutral and does no I/O: the caller reads the client's base64 line, calls
 * sasl_step, and sends back the base64 challenge (334 / "+ " / "+ "), so it
 * never blocks the event loop. Passwords and secrets come from a backend of
 * callbacks the caller supplies (the passwd map); the engine owns no
 * policy beyond "no cleartext mechanisms on an insecure channel". */
#ifndef POSTERN_SASL_H
#define POSTERN_SASL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sasl_server sasl_server;

/* Results of sasl_step, and of the backend callbacks (which use only
 * SASL_OK, SASL_FAIL and SASL_TEMP). Suggested SMTP replies in brackets. */
enum sasl_result {
	SASL_CONTINUE, /* send *challenge_b64_r, read the next line [334] */
	SASL_OK,       /* authenticated as sasl_user() [235 2.7.0] */
	SASL_FAIL,     /* bad credentials, unknown user, authzid refused [535 5.7.8] */
	SASL_BAD,      /* malformed response, bad base64, too long [501 5.5.2] */
	SASL_CANCEL,   /* the client sent "*" [501 5.7.0] */
	SASL_TEMP,     /* the backend could not answer [454 4.7.0] */
};

/* Limits: a client response (decoded) and a user name, in bytes. */
#define SASL_MAX_RESPONSE 8192
#define SASL_MAX_NAME 255
/* The longest client line of an exchange worth reading: base64 of
 * SASL_MAX_RESPONSE bytes plus CRLF. */
#define SASL_LINE_MAX ((SASL_MAX_RESPONSE + 2) / 3 * 4 + 3)
/* A CRAM-MD5 secret is the HMAC-MD5 key's precomputed state: the MD5
 * chaining values (A B C D, each little-endian) after the outer pad block,
 * then after the inner pad block, 32 bytes. This is the binary form of
 * Dovecot's {CRAM-MD5} scheme (64 hex digits), so imported Dovecot passwd
 * files work; sasl_cram_context makes it from a cleartext secret. */
#define SASL_CRAM_CONTEXT_LEN 32
#define SASL_SCRAM_KEY_LEN 32

/* The stored SCRAM-SHA-256 secret of one user (RFC 5802 section 3): salt,
 * iteration count, StoredKey and ServerKey, all base64 as
 * sasl_scram_secret makes them. The backend fills the strings with heap
 * copies (xstrdup); the engine frees them. */
struct sasl_scram_secret {
	unsigned int iterations;
	char *salt_b64;
	char *stored_key_b64;
	char *server_key_b64;
};

/* The backend. Every callback returns SASL_OK, SASL_FAIL (wrong password,
 * unknown user, no such secret for this user) or SASL_TEMP (lookup failed;
 * the client is told to try later). A NULL get_cram_context or get_scram
 * means the mechanism is off: it is neither advertised nor accepted. The
 * callbacks are synchronous; they should only consult local tables.
 * user is the authentication identity as the client gave it (UTF-8, no
 * control characters, 1..SASL_MAX_NAME bytes); the caller's backend
 * decides about case and domains. */
struct sasl_backend {
	int (*verify_plain)(void *ctx, const char *user, const char *password);
	int (*get_cram_context)(void *ctx, const char *user,
				unsigned char context_r[SASL_CRAM_CONTEXT_LEN]);
	int (*get_scram)(void *ctx, const char *user, struct sasl_scram_secret *secret_r);
};

/* sasl_mechanisms: the mechanism list to advertise, space separated, in a
 * static string ("" when there is none). PLAIN and LOGIN only when secure
 * (the channel is encrypted, or the admin allows cleartext passwords);
 * CRAM-MD5 and SCRAM-SHA-256 whenever the backend supplies their secrets. */
const char *sasl_mechanisms(const struct sasl_backend *backend, bool secure);

/* sasl_new: a server exchange for mechanism mech (case-insensitive).
 * Returns NULL when the mechanism is unknown or not allowed by the rules
 * of sasl_mechanisms (the caller answers 504 5.5.4). backend and ctx must
 * outlive the exchange. */
sasl_server *sasl_new(const char *mech, const struct sasl_backend *backend, void *ctx,
		      bool secure_channel);
/* sasl_free: wipes secrets, frees *s (NULL is fine), sets *s to NULL. */
void sasl_free(sasl_server **s);

/* sasl_step: feeds one client message. On the first call, client is the
 * initial response from the command line (NULL when there is none; "="
 * means an empty initial response, RFC 4954 / RFC 5034); on later calls it
 * is the client's line without CRLF (NULL counts as an empty line). len is
 * its length; it need not be NUL-terminated. "*" cancels. On
 * SASL_CONTINUE *challenge_b64_r is a heap string (free it; it may be "")
 * to send; otherwise it is set to NULL and the exchange is over: calling
 * sasl_step again is a bug (log_panic).
 * SCRAM-SHA-256 ends with a challenge carrying the server signature
 * ("v=..."), which the client answers with an empty line; only then does
 * sasl_step say SASL_OK (SMTP and IMAP4rev1 have no success data). */
int sasl_step(sasl_server *s, const char *client, size_t len, char **challenge_b64_r);

/* sasl_user: the authenticated identity after SASL_OK, else NULL. */
const char *sasl_user(const sasl_server *s);
/* sasl_login_name: the identity the client claimed, as soon as it is known
 * (for failure logs and per-user throttling), else NULL. */
const char *sasl_login_name(const sasl_server *s);
/* sasl_authzid: the authorization identity the client sent (PLAIN, SCRAM),
 * else NULL. It is accepted only when it equals the authentication
 * identity, so after SASL_OK it is either NULL or equal to sasl_user. */
const char *sasl_authzid(const sasl_server *s);
/* sasl_mech: the mechanism name in upper case. */
const char *sasl_mech(const sasl_server *s);
/* sasl_reason: a short static text saying why the last step ended with
 * SASL_FAIL, SASL_BAD, SASL_CANCEL or SASL_TEMP, for the caller's log line
 * (which knows the client address); "" otherwise. The engine itself logs
 * only at debug level, plus a warning for corrupt stored secrets. */
const char *sasl_reason(const sasl_server *s);

/* sasl_set_nonce: for tests, replaces the random server part of the
 * exchange: the whole CRAM-MD5 challenge ("<1896.697170952@host>"), or
 * the server nonce SCRAM appends to the client's. Call before the first
 * sasl_step; other mechanisms ignore it. */
void sasl_set_nonce(sasl_server *s, const char *nonce);

/* sasl_cram_context: the CRAM-MD5 secret (see SASL_CRAM_CONTEXT_LEN) for
 * the cleartext shared secret secret[0..len). */
void sasl_cram_context(const void *secret, size_t len,
		       unsigned char context_r[SASL_CRAM_CONTEXT_LEN]);

/* sasl_scram_keys: StoredKey and ServerKey for password with the given salt
 * and iteration count (PBKDF2-HMAC-SHA-256). The password is used as the
 * bytes given: no SASLprep, which is the identity for printable ASCII.
 * Returns 0, or -1 if OpenSSL fails. */
int sasl_scram_keys(const char *password, const void *salt, size_t salt_len,
		    unsigned int iterations, unsigned char stored_key_r[SASL_SCRAM_KEY_LEN],
		    unsigned char server_key_r[SASL_SCRAM_KEY_LEN]);
/* sasl_scram_secret: a fresh stored secret for password: a random 16-byte
 * salt and the keys, all base64, as heap strings. iterations should be at
 * least 4096 (RFC 7677). Returns 0, or -1 (nothing allocated) if OpenSSL
 * fails. */
int sasl_scram_secret(const char *password, unsigned int iterations, char **salt_b64_r,
		      char **stored_key_b64_r, char **server_key_b64_r);

#endif
