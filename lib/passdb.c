/* passdb.c: the password database over the maps of virtual_passwd_maps
 * (format in passdb.h). An entry is parsed into its scheme-prefixed hash
 * and its extra secrets, the hash checked against the scheme's form, and
 * the password run through crypt_r with the stored hash as setting; the
 * output is compared with CRYPTO_memcmp. A user that is not found costs a
 * dummy crypt, so response times do not reveal who exists. {CRAM-MD5}
 * entries are not crypt(3) hashes: the password's HMAC-MD5 context
 * (lib/sasl) is compared instead. Nothing here writes a password
 * anywhere; the crypt work area is wiped after use. */
#include "passdb.h"

#include <crypt.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "authcache.h"
#include "base64.h"
#include "buf.h"
#include "log.h"
#include "map.h"
#include "mem.h"
#include "sasl.h"

_Static_assert(PASSDB_CRAM_LEN == SASL_CRAM_CONTEXT_LEN, "CRAM-MD5 context size");

/* Limits of an entry: the first field, a scheme name, extra fields. */
#define ENTRY_HASH_MAX 512
#define SCHEME_NAME_MAX 32
#define ENTRY_FIELDS_MAX 16
#define USER_LOG_MAX 128

/* A scheme: its name, the prefixes its hashes start with (NULL-ended; an
 * empty list means any crypt(3) form), the crypt_gensalt prefix and cost
 * when it can be generated (gensalt NULL: verify only), and whether it is
 * not crypt(3) at all but a CRAM-MD5 context in hex. */
struct scheme {
	const char *name;
	const char *prefixes[4];
	const char *gensalt;
	unsigned long cost;
	bool cram;
};

static const struct scheme schemes[] = {
	{ "SHA512-CRYPT", { "$6$", NULL }, "$6$", 0, false },
	{ "SHA256-CRYPT", { "$5$", NULL }, "$5$", 0, false },
	{ "BLF-CRYPT", { "$2y$", "$2b$", "$2a$", NULL }, "$2y$", 5, false },
	{ "YESCRYPT", { "$y$", NULL }, "$y$", 0, false },
	{ "MD5-CRYPT", { "$1$", NULL }, NULL, 0, false },
	{ "CRYPT", { NULL }, NULL, 0, false },
	{ "CRAM-MD5", { NULL }, NULL, 0, true },
};

/* The setting of the dummy crypt run for unknown users: same cost as the
 * default scheme's default. */
static const char dummy_setting[] = "$6$postern.dummy$";

struct pmap {
	char *name;
	map *m; /* NULL until opened */
};

struct passdb {
	struct pmap *maps;
	size_t nmaps;
	authcache *cache; /* successful checks, auth_cache_size / auth_cache_ttl */
	struct crypt_data *work; /* crypt_r's area, wiped after each use */
};

/* A parsed entry; the strings point into a copy owned by the caller. */
struct entry {
	const struct scheme *scheme;
	const char *hash; /* the crypt(3) string after "{SCHEME}" */
	const char *scram; /* value of scram-sha-256=, or NULL */
	const char *cram; /* value of cram-md5=, or the hash of {CRAM-MD5}, or NULL */
};

/* ---- entry parsing ---- */

static const struct scheme *scheme_find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strlen(schemes[i].name) == len && strncasecmp(schemes[i].name, name, len) == 0)
			return &schemes[i];
	return NULL;
}

static bool hash_chars_ok(const char *hash)
{
	if (*hash == '\0' || strlen(hash) > ENTRY_HASH_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)hash; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == ':')
			return false;
	return true;
}

/* cram_decode: the 64 hex digits of text (either case, nothing after
 * them) into ctx_r. 0 or -1. */
