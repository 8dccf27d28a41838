#!/usr/bin/env python3
"""End-to-end tests of qmgr and local: messages are queued with
tests/qinject (exactly as smtpd queues them) into a private instance that
runs master, qmgr and local, and are checked in the users' Maildirs and the
queue: Return-Path/Delivered-To, alias fan-out, nested aliases and loops,
catch-all, user+tag and folder delivery, quota (deferred, not lost),
unknown users (a multipart/report bounce to a local sender), the null
sender (a double bounce, dropped when it fails too), kill -9 of local
during a load (no duplicates, nothing lost), a restart that recovers active/, qmgr under a low open-file limit, and local
answering a full batch on a connection already closed."""
import os
import re
import resource
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DAEMONS, MAILCTL, QINJECT, Instance, free_port, port_open, wait_for  # noqa: E402

MAILBOXES = """\
alice@example.test example.test/alice/
bob@example.test example.test/bob/
carol@example.test example.test/carol/
"""
ALIASES = """\
team@example.test alice@example.test, sales@example.test
sales@example.test bob@example.test, carol@example.test
loop1@example.test loop2@example.test
loop2@example.test loop1@example.test, alice@example.test
selfish@example.test selfish@example.test, bob@example.test
away@example.test someone@remote.test
@other.test bob@example.test
"""
DOMAINS = "example.test OK\nother.test OK\n"


def message(subject, size=0):
    body = "x" * 70 + "\n"
    text = "From: tester@example.test\nSubject: %s\n\nhello\n" % subject
    while len(text) < size:
        text += body
    return text


def available():
    return all(os.path.exists(DAEMONS[n]) for n in ("master", "qmgr", "local")) and \
        os.path.exists(QINJECT)


class Base(unittest.TestCase):
    """An instance with the test maps and fast retries; helpers only."""
    def setUp(self):
        self.inst = Instance()
        self.addCleanup(self.inst.cleanup)
        self.mail = os.path.join(self.inst.config_dir, "mail")
        self.inst.build_map("mailboxes", MAILBOXES)
        self.inst.build_map("aliases", ALIASES)
        self.inst.build_map("domains", DOMAINS)
        self.inst.build_map("quotas", "dave@example.test 1k\n")
        self.inst.set_main("virtual_mailbox_quota_maps",
                           "hash:" + self.inst.path("quotas"))
        self.inst.set_main("minimal_backoff_time", "1s")
        self.inst.set_main("maximal_backoff_time", "2s")
        self.inst.set_main("queue_run_delay", "1s")
        self.inst.set_mail_services()

    # --- helpers -------------------------------------------------------
    def start(self):
        self.inst.start()
        # qmgr makes tmp/ incoming/ ... at its start, after master bound its socket
        self.assertTrue(wait_for(lambda: os.path.exists(
            self.inst.path("queue", "private", "qmgr")) and os.path.isdir(
            self.inst.path("queue", "corrupt")), 10), self.inst.log())

    def files(self, user, folder=""):
        """Full paths of the messages in new/ and cur/ of user's Maildir."""
        found = []
        base = os.path.join(self.mail, "example.test", user, folder)
        for sub in ("new", "cur"):
            d = os.path.join(base, sub)
            if os.path.isdir(d):
                found += [os.path.join(d, n) for n in sorted(os.listdir(d))]
        return found

    def texts(self, user, folder=""):
        out = []
        for p in self.files(user, folder):
            with open(p, encoding="utf-8", errors="replace") as f:
                out.append(f.read())
        return out

    def queue_empty(self):
        return not any(self.inst.queue_files(s) for s in ("incoming", "active", "deferred"))

    def wait_count(self, user, n, folder="", timeout=15):
        ok = wait_for(lambda: len(self.files(user, folder)) >= n, timeout)
        self.assertTrue(ok, "%s has %d messages, want %d\n%s" % (
            user, len(self.files(user, folder)), n, self.inst.log()))

    def wait_queue_empty(self, timeout=15):
        self.assertTrue(wait_for(self.queue_empty, timeout), self.inst.log())

    def pids(self, name):
        found = []
        for pid in self.inst.processes():
            try:
                with open("/proc/%d/comm" % pid) as f:
                    if f.read().strip() == name:
                        found.append(pid)
            except OSError:
                pass
        return found


