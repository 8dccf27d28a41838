/* qp.c: quoted-printable and Q-encoding decoders and the hex digit value
 * (see qp.h). Nothing here fails: what is not a valid escape is copied. */
#include "qp.h"

int qp_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int qp_escape(const char *s, size_t len, size_t *used_r)
{
	size_t j = 1;

	if (len >= 3 && qp_hex_value(s[1]) >= 0 && qp_hex_value(s[2]) >= 0) {
		*used_r = 3;
		return qp_hex_value(s[1]) * 16 + qp_hex_value(s[2]);
	}
	while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r'))
		j++;
	if (j >= len || s[j] == '\n') {
		*used_r = j < len ? j + 1 : len;
		return -1;
	}
	*used_r = 1;
	return '=';
}

void qp_decode(buf *out, const char *in, size_t len, bool q_encoding)
{
	size_t i = 0, used;
	int c;

	while (i < len) {
		if (in[i] == '_' && q_encoding) {
			buf_putc(out, ' ');
			i++;
		} else if (in[i] == '=') {
			c = qp_escape(in + i, len - i, &used);
			if (c < 0 && q_encoding) { /* no soft breaks in a header */
				c = '=';
				used = 1;
			}
			if (c >= 0)
				buf_putc(out, c);
			i += used;
		} else {
			buf_putc(out, in[i++]);
		}
	}
}
