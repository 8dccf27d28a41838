/* test_imapbox.c: unit tests of lib/imapbox: the view of a selected
 * folder (sequence numbers, flags, keywords, \Recent), sync between two
 * sessions (new, expunged and re-flagged messages held until take),
 * STORE with UNCHANGEDSINCE, EXPUNGE and UID EXPUNGE, dovecot-keywords,
 * postern-modseq surviving reopen and rebuilt when bad, two processes
 * storing at once, a folder Dovecot wrote, APPEND, COPY, MOVE and STATUS,
 * a session closing without a write event (IDLE sessions sleep on), the
 * folder state kept after the last session (\Recent not passed on,
 * others' changes seen, STATUS from it, DELETED/DELETED-STORAGE) and
 * EXPUNGE seeing a \Deleted set elsewhere.
 * Uses the scratch Maildir of mbx_fixture.c. */
#include "mbx_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "imapbox.h"
#include "imapbox_int.h"
#include "md.h"
#include "mem.h"

static imapbox *ib_open(bool rw)
{
	imapbox *box = NULL;
	char *err = NULL;
	int rc = imapbox_open(mt_mdir, rw, &box, &err);

	if (rc != IMAPBOX_OK)
		fail_msg("imapbox_open: %s", err);
	return box;
}

static void ib_sync(imapbox *box, bool expunges, struct imapbox_changes *ch)
{
	char *err = NULL;

	if (imapbox_sync(box, &err) != IMAPBOX_OK)
		fail_msg("imapbox_sync: %s", err);
	imapbox_take(box, expunges, ch);
}

static char *flags_of(const imapbox *box, uint32_t seq)
{
	buf *b = buf_new(64);

	imapbox_flags_text(box, seq, b);
	return buf_steal_free(&b);
}

static void assert_flags(const imapbox *box, uint32_t seq, const char *want)
{
	char *got = flags_of(box, seq);

	assert_string_equal(got, want);
	free(got);
}

static int ib_store(imapbox *box, uint32_t seq, enum imapbox_store_op op, unsigned flags,
		    const char *kw, uint64_t unchangedsince, struct imapbox_store_result *res)
{
	const char *kws[1] = { kw };
	struct imapbox_store st = { .op = op, .flags = flags, .keywords = kws, .nkeywords = kw != NULL,
				    .unchangedsince = unchangedsince };
	char *err = NULL;
	int rc = imapbox_store(box, &seq, 1, &st, res, &err);

	free(err);
	return rc;
}

/* ---- open, view, \Recent ---- */

static void test_open_view(void **state)
{
	imapbox *box, *other;

	(void)state;
	mt_put("cur/100.a.host:2,S", "A\n");
	mt_put("cur/200.b.host:2,FT", "BB\n");
	mt_put("new/300.c.host", "CCC\n");
	box = ib_open(true);
	assert_int_equal(imapbox_count(box), 3);
	assert_int_equal(imapbox_uid(box, 1), 1);
	assert_int_equal(imapbox_uid(box, 3), 3);
	assert_int_equal(imapbox_seq_of_uid(box, 2, false), 2);
	assert_int_equal(imapbox_seq_of_uid(box, 9, false), 0);
	assert_int_equal(imapbox_seq_of_uid(box, 9, true), 4);
	assert_flags(box, 1, "(\\Seen)");
	assert_flags(box, 2, "(\\Flagged \\Deleted)");
	assert_flags(box, 3, "(\\Recent)");
	assert_int_equal(imapbox_recent(box), 1);
	assert_int_equal(imapbox_unseen_first(box), 2);
	assert_true(mt_exists("cur/300.c.host:2,")); /* moved by the read-write session */
	assert_true(imapbox_highestmodseq(box) >= 1);
	assert_true(imapbox_modseq(box, 1) >= 1);
	/* a second session does not get \Recent again */
	other = ib_open(true);
	assert_int_equal(imapbox_recent(other), 0);
	imapbox_close(&other);
	imapbox_close(&box);
	assert_null(box);
}

static void test_open_missing(void **state)
{
	imapbox *box = NULL;
	char *err = NULL;
	char *dir;

	(void)state;
	dir = xasprintf("%s/.Nope", mt_mdir);
	assert_int_equal(imapbox_open(dir, true, &box, &err), IMAPBOX_NONEXISTENT);
	assert_null(box);
	free(err);
	free(dir);
}

static void test_msg_fill(void **state)
{
	imapbox *box;
	struct imapmsg m;
	struct stat st;
	char *p;

	(void)state;
	mt_put("cur/100.a.host:2,Sa", "Sub: x\nbody\n");
	mt_put("dovecot-keywords", "0 $Junk\n1 work\n");
	box = ib_open(true);
	assert_int_equal(imapbox_msg(box, 1, IMAPBOX_NEED_DATE | IMAPBOX_NEED_SIZE, &m), IMAPBOX_OK);
	assert_int_equal(m.seq, 1);
	assert_int_equal(m.uid, 1);
	assert_int_equal(m.flags, IMAPMSG_SEEN);
	assert_int_equal(m.nkeywords, 1);
	assert_string_equal(m.keywords[0], "$Junk");
	assert_int_equal(m.size, 14); /* two LFs count two more */
	p = mt_path("cur/100.a.host:2,Sa");
	assert_int_equal(stat(p, &st), 0);
	free(p);
	assert_int_equal(m.internaldate, st.st_mtime);
	assert_true(m.modseq >= 1);
	assert_flags(box, 1, "(\\Seen $Junk)");
	imapbox_close(&box);
}

static void test_flags_lists(void **state)
{
	imapbox *box;
	buf *b = buf_new(64);

	(void)state;
	mt_put("dovecot-keywords", "0 $Junk\n3 work\nbad line\n99 far\n");
	box = ib_open(true);
	imapbox_flags_list(box, b);
	assert_string_equal(buf_cstr(b), "(\\Answered \\Flagged \\Deleted \\Seen \\Draft $Junk work)");
	buf_reset(b);
	imapbox_permanentflags(box, b);
	assert_string_equal(buf_cstr(b), "(\\Answered \\Flagged \\Deleted \\Seen \\Draft $Junk work \\*)");
	imapbox_close(&box);
	box = ib_open(false);
	buf_reset(b);
	imapbox_permanentflags(box, b);
	assert_string_equal(buf_cstr(b), "()");
	imapbox_close(&box);
	buf_free(&b);
}

