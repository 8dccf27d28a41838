#!/usr/bin/env python3
"""End-to-end tests of qmgr's edges (issue 12): queue files that are empty,
cut short by a crash or full of garbage end in corrupt/ with a log line
while good mail flows and qmgr keeps running; a message whose move into
deferred/ fails (deferred/ made unwritable for the mail owner, as a full
disk would) stays in qmgr's care, is shown with the reason by `mailctl
queue list` and `queue why`, and moves on without a restart once the
directory is writable again (delivered again from active/ meanwhile when
its retry time comes); a bounce that cannot be written leaves the
recipient failed and is written at a later try; a deferred message shows
its reason; a batch
of messages left in active/ is delivered once each while qmgr is killed
again and again."""
import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DAEMONS, QINJECT, Instance, wait_for  # noqa: E402

MAILBOXES = "alice@example.test example.test/alice/\ndave@example.test example.test/dave/\n"
DOMAINS = "example.test OK\n"


def message(subject, size=0):
    text = "From: tester@example.test\nSubject: %s\n\nhello\n" % subject
    while len(text) < size:
        text += "x" * 70 + "\n"
    return text


def available():
    return all(os.path.exists(DAEMONS[n]) for n in ("master", "qmgr", "local")) and \
        os.path.exists(QINJECT)


