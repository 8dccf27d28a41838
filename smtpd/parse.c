/* parse.c: smtpd's pure parsers (see parse.h): command lines, MAIL and
 * RCPT parameters and BDAT arguments. Nothing here touches a socket, a
 * session or the queue; every function works on the bytes it is given
 * and answers with a result or an error ready for the reply. The ESMTP keyword=value splitting and xtext come from lib/addr. */
#include "parse.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "mem.h"
#include "q.h"

#define PARAM_KEYWORD_MAX 32
#define PARAM_VALUE_MAX 1024
#define ENVID_MAX 100 /* RFC 3461 4.4 */
#define ORCPT_MAX 500 /* RFC 3461 4.2 */

static void perr_set(struct smtpd_perr *err, int code, const char *dsn, const char *text)
{
	err->code = code;
	err->dsn = dsn;
	err->text = text;
}

/* ---- command lines ---- */

static bool is_blank(int c)
{
	return c == ' ' || c == '\t';
}

int smtpd_parse_command(const char *line, size_t len, struct smtpd_cmd *cmd,
			struct smtpd_perr *err)
{
	size_t i = 0, v = 0;

	for (size_t k = 0; k < len; k++) {
		unsigned char c = (unsigned char)line[k];
		if (c == '\0' || (c < 0x20 && c != '\t') || c == 0x7f) {
			perr_set(err, 501, "5.5.2", "Syntax error: control character in command");
			return -1;
		}
	}
	while (i < len && is_blank(line[i]))
		i++;
	while (i < len && !is_blank(line[i])) {
		if (v < SMTPD_VERB_MAX)
			cmd->verb[v] = (char)toupper((unsigned char)line[i]);
		v++;
		i++;
	}
	if (v > SMTPD_VERB_MAX)
		v = 0; /* too long to be a verb we know: leave it empty */
	cmd->verb[v] = '\0';
	while (i < len && is_blank(line[i]))
		i++;
	cmd->arg = line + i;
	return 0;
}

const char *smtpd_parse_path_keyword(const char *arg, const char *keyword)
{
	size_t n = strlen(keyword);

	if (strncasecmp(arg, keyword, n) != 0)
		return NULL;
	arg += n;
	while (is_blank(*arg))
		arg++;
	return arg;
}

/* ---- MAIL / RCPT parameters ---- */

static bool parse_decimal(const char *s, long long *v_r)
{
	long long v = 0;

	if (*s == '\0' || strlen(s) > 18)
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
	}
	*v_r = v;
	return true;
}

/* One parameter of MAIL; seen tracks repeats. */
enum mail_param_bit { MP_SIZE = 1, MP_BODY = 2, MP_UTF8 = 4, MP_RET = 8, MP_ENVID = 16 };

static int mail_param(const char *kw, const char *val, struct smtpd_mail_params *p, int *seen,
		      struct smtpd_perr *err)
{
	int bit;

	if (strcmp(kw, "SIZE") == 0) {
		bit = MP_SIZE;
		if (!parse_decimal(val, &p->size))
			goto bad;
	} else if (strcmp(kw, "BODY") == 0) {
		bit = MP_BODY;
		if (strcasecmp(val, "7BIT") == 0)
			p->body = SMTPD_BODY_7BIT;
		else if (strcasecmp(val, "8BITMIME") == 0)
			p->body = SMTPD_BODY_8BITMIME;
		else
			goto bad;
	} else if (strcmp(kw, "SMTPUTF8") == 0) {
		bit = MP_UTF8;
		if (*val != '\0')
			goto bad;
		p->smtputf8 = true;
	} else if (strcmp(kw, "RET") == 0) {
		bit = MP_RET;
		if (strcasecmp(val, "FULL") == 0)
			p->ret = 1;
		else if (strcasecmp(val, "HDRS") == 0)
			p->ret = 2;
		else
			goto bad;
	} else if (strcmp(kw, "ENVID") == 0) {
		bit = MP_ENVID;
		if (*val == '\0' || strlen(val) > ENVID_MAX ||
		    (p->envid = addr_xtext_decode(val)) == NULL)
			goto bad;
	} else {
		perr_set(err, 555, "5.5.4", "Unsupported option");
		return -1;
	}
	if (*seen & bit)
		goto bad;
	*seen |= bit;
	return 0;
bad:
	perr_set(err, 501, "5.5.4", "Bad MAIL parameter syntax");
	return -1;
}

