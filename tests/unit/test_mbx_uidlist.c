/* test_mbx_uidlist.c: unit tests of the dovecot-uidlist reader and
 * writer (lib/mbx_uidlist.c) through mbx_open: a list Dovecot wrote (flags
 * changed in the names since, W/P/G exts and unknown fields kept), records
 * appended without a header update, a doubled size ext, and corrupt lists
 * replaced under a new UIDVALIDITY with a log line. */
#include "mbx_fixture.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"

/* ---- a uidlist Dovecot wrote ---------------------------------------------- */

static const char dovecot_uidlist[] =
	"3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1 Xkept\n"
	"25006 W2186 :1276528487.M364837P9451.kurkku,S=2142,W=2186:2,S\n"
	"25010 G0123456789abcdef0123456789abcdef P+mig-uidl-1 W55 :1276528500.M1P2.kurkku:2,RS\n"
	"25011 :1276528501.M1P3.kurkku\n"
	"25020 Zfuture S999 :1276528600.M1P4.kurkku\n";

static void test_dovecot_uidlist(void **state)
{
	mbx *mb;
	const struct mbx_msg *m;
	char *ul;

	(void)state;
	mt_put(MBX_UIDLIST, dovecot_uidlist);
	/* the files as they are now: flags changed since Dovecot wrote them */
	mt_put("cur/1276528487.M364837P9451.kurkku,S=2142,W=2186:2,FS", "x\n");
	mt_put("cur/1276528500.M1P2.kurkku:2,Sa", "y\n");
	mt_put("new/1276528600.M1P4.kurkku", "z\n");
	mt_put("new/1276529999.M1P5.kurkku", "new one\n");
	mb = mt_open();
	assert_int_equal(mbx_uidvalidity(mb), 1275660208);
	assert_int_equal(mbx_count(mb), 4);
	m = mbx_msg(mb, 0);
	assert_int_equal(m->uid, 25006);
	assert_int_equal(m->psize, 2142);
	assert_int_equal(m->vsize, 2186);
	assert_int_equal(m->flags, MBX_FLAGGED | MBX_SEEN);
	assert_string_equal(mbx_pop3_uidl(mb, 0), "000061ae4c0907b0");
	m = mbx_msg(mb, 1);
	assert_int_equal(m->uid, 25010);
	assert_int_equal(m->vsize, 55);
	assert_int_equal(m->psize, 2);
	assert_string_equal(m->keywords, "a");
	assert_string_equal(m->pop3_uidl, "+mig-uidl-1");
	assert_string_equal(mbx_pop3_uidl(mb, 1), "+mig-uidl-1");
	assert_int_equal(mbx_msg(mb, 2)->uid, 25020);
	assert_int_equal(mbx_msg(mb, 2)->psize, 999); /* the S ext, not a stat */
	assert_true(mbx_msg(mb, 2)->in_new);
	assert_int_equal(mbx_msg(mb, 3)->uid, 25022);
	assert_int_equal(mbx_uidnext(mb), 25023);
	mbx_free(&mb);

	ul = mt_slurp_rel(MBX_UIDLIST);
	assert_non_null(strstr(ul, "3 V1275660208 N25023 G3085f01b7f11094c501100008c4a11c1 Xkept\n"));
	assert_non_null(strstr(ul, "\n25010 G0123456789abcdef0123456789abcdef P+mig-uidl-1 S2 W55 "
				   ":1276528500.M1P2.kurkku:2,Sa\n"));
	assert_non_null(strstr(ul, "\n25020 Zfuture S999 :1276528600.M1P4.kurkku\n"));
	assert_non_null(strstr(ul, "\n25022 S8 :1276529999.M1P5.kurkku\n"));
	assert_null(strstr(ul, "25011")); /* its file is gone */
	free(ul);
}

/* Dovecot appends records under the lock without rewriting the header:
 * the next UID is past the last record even when N says less. */
static void test_dovecot_appended(void **state)
{
	mbx *mb;

	(void)state;
	mt_put(MBX_UIDLIST, "3 V1234 N3 Gabc\n1 :1.a\n2 :2.b\n7 :3.c\n");
	mt_put("new/1.a", "a\n");
	mt_put("new/3.c", "c\n");
	mt_put("new/9.d", "d\n");
	mb = mt_open();
	assert_int_equal(mt_uid_of(mb, "1.a"), 1);
	assert_int_equal(mt_uid_of(mb, "3.c"), 7);
	assert_int_equal(mt_uid_of(mb, "9.d"), 8);
	assert_int_equal(mbx_uidvalidity(mb), 1234);
	mbx_free(&mb);
}

/* A record with two valid W exts: the first counts, always (a second one
 * kept verbatim used to win after a rewrite; found by fuzz_uidlist). */
static void test_duplicate_size_ext(void **state)
{
	mbx *mb;

	(void)state;
	mt_put(MBX_UIDLIST, "3 V1234 N3 Gabc\n1 W22 W25 :1.a\n");
	mt_put("new/1.a", "a\n");
	mt_put("new/2.b", "b\n"); /* forces a rewrite */
	for (int round = 0; round < 3; round++) {
		mb = mt_open();
		assert_int_equal(mbx_msg(mb, 0)->vsize, 22);
		mbx_free(&mb);
	}
}

static void test_corrupt_uidlist(void **state)
{
	static const char *const bad[] = {
		"1 1251561665 363\n362 1255167605.V802.host:2,\n", /* version 1 */
		"3 V1234 N10 Gabc\n5 :a\n4 :b\n",                   /* UIDs not increasing */
		"3 V1234 N10 Gabc\nfive :a\n",                      /* bad UID */
		"3 V1234 N10 Gabc\n5 W12\n",                        /* no file name */
		"3 N10 Gabc\n5 :a\n",                               /* no UIDVALIDITY */
		"3 V1234 N10 Gabc\n5 :../../etc/passwd\n",          /* slash */
		"",                                                 /* empty */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *logf = xasprintf("%s/log", mt_top);
		char *log_text, *ul;
		mbx *mb;

		mt_put(MBX_UIDLIST, bad[i]);
		mt_put("new/5.m.host", "m\n");
		mt_put("new/6.n.host", "n\n");
		truncate(logf, 0);
		mb = mt_open();
		assert_int_equal(mbx_count(mb), 2);
		assert_int_equal(mt_uid_of(mb, "5.m.host"), 1);
		assert_int_equal(mt_uid_of(mb, "6.n.host"), 2);
		assert_int_not_equal(mbx_uidvalidity(mb), 1234);
		mbx_free(&mb);
		log_text = mt_slurp(logf);
		if (strstr(log_text, "dovecot-uidlist is bad") == NULL)
			fail_msg("case %zu: no log line, log: %s", i, log_text);
		ul = mt_slurp_rel(MBX_UIDLIST);
		assert_true(strncmp(ul, "3 V", 3) == 0);
		free(ul);
		free(log_text);
		free(logf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		MT_TEST(test_dovecot_uidlist),
		MT_TEST(test_dovecot_appended),
		MT_TEST(test_duplicate_size_ext),
		MT_TEST(test_corrupt_uidlist),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
