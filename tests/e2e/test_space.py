#!/usr/bin/env python3
"""End-to-end tests of the free-space reserves (issue 12 point 1), against
private instances (smtpd, qmgr, local), with the reserves set around the
real free space of the test's file system (os.statvfs), so no mount is
needed:

- smtpd: MAIL FROM gets 452 4.3.1 while the queue file system has less
  than queue_minfree free, with a log line; SIZE= counts (free - SIZE below
  the reserve is refused, a small SIZE accepted when the reserve alone is
  met); a SIZE over message_size_limit still gets 552; more of these 452s
  than smtpd_hard_error_limit do not end the session; after queue_minfree
  is lowered (mailctl reload) mail is accepted again;
- local: a mail store below local_minfree defers (4.3.1, the reason names
  the Maildir and both figures), nothing is bounced, and the message is
  delivered once after local_minfree is lowered and the queue flushed;
- a Maildir whose new/ and tmp/ cannot be written (chmod 0500) defers with
  the system's error and is delivered once it is writable again;
- as root, with the queue on a 4 MiB tmpfs and no reserve: a message that
  does not fit gets 452 4.3.1 after DATA and after BDAT LAST, leaves nothing
  in the queue, does not count as an error, and the session goes on."""
import os
import shutil
import smtplib
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MAIL_SERVICES, Instance, InstanceCase, SmtpClient,  # noqa: E402
                     free_port, port_open, wait_for)

GIB = 1024 ** 3
# Other processes write on the same disk while a test runs: the reserves
# sit this far from the free space measured, so that drift cannot flip them.
MARGIN = 2 * GIB


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def message(subject):
    return "From: tester@example.test\nSubject: %s\n\nhello\n" % subject