int smtpd_parse_mail_params(const char *text, struct smtpd_mail_params *p,
			    struct smtpd_perr *err)
{
	char kw[PARAM_KEYWORD_MAX], val[PARAM_VALUE_MAX];
	const char *why;
	int seen = 0;

	memset(p, 0, sizeof(*p));
	p->size = -1;
	while (addr_param_next(&text, kw, sizeof(kw), val, sizeof(val), &why)) {
		char *envid_before = p->envid;

		if (mail_param(kw, val, p, &seen, err) < 0) {
			if (p->envid != envid_before)
				free(envid_before);
			smtpd_mail_params_clear(p);
			return -1;
		}
	}
	if (why != NULL) {
		smtpd_mail_params_clear(p);
		perr_set(err, 501, "5.5.4", "Bad MAIL parameter syntax");
		return -1;
	}
	return 0;
}

void smtpd_mail_params_clear(struct smtpd_mail_params *p)
{
	free(p->envid);
	p->envid = NULL;
}

/* parse_notify: "NEVER" alone, or a list of SUCCESS, FAILURE, DELAY. */
static int parse_notify(const char *val)
{
	int bits = 0;
	char *copy = xstrdup(val), *save = NULL;

	for (char *w = strtok_r(copy, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
		int bit = strcasecmp(w, "NEVER") == 0	  ? Q_NOTIFY_NEVER
			  : strcasecmp(w, "SUCCESS") == 0 ? Q_NOTIFY_SUCCESS
			  : strcasecmp(w, "FAILURE") == 0 ? Q_NOTIFY_FAILURE
			  : strcasecmp(w, "DELAY") == 0	  ? Q_NOTIFY_DELAY
							  : 0;
		if (bit == 0 || (bits & bit))
			bits = -1;
		if (bits < 0)
			break;
		bits |= bit;
	}
	free(copy);
	if (bits <= 0 || ((bits & Q_NOTIFY_NEVER) && bits != Q_NOTIFY_NEVER))
		return -1;
	return bits;
}

/* orcpt_valid: addr-type ";" xtext (RFC 3461 4.2), addr-type an atom. */
static bool orcpt_valid(const char *val)
{
	const char *semi = strchr(val, ';');
	char *decoded;

	if (semi == NULL || semi == val || strlen(val) > ORCPT_MAX || semi[1] == '\0')
		return false;
	for (const char *c = val; c < semi; c++)
		if (!isalnum((unsigned char)*c) && *c != '-')
			return false;
	decoded = addr_xtext_decode(semi + 1);
	if (decoded == NULL)
		return false;
	free(decoded);
	return true;
}

int smtpd_parse_rcpt_params(const char *text, struct smtpd_rcpt_params *p,
			    struct smtpd_perr *err)
{
	char kw[PARAM_KEYWORD_MAX], val[PARAM_VALUE_MAX];
	const char *why;

	memset(p, 0, sizeof(*p));
	while (addr_param_next(&text, kw, sizeof(kw), val, sizeof(val), &why)) {
		if (strcmp(kw, "NOTIFY") == 0) {
			if (p->notify != 0 || (p->notify = parse_notify(val)) < 0)
				goto bad;
		} else if (strcmp(kw, "ORCPT") == 0) {
			if (p->orcpt != NULL || !orcpt_valid(val))
				goto bad;
			p->orcpt = xstrdup(val);
		} else {
			smtpd_rcpt_params_clear(p);
			perr_set(err, 555, "5.5.4", "Unsupported option");
			return -1;
		}
	}
	if (why == NULL)
		return 0;
bad:
	smtpd_rcpt_params_clear(p);
	perr_set(err, 501, "5.5.4", "Bad RCPT parameter syntax");
	return -1;
}

void smtpd_rcpt_params_clear(struct smtpd_rcpt_params *p)
{
	free(p->orcpt);
	p->orcpt = NULL;
	p->notify = 0;
}

/* ---- BDAT ---- */

int smtpd_parse_bdat(const char *arg, unsigned long long *size_r, bool *last_r)
{
	unsigned long long v = 0;
	const char *p = arg;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > 99999999999ULL) /* more than 1e12 bytes is nonsense */
			return -1;
		v = v * 10 + (unsigned long long)(*p - '0');
	}
	*last_r = false;
	if (*p != '\0' && !is_blank(*p))
		return -1;
	while (is_blank(*p))
		p++;
	if (strncasecmp(p, "LAST", 4) == 0) {
		*last_r = true;
		p += 4;
		while (is_blank(*p))
			p++;
	}
	if (*p != '\0')
		return -1;
	*size_r = v;
	return 0;
}