@unittest.skipUnless(available(), "qmgr, local or qinject not built")
class QmgrEdges(unittest.TestCase):
    def setUp(self):
        self.inst = Instance()
        self.addCleanup(self.inst.cleanup)
        self.mail = os.path.join(self.inst.config_dir, "mail")
        self.inst.build_map("mailboxes", MAILBOXES)
        self.inst.build_map("domains", DOMAINS)
        self.inst.build_map("quotas", "dave@example.test 1k\n")
        self.inst.set_main("virtual_mailbox_quota_maps", "hash:" + self.inst.path("quotas"))
        self.inst.set_main("minimal_backoff_time", "1s")
        self.inst.set_main("maximal_backoff_time", "2s")
        self.inst.set_main("queue_run_delay", "1s")
        self.inst.set_mail_services()

    # --- helpers -------------------------------------------------------
    def start(self):
        self.inst.start()
        self.assertTrue(wait_for(lambda: os.path.exists(
            self.inst.path("queue", "private", "qmgr")) and os.path.isdir(
            self.inst.path("queue", "defer")), 10), self.inst.log())

    def files(self, user):
        found = []
        for sub in ("new", "cur"):
            d = os.path.join(self.mail, "example.test", user, sub)
            if os.path.isdir(d):
                found += sorted(os.listdir(d))
        return found

    def wait_count(self, user, n, timeout=15):
        ok = wait_for(lambda: len(self.files(user)) >= n, timeout)
        self.assertTrue(ok, "%s has %d messages, want %d\n%s" % (
            user, len(self.files(user)), n, self.inst.log()))

    def qmgr_pids(self):
        found = []
        for pid in self.inst.processes():
            try:
                with open("/proc/%d/comm" % pid) as f:
                    if f.read().strip() == "qmgr":
                        found.append(pid)
            except OSError:
                pass
        return found

    def queue_file(self, sub, qid):
        return self.inst.path("queue", sub, qid)

    def crafted(self, sub, name, data):
        path = self.queue_file(sub, name)
        with open(path, "wb") as f:
            f.write(data)
        self.inst.give(path)
        return path

    def list_text(self):
        res = self.inst.ctl("queue", "list")
        self.assertEqual(res.returncode, 0, res.stderr)
        return res.stdout

    # --- tests ---------------------------------------------------------
    def test_corrupt_files_go_to_corrupt_while_mail_flows(self):
        # a good queue file made before the start gives the bytes of a
        # truncated one; an empty file waits in active/ from a "crash"
        good = self.inst.inject("s@remote.test", ["alice@example.test"], message("model"),
                                "-T")
        with open(self.queue_file("incoming", good), "rb") as f:
            model = f.read()
        os.rename(self.queue_file("incoming", good), self.queue_file("active", good))
        self.crafted("active", "EmptyAtStart01", b"")
        self.start()
        self.wait_count("alice", 1)
        qmgr = self.qmgr_pids()
        bad = {
            "EmptyIncoming01": b"",
            "TruncatedFile01": model[:len(model) // 2],
            "GarbageFile0001": b"\x00\xffgarbage\nnot a queue file\n" * 50,
        }
        for name, data in bad.items():
            self.crafted("tmp", name, data)
            os.rename(self.queue_file("tmp", name), self.queue_file("incoming", name))
        # renamed without a trigger, as after a lost one: a flush scans incoming/
        self.assertEqual(self.inst.ctl("queue", "flush").returncode, 0)
        qid = self.inst.inject("s@remote.test", ["alice@example.test"], message("after"))
        self.wait_count("alice", 2)
        want = set(bad) | {"EmptyAtStart01"}
        ok = wait_for(lambda: want <= set(self.inst.queue_files("corrupt")), 15)
        self.assertTrue(ok, "corrupt/ has %s\n%s" % (self.inst.queue_files("corrupt"),
                                                    self.inst.log()))
        self.assertTrue(wait_for(lambda: "%s: removed" % qid in self.inst.log(), 15),
                        self.inst.log())
        log = self.inst.log()
        for name in want:
            self.assertRegex(log, "%s: corrupt queue file \\(.*\\): moved to corrupt/" % name)
        self.assertEqual(self.qmgr_pids(), qmgr, "qmgr restarted\n" + log)
        # no busy loop: each file was looked at once
        for name in want:
            self.assertEqual(log.count("%s: corrupt queue file" % name), 1, log)

    def test_failed_move_to_deferred_is_kept_and_retried(self):
        self.start()
        qmgr = self.qmgr_pids()
        deferred = self.inst.path("queue", "deferred")
        os.chmod(deferred, 0o500)
        self.addCleanup(os.chmod, deferred, 0o755)
        qid = self.inst.inject("s@remote.test", ["dave@example.test"], message("big", 3000))
        ok = wait_for(lambda: "%s: cannot move to deferred/" % qid in self.inst.log(), 15)
        self.assertTrue(ok, self.inst.log())
        self.assertIn("kept by qmgr", self.inst.log())
        self.assertEqual(self.inst.queue_files("active"), [qid])
        # between its tries the message may be in delivery again (its retry
        # time is a second): look until the listing shows qmgr's reason
        held = re.compile(r"%s\* .*\n\(qmgr: cannot move to deferred/: Permission denied, "
                          r"since [0-9:]+, next try in \d+ s\)\n\(mailbox full" % qid)
        listing = []
        self.assertTrue(wait_for(lambda: listing.append(self.list_text()) or
                                 held.search(listing[-1]), 15), listing[-1:])
        why = []
        self.assertTrue(wait_for(lambda: why.append(self.inst.ctl("queue", "why", qid)) or
                                 "qmgr: cannot move to deferred/" in why[-1].stdout, 15),
                        why[-1].stdout)
        self.assertEqual(why[-1].returncode, 0, why[-1].stderr)
        self.assertRegex(why[-1].stdout, r"dave@example.test: pending: 4\.2\.2 mailbox full")
        # its retry time (a second) passes while deferred/ stays shut: it is
        # delivered again from active/ and deferred into qmgr's care again
        again = "%s: cannot move to deferred/: Permission denied; its retry time has come: " \
            "delivering it again from active/" % qid
        self.assertTrue(wait_for(lambda: again in self.inst.log(), 15), self.inst.log())
        self.assertTrue(wait_for(lambda: self.inst.log().count(
            "%s: to=<dave@example.test>, relay=local" % qid) >= 2, 15), self.inst.log())
        # the disk "has room again": the message moves on, no restart
        self.inst.build_map("quotas", "dave@example.test 1m\n")
        os.chmod(deferred, 0o755)
        self.wait_count("dave", 1, timeout=60)
        self.assertTrue(wait_for(lambda: "%s: removed" % qid in self.inst.log(), 15),
                        self.inst.log())
        log = self.inst.log()
        self.assertTrue("%s: moved to deferred/ after" % qid in log or
                        "delivering it again from active/" in log, log)
        self.assertEqual(self.qmgr_pids(), qmgr, "qmgr restarted\n" + self.inst.log())
        self.assertEqual(len(self.files("dave")), 1)
        self.assertFalse(os.path.exists(self.inst.path("queue", "defer", qid)))

    def test_failed_move_into_active_is_retried(self):
        """A file qmgr cannot move from incoming/ to active/ (on a full disk
        the directory needs a block) is tried again on a timer, not at the
        next trigger or wakeup (300 s here)."""
        self.start()
        active = self.inst.path("queue", "active")
        os.chmod(active, 0o500)
        self.addCleanup(os.chmod, active, 0o755)
        qid = self.inst.inject("s@remote.test", ["alice@example.test"], message("stuck"))
        moved = "%s: cannot move from incoming/ to active/" % qid
        self.assertTrue(wait_for(lambda: moved in self.inst.log(), 15), self.inst.log())
        self.assertTrue(wait_for(lambda: self.inst.log().count(moved) >= 2, 15), self.inst.log())
        self.assertEqual(self.inst.queue_files("incoming"), [qid])
        os.chmod(active, 0o755)
        self.wait_count("alice", 1, timeout=40)
        self.assertEqual(len(self.files("alice")), 1)

    def test_deferred_message_shows_its_reason(self):
        self.start()
        qid = self.inst.inject("s@remote.test", ["dave@example.test", "alice@example.test"],
                               message("big", 3000))
        self.wait_count("alice", 1)
        ok = wait_for(lambda: os.path.exists(self.inst.path("queue", "defer", qid)), 15)
        self.assertTrue(ok, self.inst.log())
        listing = self.list_text()
        self.assertRegex(listing, r"\(mailbox full[^)]*\)\n +dave@example.test\n")
        self.assertNotIn("alice@example.test", listing)
        why = self.inst.ctl("queue", "why")
        self.assertEqual(why.returncode, 0, why.stderr)
        self.assertIn("%s: in " % qid, why.stdout)
        self.assertRegex(why.stdout, r"dave@example.test: pending: 4\.2\.2 mailbox full")
        self.assertIn("alice@example.test: delivered", why.stdout)
        # sendmail -bp / mailq share the listing (files only)
        res = self.inst.ctl("queue", "delete", qid)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertFalse(os.path.exists(self.inst.path("queue", "defer", qid)))
        bad = self.inst.ctl("queue", "why", "NoSuchMessage1")
        self.assertEqual(bad.returncode, 1)

    def test_bounce_that_cannot_be_written_is_retried(self):
        # queued while qmgr is down, so it cannot take the message before
        # tmp/ is made read-only (a slow start under load raced with that)
        qid = self.inst.inject("alice@example.test", ["nobody@example.test"], message("lost"),
                               "-T")
        tmp = self.inst.path("queue", "tmp")
        os.chmod(tmp, 0o500)  # no queue file can be written, as on a full disk
        self.addCleanup(os.chmod, tmp, 0o755)
        self.start()  # qmgr's start scan of incoming/ takes it
        cannot = "%s: cannot write the non-delivery notification" % qid
        self.assertTrue(wait_for(lambda: cannot in self.inst.log(), 15), self.inst.log())
        # the recipient stays FAILED (not reported) and the message waits
        why = []
        self.assertTrue(wait_for(lambda: why.append(self.inst.ctl("queue", "why", qid)) or
                                 "nobody@example.test: failed\n" in why[-1].stdout, 15),
                        why[-1].stdout + self.inst.log())
        self.assertEqual(self.files("alice"), [])
        os.chmod(tmp, 0o755)
        self.wait_count("alice", 1, timeout=30)
        self.assertTrue(wait_for(lambda: "%s: removed" % qid in self.inst.log(), 15),
                        self.inst.log())
        self.assertIn("%s: sender non-delivery notification" % qid, self.inst.log())
        self.assertEqual(len(self.files("alice")), 1)

    def test_recovery_moves_on_while_qmgr_is_killed(self):
        count = 60
        ids = [self.inst.inject("s@remote.test", ["alice@example.test"],
                                message("r%d" % i), "-T") for i in range(count)]
        for qid in ids:
            os.rename(self.queue_file("incoming", qid), self.queue_file("active", qid))
        self.start()
        deadline = time.time() + 90
        kills = 0
        while self.inst.queue_files("active") and time.time() < deadline:
            time.sleep(0.7)
            for pid in self.qmgr_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
                except OSError:
                    pass
        self.wait_count("alice", count, timeout=60)
        self.assertTrue(wait_for(lambda: not self.inst.queue_files("active") and
                                 not self.inst.queue_files("deferred"), 60), self.inst.log())
        names = self.files("alice")
        self.assertEqual(len(names), count, "duplicates or losses after %d kills" % kills)
        for qid in ids:
            self.assertEqual(sum(1 for n in names if ".Q%sA" % qid in n), 1, qid)


if __name__ == "__main__":
    unittest.main()
