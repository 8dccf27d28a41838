#!/usr/bin/env python3
"""End-to-end tests of queue administration (issue 13 item 7) with
messages queued by tests/qinject: `mailctl queue list --json` parsed with
the json module (a deferred message with its reason and DSN status, a
delivered recipient, addresses with UTF-8 and control bytes); the filters
--domain, --sender and --older-than alone and combined, for list, hold,
release, requeue and delete; delete takes the deferral reasons file too;
a message in active/ is refused; and with qmgr running: flush of one
queue ID retries only that one, hold keeps a message from delivery until
release, requeue routes a message again without delivering its done
recipients twice."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DAEMONS, QINJECT, Instance, wait_for  # noqa: E402

MAILBOXES = "alice@example.test example.test/alice/\ndave@example.test example.test/dave/\n"
DOMAINS = "example.test OK\n"
SUBDIRS = ("tmp", "incoming", "active", "deferred", "hold", "corrupt", "defer")


def message(subject, size=0):
    text = "From: tester@example.test\nSubject: %s\n\nhello\n" % subject
    while len(text) < size:
        text += "x" * 70 + "\n"
    return text


class QueueBase(unittest.TestCase):
    def setUp(self):
        self.inst = Instance()
        self.addCleanup(self.inst.cleanup)

    def ok(self, *args):
        res = self.inst.ctl(*args)
        self.assertEqual(res.returncode, 0, "%s: %s%s" % (args, res.stdout, res.stderr))
        return res.stdout

    def fails(self, *args, code=1, says=None):
        res = self.inst.ctl(*args)
        self.assertEqual(res.returncode, code, "%s: %s%s" % (args, res.stdout, res.stderr))
        if says:
            self.assertIn(says, res.stderr)
        return res.stderr

    def json_list(self, *filters):
        out = self.ok("queue", "list", "--json", *filters)
        return {m["queue_id"]: m for m in (json.loads(line) for line in out.splitlines())}

    def where(self, qid):
        for sub in ("incoming", "active", "deferred", "hold"):
            if qid in self.inst.queue_files(sub):
                return sub
        return None


@unittest.skipUnless(os.path.exists(QINJECT), "tests/qinject not built")
class Offline(QueueBase):
    """The queue files alone: no qmgr runs, so nothing moves by itself."""

    def inject(self, sender, rcpts, age=0):
        for sub in SUBDIRS:
            os.makedirs(self.inst.path("queue", sub), exist_ok=True)
        return self.inst.inject(sender, rcpts, message("m"), "-T", "-A", str(age))

    def test_json_escaping(self):
        odd = ["j\u00fcrgen@b\u00fccher.test", 'a"b\\c\x01\x7f\t@x.test']
        qid = self.inject("s\u00e9@x.test", odd)
        got = self.json_list()[qid]
        self.assertEqual(got["queue_name"], "incoming")
        self.assertEqual(got["sender"], "s\u00e9@x.test")
        self.assertEqual([r["address"] for r in got["recipients"]], odd)
        self.assertEqual([r["state"] for r in got["recipients"]], ["pending", "pending"])
        self.assertNotIn("delay_reason", got["recipients"][0])
        self.assertNotIn("next_attempt_time", got)
        self.assertEqual(self.ok("queue", "list", "--json", "--domain", "none.test"), "")

    def test_filters_select(self):
        now = time.time()
        m1 = self.inject("a@one.test", ["x@Dom1.test"], age=7200)
        m2 = self.inject("b@two.test", ["y@dom2.test"])
        m3 = self.inject("", ["z@dom1.test", "w@dom2.test"], age=86400)
        every = self.json_list()
        self.assertEqual(set(every), {m1, m2, m3})
        self.assertEqual(every[m3]["sender"], "")
        self.assertAlmostEqual(every[m1]["arrival_time"], now - 7200, delta=30)
        self.assertEqual(every[m2]["message_size"], len(message("m")))
        cases = [
            (["--domain", "dom1.test"], {m1, m3}),
            (["--domain", "DOM1.TEST"], {m1, m3}),
            (["--domain=dom2.test"], {m2, m3}),
            (["--sender", "A@one.test"], {m1}),
            (["--sender", "<>"], {m3}),
            (["--older-than", "1h"], {m1, m3}),
            (["--older-than", "3h"], {m3}),
            (["--older-than", "90"], {m1, m3}),
            (["--domain", "dom1.test", "--older-than", "1h", "--sender", "a@one.test"], {m1}),
            (["--domain", "dom2.test", "--older-than", "1h"], {m3}),
            (["--domain", "one.test"], set()),
        ]
        for args, want in cases:
            self.assertEqual(set(self.json_list(*args)), want, args)
        text = self.ok("queue", "list", "--domain", "dom2.test")
        self.assertIn(m2, text)
        self.assertNotIn(m1, text)
        self.assertIn("-- 1 Kbytes in 2 Requests.", text)
        self.fails("queue", "list", "--older-than", "2x", code=2, says="not a time")
        self.fails("queue", "list", "--colour", code=2, says="unknown option")
        self.fails("queue", "list", "--sender", code=2, says="--sender needs a value")
        self.fails("queue", "list", "--domain=", code=2, says="needs a value")
        self.fails("queue", "hold", m1, "--domain", "dom1.test", code=2, says="not both")
        self.fails("queue", "hold", code=2, says="usage")

    def test_hold_release_requeue_delete_by_filter(self):
        m1 = self.inject("a@one.test", ["x@dom1.test"], age=7200)
        m2 = self.inject("b@two.test", ["y@dom2.test"])
        m3 = self.inject("", ["z@dom1.test"], age=86400)
        self.assertIn("2 messages on hold", self.ok("queue", "hold", "--domain", "dom1.test"))
        self.assertEqual(self.inst.queue_files("hold"), sorted([m1, m3]))
        self.assertEqual(self.json_list()[m1]["queue_name"], "hold")
        self.fails("queue", "hold", m1, says="already on hold")
        self.fails("queue", "release", m2, says="not on hold")
        self.fails("queue", "flush", m1, says="on hold; release it first")
        # release: back to deferred/, due now
        self.assertIn("1 message released", self.ok("queue", "release", "--sender", "<>"))
        self.assertEqual(self.where(m3), "deferred")
        due = self.json_list()[m3]["next_attempt_time"]
        self.assertLessEqual(due, time.time() + 1)
        # requeue: deferred or held messages back to incoming/
        self.ok("queue", "requeue", m1, m3)
        self.assertEqual(self.inst.queue_files("incoming"), sorted([m1, m2, m3]))
        self.fails("queue", "requeue", m2, says="new in incoming")
        # delete by age, with the deferral reasons file
        reasons = self.inst.path("queue", "defer", m3)
        with open(reasons, "w") as f:
            f.write("POSTERN-DEFER 1\nT%d\nR0 4.2.2 mailbox full\n" % int(time.time()))
        self.assertIn("2 messages deleted", self.ok("queue", "delete", "--older-than", "1h"))
        self.assertEqual(self.inst.queue_files("incoming"), [m2])
        self.assertFalse(os.path.exists(reasons))
        log = self.inst.log()
        for verb in ("hold", "release", "requeue"):
            self.assertIn("by mailctl queue %s" % verb, log)
        self.assertIn("%s: removed from incoming by mailctl queue delete" % m3, log)

    def test_active_is_left_alone(self):
        m1 = self.inject("a@one.test", ["x@dom1.test"])
        os.rename(self.inst.path("queue", "incoming", m1), self.inst.path("queue", "active", m1))
        for verb in ("hold", "delete", "requeue"):
            self.fails("queue", verb, m1, says="being delivered right now")
        self.fails("queue", "delete", "--domain", "dom1.test", says="being delivered right now")
        self.assertIn("0 messages deleted", self.inst.ctl("queue", "delete", "ALL").stdout)
        self.assertEqual(self.where(m1), "active")
        self.assertIn("being delivered now", self.ok("queue", "why", m1))

    def test_flush_one_needs_qmgr(self):
        m1 = self.inject("a@one.test", ["x@dom1.test"])
        self.ok("queue", "hold", m1)
        self.ok("queue", "release", m1)  # works without qmgr: the files move
        self.fails("queue", "flush", m1, says="cannot reach qmgr")


def available():
    return all(os.path.exists(DAEMONS[n]) for n in ("master", "qmgr", "local")) and \
        os.path.exists(QINJECT)


@unittest.skipUnless(available(), "qmgr, local or qinject not built")
class Live(QueueBase):
    """With qmgr and local running; nothing is retried by itself (an hour of
    backoff and queue_run_delay), so what moves was asked for."""

    def setUp(self):
        super().setUp()
        self.mail = os.path.join(self.inst.config_dir, "mail")
        self.inst.build_map("mailboxes", MAILBOXES)
        self.inst.build_map("domains", DOMAINS)
        self.inst.build_map("quotas", "dave@example.test 1k\n")
        self.inst.set_main("virtual_mailbox_quota_maps", "hash:" + self.inst.path("quotas"))
        self.inst.set_main("minimal_backoff_time", "1h")
        self.inst.set_main("maximal_backoff_time", "2h")
        self.inst.set_main("queue_run_delay", "1h")
        self.inst.set_mail_services()
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

    def deferred(self, qid):
        ok = wait_for(lambda: self.where(qid) == "deferred" and os.path.exists(
            self.inst.path("queue", "defer", qid)), 15)
        self.assertTrue(ok, "%s not deferred\n%s" % (qid, self.inst.log()))

    def quota(self, size):
        self.inst.build_map("quotas", "dave@example.test %s\n" % size)

    def settle(self, marker):
        """Waits until the log shows marker, then a moment for qmgr to act."""
        self.assertTrue(wait_for(lambda: marker in self.inst.log(), 10), self.inst.log())
        time.sleep(1.0)

    def test_json_flush_hold_release_requeue(self):
        q1 = self.inst.inject("s@remote.test", ["dave@example.test", "alice@example.test"],
                              message("one", 3000))
        q2 = self.inst.inject("s@remote.test", ["dave@example.test"], message("two", 3000))
        self.wait_count("alice", 1)
        self.deferred(q1)
        self.deferred(q2)
        got = self.json_list()[q1]
        self.assertEqual(got["queue_name"], "deferred")
        self.assertEqual(got["sender"], "s@remote.test")
        dave, alice = got["recipients"]
        self.assertEqual((dave["address"], dave["state"], dave["status"]),
                         ("dave@example.test", "pending", "4.2.2"))
        self.assertIn("mailbox full", dave["delay_reason"])
        self.assertEqual(alice["state"], "delivered")
        self.assertNotIn("delay_reason", alice)
        self.assertGreater(got["next_attempt_time"], time.time() + 1800)
        self.assertRegex(self.ok("queue", "why", q1), r"next attempt at \d{4}-\d\d-\d\d ")

        # flush one: only q1 is retried
        self.quota("100k")
        self.assertIn("%s flushed" % q1, self.ok("queue", "flush", q1))
        self.wait_count("dave", 1)
        self.settle("%s: flush requested" % q1)
        self.assertEqual(len(self.files("dave")), 1)
        self.assertEqual(len(self.files("alice")), 1)
        self.assertEqual(self.where(q2), "deferred")
        self.assertIsNone(self.where(q1))

        # hold: a flush of everything leaves it alone until release
        self.ok("queue", "hold", q2)
        self.ok("queue", "flush")
        self.settle("flush requested: every deferred message is due now")
        self.assertEqual(len(self.files("dave")), 1)
        self.assertEqual(self.where(q2), "hold")
        self.ok("queue", "release", q2)
        self.wait_count("dave", 2)

        # requeue: routed again, the delivered recipient not delivered again
        self.quota("1k")
        q3 = self.inst.inject("s@remote.test", ["alice@example.test", "dave@example.test"],
                              message("three", 3000))
        self.wait_count("alice", 2)
        self.deferred(q3)
        os.unlink(self.inst.path("queue", "defer", q3))
        self.ok("queue", "requeue", q3)
        self.deferred(q3)  # dave's mailbox is still full: deferred again
        self.quota("100k")
        self.ok("queue", "requeue", "--domain", "example.test")
        self.wait_count("dave", 3)
        self.assertTrue(wait_for(lambda: self.where(q3) is None, 10), self.inst.log())
        self.assertEqual(len(self.files("alice")), 2)
        self.assertEqual(self.ok("queue", "list", "--json"), "")


if __name__ == "__main__":
    unittest.main()