static int cram_decode(const char *text, unsigned char ctx_r[PASSDB_CRAM_LEN])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < 2 * PASSDB_CRAM_LEN; i++) {
		char c = text[i] >= 'A' && text[i] <= 'F' ? (char)(text[i] | 0x20) : text[i];
		const char *d = c != '\0' ? strchr(digits, c) : NULL;

		if (d == NULL)
			return -1;
		if (i % 2 == 0)
			ctx_r[i / 2] = (unsigned char)((d - digits) << 4);
		else
			ctx_r[i / 2] |= (unsigned char)(d - digits);
	}
	return text[2 * PASSDB_CRAM_LEN] == '\0' ? 0 : -1;
}

static bool hash_form_ok(const struct scheme *s, const char *hash)
{
	unsigned char ctx[PASSDB_CRAM_LEN];

	if (s->cram)
		return cram_decode(hash, ctx) == 0;
	if (s->prefixes[0] == NULL)
		return true;
	for (size_t i = 0; s->prefixes[i] != NULL; i++)
		if (strncmp(hash, s->prefixes[i], strlen(s->prefixes[i])) == 0)
			return true;
	return false;
}

/* split_field: scheme and hash of "{SCHEME}HASH" (or a bare "$..."),
 * hash pointing into field. 0 or -1 (*why_r). */
static int split_field(const char *field, const struct scheme **scheme_r, const char **hash_r,
		       const char **why_r)
{
	const char *close;

	if (field[0] == '$') {
		*scheme_r = scheme_find("CRYPT", 5);
		*hash_r = field;
	} else if (field[0] == '{') {
		close = strchr(field, '}');
		if (close == NULL || close - field - 1 > SCHEME_NAME_MAX) {
			*why_r = "malformed {SCHEME} prefix";
			return -1;
		}
		*scheme_r = scheme_find(field + 1, (size_t)(close - field - 1));
		if (*scheme_r == NULL) {
			*why_r = "unknown password scheme";
			return -1;
		}
		*hash_r = close + 1;
	} else {
		*why_r = "no {SCHEME} prefix";
		return -1;
	}
	if (!hash_chars_ok(*hash_r) || !hash_form_ok(*scheme_r, *hash_r)) {
		*why_r = "hash does not have the form of its scheme";
		return -1;
	}
	return 0;
}

int passdb_scheme_check(const char *field, const char **why_r)
{
	const struct scheme *s;
	const char *hash;
	struct crypt_data *work;
	const char *out;
	int rc = 0;

	*why_r = NULL;
	if (split_field(field, &s, &hash, why_r) < 0)
		return -1;
	if (s->cram)
		return 0; /* not crypt(3); split_field checked the hex */
	/* Ask the library whether it knows the form: any password will do. */
	work = xcalloc(1, sizeof(*work));
	out = crypt_r("x", hash, work);
	if (out == NULL || out[0] == '*') {
		*why_r = "hash not supported by the system's crypt library";
		rc = -1;
	}
	explicit_bzero(work, sizeof(*work));
	free(work);
	return rc;
}

/* entry_parse: splits text (modified in place) into *e. 0 or -1 (*why_r). */
static int entry_parse(char *text, struct entry *e, const char **why_r)
{
	char *save = NULL, *field;
	int n = 0;

	memset(e, 0, sizeof(*e));
	*why_r = NULL;
	field = strtok_r(text, " \t", &save);
	if (field == NULL) {
		*why_r = "empty entry";
		return -1;
	}
	if (split_field(field, &e->scheme, &e->hash, why_r) < 0)
		return -1;
	if (e->scheme->cram)
		e->cram = e->hash;
	while ((field = strtok_r(NULL, " \t", &save)) != NULL) {
		if (++n > ENTRY_FIELDS_MAX) {
			*why_r = "too many extra fields";
			return -1;
		}
		if (strncasecmp(field, "scram-sha-256=", 14) == 0)
			e->scram = field + 14;
		else if (strncasecmp(field, "cram-md5=", 9) == 0 && !e->scheme->cram)
			e->cram = field + 9;
	}
	return 0;
}

/* ---- verification ---- */

