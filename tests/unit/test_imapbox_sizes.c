/* test_imapbox_sizes.c: lib/imapbox_sizes: a folder whose files carry no
 * size is worth recording only for a big enough set; recording writes the
 * CRLF sizes into the uidlist (W ext), after which a fresh box knows them
 * and nothing is worth recording any more. Uses the scratch Maildir of
 * mbx_fixture.c. */
#include "mbx_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imapbox_sizes.h"

#define NMSG (IMAPBOX_SIZES_RECORD_MIN + 5)

static void fill(void)
{
	char name[64], text[64];

	for (int i = 0; i < NMSG; i++) {
		snprintf(name, sizeof(name), "cur/%d.M%dP1.host:2,", 1000000 + i, i);
		snprintf(text, sizeof(text), "Subject: %d\n\nbody\n", i);
		mt_put(name, text);
	}
}

static imapbox *box_open(void)
{
	imapbox *box = NULL;
	char *err = NULL;

	if (imapbox_open(mt_mdir, false, &box, &err) != IMAPBOX_OK)
		fail_msg("imapbox_open: %s", err);
	return box;
}

static uint32_t *all_seqs(size_t n)
{
	uint32_t *seqs = calloc(n, sizeof(*seqs));

	for (size_t i = 0; i < n; i++)
		seqs[i] = (uint32_t)i + 1;
	return seqs;
}

static void test_record(void **state)
{
	imapbox *box;
	uint32_t *seqs = all_seqs(NMSG);
	char *err = NULL, *ulist;
	struct imapmsg m;

	(void)state;
	fill();
	box = box_open();
	assert_int_equal(imapbox_count(box), NMSG);
	assert_false(imapbox_sizes_worth_recording(box, seqs, IMAPBOX_SIZES_RECORD_MIN - 1));
	assert_true(imapbox_sizes_worth_recording(box, seqs, NMSG));
	imapbox_close(&box);

	assert_int_equal(imapbox_sizes_record(mt_mdir, &err), 0);
	assert_null(err);
	ulist = mt_slurp_rel("dovecot-uidlist");
	assert_non_null(strstr(ulist, " W")); /* the W ext is written */
	free(ulist);

	box = box_open();
	assert_int_equal(imapbox_msg(box, 1, 0, &m), IMAPBOX_OK);
	assert_int_equal(m.size, (long long)strlen("Subject: 0\r\n\r\nbody\r\n"));
	assert_false(imapbox_sizes_worth_recording(box, seqs, NMSG));
	imapbox_close(&box);
	free(seqs);
}

static void test_missing_folder(void **state)
{
	char *err = NULL;
	char *gone = mt_path(".Gone");

	(void)state;
	assert_int_equal(imapbox_sizes_record(gone, &err), -1);
	assert_non_null(err);
	free(err);
	free(gone);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		MT_TEST(test_record),
		MT_TEST(test_missing_folder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