/* ---- STORE ---- */

static void test_store_flags_keywords(void **state)
{
	imapbox *box;
	struct imapbox_store_result res;
	uint64_t before;
	char *kwf;

	(void)state;
	mt_put("cur/100.a.host:2,P", "A\n");
	box = ib_open(true);
	before = imapbox_modseq(box, 1);
	assert_int_equal(ib_store(box, 1, IMAPBOX_STORE_ADD, IMAPMSG_SEEN, "Work", 0, &res), IMAPBOX_OK);
	assert_int_equal(res.nchanged, 1);
	assert_int_equal(res.changed_seqs[0], 1);
	assert_true(imapbox_modseq(box, 1) > before);
	assert_int_equal(imapbox_highestmodseq(box), imapbox_modseq(box, 1));
	assert_true(mt_exists("cur/100.a.host:2,PSa")); /* P kept, keyword a */
	assert_flags(box, 1, "(\\Seen Work)");
	kwf = mt_slurp_rel("dovecot-keywords");
	assert_string_equal(kwf, "0 Work\n");
	free(kwf);
	/* the same store again changes nothing and raises no MODSEQ */
	before = imapbox_modseq(box, 1);
	assert_int_equal(ib_store(box, 1, IMAPBOX_STORE_ADD, IMAPMSG_SEEN, "work", 0, &res), IMAPBOX_OK);
	assert_int_equal(res.nchanged, 0);
	assert_int_equal(imapbox_modseq(box, 1), before);
	/* replace: keyword and \Seen go, \Flagged comes, P stays */
	assert_int_equal(ib_store(box, 1, IMAPBOX_STORE_SET, IMAPMSG_FLAGGED, NULL, 0, &res), IMAPBOX_OK);
	assert_true(mt_exists("cur/100.a.host:2,FP"));
	assert_int_equal(ib_store(box, 1, IMAPBOX_STORE_REMOVE, IMAPMSG_FLAGGED, "unknown", 0, &res),
			 IMAPBOX_OK);
	assert_true(mt_exists("cur/100.a.host:2,P"));
	assert_flags(box, 1, "()");
	/* bad keyword */
	assert_int_equal(ib_store(box, 1, IMAPBOX_STORE_ADD, 0, "a(b", 0, &res), IMAPBOX_BAD);
	imapbox_close(&box);
}

static void test_store_unchangedsince(void **state)
{
	imapbox *box;
	struct imapbox_store_result res;
	uint64_t ms;

	(void)state;
	mt_put("cur/100.a.host:2,", "A\n");
	box = ib_open(true);
	ms = imapbox_modseq(box, 1);
	assert_int_equal(ib_store(box, 1, IMAPBOX_STORE_ADD, IMAPMSG_SEEN, NULL, ms, &res), IMAPBOX_OK);
	assert_int_equal(res.nchanged, 1);
	assert_int_equal(res.nmodified, 0);
	assert_int_equal(ib_store(box, 1, IMAPBOX_STORE_ADD, IMAPMSG_FLAGGED, NULL, ms, &res), IMAPBOX_OK);
	assert_int_equal(res.nchanged, 0);
	assert_int_equal(res.nmodified, 1);
	assert_int_equal(res.modified_seqs[0], 1);
	assert_flags(box, 1, "(\\Seen)");
	imapbox_close(&box);
}

static void test_store_readonly(void **state)
{
	imapbox *box;
	struct imapbox_store_result res;
	char *err = NULL;

	(void)state;
	mt_put("cur/100.a.host:2,T", "A\n");
	box = ib_open(false);
	assert_int_equal(ib_store(box, 1, IMAPBOX_STORE_ADD, IMAPMSG_SEEN, NULL, 0, &res), IMAPBOX_READONLY);
	assert_int_equal(imapbox_expunge(box, NULL, 0, &err), IMAPBOX_READONLY);
	imapbox_close(&box);
}

static void test_keyword_limit(void **state)
{
	imapbox *box;
	struct imapbox_store_result res;
	char name[16];

	(void)state;
	mt_put("cur/100.a.host:2,", "A\n");
	box = ib_open(true);
	for (int i = 0; i < IMAPBOX_MAX_KEYWORDS; i++) {
		snprintf(name, sizeof(name), "kw%d", i);
		assert_int_equal(ib_store(box, 1, IMAPBOX_STORE_ADD, 0, name, 0, &res), IMAPBOX_OK);
	}
	assert_int_equal(ib_store(box, 1, IMAPBOX_STORE_ADD, 0, "one-too-many", 0, &res), IMAPBOX_LIMIT);
	assert_true(mt_exists("cur/100.a.host:2,abcdefghijklmnopqrstuvwxyz"));
	imapbox_close(&box);
}

/* ---- sync between sessions ---- */