/* check_crypt: runs crypt_r and compares in constant time. */
static enum passdb_result check_crypt(struct crypt_data *work, const char *hash,
				      const char *password, const char **why_r)
{
	const char *out;
	size_t len = strlen(hash);
	enum passdb_result rc = PASSDB_FAIL;

	memset(work, 0, sizeof(*work));
	out = crypt_r(password, hash, work);
	if (out == NULL || out[0] == '*')
		*why_r = "hash not supported by the system's crypt library";
	else if (strlen(out) == len && CRYPTO_memcmp(out, hash, len) == 0)
		rc = PASSDB_OK;
	explicit_bzero(work, sizeof(*work));
	return rc;
}

static bool password_ok(const char *password)
{
	return password != NULL && *password != '\0' && strlen(password) <= PASSDB_PASSWORD_MAX;
}

/* check_cram: password against a {CRAM-MD5} hash (checked hex), compared
 * in constant time. A dummy crypt keeps its cost near a crypt entry's, so
 * the time does not tell which kind of entry a user has. */
static enum passdb_result check_cram(struct crypt_data *work, const char *hash,
				     const char *password)
{
	unsigned char want[PASSDB_CRAM_LEN], got[PASSDB_CRAM_LEN];
	const char *why = NULL;
	enum passdb_result rc = PASSDB_FAIL;

	(void)check_crypt(work, dummy_setting, password, &why);
	if (cram_decode(hash, want) == 0) {
		sasl_cram_context(password, strlen(password), got);
		if (CRYPTO_memcmp(want, got, sizeof(got)) == 0)
			rc = PASSDB_OK;
	}
	explicit_bzero(want, sizeof(want));
	explicit_bzero(got, sizeof(got));
	return rc;
}

static enum passdb_result verify_with(struct crypt_data *work, const char *entry,
				      const char *password, const char **why_r)
{
	char *copy = xstrdup(entry);
	struct entry e;
	enum passdb_result rc = PASSDB_FAIL;

	if (entry_parse(copy, &e, why_r) == 0 && password_ok(password))
		rc = e.scheme->cram ? check_cram(work, e.hash, password)
				    : check_crypt(work, e.hash, password, why_r);
	free(copy);
	return rc;
}

enum passdb_result passdb_entry_verify(const char *entry, const char *password,
				       const char **why_r)
{
	struct crypt_data *work = xcalloc(1, sizeof(*work));
	enum passdb_result rc = verify_with(work, entry, password, why_r);

	free(work);
	return rc;
}

/* ---- the database ---- */

static bool is_map_name(const char *word)
{
	return strchr(word, ':') != NULL || word[0] == '/';
}

passdb *passdb_new(cfg *c)
{
	passdb *db = xcalloc(1, sizeof(*db));
	char **words = cfg_split_list(cfg_get(c, "virtual_passwd_maps"));
	size_t n = 0;

	for (char **w = words; *w != NULL; w++)
		n++;
	db->maps = xcalloc(n + 1, sizeof(*db->maps));
	for (char **w = words; *w != NULL; w++) {
		if (!is_map_name(*w)) {
			log_warn("virtual_passwd_maps: '%s' is not a map name (type:path); ignored", *w);
			continue;
		}
		db->maps[db->nmaps++].name = xstrdup(*w);
	}
	cfg_free_list(&words);
	db->work = xcalloc(1, sizeof(*db->work));
	db->cache = authcache_new((size_t)cfg_get_int(c, "auth_cache_size"),
				  (unsigned)cfg_get_int(c, "auth_cache_ttl"));
	return db;
}

void passdb_free(passdb **dbp)
{
	passdb *db = *dbp;

	if (db == NULL)
		return;
	for (size_t i = 0; i < db->nmaps; i++) {
		map_close(&db->maps[i].m);
		free(db->maps[i].name);
	}
	free(db->maps);
	authcache_free(&db->cache);
	explicit_bzero(db->work, sizeof(*db->work));
	free(db->work);
	free(db);
	*dbp = NULL;
}

/* user_for_log: the user name as it may appear in a log line: printable
 * ASCII only, cut at USER_LOG_MAX (it may come from a client). Heap. */