@unittest.skipUnless(available(), "qmgr, local or qinject not built")
class Delivery(Base):
    """qmgr and local with messages queued by qinject."""

    def test_delivery_headers_and_log(self):
        self.start()
        qid = self.inst.inject("sender@remote.test", ["alice@example.test"], message("one"))
        self.wait_count("alice", 1)
        text = self.texts("alice")[0]
        self.assertTrue(text.startswith("Return-Path: <sender@remote.test>\n"
                                        "Delivered-To: alice@example.test\n"
                                        "From: tester@example.test\n"), text)
        self.assertIn(qid, os.path.basename(self.files("alice")[0]))
        self.wait_queue_empty()
        log = self.inst.log()
        self.assertIn("%s: to=<alice@example.test>, relay=local" % qid, log)
        self.assertIn("dsn=2.0.0, status=sent (delivered to maildir)", log)
        self.assertTrue(wait_for(lambda: "%s: removed" % qid in self.inst.log(), 5))

    def test_alias_fanout_nesting_and_loops(self):
        self.start()
        self.inst.inject("s@remote.test", ["team@example.test"], message("team"))
        self.inst.inject("s@remote.test", ["loop1@example.test"], message("loop"))
        self.inst.inject("s@remote.test", ["selfish@example.test"], message("self"))
        self.wait_count("alice", 2)
        self.wait_count("bob", 2)
        self.wait_count("carol", 1)
        self.wait_queue_empty()
        subjects = lambda u: sorted(t.split("Subject: ")[1].split("\n")[0]  # noqa: E731
                                    for t in self.texts(u))
        self.assertEqual(subjects("alice"), ["loop", "team"])
        self.assertEqual(subjects("bob"), ["self", "team"])
        self.assertEqual(subjects("carol"), ["team"])

    def test_one_copy_per_final_address(self):
        # team -> alice, sales -> bob, carol; sales -> bob, carol; bob: one copy each
        self.start()
        self.inst.inject("s@remote.test", ["team@example.test", "sales@example.test",
                                           "bob@example.test"], message("once"))
        self.wait_count("alice", 1)
        self.wait_count("bob", 1)
        self.wait_count("carol", 1)
        self.wait_queue_empty()
        for user in ("alice", "bob", "carol"):
            self.assertEqual(len(self.texts(user)), 1, user)
        self.assertIn("an earlier recipient of this message has the same target", self.inst.log())

    def test_catch_all_and_extension(self):
        self.inst.set_main("folder_delivery", "yes")
        os.makedirs(os.path.join(self.mail, "example.test", "alice", ".News", "new"))
        os.makedirs(os.path.join(self.mail, "example.test", "alice", ".News", "cur"))
        os.makedirs(os.path.join(self.mail, "example.test", "alice", ".News", "tmp"))
        self.inst.give(os.path.join(self.mail, "example.test"))
        self.start()
        self.inst.inject("s@remote.test", ["whoever@other.test"], message("catch"))
        self.inst.inject("s@remote.test", ["alice+News@example.test"], message("news"))
        self.inst.inject("s@remote.test", ["alice+misc@example.test"], message("misc"))
        self.wait_count("bob", 1)
        self.wait_count("alice", 1, folder=".News")
        self.wait_count("alice", 1)
        self.assertIn("Delivered-To: bob@example.test\n", self.texts("bob")[0])
        self.assertIn("Delivered-To: alice+News@example.test\n",
                      self.texts("alice", ".News")[0])
        self.assertIn("Subject: misc", self.texts("alice")[0])
        self.wait_queue_empty()

    def test_quota_defers_not_loses(self):
        self.inst.build_map("quotas", "bob@example.test 2k\n")
        self.start()
        qid = self.inst.inject("s@remote.test", ["bob@example.test"], message("big", 8000))
        self.assertTrue(wait_for(lambda: "dsn=4.2.2" in self.inst.log(), 10), self.inst.log())
        self.assertTrue(wait_for(lambda: qid in self.inst.queue_files("deferred")
                                 or qid in self.inst.queue_files("active"), 5))
        self.assertEqual(self.files("bob"), [])
        # raising the quota lets the next retry deliver it
        self.inst.build_map("quotas", "bob@example.test 1m\n")
        self.wait_count("bob", 1, timeout=20)
        self.wait_queue_empty()

    def test_unknown_user_bounces_to_local_sender(self):
        self.start()
        qid = self.inst.inject("alice@example.test", ["nobody@example.test", "bob@example.test"],
                               message("lost"))
        self.wait_count("bob", 1)
        self.wait_count("alice", 1)
        bounce = self.texts("alice")[0]
        self.assertIn("Return-Path: <>\n", bounce)
        self.assertIn("Content-Type: multipart/report; report-type=delivery-status;", bounce)
        self.assertIn("Content-Type: message/delivery-status", bounce)
        self.assertIn("Final-Recipient: rfc822; nobody@example.test\nAction: failed\n"
                      "Status: 5.1.1\n", bounce)
        self.assertIn("X-Postern-Queue-ID: %s" % qid, bounce)
        self.assertIn("Content-Type: text/rfc822-headers\n\nFrom: tester@example.test\n"
                      "Subject: lost\n\n", bounce)
        self.assertNotIn("bob@example.test", bounce.split("Delivery report")[1])
        self.wait_queue_empty()
        self.assertIn("status=bounced", self.inst.log())

    def test_bounce_of_bounce_is_not_bounced(self):
        # the failed bounce goes to the postmaster (no mailbox here), whose
        # notice fails in turn and is dropped: no loop (test_dsn.py has more)
        self.start()
        qid = self.inst.inject("", ["nobody@example.test"], message("dsn"))
        self.assertTrue(wait_for(lambda: "%s: removed" % qid in self.inst.log(), 10),
                        self.inst.log())
        self.assertIn("%s: postmaster non-delivery notification" % qid, self.inst.log())
        self.assertTrue(wait_for(lambda: "undeliverable postmaster notification discarded"
                                 in self.inst.log(), 10), self.inst.log())
        self.wait_queue_empty()

    def test_notify_never_suppresses(self):
        self.start()
        qid = self.inst.inject("alice@example.test", ["nobody@example.test"], message("q"),
                               "-N", "never")
        self.assertTrue(wait_for(lambda: "%s: removed" % qid in self.inst.log(), 10))
        self.assertEqual(self.files("alice"), [])

    def test_forward_outside_is_requeued_and_deferred(self):
        self.start()
        self.inst.inject("s@remote.test", ["away@example.test"], message("fwd"))
        self.assertTrue(wait_for(lambda: "smtp delivery service unavailable (next hop remote.test)"
                                 in self.inst.log(), 10), self.inst.log())
        self.assertTrue(wait_for(lambda: len(self.inst.queue_files("deferred")) == 1, 10))

    def test_kill_local_during_load_no_duplicates(self):
        self.start()
        n = 300

        def load():
            for i in range(n):
                self.inst.inject("s@remote.test", ["team@example.test"], message("m%d" % i))
        loader = threading.Thread(target=load)
        loader.start()
        kills = 0
        while loader.is_alive() and kills < 8:
            time.sleep(0.4)
            for pid in self.pids("local"):
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
                except OSError:
                    pass
        loader.join()
        self.assertGreater(kills, 0)
        self.inst.inject("s@remote.test", ["alice@example.test"], message("last"))
        self.wait_count("alice", n + 1, timeout=60)
        self.wait_count("carol", n, timeout=60)
        self.wait_queue_empty(60)
        for user, extra in (("alice", ["last"]), ("bob", []), ("carol", [])):
            subjects = sorted(t.split("Subject: ")[1].split("\n")[0] for t in self.texts(user))
            self.assertEqual(subjects, sorted(["m%d" % i for i in range(n)] + extra), user)

    def test_active_recovered_at_start(self):
        os.makedirs(self.inst.path("queue", "incoming"), exist_ok=True)
        os.makedirs(self.inst.path("queue", "active"), exist_ok=True)
        os.makedirs(self.inst.path("queue", "tmp"), exist_ok=True)
        qid = self.inst.inject("s@remote.test", ["carol@example.test"], message("crash"), "-T")
        os.rename(self.inst.path("queue", "incoming", qid), self.inst.path("queue", "active", qid))
        self.start()
        self.wait_count("carol", 1)
        self.wait_queue_empty()
        self.assertIn("%s: from=<s@remote.test>, size=" % qid, self.inst.log())
        self.assertIn("queue active, recover)", self.inst.log())

    def test_local_survives_batch_for_a_closed_connection(self):
        # More pipelined requests than one group commit holds, on a connection
        # closed before the answers: the commit runs inside the read loop and
        # its failed answer must not free the connection under that loop.
        self.start()
        sock_path = self.inst.path("queue", "private", "local")
        queue = self.inst.path("queue")
        for round_ in range(3):
            requests = b""
            for i in range(40):
                qid = "Zz%010d" % (round_ * 100 + i)
                requests += ("protocol=delivery\nqueue_id=%s\nqueue_file=%s/active/%s\n"
                             "recover=0\nrcpt=0\n\n" % (qid, queue, qid)).encode()
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(sock_path)
                s.sendall(requests)
        self.inst.inject("s@remote.test", ["alice@example.test"], message("after"))
        self.wait_count("alice", 1)

        def died():
            return [line for line in self.inst.log().splitlines()
                    if "local/unix pid" in line and ("exit status" in line or "signal" in line)]
        self.assertIsNone(wait_for(died, timeout=3), self.inst.log())

    def test_active_set_fits_the_open_file_limit(self):
        # Every active message keeps its queue file open: under a low
        # RLIMIT_NOFILE qmgr holds fewer messages at once instead of failing
        # to open them (EMFILE) and deferring them.
        n = 300
        for i in range(n):
            self.inst.inject("s@remote.test", ["bob@example.test"], message("f%d" % i), "-T")
        limit = min(256, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        res = subprocess.run([MAILCTL, "-c", self.inst.config_dir, "start"],
                             capture_output=True, text=True, timeout=60,
                             preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                                                   (limit, limit)))
        self.assertEqual(res.returncode, 0, res.stderr)
        self.wait_count("bob", n, timeout=60)
        log = self.inst.log()
        fitted = re.search(r"qmgr_message_active_limit 1000 needs about \d+ open files, "
                           r"but the limit is %d: holding at most \d+ messages" % limit, log)
        self.assertIsNotNone(fitted, "qmgr did not fit its active set to the file limit")
        self.assertEqual([line for line in log.splitlines() if "Too many open files" in line],
                         [])

    def test_kill_qmgr_restarts_and_delivers(self):
        self.start()
        for i in range(50):
            self.inst.inject("s@remote.test", ["bob@example.test"], message("q%d" % i), "-T")
        for pid in self.pids("qmgr"):
            os.kill(pid, signal.SIGKILL)
        # with a trigger: qmgr's start scan may come before this file is in
        # incoming/ (a restart takes 250 ms; qinject may take longer under
        # load), and then only the trigger, kept in the socket's backlog
        # for the new qmgr, tells it
        self.inst.inject("s@remote.test", ["carol@example.test"], message("after"))
        self.wait_count("bob", 50, timeout=40)
        self.wait_count("carol", 1, timeout=40)
        self.wait_queue_empty(40)
        self.assertEqual(len(self.files("bob")), 50)


