/* base64.c: strict RFC 4648 base64 encoder and decoder (see base64.h).
 * The decoder works one 4-character group at a time; only the last group
 * may hold '=' padding, and the bits that padding leaves unused must be
 * zero. It never reads past len and never writes past what it reserves. */
#include "base64.h"

#include <stdbool.h>
#include <stdint.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_len(size_t len)
{
	return (len + 2) / 3 * 4;
}

size_t base64_decoded_max(size_t len)
{
	return (len + 3) / 4 * 3;
}

void base64_encode(buf *out, const void *data, size_t len)
{
	const unsigned char *p = data;
	char *dst = buf_reserve(out, base64_encoded_len(len));
	size_t n = 0;

	for (size_t i = 0; i < len; i += 3) {
		size_t left = len - i;
		uint32_t v = (uint32_t)p[i] << 16;

		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		dst[n++] = b64_alphabet[(v >> 18) & 63];
		dst[n++] = b64_alphabet[(v >> 12) & 63];
		dst[n++] = left > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
		dst[n++] = left > 2 ? b64_alphabet[v & 63] : '=';
	}
	buf_commit(out, n);
}

int base64_char_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* b64_group: decodes one 4-character group into out[0..2]; last says it
 * is the final group (the only one allowed padding). Returns the number
 * of bytes produced (1-3) or -1. */
static int b64_group(const char *in, bool last, unsigned char *out)
{
	int pad = 0;
	uint32_t v = 0;

	if (last && in[3] == '=')
		pad = in[2] == '=' ? 2 : 1;
	for (int i = 0; i < 4 - pad; i++) {
		int d = base64_char_value((unsigned char)in[i]);

		if (d < 0)
			return -1;
		v = v << 6 | (uint32_t)d;
	}
	v <<= 6 * pad;
	if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))
		return -1;
	out[0] = (unsigned char)(v >> 16);
	out[1] = (unsigned char)(v >> 8);
	out[2] = (unsigned char)v;
	return 3 - pad;
}

int base64_decode(buf *out, const char *in, size_t len)
{
	unsigned char *dst;
	size_t n = 0;

	if (len % 4 != 0)
		return -1;
	dst = (unsigned char *)buf_reserve(out, base64_decoded_max(len));
	for (size_t i = 0; i < len; i += 4) {
		int got = b64_group(in + i, i + 4 == len, dst + n);

		if (got < 0) {
			/* the reserved space overwrote the trailing NUL:
			 * committing nothing puts it back */
			buf_commit(out, 0);
			return -1;
		}
		n += (size_t)got;
	}
	buf_commit(out, n);
	return 0;
}