static char *user_for_log(const char *user)
{
	size_t len = strnlen(user, USER_LOG_MAX);
	char *s = xstrndup(user, len);

	for (char *p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			*p = '?';
	return s;
}

static bool open_map(struct pmap *pm)
{
	char *err = NULL;

	if (pm->m != NULL)
		return true;
	pm->m = map_open(pm->name, &err);
	if (pm->m == NULL) {
		log_warn("passdb: cannot open %s: %s", pm->name, err);
		free(err);
		return false;
	}
	return true;
}

/* lookup: the entry of user (heap copy) from the first map that has it. */
static enum passdb_result lookup(passdb *db, const char *user, char **entry_r)
{
	const char *value;

	*entry_r = NULL;
	if (*user == '\0' || strlen(user) > 1024)
		return PASSDB_NOTFOUND;
	for (size_t i = 0; i < db->nmaps; i++) {
		enum map_result r;

		if (!open_map(&db->maps[i]))
			return PASSDB_TEMP;
		r = map_lookup(db->maps[i].m, user, &value);
		if (r == MAP_TEMP) {
			log_warn("passdb: %s: %s", db->maps[i].name, map_error(db->maps[i].m));
			return PASSDB_TEMP;
		}
		if (r == MAP_FOUND) {
			*entry_r = xstrdup(value);
			return PASSDB_OK;
		}
	}
	return PASSDB_NOTFOUND;
}

enum passdb_result passdb_user_exists(passdb *db, const char *user)
{
	char *entry;
	enum passdb_result rc = lookup(db, user, &entry);

	if (entry != NULL) {
		explicit_bzero(entry, strlen(entry));
		free(entry);
	}
	return rc;
}

/* dummy_crypt: the work of one verification, for a user that does not
 * exist; the result is thrown away. */
static void dummy_crypt(passdb *db, const char *password)
{
	const char *why = NULL;

	(void)check_crypt(db->work, dummy_setting, password_ok(password) ? password : "x", &why);
}

static void log_unusable(const char *user, const char *why)
{
	char *u = user_for_log(user);

	log_warn("passdb: entry of user=%s is unusable: %s", u, why);
	free(u);
}

enum passdb_result passdb_verify(passdb *db, const char *user, const char *password)
{
	char *entry;
	const char *why = NULL;
	enum passdb_result rc = lookup(db, user, &entry);

	if (rc == PASSDB_NOTFOUND)
		dummy_crypt(db, password);
	if (rc != PASSDB_OK)
		return rc;
	if (authcache_hit(db->cache, user, password, entry)) {
		rc = PASSDB_OK;
	} else {
		rc = verify_with(db->work, entry, password, &why);
		if (rc == PASSDB_OK)
			authcache_add(db->cache, user, password, entry);
	}
	if (why != NULL)
		log_unusable(user, why);
	explicit_bzero(entry, strlen(entry));
	free(entry);
	return rc;
}

/* ---- hashing ---- */

static const struct scheme *generating_scheme(const char *name, char **err_r)
{
	const struct scheme *s;

	if (name == NULL)
		name = PASSDB_DEFAULT_SCHEME;
	s = scheme_find(name, strlen(name));
	if (s == NULL || s->gensalt == NULL) {
		*err_r = xasprintf("cannot hash with scheme '%s' (use SHA512-CRYPT, SHA256-CRYPT, "
				   "BLF-CRYPT or YESCRYPT)",
				   name);
		return NULL;
	}
	return s;
}

static char *make_setting(const struct scheme *s, char **err_r)
{
	unsigned char rnd[32];
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		*err_r = xstrdup("cannot get random bytes for a salt");
		return NULL;
	}
	if (crypt_gensalt_rn(s->gensalt, s->cost, (const char *)rnd, sizeof(rnd), setting,
			     sizeof(setting)) == NULL) {
		*err_r = xasprintf("the crypt library cannot make a %s salt: %s", s->name,
				   strerror(errno));
		return NULL;
	}
	return xstrdup(setting);
}