class SmtpdReserve(InstanceCase):
    """Four smtpd services, each with its own queue_minfree (-o):
    plain (from main.cf), full (never met), tight (met by MARGIN, so a SIZE
    of 2 x MARGIN is refused) and small (never met, message_size_limit 1 MB)."""

    @classmethod
    def configure(cls):
        inst = cls.inst
        cls.free = free_bytes(inst.path("queue") if os.path.isdir(inst.path("queue"))
                              else inst.config_dir)
        cls.plain, cls.full, cls.tight, cls.small = (free_port() for _ in range(4))
        never = cls.free + MARGIN
        tight = max(cls.free - MARGIN, 1)
        limits = "-o smtpd_hard_error_limit=3 -o smtpd_soft_error_limit=10"
        inst.set_master_cf(MAIL_SERVICES + [
            "127.0.0.1:%d inet n - n - 1 smtpd %s" % (cls.plain, limits),
            "127.0.0.1:%d inet n - n - 1 smtpd -o queue_minfree=%d %s" % (cls.full, never, limits),
            "127.0.0.1:%d inet n - n - 1 smtpd -o queue_minfree=%d %s" % (cls.tight, tight, limits),
            "127.0.0.1:%d inet n - n - 1 smtpd -o queue_minfree=%d "
            "-o message_size_limit=1000000 %s" % (cls.small, never, limits),
        ])
        inst.set_main("message_size_limit", "0")
        inst.set_main("smtpd_error_sleep_time", "0")
        inst.build_map("domains", "example.test OK\n")
        inst.build_map("mailboxes", "alice@example.test example.test/alice/\n")
        cls.base = inst.ctl("config", "get", "virtual_mailbox_base").stdout.strip()
        inst.start()
        cls.wait_ports()

    @classmethod
    def wait_ports(cls):
        for p in (cls.plain, cls.full, cls.tight, cls.small):
            if not wait_for(lambda: port_open(p), 10):
                raise RuntimeError("smtpd on port %d did not come up: %s" % (p, cls.inst.log()))

    def client(self, port):
        c = SmtpClient(port, timeout=30)
        self.addCleanup(c.close)
        self.assertEqual(c.greeting[0], 220)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        return c

    def delivered(self):
        d = os.path.join(self.base, "example.test", "alice", "new")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def send(self, port, subject):
        """smtplib: the whole message; returns the queue ID."""
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.ehlo("client.test")
            s.mail("tester@example.test")
            s.rcpt("alice@example.test")
            code, text = s.data(message(subject))
            self.assertEqual(code, 250, text)
            return text.decode().split()[-1]

    # --- tests --------------------------------------------------------------
    def test_mail_from_refused_below_reserve(self):
        c = self.client(self.full)
        self.assertEqual(c.cmd("MAIL FROM:<tester@example.test>"),
                         (452, ["4.3.1 Insufficient system storage"]))
        # no transaction was opened
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 503)
        self.assertTrue(wait_for(lambda: "below queue_minfree" in self.inst.log(), 5),
                        self.inst.log())
        line = [x for x in self.inst.log().splitlines() if "below queue_minfree" in x][-1]
        self.assertIn("reject: MAIL from", line)
        self.assertIn("127.0.0.1", line)
        self.assertIn("bytes free", line)
        # the default reserve (4 x 10240000 here) is met: the same client is
        # accepted on the plain service
        c2 = self.client(self.plain)
        self.assertEqual(c2.cmd("MAIL FROM:<tester@example.test>")[0], 250)

    def test_size_counts(self):
        if self.free < 2 * MARGIN:
            self.skipTest("less than %d bytes free here" % (2 * MARGIN))
        c = self.client(self.tight)
        code, text = c.cmd("MAIL FROM:<tester@example.test> SIZE=%d" % (2 * MARGIN))
        self.assertEqual((code, text), (452, ["4.3.1 Insufficient system storage"]))
        self.assertEqual(c.cmd("MAIL FROM:<tester@example.test> SIZE=1000")[0], 250)
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<tester@example.test>")[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)

    def test_size_over_limit_still_552(self):
        c = self.client(self.small)
        code, text = c.cmd("MAIL FROM:<tester@example.test> SIZE=2000000")
        self.assertEqual(code, 552, text)
        self.assertTrue(text[0].startswith("5.3.4"), text)
        self.assertEqual(c.cmd("MAIL FROM:<tester@example.test> SIZE=1000")[0], 452)

    def test_refusals_do_not_count_as_errors(self):
        c = self.client(self.full)
        for _ in range(10):  # smtpd_hard_error_limit is 3
            self.assertEqual(c.cmd("MAIL FROM:<tester@example.test>")[0], 452)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assertEqual(c.cmd("RSET")[0], 250)
        # the limit itself still works: real errors end the session
        codes = [c.cmd("BOGUS")[0] for _ in range(3)]
        self.assertEqual(codes, [500, 500, 500], codes)
        self.assertEqual(c.reply()[0], 421)

    def test_reload_lowers_reserve(self):
        """main.cf's queue_minfree (the plain service) up, then down again."""
        inst = self.inst
        inst.set_main("queue_minfree", str(free_bytes(inst.path("queue")) + MARGIN))
        res = inst.ctl("reload")
        self.assertEqual(res.returncode, 0, res.stderr)

        def refused():
            try:
                c = SmtpClient(self.plain, timeout=10)
                try:
                    c.cmd("EHLO client.test")
                    return c.cmd("MAIL FROM:<tester@example.test>")[0] == 452
                finally:
                    c.close()
            except OSError:
                return False
        self.assertTrue(wait_for(refused, 15), inst.log())
        before = len(self.delivered())
        inst.set_main("queue_minfree", "0")
        res = inst.ctl("reload")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertTrue(wait_for(lambda: not refused(), 15), inst.log())
        self.send(self.plain, "after the reload")
        self.assertTrue(wait_for(lambda: len(self.delivered()) == before + 1, 20),
                        inst.log())