static void test_sync_two_sessions(void **state)
{
	imapbox *a, *b;
	struct imapbox_changes ch;
	struct imapbox_store_result res;
	char *err = NULL;

	(void)state;
	mt_put("cur/100.a.host:2,", "A\n");
	mt_put("cur/200.b.host:2,", "B\n");
	a = ib_open(true);
	b = ib_open(true);
	/* nothing changed */
	ib_sync(b, true, &ch);
	assert_int_equal(ch.nexpunged + ch.nchanged, 0);
	assert_false(ch.exists_changed);
	/* a flag change by a */
	assert_int_equal(ib_store(a, 2, IMAPBOX_STORE_ADD, IMAPMSG_SEEN, NULL, 0, &res), IMAPBOX_OK);
	ib_sync(a, true, &ch);
	assert_int_equal(ch.nchanged, 0); /* a's own change is not reported back */
	ib_sync(b, true, &ch);
	assert_int_equal(ch.nchanged, 1);
	assert_int_equal(ch.changed_seqs[0], 2);
	assert_flags(b, 2, "(\\Seen)");
	assert_int_equal(imapbox_modseq(b, 2), imapbox_modseq(a, 2));
	/* a new message */
	mt_put("new/300.c.host", "C\n");
	ib_sync(b, false, &ch);
	assert_true(ch.exists_changed);
	assert_int_equal(ch.exists, 3);
	assert_int_equal(ch.recent, 1);
	ib_sync(a, true, &ch);
	assert_int_equal(ch.exists, 3);
	assert_int_equal(imapbox_recent(a), 0);
	/* an expunge by a, held in b while expunges may not be sent */
	assert_int_equal(ib_store(a, 1, IMAPBOX_STORE_ADD, IMAPMSG_DELETED, NULL, 0, &res), IMAPBOX_OK);
	assert_int_equal(imapbox_expunge(a, NULL, 0, &err), IMAPBOX_OK);
	imapbox_take(a, true, &ch);
	assert_int_equal(ch.nexpunged, 1);
	assert_int_equal(ch.expunged_seqs[0], 1);
	assert_int_equal(ch.expunged_uids[0], 1);
	assert_int_equal(imapbox_count(a), 2);
	ib_sync(b, false, &ch);
	assert_int_equal(ch.nexpunged, 0);
	assert_int_equal(imapbox_count(b), 3);
	assert_true(imapbox_expunged(b, 1));
	assert_int_equal(imapbox_msg_open(b, 1), -1);
	assert_int_equal(errno, ENOENT);
	imapbox_take(b, true, &ch);
	assert_int_equal(ch.nexpunged, 1);
	assert_int_equal(ch.expunged_seqs[0], 1);
	assert_int_equal(imapbox_count(b), 2);
	assert_int_equal(imapbox_uid(b, 1), 2);
	imapbox_close(&a);
	imapbox_close(&b);
}

static void test_sync_external_changes(void **state)
{
	imapbox *box;
	struct imapbox_changes ch;
	uint64_t high;

	(void)state;
	mt_put("cur/100.a.host:2,", "A\n");
	mt_put("cur/200.b.host:2,", "B\n");
	mt_put("cur/300.c.host:2,", "C\n");
	box = ib_open(true);
	high = imapbox_highestmodseq(box);
	/* a Maildir MUA renames one and deletes another; pop3d-style */
	mt_move("cur/200.b.host:2,", "cur/200.b.host:2,RS");
	mt_del("cur/300.c.host:2,");
	ib_sync(box, true, &ch);
	assert_int_equal(ch.nexpunged, 1);
	assert_int_equal(ch.expunged_seqs[0], 3);
	assert_int_equal(ch.nchanged, 1);
	assert_int_equal(ch.changed_seqs[0], 2);
	assert_flags(box, 2, "(\\Answered \\Seen)");
	assert_true(imapbox_highestmodseq(box) > high);
	imapbox_close(&box);
}

static void test_expunge_uids(void **state)
{
	imapbox *box;
	struct imapbox_changes ch;
	uint32_t uids[] = { 2 };
	char *err = NULL;

	(void)state;
	mt_put("cur/100.a.host:2,T", "A\n");
	mt_put("cur/200.b.host:2,T", "B\n");
	mt_put("cur/300.c.host:2,S", "C\n");
	box = ib_open(true);
	assert_int_equal(imapbox_expunge(box, uids, 1, &err), IMAPBOX_OK);
	imapbox_take(box, true, &ch);
	assert_int_equal(ch.nexpunged, 1);
	assert_int_equal(ch.expunged_uids[0], 2);
	assert_true(mt_exists("cur/100.a.host:2,T"));
	assert_false(mt_exists("cur/200.b.host:2,T"));
	assert_int_equal(imapbox_expunge(box, NULL, 0, &err), IMAPBOX_OK);
	imapbox_take(box, true, &ch);
	assert_int_equal(ch.nexpunged, 1);
	assert_int_equal(imapbox_count(box), 1);
	assert_int_equal(imapbox_uid(box, 1), 3);
	imapbox_close(&box);
}

static void test_expunge_order(void **state)
{
	imapbox *box;
	struct imapbox_changes ch;
	char *err = NULL;

	(void)state;
	mt_put("cur/100.a.host:2,T", "A\n");
	mt_put("cur/200.b.host:2,", "B\n");
	mt_put("cur/300.c.host:2,T", "C\n");
	mt_put("cur/400.d.host:2,T", "D\n");
	box = ib_open(true);
	assert_int_equal(imapbox_expunge(box, NULL, 0, &err), IMAPBOX_OK);
	imapbox_take(box, true, &ch);
	assert_int_equal(ch.nexpunged, 3);
	assert_int_equal(ch.expunged_seqs[0], 4); /* highest first */
	assert_int_equal(ch.expunged_seqs[1], 3);
	assert_int_equal(ch.expunged_seqs[2], 1);
	assert_false(ch.exists_changed);
	imapbox_close(&box);
}

/* ---- postern-modseq ---- */

static void test_modseq_persists(void **state)
{
	imapbox *box;
	struct imapbox_store_result res;
	uint64_t ms1, high;

	(void)state;
	mt_put("cur/100.a.host:2,", "A\n");
	mt_put("cur/200.b.host:2,", "B\n");
	box = ib_open(true);
	assert_int_equal(ib_store(box, 1, IMAPBOX_STORE_ADD, IMAPMSG_SEEN, NULL, 0, &res), IMAPBOX_OK);
	ms1 = imapbox_modseq(box, 1);
	high = imapbox_highestmodseq(box);
	imapbox_close(&box);
	box = ib_open(false);
	assert_int_equal(imapbox_modseq(box, 1), ms1);
	assert_int_equal(imapbox_highestmodseq(box), high);
	imapbox_close(&box);
	/* corrupt: rebuilt above the old highest, UIDVALIDITY kept */
	mt_put("postern-modseq", "garbage that is no modseq file at all....");
	box = ib_open(true);
	assert_int_equal(imapbox_uid(box, 2), 2);
	assert_true(imapbox_highestmodseq(box) >= 1);
	imapbox_close(&box);
	/* missing: rebuilt */
	mt_del("postern-modseq");
	box = ib_open(true);
	assert_true(imapbox_modseq(box, 1) >= 1);
	assert_true(mt_exists("postern-modseq"));
	imapbox_close(&box);
}

