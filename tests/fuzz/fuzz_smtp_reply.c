/* fuzz_smtp_reply.c: fuzz target for lib/smtpc_reply.c, the SMTP client's
 * reply and EHLO parser. The input is split into lines at LF and fed to
 * the reply parser; each complete reply is also read as an EHLO answer.
 * Checks: a complete reply has a code 200-599 that its last line starts
 * with, an enhanced code of the code's class that the text follows, no
 * more lines than the limit, and AUTH lookups never read past the list. */
#include "fuzz_util.h"

#include <stdbool.h>

#include "smtpc_reply.h"

static void fz_check(const struct smtpc_reply *r)
{
	const char *last = smtpc_reply_last_line(r), *text = smtpc_reply_text(r);
	struct smtpc_caps caps;
	char code[4];

	if (r->code < 200 || r->code > 599 || r->nlines < 1 || r->nlines > SMTPC_REPLY_LINES_MAX)
		abort();
	snprintf(code, sizeof(code), "%d", r->code);
	if (strncmp(last, code, 3) != 0 || text < last || text > last + strlen(last))
		abort();
	if (r->dsn[0] != '\0' && (r->dsn[0] != code[0] || r->dsn[1] != '.'))
		abort();
	smtpc_caps_parse(r, &caps);
	if (strlen(caps.auth) >= sizeof(caps.auth) || caps.size_max < 0)
		abort();
	(void)smtpc_caps_auth(&caps, "PLAIN");
	(void)smtpc_caps_auth(&caps, "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *end = in + size;
	struct smtpc_reply r;

	smtpc_reply_init(&r);
	while (in < end) {
		const char *nl = memchr(in, '\n', (size_t)(end - in)), *why = NULL;
		size_t len = nl != NULL ? (size_t)(nl - in) + 1 : (size_t)(end - in);
		int rc = smtpc_reply_feed(&r, in, len, &why);

		if (rc < 0 && why == NULL)
			abort();
		if (rc == 1)
			fz_check(&r);
		if (rc != 0)
			smtpc_reply_reset(&r);
		in += len;
	}
	smtpc_reply_clear(&r);
	return 0;
}
