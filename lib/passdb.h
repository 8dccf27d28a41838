/* passdb.h: the password database: user@domain -> stored secrets, kept in
 * the maps of virtual_passwd_maps (default hash:$config_directory/passwd).
 * It verifies a password against the stored crypt(3) hash and hands out
 * the SCRAM-SHA-256 keys a SASL engine needs; it never stores, logs or
 * returns a password. Hashing is done by the system's crypt library
 * (libxcrypt): SHA512-CRYPT, SHA256-CRYPT, BLF-CRYPT, YESCRYPT.
 * It does not speak any SASL mechanism itself (see the future auth module).
 *
 * Entry format (the map value; the key is the lower-cased address):
 *
 *   {SCHEME}HASH [name=value ...]
 *
 * The first field is exactly Dovecot's scheme-prefixed password field, so a
 * Dovecot passwd-file's second column can be copied as it is:
 *   {SHA512-CRYPT}$6$salt$hash       {SHA256-CRYPT}$5$...
 *   {BLF-CRYPT}$2y$05$...            ($2b$, $2a$ too)
 *   {YESCRYPT}$y$j9T$...             {CRYPT}<anything crypt(3) knows>
 *   {MD5-CRYPT}$1$...                (verify only; never generated)
 *   {CRAM-MD5}<64 hex digits>        (Dovecot's; see below)
 * A field without a {SCHEME} prefix that starts with '$' is taken as
 * {CRYPT} (Dovecot's default scheme). Scheme names are case-insensitive.
 * After the first field come optional extra secrets, separated by white
 * space, each "name=value"; unknown names are ignored (forward compatible):
 *   scram-sha-256=ITER:SALT:STOREDKEY:SERVERKEY
 *   cram-md5=<64 hex digits>
 * ITER is the PBKDF2 iteration count (decimal), SALT, STOREDKEY and
 * SERVERKEY are standard base64 (RFC 7677 section 3 / RFC 5802 section 3).
 * A CRAM-MD5 secret (the {CRAM-MD5} scheme or the cram-md5= field) is the
 * hex of the 32-byte HMAC-MD5 context of sasl.h (SASL_CRAM_CONTEXT_LEN),
 * as `doveadm pw -s CRAM-MD5` prints it. It is password-equivalent (whoever
 * reads it can authenticate with CRAM-MD5, though not learn the password),
 * which is why it is only stored on request. A {CRAM-MD5} entry verifies
 * plain passwords too (by computing their context), but has no SCRAM keys.
 * The password is used as UTF-8 bytes without SASLprep (XXX: passwords
 * that SASLprep would change do not work with SCRAM; ASCII ones do). */
#ifndef POSTERN_PASSDB_H
#define POSTERN_PASSDB_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"

enum passdb_result {
	PASSDB_OK = 0, /* the password matches / the secret was found */
	PASSDB_FAIL = 1, /* wrong password, or the entry is unusable (logged) */
	PASSDB_NOTFOUND = 2, /* no entry for the user */
	PASSDB_TEMP = -1, /* a map could not answer now (logged): retry later */
};

/* Limits. A password longer than PASSDB_PASSWORD_MAX bytes never matches
 * (and is not hashed: it would only cost CPU). */
#define PASSDB_PASSWORD_MAX 1024
#define PASSDB_SCRAM_SALT_MAX 64
#define PASSDB_SCRAM_ITER_DEFAULT 4096
#define PASSDB_SCRAM_ITER_MAX 10000000u
#define PASSDB_DEFAULT_SCHEME "SHA512-CRYPT"
#define PASSDB_CRAM_LEN 32 /* = SASL_CRAM_CONTEXT_LEN */

typedef struct passdb passdb;

/* passdb_new: the database over the maps named in virtual_passwd_maps of
 * c (c is only read during the call). Maps are opened on first use; one
 * that cannot be opened makes lookups answer PASSDB_TEMP (an unreadable
 * file is never taken for an empty one). Words of the list that are not
 * map names are ignored with a warning. Never NULL. */
passdb *passdb_new(cfg *c);
void passdb_free(passdb **db);

/* passdb_verify: checks password for user (an address; looked up case-
 * insensitively in each map in order, the first map that has it wins).
 * The crypt output is compared in constant time; an unknown user costs
 * about as much as a known one. Malformed entries and unknown schemes
 * give PASSDB_FAIL and a log line naming the user (never the password). */