static void test_modseq_torn_tail(void **state)
{
	imapbox *box;
	struct imapbox_store_result res;
	uint64_t high;
	char *p;
	int fd;

	(void)state;
	mt_put("cur/100.a.host:2,", "A\n");
	box = ib_open(true);
	assert_int_equal(ib_store(box, 1, IMAPBOX_STORE_ADD, IMAPMSG_SEEN, NULL, 0, &res), IMAPBOX_OK);
	high = imapbox_highestmodseq(box);
	imapbox_close(&box);
	p = mt_path("postern-modseq");
	fd = open(p, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "torn", 4), 4); /* a writer died mid-record */
	close(fd);
	free(p);
	box = ib_open(true);
	assert_true(imapbox_highestmodseq(box) >= high);
	assert_int_equal(ib_store(box, 1, IMAPBOX_STORE_ADD, IMAPMSG_FLAGGED, NULL, 0, &res), IMAPBOX_OK);
	assert_true(imapbox_modseq(box, 1) > high); /* never lowered */
	imapbox_close(&box);
}

static void test_many_stores_compact(void **state)
{
	imapbox *box, *other;
	struct imapbox_store_result res;
	struct imapbox_changes ch;
	struct stat st;
	char *p;

	(void)state;
	mt_put("cur/100.a.host:2,", "A\n");
	box = ib_open(true);
	other = ib_open(true);
	for (int i = 0; i < 3000; i++)
		assert_int_equal(ib_store(box, 1, i % 2 ? IMAPBOX_STORE_REMOVE : IMAPBOX_STORE_ADD, IMAPMSG_SEEN,
					  NULL, 0, &res),
				 IMAPBOX_OK);
	p = mt_path("postern-modseq");
	assert_int_equal(stat(p, &st), 0);
	free(p);
	assert_true(st.st_size < 24 * 2100); /* compacted on the way */
	ib_sync(other, true, &ch);
	assert_int_equal(imapbox_modseq(other, 1), imapbox_modseq(box, 1));
	assert_int_equal(imapbox_flags(other, 1), 0);
	imapbox_close(&box);
	imapbox_close(&other);
}

/* ---- APPEND, COPY, MOVE, STATUS ---- */

static char *make_folder(const char *name)
{
	char *dir = xasprintf("%s/%s", mt_mdir, name);
	char *err = NULL;

	if (md_create(dir, true, &err) < 0)
		fail_msg("md_create: %s", err);
	return dir;
}

static char *put_tmp(const char *text)
{
	char *rel = xasprintf("tmp/append.%d", (int)getpid());
	char *p = mt_path(rel);

	mt_put(rel, text);
	free(rel);
	return p;
}

static void test_append(void **state)
{
	imapbox *box;
	struct imapbox_changes ch;
	struct imapmsg m;
	const char *kws[] = { "$Junk" };
	struct imapbox_append ap = { .flags = IMAPMSG_SEEN | IMAPMSG_RECENT, .keywords = kws, .nkeywords = 1,
				     .internaldate = 1000000000 };
	uint32_t uv = 0, uid = 0;
	char *err = NULL;

	(void)state;
	mt_put("cur/100.a.host:2,", "A\n");
	box = ib_open(true);
	ap.tmp_path = put_tmp("Subject: hi\n\nbody\n");
	assert_int_equal(imapbox_append(mt_mdir, &ap, &uv, &uid, &err), IMAPBOX_OK);
	assert_int_equal(uv, imapbox_uidvalidity(box));
	assert_int_equal(uid, 2);
	assert_false(mt_exists("tmp/x") || access(ap.tmp_path, F_OK) == 0);
	ib_sync(box, true, &ch);
	assert_true(ch.exists_changed);
	assert_int_equal(imapbox_count(box), 2);
	assert_int_equal(imapbox_uid(box, 2), 2);
	assert_flags(box, 2, "(\\Seen $Junk)");
	assert_int_equal(imapbox_msg(box, 2, IMAPBOX_NEED_DATE | IMAPBOX_NEED_SIZE, &m), IMAPBOX_OK);
	assert_int_equal(m.internaldate, 1000000000);
	assert_int_equal(m.size, 21);
	assert_true(ch.flags_changed);
	free((char *)ap.tmp_path);
	/* without flags: into new/, \Recent for the next session */
	ap = (struct imapbox_append){ .tmp_path = put_tmp("x\n") };
	assert_int_equal(imapbox_append(mt_mdir, &ap, &uv, &uid, &err), IMAPBOX_OK);
	assert_int_equal(uid, 3);
	ib_sync(box, true, &ch);
	assert_int_equal(ch.exists, 3);
	assert_int_equal(ch.recent, 1);
	free((char *)ap.tmp_path);
	imapbox_close(&box);
}

static void test_append_errors(void **state)
{
	struct imapbox_append ap = { 0 };
	uint32_t uv = 0, uid = 0;
	char *err = NULL, *dir;

	(void)state;
	dir = xasprintf("%s/.Missing", mt_mdir);
	ap.tmp_path = put_tmp("x\n");
	assert_int_equal(imapbox_append(dir, &ap, &uv, &uid, &err), IMAPBOX_NONEXISTENT);
	free(err);
	free(dir);
	/* over quota: refused before anything is written */
	mt_put("cur/100.a.host,S=40:2,", "0123456789012345678901234567890123456789");
	ap.quota_bytes = 41;
	assert_int_equal(imapbox_append(mt_mdir, &ap, &uv, &uid, &err), IMAPBOX_OVERQUOTA);
	free(err);
	assert_int_equal(access(ap.tmp_path, F_OK), 0);
	ap.quota_bytes = 1000;
	assert_int_equal(imapbox_append(mt_mdir, &ap, &uv, &uid, &err), IMAPBOX_OK);
	free((char *)ap.tmp_path);
}

