/* imapcache_rec.c: the byte-level codec of the cache file postern-cache:
 * the 16-byte file header, one record (framing, header checksum, the
 * table of values), and CRC-32C, the checksum of both (software,
 * slice-by-8, or the SSE 4.2 instruction). No I/O here; imapcache.c says what the format means. */
#include <string.h>

#include "imapcache_int.h"

static uint32_t crc_table[8][256];
static bool crc_ready;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
	crc_ready = true;
}

uint32_t imapcache_crc32c_soft(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	if (!crc_ready)
		crc_init();
	crc = ~crc;
	while (len >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				     (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
			      (uint32_t)p[7] << 24;

		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		      crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* crc_sse42: the same with the CPU's crc32 instruction (SSE 4.2), about
 * ten times faster: the first read of every value checks its CRC. */
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t crc, const void *data,
							     size_t len)
{
	const unsigned char *p = data;
	uint64_t c = ~crc;
	uint32_t c32;

	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8); /* little-endian: bytes in order */
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	c32 = (uint32_t)c;
	while (len-- > 0)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return ~c32;
}

uint32_t imapcache_crc32c(uint32_t crc, const void *data, size_t len)
{
	static int hw = -1;

	if (hw < 0) {
		__builtin_cpu_init();
		hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
	}
	return hw ? crc_sse42(crc, data, len) : imapcache_crc32c_soft(crc, data, len);
}
#else
uint32_t imapcache_crc32c(uint32_t crc, const void *data, size_t len)
{
	return imapcache_crc32c_soft(crc, data, len);
}
#endif

uint32_t imapcache_get32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

void imapcache_put32(char *p, uint32_t v)
{
	p[0] = (char)(v & 0xff);
	p[1] = (char)((v >> 8) & 0xff);
	p[2] = (char)((v >> 16) & 0xff);
	p[3] = (char)(v >> 24);
}

void imapcache_header_encode(char *out, uint32_t uidvalidity)
{
	memcpy(out, IMAPCACHE_MAGIC, 8);
	imapcache_put32(out + 8, uidvalidity);
	imapcache_put32(out + 12, imapcache_crc32c(0, out, 12));
}

int imapcache_header_check(const char *p, size_t avail, uint32_t uidvalidity)
{
	if (avail < IMAPCACHE_HDR_LEN || memcmp(p, IMAPCACHE_MAGIC, 8) != 0 ||
	    imapcache_get32(p + 12) != imapcache_crc32c(0, p, 12))
		return -1;
	return imapcache_get32(p + 8) == uidvalidity ? 1 : 0;
}

/* rec_table: decodes the value table of a record whose fixed part and
 * base are there; returns the bytes its values take, or -1 when bad. */
static long long rec_table(const char *p, struct imapcache_rec *r)
{
	unsigned seen = 0;
	long long total = 0;

	for (unsigned i = 0; i < r->nfields; i++, p += IMAPCACHE_REC_FIELD) {
		unsigned f = (unsigned char)p[0];

		if (f >= IMAPMSG_NFIELDS || (seen & (1u << f)) || p[1] || p[2] || p[3])
			return -1;
		seen |= 1u << f;
		r->f[i].field = f;
		r->f[i].vlen = imapcache_get32(p + 4);
		r->f[i].vcrc = imapcache_get32(p + 8);
		if (r->f[i].vlen > IMAPCACHE_MAX_VALUE)
			return -1;
		total += r->f[i].vlen;
	}
	return total;
}

int imapcache_rec_parse(const char *p, size_t avail, struct imapcache_rec *r)
{
	size_t head;
	long long values;

	if (avail < IMAPCACHE_REC_FIXED)
		return 0;
	if (imapcache_get32(p) != IMAPCACHE_REC_MAGIC)
		return -1;
	r->len = imapcache_get32(p + 4);
	r->uid = imapcache_get32(p + 8);
	r->base_len = (unsigned char)p[12] | (size_t)(unsigned char)p[13] << 8;
	r->nfields = (unsigned char)p[14];
	if (r->base_len == 0 || r->base_len > IMAPCACHE_MAX_BASE || r->nfields == 0 ||
	    r->nfields > IMAPMSG_NFIELDS || p[15] != 0 || r->uid == 0)
		return -1;
	head = IMAPCACHE_REC_FIXED + r->base_len + IMAPCACHE_REC_FIELD * r->nfields;
	if (avail < head + 4)
		return 0;
	if (imapcache_get32(p + head) != imapcache_crc32c(0, p, head))
		return -1;
	r->base = p + IMAPCACHE_REC_FIXED;
	values = rec_table(r->base + r->base_len, r);
	if (values < 0 || (long long)r->len != (long long)head + 4 + values)
		return -1;
	if (r->len > avail)
		return 0;
	const char *v = p + head + 4;

	for (unsigned i = 0; i < r->nfields; i++) {
		r->f[i].val = v;
		v += r->f[i].vlen;
	}
	return 1;
}

void imapcache_rec_encode(buf *out, uint32_t uid, const char *base, size_t base_len,
			  const char *const vals[IMAPMSG_NFIELDS],
			  const size_t lens[IMAPMSG_NFIELDS])
{
	size_t start = buf_len(out), head, total = 0;
	unsigned n = 0;
	char fixed[IMAPCACHE_REC_FIXED], ent[IMAPCACHE_REC_FIELD], crc[4];

	for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++)
		if (vals[f] != NULL) {
			n++;
			total += lens[f];
		}
	head = IMAPCACHE_REC_FIXED + base_len + IMAPCACHE_REC_FIELD * n;
	imapcache_put32(fixed, IMAPCACHE_REC_MAGIC);
	imapcache_put32(fixed + 4, (uint32_t)(head + 4 + total));
	imapcache_put32(fixed + 8, uid);
	fixed[12] = (char)(base_len & 0xff);
	fixed[13] = (char)(base_len >> 8);
	fixed[14] = (char)n;
	fixed[15] = 0;
	buf_append(out, fixed, sizeof(fixed));
	buf_append(out, base, base_len);
	for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++) {
		if (vals[f] == NULL)
			continue;
		memset(ent, 0, sizeof(ent));
		ent[0] = (char)f;
		imapcache_put32(ent + 4, (uint32_t)lens[f]);
		imapcache_put32(ent + 8, imapcache_crc32c(0, vals[f], lens[f]));
		buf_append(out, ent, sizeof(ent));
	}
	imapcache_put32(crc, imapcache_crc32c(0, buf_cstr(out) + start, head));
	buf_append(out, crc, 4);
	for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++)
		if (vals[f] != NULL)
			buf_append(out, vals[f], lens[f]);
}
