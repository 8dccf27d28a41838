/* jsonread.c: the minimal recursive-descent JSON reader of jsonread.h,
 * for test drivers only. Depth is bounded; errors carry the offset. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonread.h"
#include "mem.h"

#define JV_MAX_DEPTH 64

struct jv_parser {
	const char *s;
	size_t len, pos;
	const char *err;
};

static struct jv *jv_value(struct jv_parser *p, unsigned depth);

static void jv_skip_ws(struct jv_parser *p)
{
	while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]) != NULL && p->s[p->pos] != '\0')
		p->pos++;
}

static bool jv_take(struct jv_parser *p, char ch)
{
	jv_skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == ch) {
		p->pos++;
		return true;
	}
	return false;
}

static struct jv *jv_fail(struct jv_parser *p, const char *err)
{
	if (p->err == NULL)
		p->err = err;
	return NULL;
}

static int jv_hex4(struct jv_parser *p, unsigned *out)
{
	unsigned v = 0;

	if (p->pos + 4 > p->len)
		return -1;
	for (int i = 0; i < 4; i++) {
		char ch = p->s[p->pos++];

		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			v |= (unsigned)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			v |= (unsigned)(ch - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static void jv_put_utf8(buf *b, unsigned cp)
{
	if (cp < 0x80) {
		buf_putc(b, (int)cp);
	} else if (cp < 0x800) {
		buf_putc(b, (int)(0xc0 | (cp >> 6)));
		buf_putc(b, (int)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		buf_putc(b, (int)(0xe0 | (cp >> 12)));
		buf_putc(b, (int)(0x80 | ((cp >> 6) & 0x3f)));
		buf_putc(b, (int)(0x80 | (cp & 0x3f)));
	} else {
		buf_putc(b, (int)(0xf0 | (cp >> 18)));
		buf_putc(b, (int)(0x80 | ((cp >> 12) & 0x3f)));
		buf_putc(b, (int)(0x80 | ((cp >> 6) & 0x3f)));
		buf_putc(b, (int)(0x80 | (cp & 0x3f)));
	}
}

/* jv_unicode: after "\u": one code point, a surrogate pair joined. */
static int jv_unicode(struct jv_parser *p, buf *b)
{
	unsigned cp, lo;

	if (jv_hex4(p, &cp) < 0)
		return -1;
	if (cp >= 0xd800 && cp < 0xdc00) {
		if (p->pos + 2 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
			return -1;
		p->pos += 2;
		if (jv_hex4(p, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
			return -1;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	jv_put_utf8(b, cp);
	return 0;
}

static int jv_escape(struct jv_parser *p, buf *b)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *hit;
	char ch;

	if (p->pos >= p->len)
		return -1;
	ch = p->s[p->pos++];
	if (ch == 'u')
		return jv_unicode(p, b);
	hit = ch != '\0' ? strchr(from, ch) : NULL;
	if (hit == NULL)
		return -1;
	buf_putc(b, to[hit - from]);
	return 0;
}

/* jv_string_text: a quoted string (the opening quote already seen). */
static char *jv_string_text(struct jv_parser *p, size_t *len_r)
{
	buf *b = buf_new(32);

	while (p->pos < p->len && p->s[p->pos] != '"') {
		unsigned char ch = (unsigned char)p->s[p->pos++];

		if (ch < 0x20 || (ch == '\\' && jv_escape(p, b) < 0)) {
			buf_free(&b);
			p->err = "bad string";
			return NULL;
		}
		if (ch != '\\')
			buf_putc(b, ch);
	}
	if (p->pos >= p->len) {
		buf_free(&b);
		p->err = "unterminated string";
		return NULL;
	}
	p->pos++;
	*len_r = buf_len(b);
	return buf_steal_free(&b);
}

static struct jv *jv_new(enum jv_type type)
{
	struct jv *v = xcalloc(1, sizeof(*v));

	v->type = type;
	return v;
}

static void jv_push(struct jv *v, char *key, struct jv *item)
{
	v->items = xrealloc(v->items, (v->count + 1) * sizeof(*v->items));
	if (v->type == JV_OBJECT) {
		v->keys = xrealloc(v->keys, (v->count + 1) * sizeof(*v->keys));
		v->keys[v->count] = key;
	}
	v->items[v->count++] = item;
}

/* jv_members: an array's items or an object's members up to close. */
static struct jv *jv_members(struct jv_parser *p, enum jv_type type, char close, unsigned depth)
{
	struct jv *v = jv_new(type);

	if (jv_take(p, close))
		return v;
	do {
		char *key = NULL;
		struct jv *item;
		size_t klen;

		if (type == JV_OBJECT) {
			if (!jv_take(p, '"') || (key = jv_string_text(p, &klen)) == NULL ||
			    !jv_take(p, ':')) {
				free(key);
				jv_free(&v);
				return jv_fail(p, "bad object member");
			}
		}
		item = jv_value(p, depth + 1);
		if (item == NULL) {
			free(key);
			jv_free(&v);
			return NULL;
		}
		jv_push(v, key, item);
	} while (jv_take(p, ','));
	if (!jv_take(p, close)) {
		jv_free(&v);
		return jv_fail(p, "expected , or a closing bracket");
	}
	return v;
}

static struct jv *jv_word(struct jv_parser *p)
{
	static const char *const words[] = { "null", "true", "false" };

	for (int i = 0; i < 3; i++) {
		size_t n = strlen(words[i]);

		if (p->pos + n <= p->len && memcmp(p->s + p->pos, words[i], n) == 0) {
			struct jv *v = jv_new(i == 0 ? JV_NULL : JV_BOOL);

			v->boolean = i == 1;
			p->pos += n;
			return v;
		}
	}
	return jv_fail(p, "unexpected character");
}

static struct jv *jv_number(struct jv_parser *p)
{
	char tmp[64], *end;
	size_t n = 0;
	struct jv *v;

	while (p->pos + n < p->len && n + 1 < sizeof(tmp) && p->s[p->pos + n] != '\0' &&
	       strchr("+-0123456789.eE", p->s[p->pos + n]) != NULL) {
		tmp[n] = p->s[p->pos + n];
		n++;
	}
	tmp[n] = '\0';
	v = jv_new(JV_NUMBER);
	v->number = strtod(tmp, &end);
	if (n == 0 || *end != '\0') {
		jv_free(&v);
		return jv_fail(p, "bad number");
	}
	p->pos += n;
	return v;
}

static struct jv *jv_value(struct jv_parser *p, unsigned depth)
{
	struct jv *v;

	if (depth > JV_MAX_DEPTH)
		return jv_fail(p, "nested too deep");
	if (jv_take(p, '{'))
		return jv_members(p, JV_OBJECT, '}', depth);
	if (jv_take(p, '['))
		return jv_members(p, JV_ARRAY, ']', depth);
	if (jv_take(p, '"')) {
		v = jv_new(JV_STRING);
		v->str = jv_string_text(p, &v->len);
		if (v->str == NULL)
			jv_free(&v);
		return v;
	}
	jv_skip_ws(p);
	if (p->pos < p->len && (p->s[p->pos] == '-' || (p->s[p->pos] >= '0' && p->s[p->pos] <= '9')))
		return jv_number(p);
	return jv_word(p);
}

struct jv *jv_parse(const char *text, size_t len, const char **err_r, size_t *pos_r)
{
	struct jv_parser p = { text, len, 0, NULL };
	struct jv *v = jv_value(&p, 0);

	jv_skip_ws(&p);
	if (v != NULL && p.pos != len) {
		jv_free(&v);
		p.err = "trailing garbage";
	}
	if (v == NULL) {
		*err_r = p.err != NULL ? p.err : "bad JSON";
		*pos_r = p.pos;
	}
	return v;
}

void jv_free(struct jv **vp)
{
	struct jv *v = *vp;

	if (v == NULL)
		return;
	for (size_t i = 0; i < v->count; i++) {
		jv_free(&v->items[i]);
		if (v->keys != NULL)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	free(v);
	*vp = NULL;
}

const struct jv *jv_get(const struct jv *obj, const char *key)
{
	if (obj == NULL || obj->type != JV_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->count; i++)
		if (strcmp(obj->keys[i], key) == 0)
			return obj->items[i];
	return NULL;
}