char *passdb_hash(const char *scheme, const char *password, char **err_r)
{
	const struct scheme *s;
	struct crypt_data *work;
	char *setting, *result = NULL;
	const char *out;

	*err_r = NULL;
	s = generating_scheme(scheme, err_r);
	if (s == NULL)
		return NULL;
	if (!password_ok(password)) {
		*err_r = xasprintf("the password must have 1 to %d bytes", PASSDB_PASSWORD_MAX);
		return NULL;
	}
	setting = make_setting(s, err_r);
	if (setting == NULL)
		return NULL;
	work = xcalloc(1, sizeof(*work));
	out = crypt_r(password, setting, work);
	if (out == NULL || out[0] == '*')
		*err_r = xasprintf("the crypt library cannot hash with %s", s->name);
	else
		result = xasprintf("{%s}%s", s->name, out);
	explicit_bzero(work, sizeof(*work));
	free(work);
	free(setting);
	return result;
}

/* ---- SCRAM-SHA-256 ---- */

static void hmac_sha256(const unsigned char *key, size_t key_len, const char *msg,
			unsigned char out[32])
{
	unsigned int len = 32;

	HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out, &len);
}

int passdb_scram_derive(const char *password, const unsigned char *salt, size_t salt_len,
			unsigned iterations, struct passdb_scram *out)
{
	unsigned char salted[32], client_key[32];

	memset(out, 0, sizeof(*out));
	if (salt_len == 0 || salt_len > PASSDB_SCRAM_SALT_MAX || iterations == 0 ||
	    iterations > PASSDB_SCRAM_ITER_MAX || !password_ok(password))
		return -1;
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len,
			      (int)iterations, EVP_sha256(), sizeof(salted), salted) != 1)
		return -1;
	hmac_sha256(salted, sizeof(salted), "Client Key", client_key);
	SHA256(client_key, sizeof(client_key), out->stored_key);
	hmac_sha256(salted, sizeof(salted), "Server Key", out->server_key);
	out->iterations = iterations;
	memcpy(out->salt, salt, salt_len);
	out->salt_len = salt_len;
	explicit_bzero(salted, sizeof(salted));
	explicit_bzero(client_key, sizeof(client_key));
	return 0;
}

char *passdb_scram_format(const struct passdb_scram *s)
{
	buf *b = buf_new(160);

	buf_printf(b, "%u:", s->iterations);
	base64_encode(b, s->salt, s->salt_len);
	buf_putc(b, ':');
	base64_encode(b, s->stored_key, sizeof(s->stored_key));
	buf_putc(b, ':');
	base64_encode(b, s->server_key, sizeof(s->server_key));
	return buf_steal_free(&b);
}

/* get_b64: decodes canonical base64 text[0..len) into out (at most max
 * bytes); returns the length or -1. */
static long get_b64(const char *text, size_t len, unsigned char *out, size_t max)
{
	buf *b;
	long n = -1;

	if (len == 0 || base64_decoded_max(len) > max + 2)
		return -1;
	b = buf_new(max + 3);
	if (base64_decode(b, text, len) == 0 && buf_len(b) > 0 && buf_len(b) <= max) {
		memcpy(out, buf_cstr(b), buf_len(b));
		n = (long)buf_len(b);
	}
	buf_free(&b);
	return n;
}

static int parse_iterations(const char *text, size_t len, unsigned *iter_r)
{
	unsigned long v = 0;

	if (len == 0 || len > 8)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(text[i] - '0');
	}
	if (v == 0 || v > PASSDB_SCRAM_ITER_MAX)
		return -1;
	*iter_r = (unsigned)v;
	return 0;
}

