/* fuzz_authres.c: fuzz target for lib/authres.c: the input is a received
 * header field for authres_is_ours and a value for authres_value. A value
 * must come out as one safe piece (a token or address without white
 * space, ';' or '(', or a quoted string of printable ASCII), and a field
 * written with it as authserv-id and property must stay one header field
 * (only folded line ends) that authres_is_ours recognises as that id's.
 * authres_find_result must point at a token inside the input, and
 * authres_comment make one comment without a line end. */
#include "fuzz_util.h"

#include <stdbool.h>
#include <string.h>

#include "authres.h"

static void fuzz_authres_check_value(const char *v, size_t len)
{
	bool quoted = len >= 2 && v[0] == '"' && v[len - 1] == '"';

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 32 || c >= 127)
			abort();
		if (!quoted && (c == ' ' || c == ';' || c == '(' || c == '"'))
			abort();
	}
}

static void fuzz_authres_check_field(const char *f, size_t len)
{
	if (len == 0 || f[len - 1] != '\n')
		abort();
	for (size_t i = 0; i + 1 < len; i++)
		if (f[i] == '\n' && f[i + 1] != '\t')
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	buf *b = buf_new(64);
	struct authres_prop p = { "smtp.mailfrom", NULL };

	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	(void)authres_is_ours(text, size, "mx.example.net");
	{
		size_t n = 0;
		const char *r = authres_find_result(text, "arc", &n);

		if (r != NULL && (r < text || r + n > text + strlen(text) || n == 0 ||
				  strcspn(r, " \t\r\n;()\"") < n))
			abort();
		authres_comment(b, text);
		if (strpbrk(buf_cstr(b) + 2, "()\n\r") != buf_cstr(b) + buf_len(b) - 1)
			abort();
		buf_reset(b);
	}
	authres_value(b, text);
	fuzz_authres_check_value(buf_cstr(b), buf_len(b));
	if (text[0] != '\0' && strlen(text) < 200 && strchr(text, '\\') == NULL) {
		p.value = text;
		authres_begin(b, text);
		authres_add(b, "spf", "pass", text, &p, 1);
		authres_end(b);
		fuzz_authres_check_field(buf_cstr(b), buf_len(b));
		if (!authres_is_ours(buf_cstr(b), buf_len(b), text) &&
		    strspn(text, "abcdefghijklmnopqrstuvwxyz0123456789.-") == strlen(text))
			abort();
	}
	buf_free(&b);
	free(text);
	return 0;
}