class LocalReserve(unittest.TestCase):
    """qmgr and local with fast retries; messages queued with qinject."""

    def setUp(self):
        self.inst = Instance()
        self.addCleanup(self.inst.cleanup)
        inst = self.inst
        inst.build_map("domains", "example.test OK\n")
        inst.build_map("mailboxes", "alice@example.test example.test/alice/\n"
                       "bob@example.test example.test/bob/\n")
        inst.set_main("minimal_backoff_time", "1s")
        inst.set_main("maximal_backoff_time", "2s")
        inst.set_main("queue_run_delay", "1s")
        inst.set_mail_services()
        self.mail = inst.ctl("config", "get", "virtual_mailbox_base").stdout.strip()

    def start(self):
        self.inst.start()
        self.assertTrue(wait_for(lambda: os.path.exists(
            self.inst.path("queue", "private", "qmgr")) and os.path.isdir(
            self.inst.path("queue", "corrupt")), 10), self.inst.log())

    def files(self, user):
        found = []
        for sub in ("new", "cur"):
            d = os.path.join(self.mail, "example.test", user, sub)
            if os.path.isdir(d):
                found += sorted(os.listdir(d))
        return found

    def queued(self, qid):
        return any(qid in self.inst.queue_files(s) for s in ("incoming", "active", "deferred"))

    def queue_empty(self):
        return not any(self.inst.queue_files(s) for s in ("incoming", "active", "deferred"))

    def deferred_with(self, qid, text):
        """The log has qmgr's deferral of qid with text in its reason."""
        for line in self.inst.log().splitlines():
            if qid in line and "status=deferred" in line and text in line:
                return line
        return None

    def assert_nothing_bounced(self):
        self.assertNotIn("status=bounced", self.inst.log())
        self.assertEqual(self.files("alice"), [])

    def test_local_minfree_defers_then_delivers(self):
        inst = self.inst
        inst.set_main("local_minfree", str(free_bytes(self.mail if os.path.isdir(self.mail)
                                                      else inst.config_dir) + MARGIN))
        self.start()
        qid = inst.inject("alice@example.test", ["bob@example.test"], message("reserve"))
        self.assertTrue(wait_for(lambda: self.deferred_with(qid, "below local_minfree"), 15),
                        inst.log())
        line = self.deferred_with(qid, "below local_minfree")
        self.assertIn("dsn=4.3.1", line)
        self.assertIn("mail store %s" % os.path.join(self.mail, "example.test", "bob"), line)
        self.assertIn("bytes free", line)
        self.assertTrue(self.queued(qid))
        self.assertEqual(self.files("bob"), [])
        self.assert_nothing_bounced()
        # lowered (0 = automatic: half of queue_minfree): delivered once
        inst.set_main("local_minfree", "0")
        res = inst.ctl("reload")
        self.assertEqual(res.returncode, 0, res.stderr)
        inst.ctl("queue", "flush")
        self.assertTrue(wait_for(lambda: len(self.files("bob")) == 1 and self.queue_empty(), 20),
                        inst.log())
        self.assert_nothing_bounced()
        self.assertEqual(len(self.files("bob")), 1)

    def retry_in(self, qid):
        """Seconds from now to the retry time of qid in deferred/, or None."""
        try:
            return os.stat(self.inst.path("queue", "deferred", qid)).st_mtime - time.time()
        except OSError:
            return None

    def test_storage_deferral_comes_back_soon(self):
        """With Postfix's default backoff (300 s), mail waiting for space
        here is retried within 30 s; other trouble keeps the backoff."""
        inst = self.inst
        inst.set_main("minimal_backoff_time", "300s")
        inst.set_main("maximal_backoff_time", "4000s")
        inst.set_main("queue_run_delay", "300s")
        inst.set_main("local_minfree", str(free_bytes(self.mail if os.path.isdir(self.mail)
                                                      else inst.config_dir) + MARGIN))
        self.start()
        qid = inst.inject("alice@example.test", ["bob@example.test"], message("soon"))
        self.assertTrue(wait_for(lambda: self.retry_in(qid) is not None, 15), inst.log())
        self.assertLessEqual(self.retry_in(qid), 31)
        self.assertIn("below local_minfree", inst.ctl("queue", "list").stdout)
        # a Maildir that cannot be written is not a lack of space: backoff
        inst.set_main("local_minfree", "1")
        self.assertEqual(inst.ctl("reload").returncode, 0)
        os.makedirs(os.path.join(self.mail, "example.test", "alice", "new"), exist_ok=True)
        os.chmod(os.path.join(self.mail, "example.test", "alice", "new"), 0o500)
        self.addCleanup(os.chmod, os.path.join(self.mail, "example.test", "alice", "new"),
                        0o700)
        other = inst.inject("bob@example.test", ["alice@example.test"], message("later"))
        self.assertTrue(wait_for(lambda: self.retry_in(other) is not None, 15), inst.log())
        self.assertGreater(self.retry_in(other), 200)
        # the first one comes back by itself (no flush) and is delivered once
        self.assertTrue(wait_for(lambda: len(self.files("bob")) == 1, 45), inst.log())
        # qmgr removes the queue file once local reported the delivery
        self.assertTrue(wait_for(lambda: not self.queued(qid), 15), inst.log())
        self.assertEqual(len(self.files("bob")), 1)

    def test_unwritable_maildir_defers_then_delivers(self):
        inst = self.inst
        self.start()
        qid = inst.inject("alice@example.test", ["bob@example.test"], message("first"))
        self.assertTrue(wait_for(lambda: len(self.files("bob")) == 1 and not self.queued(qid), 15),
                        inst.log())
        bob = os.path.join(self.mail, "example.test", "bob")
        for sub in ("new", "tmp"):
            os.chmod(os.path.join(bob, sub), 0o500)
        self.addCleanup(lambda: [os.chmod(os.path.join(bob, s), 0o700) for s in ("new", "tmp")])
        qid = inst.inject("alice@example.test", ["bob@example.test"], message("second"))
        self.assertTrue(wait_for(lambda: self.deferred_with(qid, "Permission denied"), 15),
                        inst.log())
        line = self.deferred_with(qid, "Permission denied")
        self.assertRegex(line, r"dsn=4\.3\.[01]")
        self.assertIn(os.path.join(bob, "tmp"), line)
        self.assertTrue(self.queued(qid))
        self.assertEqual(len(self.files("bob")), 1)
        self.assert_nothing_bounced()
        for sub in ("new", "tmp"):
            os.chmod(os.path.join(bob, sub), 0o700)
        inst.ctl("queue", "flush")
        self.assertTrue(wait_for(lambda: len(self.files("bob")) == 2 and self.queue_empty(), 20),
                        inst.log())
        self.assert_nothing_bounced()