enum passdb_result passdb_verify(passdb *db, const char *user, const char *password);

/* passdb_user_exists: PASSDB_OK when a map has an entry for user,
 * PASSDB_NOTFOUND, or PASSDB_TEMP (logged). Checks no password: for a
 * session that logged in earlier and must end when its user is deleted. */
enum passdb_result passdb_user_exists(passdb *db, const char *user);

/* passdb_entry_verify: the same check against an entry value (the map
 * value, extra secrets allowed) without any map. PASSDB_OK or PASSDB_FAIL;
 * when the entry itself is unusable, *why_r (static text) says why and
 * is NULL otherwise. */
enum passdb_result passdb_entry_verify(const char *entry, const char *password,
				       const char **why_r);

/* passdb_scheme_check: the first field of an entry ("{SCHEME}HASH") is
 * one this system can verify (known scheme, hash of the scheme's form that
 * the crypt library accepts). 0, or -1 with *why_r (static text). */
int passdb_scheme_check(const char *field, const char **why_r);

/* passdb_hash: "{SCHEME}HASH" (heap) for password with a fresh random salt
 * (RAND_bytes through crypt_gensalt_rn). scheme: SHA512-CRYPT (default
 * when NULL), SHA256-CRYPT, BLF-CRYPT (cost 5 as Dovecot's default), or
 * YESCRYPT; case-insensitive. NULL with *err_r (heap) for an unknown
 * scheme, an empty or too long password, or a crypt library failure. */
char *passdb_hash(const char *scheme, const char *password, char **err_r);

/* passdb_entry_make: a complete entry: passdb_hash's field, plus the
 * scram-sha-256 secret when with_scram. NULL with *err_r (heap). */
char *passdb_entry_make(const char *scheme, const char *password, bool with_scram,
			char **err_r);

/* SCRAM-SHA-256 keys (RFC 5802 section 3): the server stores StoredKey =
 * H(HMAC(SaltedPassword, "Client Key")) and ServerKey = HMAC(SaltedPassword,
 * "Server Key"), never the password. */
struct passdb_scram {
	unsigned iterations;
	unsigned char salt[PASSDB_SCRAM_SALT_MAX];
	size_t salt_len;
	unsigned char stored_key[32];
	unsigned char server_key[32];
};

/* passdb_scram_derive: computes the keys for password with the given salt
 * (1..PASSDB_SCRAM_SALT_MAX bytes) and iteration count. 0 or -1. */
int passdb_scram_derive(const char *password, const unsigned char *salt, size_t salt_len,
			unsigned iterations, struct passdb_scram *out);
/* passdb_scram_format: "ITER:SALT:STOREDKEY:SERVERKEY" (heap). */
char *passdb_scram_format(const struct passdb_scram *s);
/* passdb_scram_parse: the inverse; 0, or -1 with *why_r (static text). */
int passdb_scram_parse(const char *text, struct passdb_scram *out, const char **why_r);

/* passdb_get_scram: the SCRAM-SHA-256 keys of user. PASSDB_OK (*out set),
 * PASSDB_NOTFOUND (no such user), PASSDB_FAIL (the user has no usable
 * scram-sha-256 secret: imported or hashed without it; logged when it is
 * malformed), PASSDB_TEMP. A SASL engine should run a fake exchange for
 * NOTFOUND and FAIL so that clients cannot tell users apart. */
enum passdb_result passdb_get_scram(passdb *db, const char *user, struct passdb_scram *out);

/* passdb_cram_make: the 64 hex digits (heap) of password's CRAM-MD5
 * secret, for a cram-md5= field; NULL with *err_r (heap) for an empty or
 * too long password. */
char *passdb_cram_make(const char *password, char **err_r);

/* passdb_get_cram: the CRAM-MD5 secret of user into ctx_r: from a
 * {CRAM-MD5} entry or its cram-md5= field. PASSDB_OK, PASSDB_NOTFOUND (no
 * such user, or the user has no usable CRAM-MD5 secret; a malformed one
 * is logged), PASSDB_TEMP. ctx_r is zeroed unless PASSDB_OK. */
enum passdb_result passdb_get_cram(passdb *db, const char *user,
				   unsigned char ctx_r[PASSDB_CRAM_LEN]);

#endif