static void test_copy_move(void **state)
{
	imapbox *box, *dst;
	struct imapbox_changes ch;
	struct imapbox_store_result res;
	uint32_t seqs[] = { 1, 3 };
	uint32_t uv, *src_uids, *dst_uids;
	size_t n;
	char *err = NULL, *dir;

	(void)state;
	dir = make_folder(".Archive");
	mt_put("cur/100.a.host:2,S", "A\n");
	mt_put("cur/200.b.host:2,", "B\n");
	mt_put("cur/300.c.host:2,F", "C\n");
	box = ib_open(true);
	assert_int_equal(ib_store(box, 3, IMAPBOX_STORE_ADD, 0, "work", 0, &res), IMAPBOX_OK);
	assert_int_equal(imapbox_copy(box, seqs, 2, dir, false, 0, &uv, &src_uids, &dst_uids, &n, &err),
			 IMAPBOX_OK);
	assert_int_equal(n, 2);
	assert_int_equal(src_uids[0], 1);
	assert_int_equal(src_uids[1], 3);
	assert_int_equal(dst_uids[0], 1);
	assert_int_equal(dst_uids[1], 2);
	free(src_uids);
	free(dst_uids);
	{
		imapbox *d = NULL;

		assert_int_equal(imapbox_open(dir, true, &d, &err), IMAPBOX_OK);
		dst = d;
	}
	assert_int_equal(imapbox_count(dst), 2);
	assert_int_equal(imapbox_uidvalidity(dst), uv);
	assert_flags(dst, 1, "(\\Seen)");
	assert_flags(dst, 2, "(\\Flagged work)");
	/* MOVE: copied, then gone from the source */
	assert_int_equal(imapbox_copy(box, seqs, 1, dir, true, 0, &uv, &src_uids, &dst_uids, &n, &err),
			 IMAPBOX_OK);
	assert_int_equal(n, 1);
	assert_int_equal(dst_uids[0], 3);
	free(src_uids);
	free(dst_uids);
	imapbox_take(box, true, &ch);
	assert_int_equal(ch.nexpunged, 1);
	assert_int_equal(ch.expunged_uids[0], 1);
	assert_int_equal(imapbox_count(box), 2);
	ib_sync(dst, true, &ch);
	assert_int_equal(ch.exists, 3);
	imapbox_close(&dst);
	imapbox_close(&box);
	free(dir);
}

static void test_status(void **state)
{
	struct imapbox_status st;
	imapbox *box;
	char *err = NULL, *dir;

	(void)state;
	mt_put("cur/100.a.host:2,S", "A\n");
	mt_put("cur/200.b.host:2,", "BB\r\n");
	mt_put("new/300.c.host", "C\nC\n");
	assert_int_equal(imapbox_status(mt_mdir, ~0u, &st, &err), IMAPBOX_OK);
	assert_int_equal(st.messages, 3);
	assert_int_equal(st.recent, 1);
	assert_int_equal(st.unseen, 2);
	assert_int_equal(st.uidnext, 4);
	assert_int_equal(st.size, 3 + 4 + 6);
	assert_true(st.highestmodseq >= 1);
	box = ib_open(false);
	assert_int_equal(st.uidvalidity, imapbox_uidvalidity(box));
	assert_int_equal(st.highestmodseq, imapbox_highestmodseq(box));
	imapbox_close(&box);
	dir = xasprintf("%s/.Nope", mt_mdir);
	assert_int_equal(imapbox_status(dir, ~0u, &st, &err), IMAPBOX_NONEXISTENT);
	free(err);
	free(dir);
}

static void test_watch_paths(void **state)
{
	imapbox *box;
	const char *const *w;
	char *want;

	(void)state;
	box = ib_open(true);
	w = imapbox_watch_paths(box);
	want = mt_path("new");
	assert_string_equal(w[0], want);
	free(want);
	want = mt_path("cur");
	assert_string_equal(w[1], want);
	free(want);
	assert_string_equal(w[2], mt_mdir);
	assert_null(w[3]);
	imapbox_close(&box);
}

/* closing_writes: IN_CLOSE_WRITE events in the folder's directory while
 * box2 stores (when store) and is closed with box1 open: an IDLE session
 * (box1) is woken only by real changes, not by another one leaving. */
static int closing_writes(bool store)
{
	imapbox *box1 = ib_open(true), *box2 = ib_open(true);
	struct imapbox_store_result res = { 0 };
	int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC), n = 0;
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t len;

	assert_true(ifd >= 0);
	assert_true(inotify_add_watch(ifd, mt_mdir, IN_CLOSE_WRITE) >= 0);
	if (store)
		assert_int_equal(ib_store(box2, 1, IMAPBOX_STORE_ADD, IMAPMSG_FLAGGED, NULL, 0, &res),
				 IMAPBOX_OK);
	imapbox_close(&box2);
	while ((len = read(ifd, ev, sizeof(ev))) > 0)
		for (char *p = ev; p < ev + len; p += sizeof(struct inotify_event) +
						     ((struct inotify_event *)p)->len)
			n++;
	close(ifd);
	imapbox_close(&box1);
	return n;
}

static void test_close_wakes_nobody(void **state)
{
	(void)state;
	mt_put("cur/1000.a:2,S", "Subject: a\n\nA\n");
	assert_int_equal(closing_writes(false), 0);
	assert_true(closing_writes(true) > 0); /* a STORE does write */
}

/* ---- a store Dovecot wrote ---- */

static void test_dovecot_store(void **state)
{
	imapbox *box;
	struct imapbox_store_result res;
	char *kwf;

	(void)state;
	mt_put("dovecot-uidlist", "3 V1234567 N40 G0123456789abcdef0123456789abcdef\n"
				  "7 :1600000001.M1P1.dove:2,S\n"
				  "31 W20 :1600000002.M2P2.dove,S=18:2,Fb\n");
	mt_put("dovecot-keywords", "0 $Forwarded\n1 Junk\n");
	mt_put("cur/1600000001.M1P1.dove:2,S", "a\n");
	mt_put("cur/1600000002.M2P2.dove,S=18:2,Fb", "012345678901234567");
	mt_put("dovecot.index", "Dovecot's own, ignored");
	box = ib_open(true);
	assert_int_equal(imapbox_uidvalidity(box), 1234567);
	assert_int_equal(imapbox_uidnext(box), 40);
	assert_int_equal(imapbox_count(box), 2);
	assert_int_equal(imapbox_uid(box, 1), 7);
	assert_int_equal(imapbox_uid(box, 2), 31);
	assert_flags(box, 2, "(\\Flagged Junk)");
	/* a known keyword keeps its letter; the file stays Dovecot's */
	assert_int_equal(ib_store(box, 1, IMAPBOX_STORE_ADD, 0, "$forwarded", 0, &res), IMAPBOX_OK);
	assert_true(mt_exists("cur/1600000001.M1P1.dove:2,Sa"));
	kwf = mt_slurp_rel("dovecot-keywords");
	assert_string_equal(kwf, "0 $Forwarded\n1 Junk\n");
	free(kwf);
	imapbox_close(&box);
}