int passdb_scram_parse(const char *text, struct passdb_scram *out, const char **why_r)
{
	const char *part[4], *end[4], *p = text;
	long n;

	memset(out, 0, sizeof(*out));
	*why_r = "malformed scram-sha-256 secret";
	for (int i = 0; i < 4; i++) {
		part[i] = p;
		p += strcspn(p, ":");
		end[i] = p;
		if (i < 3 && *p++ != ':')
			return -1;
	}
	if (*p != '\0' || parse_iterations(part[0], (size_t)(end[0] - part[0]), &out->iterations) < 0)
		return -1;
	n = get_b64(part[1], (size_t)(end[1] - part[1]), out->salt, sizeof(out->salt));
	if (n <= 0)
		return -1;
	out->salt_len = (size_t)n;
	if (get_b64(part[2], (size_t)(end[2] - part[2]), out->stored_key, 32) != 32 ||
	    get_b64(part[3], (size_t)(end[3] - part[3]), out->server_key, 32) != 32)
		return -1;
	*why_r = NULL;
	return 0;
}

static char *scram_make(const char *password, char **err_r)
{
	unsigned char salt[16];
	struct passdb_scram s;
	char *text;

	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    passdb_scram_derive(password, salt, sizeof(salt), PASSDB_SCRAM_ITER_DEFAULT, &s) < 0) {
		*err_r = xstrdup("cannot compute the SCRAM-SHA-256 keys");
		return NULL;
	}
	text = passdb_scram_format(&s);
	explicit_bzero(&s, sizeof(s));
	return text;
}

char *passdb_entry_make(const char *scheme, const char *password, bool with_scram,
			char **err_r)
{
	char *field = passdb_hash(scheme, password, err_r), *scram, *entry;

	if (field == NULL || !with_scram)
		return field;
	scram = scram_make(password, err_r);
	if (scram == NULL) {
		free(field);
		return NULL;
	}
	entry = xasprintf("%s scram-sha-256=%s", field, scram);
	free(field);
	free(scram);
	return entry;
}

enum passdb_result passdb_get_scram(passdb *db, const char *user, struct passdb_scram *out)
{
	char *entry;
	struct entry e;
	const char *why = NULL;
	enum passdb_result rc = lookup(db, user, &entry);

	memset(out, 0, sizeof(*out));
	if (rc != PASSDB_OK)
		return rc;
	rc = PASSDB_FAIL;
	if (entry_parse(entry, &e, &why) == 0 && e.scram != NULL &&
	    passdb_scram_parse(e.scram, out, &why) == 0)
		rc = PASSDB_OK;
	if (why != NULL)
		log_unusable(user, why);
	explicit_bzero(entry, strlen(entry));
	free(entry);
	return rc;
}

/* ---- CRAM-MD5 ---- */

char *passdb_cram_make(const char *password, char **err_r)
{
	unsigned char ctx[PASSDB_CRAM_LEN];
	buf *b;

	*err_r = NULL;
	if (!password_ok(password)) {
		*err_r = xasprintf("the password must have 1 to %d bytes", PASSDB_PASSWORD_MAX);
		return NULL;
	}
	sasl_cram_context(password, strlen(password), ctx);
	b = buf_new(2 * PASSDB_CRAM_LEN + 1);
	for (size_t i = 0; i < sizeof(ctx); i++)
		buf_printf(b, "%02x", ctx[i]);
	explicit_bzero(ctx, sizeof(ctx));
	return buf_steal_free(&b);
}

enum passdb_result passdb_get_cram(passdb *db, const char *user,
				   unsigned char ctx_r[PASSDB_CRAM_LEN])
{
	char *entry;
	struct entry e;
	const char *why = NULL;
	enum passdb_result rc = lookup(db, user, &entry);

	memset(ctx_r, 0, PASSDB_CRAM_LEN);
	if (rc != PASSDB_OK)
		return rc;
	rc = PASSDB_NOTFOUND;
	if (entry_parse(entry, &e, &why) == 0 && e.cram != NULL) {
		if (cram_decode(e.cram, ctx_r) == 0)
			rc = PASSDB_OK;
		else
			why = "malformed cram-md5 secret";
	}
	if (rc != PASSDB_OK)
		memset(ctx_r, 0, PASSDB_CRAM_LEN);
	if (why != NULL)
		log_unusable(user, why);
	explicit_bzero(entry, strlen(entry));
	free(entry);
	return rc;
}
