/* fuzz_dkim_policy.c: fuzz target for the DKIM signing policy's parsers
 * (lib/dkim_policy*.c): the input as a signing table value
 * (dkim_policy_parse_value: every entry it returns must be well formed and
 * print back to a value that parses the same), as a header block whose
 * From: domain is taken (dkim_policy_from_domain), and as a record value
 * for the zone file line (strings of at most 255 bytes). */
#include "fuzz_util.h"

#include "dkim_policy.h"
#include "mem.h"

static void fuzz_value(const char *text)
{
	struct dkim_policy_entry *e = NULL, *again = NULL;
	size_t n = 0, n2 = 0;
	char *err = NULL;

	if (dkim_policy_parse_value(text, "/etc/postern", &e, &n, &err) < 0) {
		if (err == NULL || e != NULL)
			abort();
		free(err);
		return;
	}
	if (n == 0 || n > DKIM_POLICY_MAX_ENTRIES)
		abort();
	buf *b = buf_new(256);
	for (size_t i = 0; i < n; i++) {
		char *one = dkim_policy_format_entry(e[i].selector, e[i].alg, e[i].key_path);

		if (*e[i].selector == '\0' || e[i].key_path[0] != '/')
			abort();
		buf_printf(b, "%s%s", i ? "," : "", one);
		free(one);
	}
	/* a key path with white space or a comma splits differently: skip */
	if (strpbrk(text, " \t\r\n,") == NULL || n == 1) {
		if (dkim_policy_parse_value(buf_cstr(b), "/", &again, &n2, &err) == 0) {
			if (n2 != n)
				abort();
			dkim_policy_entries_free(&again, n2);
		} else {
			free(err);
		}
	}
	buf_free(&b);
	dkim_policy_entries_free(&e, n);
}

static void fuzz_from(const uint8_t *data, size_t size)
{
	char *d = dkim_policy_from_domain((const char *)data, size);

	if (d != NULL) {
		for (const char *c = d; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				abort();
		free(d);
	}
}

static void fuzz_zone(const char *text)
{
	char *z = dkim_policy_zone_record("example.com", "s", text);

	free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);

	fuzz_value(text);
	fuzz_from(data, size);
	fuzz_zone(text);
	free(text);
	return 0;
}