@unittest.skipUnless(available() and os.path.exists(DAEMONS.get("smtpd", "")),
                     "smtpd not built")
class SmtpToMaildir(Base):
    """The same instance with smtpd in front: real SMTP in, Maildir out."""

    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.inst.set_mail_services(["127.0.0.1:%d inet n - n - 2 smtpd" % self.port])

    def start(self):
        super().start()
        self.assertTrue(wait_for(lambda: port_open(self.port), 10), self.inst.log())

    def send(self, rcpts, subject, client=None):
        own = client is None
        client = client or smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        try:
            client.sendmail("s@remote.test", rcpts, message(subject))
        finally:
            if own:
                client.quit()

    def test_smtp_delivery_and_unknown_user(self):
        self.start()
        self.send(["alice@example.test", "team@example.test"], "smtp")
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as c:
            c.ehlo()
            c.mail("s@remote.test")
            code, _ = c.rcpt("nobody@example.test")
            self.assertEqual(code, 550)
        self.wait_count("bob", 1)
        self.wait_count("carol", 1)
        self.wait_count("alice", 1)
        self.wait_queue_empty()
        # alice is a recipient twice (directly and through team): one queue
        # recipient each, so two copies, as Postfix does without duplicate
        # elimination across recipients
        self.assertTrue(self.texts("alice")[0].startswith(
            "Return-Path: <s@remote.test>\nDelivered-To: alice@example.test\n"))

    def test_smtp_load_with_kills_exactly_once(self):
        self.start()
        n = 2000
        accepted = []

        def load():
            c = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
            for i in range(n):
                self.send(["carol@example.test"], "s%d" % i, c)
                accepted.append("s%d" % i)
            c.quit()
        loader = threading.Thread(target=load)
        loader.start()
        kills = 0
        while loader.is_alive() and kills < 16:
            time.sleep(0.3)
            for name in ("local", "qmgr"):
                for pid in self.pids(name):
                    try:
                        os.kill(pid, signal.SIGKILL)
                        kills += 1
                    except OSError:
                        pass
        loader.join()
        self.assertGreater(kills, 2)
        self.assertEqual(len(accepted), n)
        self.wait_count("carol", n, timeout=120)
        self.wait_queue_empty(60)
        subjects = sorted(t.split("Subject: ")[1].split("\n")[0] for t in self.texts("carol"))
        self.assertEqual(subjects, sorted(accepted))


if __name__ == "__main__":
    unittest.main()
