#!/usr/bin/env python3
"""test_imap_select.py: imapd's SELECT and STATUS from the folder state a
process keeps after the last session left (lib/imapbox_park.c): a second
SELECT answers as the first, \\Recent is not passed on, changes made
between the sessions arrive, STATUS moves nothing from new/; STATUS and
LIST-STATUS DELETED and DELETED-STORAGE (RFC 9208); CLOSE expunges a
\\Deleted set by another session or process since the last sync."""
import math
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_imap_read import PW, ReadBase  # noqa: E402


class TestSelectKept(ReadBase):

    def put(self, user, n, flags=None, body=b"body\n"):
        """Message n written as a delivery: tmp/, then new/ (flags None) or
        cur/ with flags."""
        md = self.maildirs[user]
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
        name = "%d.M%dP9.test" % (1700000000 + n, n)
        tmp = os.path.join(md, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(b"From: a@remote.test\nSubject: m%d\n\n" % n + body)
        self.inst.give(md)
        dest = os.path.join(md, "new", name) if flags is None else \
            os.path.join(md, "cur", name + ":2," + flags)
        os.rename(tmp, dest)
        return dest

    def age(self, user):
        """new/ and cur/ last changed a minute ago: a kept state's stamps
        are trusted (else each SELECT syncs fully, which hides nothing)."""
        then = time.time() - 60
        for sub in ("new", "cur"):
            os.utime(os.path.join(self.maildirs[user], sub), (then, then))

    def select(self, user, folder="INBOX"):
        c = self.raw(user, select=None)
        untagged, tagged = c.cmd("SELECT " + folder)
        self.assertIn(" OK ", tagged)
        return c, untagged

    def session_answers(self, user):
        c, untagged = self.select(user)
        c.cmd("LOGOUT")
        return untagged

    def test_warm_select_answers_as_the_first(self):
        for n, fl in enumerate(("S", "", "T", "FS")):
            self.put("alice", n, fl)
        self.age("alice")
        first = self.session_answers("alice")
        second = self.session_answers("alice")
        self.assertEqual(first, second)
        self.assertIn("* 4 EXISTS", second)
        self.assertIn("* 0 RECENT", second)
        self.assertIn("* OK [UNSEEN 2] First unseen.", second)

    def test_recent_not_passed_on(self):
        self.put("bob", 1, "S")
        self.put("bob", 2, "S")
        self.age("bob")
        self.session_answers("bob")
        self.put("bob", 3)  # new mail between the sessions
        second = self.session_answers("bob")
        self.assertIn("* 3 EXISTS", second)
        self.assertIn("* 1 RECENT", second)
        self.assertIn("* OK [UNSEEN 3] First unseen.", second)
        third = self.session_answers("bob")
        self.assertIn("* 3 EXISTS", third)
        self.assertIn("* 0 RECENT", third)

    def test_changes_between_sessions_arrive(self):
        paths = [self.put("carol", n, "") for n in range(3)]
        self.age("carol")
        self.session_answers("carol")
        os.rename(paths[0], paths[0] + "S")  # a Maildir MUA reads message 1
        c, untagged = self.select("carol")
        self.assertIn("* OK [UNSEEN 2] First unseen.", untagged)
        ut, _ = c.cmd("FETCH 1 FLAGS")
        self.assertIn("* 1 FETCH (FLAGS (\\Seen))", ut)
        self.assertIn(" OK ", c.cmd("STORE 3 +FLAGS ($Work)")[1])
        c.cmd("LOGOUT")
        again = self.session_answers("carol")
        self.assertIn("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)", again)

    def count_cur(self, user):
        return len(os.listdir(os.path.join(self.maildirs[user], "cur")))

    def test_close_expunges_deleted_set_elsewhere(self):
        paths = [self.put("dave", n, "") for n in range(3)]
        a, _ = self.select("dave")
        b, _ = self.select("dave")
        self.assertIn(" OK ", b.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)")[1])
        b.cmd("LOGOUT")
        _, tagged = a.cmd("CLOSE")  # no sync of session a before
        self.assertIn(" OK ", tagged)
        self.assertEqual(self.count_cur("dave"), 2)
        a, _ = self.select("dave")
        os.rename(paths[2], paths[2] + "T")  # another program's \Deleted
        self.assertIn(" OK ", a.cmd("CLOSE")[1])
        self.assertEqual(self.count_cur("dave"), 1)
        self.assertFalse(os.path.exists(paths[2] + "T"))

    def status(self, c, folder, items):
        ut, tagged = c.cmd("STATUS %s (%s)" % (folder, items))
        self.assertIn(" OK ", tagged)
        self.assertEqual(len(ut), 1, ut)
        return ut[0]

    def test_status_deleted_items(self):
        c = self.raw("alice", select=None)
        self.assertIn(" OK ", c.cmd("CREATE Del")[1])
        for n, fl in enumerate(("\\Deleted", "\\Seen", "\\Deleted \\Seen")):
            body = ("From: a@remote.test\r\nSubject: d%d\r\n\r\n" % n) + "x" * (700 * (n + 1)) + "\r\n"
            c.send("A%d APPEND Del (%s) {%d}\r\n" % (n, fl, len(body)))
            self.assertTrue(c.line().startswith("+"))
            c.send(body + "\r\n")
            self.assertIn(" OK ", c.until("A%d" % n)[1])
        cur = os.path.join(self.maildirs["alice"], ".Del", "cur")
        deleted = [os.path.getsize(os.path.join(cur, f)) for f in os.listdir(cur)
                   if "T" in f.split(":2,")[1]]
        self.assertEqual(len(deleted), 2)
        kib = math.ceil(sum(deleted) / 1024)
        want = '* STATUS "Del" (MESSAGES 3 DELETED 2 DELETED-STORAGE %d)' % kib
        self.assertEqual(self.status(c, "Del", "MESSAGES DELETED DELETED-STORAGE"), want)
        # the same from the state kept after a session of the folder
        self.assertIn(" OK ", c.cmd("SELECT Del")[1])
        self.assertIn(" OK ", c.cmd("UNSELECT")[1])
        self.assertEqual(self.status(c, "Del", "MESSAGES DELETED DELETED-STORAGE"), want)
        ut, tagged = c.cmd('LIST "" Del RETURN (STATUS (DELETED DELETED-STORAGE))')
        self.assertIn(" OK ", tagged)
        self.assertIn('* STATUS "Del" (DELETED 2 DELETED-STORAGE %d)' % kib, ut)
        # a \Deleted set by another session shows at once
        b = self.raw("alice", select="Del")
        self.assertIn(" OK ", b.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)")[1])
        self.assertIn("DELETED 3 ", self.status(c, "Del", "DELETED DELETED-STORAGE UNSEEN"))
        self.assertIn(" OK ", b.cmd("EXPUNGE")[1])
        self.assertEqual(self.status(c, "Del", "MESSAGES DELETED DELETED-STORAGE"),
                         '* STATUS "Del" (MESSAGES 0 DELETED 0 DELETED-STORAGE 0)')
        self.assertIn(" BAD ", c.cmd("STATUS Del (DELETED-BYTES)")[1])

    def test_status_moves_nothing_from_new(self):
        self.put("bob", 10, "S")
        c, _ = self.select("bob")
        c.cmd("LOGOUT")
        path = self.put("bob", 11)  # in new/
        c = self.raw("bob", select=None)
        line = self.status(c, "INBOX", "MESSAGES RECENT UNSEEN")
        self.assertRegex(line, r"RECENT 1 ")
        self.assertTrue(os.path.exists(path))
        untagged, _ = c.cmd("SELECT INBOX")
        self.assertIn("* 1 RECENT", untagged)
        self.assertFalse(os.path.exists(path))


if __name__ == "__main__":
    unittest.main()