class QueueFull(unittest.TestCase):
    """The queue on a small tmpfs (root only: CI runs as root; a failed mount fails)."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        self.inst = Instance()
        inst = self.inst
        queue, saved = inst.path("queue"), inst.path("queue.saved")
        shutil.copytree(queue, saved, symlinks=True)
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", queue],
                             capture_output=True, text=True)
        if res.returncode != 0:
            inst.cleanup()
            self.fail("cannot mount a tmpfs as root: " + res.stderr.strip())
        self.addCleanup(shutil.rmtree, inst.dir, True)
        self.addCleanup(subprocess.run, ["umount", "-l", queue])
        self.addCleanup(inst.cleanup)
        subprocess.run(["cp", "-a", saved + "/.", queue + "/"], check=True)
        st = os.stat(saved)
        os.chown(queue, st.st_uid, st.st_gid)
        self.port = free_port()
        inst.set_master_cf(MAIL_SERVICES + [
            "127.0.0.1:%d inet n - n - 1 smtpd -o queue_minfree=1 "
            "-o smtpd_hard_error_limit=2 -o smtpd_soft_error_limit=10" % self.port])
        inst.set_main("message_size_limit", "0")
        inst.set_main("smtpd_error_sleep_time", "0")
        inst.build_map("domains", "example.test OK\n")
        inst.build_map("mailboxes", "alice@example.test example.test/alice/\n")
        self.mail = inst.ctl("config", "get", "virtual_mailbox_base").stdout.strip()
        inst.start()
        self.assertTrue(wait_for(lambda: port_open(self.port), 10), inst.log())

    def client(self):
        c = SmtpClient(self.port, timeout=60)
        self.addCleanup(c.close)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        return c

    def delivered(self):
        d = os.path.join(self.mail, "example.test", "alice", "new")
        return os.listdir(d) if os.path.isdir(d) else []

    def envelope(self, c):
        self.assertEqual(c.cmd("MAIL FROM:<tester@example.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)

    def test_full_queue_452_after_data_and_bdat(self):
        big = ("x" * 998 + "\r\n") * 6000  # about 6 MB: more than the file system
        c = self.client()
        for _ in range(3):  # smtpd_hard_error_limit is 2
            self.envelope(c)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send("Subject: big\r\n\r\n" + big + ".\r\n")
            self.assertEqual(c.reply(), (452, ["4.3.1 Insufficient system storage"]))
            self.assertEqual(c.cmd("RSET")[0], 250)
        self.envelope(c)
        data = ("Subject: big chunk\r\n\r\n" + big).encode()
        c.send(b"BDAT %d LAST\r\n" % len(data) + data)
        self.assertEqual(c.reply(), (452, ["4.3.1 Insufficient system storage"]))
        self.assertEqual(self.inst.queue_files("tmp"), [])
        self.assertEqual(self.inst.queue_files("incoming"), [])
        # space is there again for a small one, in the same session
        self.envelope(c)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("Subject: small\r\n\r\nhello\r\n.\r\n")
        code, text = c.reply()
        self.assertEqual(code, 250, text)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertTrue(wait_for(lambda: len(self.delivered()) == 1, 20), self.inst.log())
        self.assertIn("queue file write error", self.inst.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