static void test_own_store_then_foreign(void **state)
{
	imapbox *box;
	struct imapbox_store_result res;
	struct imapbox_changes ch;

	(void)state;
	mt_put("cur/100.a.host:2,", "A\n");
	mt_put("cur/200.b.host:2,", "B\n");
	box = ib_open(true);
	assert_int_equal(ib_store(box, 1, IMAPBOX_STORE_ADD, IMAPMSG_SEEN, NULL, 0, &res), IMAPBOX_OK);
	ib_sync(box, true, &ch);
	assert_int_equal(ch.nchanged, 0);
	mt_move("cur/200.b.host:2,", "cur/200.b.host:2,F"); /* someone else, after us */
	ib_sync(box, true, &ch);
	assert_int_equal(ch.nchanged, 1);
	assert_int_equal(ch.changed_seqs[0], 2);
	assert_flags(box, 2, "(\\Flagged)");
	imapbox_close(&box);
}

static void test_store_keeps_foreign_change(void **state)
{
	imapbox *box;
	struct imapbox_store_result res;

	(void)state;
	mt_put("cur/100.a.host:2,", "A\n");
	box = ib_open(true);
	/* another device marks it seen; this session has not synced since */
	mt_move("cur/100.a.host:2,", "cur/100.a.host:2,S");
	assert_int_equal(ib_store(box, 1, IMAPBOX_STORE_ADD, IMAPMSG_FLAGGED, NULL, 0, &res),
			 IMAPBOX_OK);
	assert_true(mt_exists("cur/100.a.host:2,FS"));
	assert_int_equal(ib_store(box, 1, IMAPBOX_STORE_REMOVE, IMAPMSG_FLAGGED, NULL, 0, &res),
			 IMAPBOX_OK);
	assert_true(mt_exists("cur/100.a.host:2,S"));
	imapbox_close(&box);
}

static void test_append_torn_uidlist(void **state)
{
	struct imapbox_append ap = { 0 };
	uint32_t uv = 0, uid = 0;
	char *err = NULL, *ul;

	(void)state;
	mt_put("cur/100.a.host:2,", "A\n");
	mbx_free(&(mbx *){ mt_open() });
	ul = mt_slurp_rel("dovecot-uidlist");
	{
		char *torn = xasprintf("%s2 :half-writ", ul);

		mt_put("dovecot-uidlist", torn); /* a writer died mid-line */
		free(torn);
	}
	ap.tmp_path = put_tmp("x\n");
	assert_int_equal(imapbox_append(mt_mdir, &ap, &uv, &uid, &err), IMAPBOX_OK);
	assert_int_equal(uid, 2);
	free((char *)ap.tmp_path);
	free(ul);
	/* and in place when the list is whole */
	ap.tmp_path = put_tmp("y\n");
	assert_int_equal(imapbox_append(mt_mdir, &ap, &uv, &uid, &err), IMAPBOX_OK);
	assert_int_equal(uid, 3);
	ul = mt_slurp_rel("dovecot-uidlist");
	assert_non_null(strstr(ul, "\n3 :"));
	free(ul);
	free((char *)ap.tmp_path);
}

/* Two processes storing at once: every change gets its own MODSEQ, the
 * file stays good (no rebuild), both see the other's last state. */
static void test_two_processes_store(void **state)
{
	imapbox *box;
	struct imapbox_changes ch;
	struct imapbox_store_result res;
	uint64_t start;
	pid_t pid;
	int status, rounds = 300;
	char *logtext;

	(void)state;
	mt_put("cur/100.a.host:2,", "A\n");
	mt_put("cur/200.b.host:2,", "B\n");
	box = ib_open(true);
	start = imapbox_highestmodseq(box);
	imapbox_close(&box);
	pid = fork();
	assert_true(pid >= 0);
	box = ib_open(true);
	for (int i = 0; i < rounds; i++) {
		uint32_t seq = pid == 0 ? 1 : 2;
		struct imapbox_store st = { .op = i % 2 ? IMAPBOX_STORE_REMOVE : IMAPBOX_STORE_ADD,
					    .flags = IMAPMSG_SEEN };
		char *err = NULL;

		if (imapbox_store(box, &seq, 1, &st, &res, &err) != IMAPBOX_OK || res.nchanged != 1) {
			if (pid == 0)
				_exit(3);
			fail_msg("store: %s", err);
		}
		if (imapbox_sync(box, &err) != IMAPBOX_OK) {
			if (pid == 0)
				_exit(4);
			fail_msg("sync: %s", err);
		}
		imapbox_take(box, true, &ch);
	}
	if (pid == 0) {
		imapbox_close(&box);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ib_sync(box, true, &ch);
	assert_int_equal(imapbox_highestmodseq(box), start + 2 * (uint64_t)rounds);
	assert_int_equal(imapbox_flags(box, 1), 0);
	assert_int_equal(imapbox_flags(box, 2), 0);
	assert_true(imapbox_modseq(box, 1) != imapbox_modseq(box, 2));
	imapbox_close(&box);
	logtext = xasprintf("%s/log", mt_top);
	{
		char *text = mt_slurp(logtext);

		assert_null(strstr(text, "rebuilt"));
		free(text);
	}
	free(logtext);
}

static void test_copy_self_and_gone(void **state)
{
	imapbox *box;
	struct imapbox_changes ch;
	uint32_t seqs[] = { 1, 2 };
	uint32_t uv, *src_uids, *dst_uids;
	size_t n;
	char *err = NULL, *dir;

	(void)state;
	mt_put("cur/100.a.host:2,S", "A\n");
	mt_put("cur/200.b.host:2,", "B\n");
	box = ib_open(true);
	mt_del("cur/200.b.host:2,"); /* expunged by another process meanwhile */
	assert_int_equal(imapbox_copy(box, seqs, 2, mt_mdir, false, 0, &uv, &src_uids, &dst_uids, &n, &err),
			 IMAPBOX_OK);
	assert_int_equal(n, 1); /* the gone one is left out */
	assert_int_equal(src_uids[0], 1);
	assert_int_equal(dst_uids[0], 3);
	free(src_uids);
	free(dst_uids);
	ib_sync(box, true, &ch);
	assert_int_equal(ch.nexpunged, 1);
	assert_int_equal(imapbox_count(box), 2);
	assert_int_equal(imapbox_uid(box, 2), 3);
	assert_flags(box, 2, "(\\Seen)");
	/* to a folder that does not exist: [TRYCREATE] */
	dir = xasprintf("%s/.Nope", mt_mdir);
	assert_int_equal(imapbox_copy(box, seqs, 1, dir, false, 0, &uv, &src_uids, &dst_uids, &n, &err),
			 IMAPBOX_NONEXISTENT);
	free(err);
	free(src_uids);
	free(dst_uids);
	free(dir);
	/* over quota: nothing copied */
	dir = make_folder(".Small");
	err = NULL;
	assert_int_equal(imapbox_copy(box, seqs, 2, dir, false, 3, &uv, &src_uids, &dst_uids, &n, &err),
			 IMAPBOX_OVERQUOTA);
	assert_int_equal(n, 0);
	free(err);
	free(src_uids);
	free(dst_uids);
	free(dir);
	imapbox_close(&box);
}

/* An IDLE session keeps only its view (16 bytes a message): no snapshot
 * once everything was reported, no FETCH data until a FETCH; a change
 * made while the snapshot is not kept is still reported under the right
 * numbers and UIDs. */
static void test_idle_session_compact(void **state)
{
	imapbox *a, *b;
	struct imapbox_changes ch;
	struct imapbox_store_result res;
	struct imapmsg m;
	char *err = NULL;

	(void)state;
	mt_put("cur/100.a.host:2,", "A\n");
	mt_put("cur/200.b.host:2,", "B\n");
	mt_put("cur/300.c.host:2,", "C\n");
	a = ib_open(true);
	b = ib_open(true);
	assert_null(a->snap);
	assert_null(a->meta);
	assert_int_equal(imapbox_msg(a, 2, IMAPBOX_NEED_SIZE, &m), IMAPBOX_OK);
	assert_int_equal(m.size, 3);
	assert_non_null(a->meta);
	/* b expunges 2; a holds it (no expunges allowed), then reports it */
	assert_int_equal(ib_store(b, 2, IMAPBOX_STORE_ADD, IMAPMSG_DELETED, NULL, 0, &res), IMAPBOX_OK);
	assert_int_equal(imapbox_expunge(b, NULL, 0, &err), IMAPBOX_OK);
	ib_sync(a, false, &ch);
	assert_non_null(a->snap);
	assert_true(imapbox_expunged(a, 2));
	assert_int_equal(imapbox_msg(a, 3, IMAPBOX_NEED_SIZE, &m), IMAPBOX_OK);
	assert_int_equal(m.uid, 3);
	imapbox_take(a, true, &ch);
	assert_int_equal(ch.nexpunged, 1);
	assert_int_equal(ch.expunged_uids[0], 2);
	assert_null(a->snap);
	/* a's own STORE and EXPUNGE with no snapshot kept */
	assert_int_equal(ib_store(a, 2, IMAPBOX_STORE_ADD, IMAPMSG_DELETED, NULL, 0, &res), IMAPBOX_OK);
	assert_int_equal(imapbox_uid(a, 2), 3);
	assert_int_equal(imapbox_expunge(a, NULL, 0, &err), IMAPBOX_OK);
	imapbox_take(a, true, &ch);
	assert_int_equal(ch.nexpunged, 1);
	assert_int_equal(ch.expunged_seqs[0], 2);
	assert_int_equal(ch.expunged_uids[0], 3);
	assert_int_equal(imapbox_count(a), 1);
	assert_int_equal(imapbox_uid(a, 1), 1);
	ib_sync(b, true, &ch);
	assert_int_equal(imapbox_count(b), 1);
	assert_int_equal(imapbox_uid(b, 1), 1);
	imapbox_close(&a);
	imapbox_close(&b);
}

/* ---- the folder state kept between sessions ---- */

/* age_dirs: new/ and cur/ last changed a minute ago (stamps to trust). */
static void age_dirs(void)
{
	const char *subs[2] = { "new", "cur" };

	for (int k = 0; k < 2; k++) {
		char *p = mt_path(subs[k]);
		struct timeval tv[2];

		gettimeofday(&tv[0], NULL);
		tv[0].tv_sec -= 60;
		tv[1] = tv[0];
		assert_int_equal(utimes(p, tv), 0);
		free(p);
	}
}

static void test_kept_reopen(void **state)
{
	imapbox *box;
	unsigned long hits;

	(void)state;
	mt_put("cur/100.a.host:2,S", "A\n");
	mt_put("cur/200.b.host:2,", "B\n");
	mt_put("cur/300.c.host:2,T", "C\n");
	age_dirs();
	box = ib_open(true);
	assert_int_equal(imapbox_unseen_first(box), 2);
	imapbox_close(&box);
	hits = imapbox_kept_hits;
	box = ib_open(true);
	assert_int_equal(imapbox_kept_hits, hits + 1);
	assert_int_equal(imapbox_count(box), 3);
	assert_int_equal(imapbox_unseen_first(box), 2);
	assert_int_equal(imapbox_recent(box), 0);
	assert_flags(box, 3, "(\\Deleted)");
	imapbox_close(&box);
	/* new mail: \Recent in the next session only */
	mt_put("new/400.d.host", "D\n");
	box = ib_open(true);
	assert_int_equal(imapbox_kept_hits, hits + 2);
	assert_int_equal(imapbox_count(box), 4);
	assert_int_equal(imapbox_recent(box), 1);
	assert_flags(box, 4, "(\\Recent)");
	imapbox_close(&box);
	box = ib_open(true);
	assert_int_equal(imapbox_recent(box), 0);
	assert_flags(box, 4, "()");
	imapbox_close(&box);
	/* another process's rename */
	mt_move("cur/200.b.host:2,", "cur/200.b.host:2,S");
	box = ib_open(false);
	assert_flags(box, 2, "(\\Seen)");
	assert_int_equal(imapbox_unseen_first(box), 3);
	imapbox_close(&box);
	imapbox_park_flush();
	box = ib_open(false);
	assert_int_equal(imapbox_kept_hits, hits + 4); /* flushed: read anew */
	imapbox_close(&box);
	imapbox_park_flush();
}

static void test_kept_status(void **state)
{
	struct imapbox_status st, fresh;
	imapbox *box;
	char *err = NULL;

	(void)state;
	mt_put("cur/100.a.host:2,S", "A\n");
	mt_put("cur/200.b.host:2,T", "BB\n");
	mt_put("cur/300.c.host:2,ST", "CCC\n");
	age_dirs();
	assert_int_equal(imapbox_status(mt_mdir, ~0u, &fresh, &err), IMAPBOX_OK);
	assert_int_equal(fresh.deleted, 2);
	assert_int_equal(fresh.deleted_storage, 1); /* 7 bytes: one KiB, rounded up */
	box = ib_open(true);
	imapbox_close(&box);
	mt_put("new/400.d.host", "D\n");
	assert_int_equal(imapbox_status(mt_mdir, ~0u, &st, &err), IMAPBOX_OK);
	assert_int_equal(st.messages, 4);
	assert_int_equal(st.recent, 1);
	assert_int_equal(st.unseen, 2);
	assert_int_equal(st.deleted, 2);
	assert_int_equal(st.deleted_storage, 1);
	assert_int_equal(st.size, 3 + 4 + 5 + 3);
	assert_int_equal(st.uidnext, 5);
	assert_int_equal(st.uidvalidity, fresh.uidvalidity);
	assert_true(mt_exists("new/400.d.host")); /* STATUS moves nothing */
	assert_int_equal(imapbox_status(mt_mdir, IMAPBOX_ST_UNSEEN | IMAPBOX_ST_DELETED, &st, &err), IMAPBOX_OK);
	assert_int_equal(st.unseen, 2);
	assert_int_equal(st.deleted, 2);
	box = ib_open(true); /* the kept read-only scan: new/ is claimed still */
	assert_int_equal(imapbox_recent(box), 1);
	assert_true(mt_exists("cur/400.d.host:2,"));
	imapbox_close(&box);
	imapbox_park_flush();
}

static void test_kept_bounded(void **state)
{
	char *dirs[IBX_PARK_SLOTS + 1];
	imapbox *box;
	char *err = NULL;
	unsigned long hits;

	(void)state;
	for (int k = 0; k <= IBX_PARK_SLOTS; k++) { /* one folder more than kept */
		dirs[k] = xasprintf("%s/.f%d", mt_mdir, k);
		assert_int_equal(mkdir(dirs[k], 0700), 0);
		for (int s = 0; s < 3; s++) {
			char *sub = xasprintf("%s/%s", dirs[k], s == 0 ? "cur" : s == 1 ? "new" : "tmp");

			assert_int_equal(mkdir(sub, 0700), 0);
			free(sub);
		}
		assert_int_equal(imapbox_open(dirs[k], true, &box, &err), IMAPBOX_OK);
		imapbox_close(&box);
	}
	hits = imapbox_kept_hits;
	assert_int_equal(imapbox_open(dirs[IBX_PARK_SLOTS], false, &box, &err), IMAPBOX_OK);
	imapbox_close(&box);
	assert_int_equal(imapbox_kept_hits, hits + 1);
	assert_int_equal(imapbox_open(dirs[0], false, &box, &err), IMAPBOX_OK); /* the oldest went */
	imapbox_close(&box);
	assert_int_equal(imapbox_kept_hits, hits + 1);
	for (int k = 0; k <= IBX_PARK_SLOTS; k++)
		free(dirs[k]);
	imapbox_park_flush();
}

static void test_expunge_sees_foreign_deleted(void **state)
{
	struct imapbox_store_result res;
	struct imapbox_changes ch;
	imapbox *box, *other;
	char *err = NULL;

	(void)state;
	mt_put("cur/100.a.host:2,", "A\n");
	mt_put("cur/200.b.host:2,", "B\n");
	mt_put("cur/300.c.host:2,", "C\n");
	box = ib_open(true);
	other = ib_open(true);
	assert_int_equal(ib_store(other, 1, IMAPBOX_STORE_ADD, IMAPMSG_DELETED, NULL, 0, &res), IMAPBOX_OK);
	imapbox_close(&other);
	/* CLOSE: no sync of the session before its expunge */
	assert_int_equal(imapbox_expunge(box, NULL, 0, &err), IMAPBOX_OK);
	assert_false(mt_exists("cur/100.a.host:2,T"));
	/* a Maildir MUA's rename */
	mt_move("cur/200.b.host:2,", "cur/200.b.host:2,T");
	assert_int_equal(imapbox_expunge(box, NULL, 0, &err), IMAPBOX_OK);
	assert_false(mt_exists("cur/200.b.host:2,T"));
	imapbox_take(box, true, &ch);
	assert_int_equal(ch.nexpunged, 2);
	assert_int_equal(imapbox_count(box), 1);
	imapbox_close(&box);
	imapbox_park_flush();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		MT_TEST(test_open_view),
		MT_TEST(test_open_missing),
		MT_TEST(test_msg_fill),
		MT_TEST(test_flags_lists),
		MT_TEST(test_store_flags_keywords),
		MT_TEST(test_store_unchangedsince),
		MT_TEST(test_store_readonly),
		MT_TEST(test_keyword_limit),
		MT_TEST(test_sync_two_sessions),
		MT_TEST(test_sync_external_changes),
		MT_TEST(test_expunge_uids),
		MT_TEST(test_expunge_order),
		MT_TEST(test_modseq_persists),
		MT_TEST(test_modseq_torn_tail),
		MT_TEST(test_many_stores_compact),
		MT_TEST(test_append),
		MT_TEST(test_append_errors),
		MT_TEST(test_copy_move),
		MT_TEST(test_status),
		MT_TEST(test_watch_paths),
		MT_TEST(test_close_wakes_nobody),
		MT_TEST(test_dovecot_store),
		MT_TEST(test_own_store_then_foreign),
		MT_TEST(test_store_keeps_foreign_change),
		MT_TEST(test_append_torn_uidlist),
		MT_TEST(test_two_processes_store),
		MT_TEST(test_copy_self_and_gone),
		MT_TEST(test_idle_session_compact),
		MT_TEST(test_kept_reopen),
		MT_TEST(test_kept_status),
		MT_TEST(test_kept_bounded),
		MT_TEST(test_expunge_sees_foreign_deleted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
