#!/usr/bin/env python3
"""End-to-end tests of qmgr's delivery status notifications with local
delivery (messages queued by tests/qinject, as smtpd queues them): the
NOTIFY=SUCCESS report (action delivered, ENVID and ORCPT echoed, headers
only), the delay warning after delay_warning_time (sent once, also across a
restart of the instance), bounce_queue_lifetime, a bounce that cannot be
delivered going to the postmaster as a double bounce (and a failed double
bounce dropped), and one copy for two aliases of one mailbox, within one
delivery request and across requests; with the fake smtp agent of
test_qmgr_smtp.py, "relayed" for a server without DSN and no report when
the server took the DSN request on (remote_dsn=1). Every DSN is read with
Python's email parser as a multipart/report."""
import email
import email.policy
import os
import smtplib
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DAEMONS, QINJECT, Instance, InstanceCase, free_port,  # noqa: E402
                     port_open, wait_for)
from test_qmgr_smtp import FakeAgent  # noqa: E402

MAILBOXES = """\
alice@example.test example.test/alice/
bob@example.test example.test/bob/
carol@example.test example.test/carol/
dave@example.test example.test/dave/
postmaster@example.test example.test/postmaster/
"""
# sixty aliases of carol: more than one delivery request (50 recipients)
ALIASES = "".join("dup%d@example.test carol@example.test\n" % i for i in range(60))
DOMAINS = "example.test OK\n"


def message(subject, size=0):
    text = "From: tester@example.test\nSubject: %s\n\nbody line\n" % subject
    while len(text) < size:
        text += "x" * 70 + "\n"
    return text


def available():
    return all(os.path.exists(DAEMONS[n]) for n in ("master", "qmgr", "local")) and \
        os.path.exists(QINJECT)


def report_parts(text):
    """(message, [delivery-status groups], returned part) of a DSN; the
    groups are dicts of the per-message fields and each recipient's."""
    msg = email.message_from_string(text, policy=email.policy.compat32)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert len(parts) == 3, len(parts)
    assert parts[0].get_content_type() == "text/plain"
    assert parts[1].get_content_type() == "message/delivery-status"
    groups = [dict(g.items()) for g in parts[1].get_payload()]
    return msg, groups, parts[2]


@unittest.skipUnless(available(), "qmgr, local or qinject not built")
class Dsn(unittest.TestCase):
    def setUp(self):
        self.inst = Instance()
        self.addCleanup(self.inst.cleanup)
        self.mail = os.path.join(self.inst.config_dir, "mail")
        self.inst.build_map("mailboxes", MAILBOXES)
        self.inst.build_map("aliases", ALIASES)
        self.inst.build_map("domains", DOMAINS)
        self.inst.build_map("quotas", "dave@example.test 1k\n")
        self.inst.set_main("virtual_mailbox_quota_maps", "hash:" + self.inst.path("quotas"))
        self.inst.set_main("minimal_backoff_time", "1s")
        self.inst.set_main("maximal_backoff_time", "1s")
        self.inst.set_main("queue_run_delay", "1s")
        self.inst.set_mail_services()

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
                found += [os.path.join(d, n) for n in sorted(os.listdir(d))]
        return found

    def texts(self, user):
        out = []
        for p in self.files(user):
            with open(p, encoding="utf-8", errors="replace") as f:
                out.append(f.read())
        return out

    def wait_count(self, user, n, timeout=20):
        ok = wait_for(lambda: len(self.files(user)) >= n, timeout)
        self.assertTrue(ok, "%s has %d messages, want %d\n%s" % (
            user, len(self.files(user)), n, self.inst.log()))

    def queue_empty(self):
        return not any(self.inst.queue_files(s) for s in ("incoming", "active", "deferred"))

    def wait_queue_empty(self, timeout=20):
        self.assertTrue(wait_for(self.queue_empty, timeout), self.inst.log())

    def mode_bits(self, qid):
        """The mode of qid's queue file wherever it is now (0 if not found)."""
        for sub in ("deferred", "active", "incoming"):
            try:
                return os.stat(self.inst.path("queue", sub, qid)).st_mode
            except OSError:
                pass
        return 0

    def attempts(self, qid):
        return self.inst.log().count("%s: to=<dave@example.test>, relay=local" % qid)

    # --- NOTIFY=SUCCESS ------------------------------------------------
    def test_success_report_delivered(self):
        self.start()
        qid = self.inst.inject("alice@example.test", ["bob@example.test", "carol@example.test"],
                               message("hello"), "-N", "success", "-E", "env-77", "-O",
                               "-R", "full")
        plain = self.inst.inject("alice@example.test", ["bob@example.test"], message("plain"))
        null = self.inst.inject("", ["bob@example.test"], message("null"), "-N", "success")
        self.wait_count("bob", 3)
        self.wait_count("alice", 1)
        self.wait_queue_empty()
        self.assertEqual(len(self.files("alice")), 1, self.inst.log())
        msg, groups, returned = report_parts(self.texts("alice")[0])
        self.assertEqual(msg["Subject"], "Successful Mail Delivery Report")
        self.assertIn("Return-Path: <>", self.texts("alice")[0])
        self.assertEqual(groups[0]["Original-Envelope-Id"], "env-77")
        self.assertEqual(groups[0]["X-Postern-Queue-ID"], qid)
        rcpts = {g["Final-Recipient"]: g for g in groups[1:]}
        self.assertEqual(sorted(rcpts), ["rfc822; bob@example.test",
                                         "rfc822; carol@example.test"])
        for name, g in rcpts.items():
            self.assertEqual(g["Action"], "delivered")
            self.assertEqual(g["Status"], "2.0.0")
            self.assertEqual(g["Original-Recipient"], "rfc822;" + name.split(" ")[1])
        # a success report returns the headers only, whatever RET says
        self.assertEqual(returned.get_content_type(), "text/rfc822-headers")
        self.assertNotIn("body line", returned.get_payload())
        self.assertIn("Subject: hello", returned.get_payload())
        log = self.inst.log()
        self.assertIn("%s: sender delivery status notification" % qid, log)
        self.assertNotIn("%s: sender delivery status notification" % plain, log)
        self.assertNotIn("%s: sender delivery status notification" % null, log)

    @unittest.skipUnless(os.path.exists(DAEMONS.get("smtpd", "")), "smtpd not built")
    def test_success_report_through_smtpd(self):
        port = free_port()
        self.inst.set_mail_services(["127.0.0.1:%d inet n - n - 1 smtpd" % port])
        self.start()
        self.assertTrue(wait_for(lambda: port_open(port), 10), self.inst.log())
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
            c.ehlo()
            self.assertTrue(c.has_extn("dsn"))
            c.sendmail("alice@example.test", ["bob@example.test"], message("via smtp"),
                       mail_options=["RET=FULL", "ENVID=smtp-envid-1"],
                       rcpt_options=["NOTIFY=SUCCESS,FAILURE",
                                     "ORCPT=rfc822;Bob+2Balias@example.test"])
        self.wait_count("alice", 1)
        _, groups, returned = report_parts(self.texts("alice")[0])
        self.assertEqual(groups[0]["Original-Envelope-Id"], "smtp-envid-1")
        self.assertEqual(groups[1]["Original-Recipient"], "rfc822;Bob+2Balias@example.test")
        self.assertEqual(groups[1]["Action"], "delivered")
        self.assertEqual(returned.get_content_type(), "text/rfc822-headers")

    # --- delay warnings --------------------------------------------------
    def test_delay_warning_once(self):
        self.inst.set_main("delay_warning_time", "2s")
        self.start()
        big = message("stuck", 4000)  # over dave's 1k quota: deferred 4.2.2
        asked = self.inst.inject("alice@example.test", ["dave@example.test"], big,
                                 "-N", "delay", "-N", "failure", "-E", "env-d")
        default = self.inst.inject("bob@example.test", ["dave@example.test"], big)
        refused = self.inst.inject("carol@example.test", ["dave@example.test"], big,
                                   "-N", "failure")
        self.wait_count("alice", 1)
        self.wait_count("bob", 1)
        # more attempts after the warning: still one warning each
        self.assertTrue(wait_for(lambda: self.attempts(asked) >= 6, 30), self.inst.log())
        self.assertEqual(len(self.files("alice")), 1)
        self.assertEqual(len(self.files("bob")), 1)
        self.assertEqual(self.files("carol"), [], "NOTIFY=FAILURE alone: no warning")
        msg, groups, returned = report_parts(self.texts("alice")[0])
        self.assertEqual(msg["Subject"], "Delayed Mail (still being retried)")
        self.assertEqual(groups[0]["X-Postern-Queue-ID"], asked)
        self.assertEqual(groups[0]["Original-Envelope-Id"], "env-d")
        self.assertEqual(groups[1]["Final-Recipient"], "rfc822; dave@example.test")
        self.assertEqual(groups[1]["Action"], "delayed")
        self.assertEqual(groups[1]["Status"], "4.2.2")
        self.assertIn("Will-Retry-Until", groups[1])
        self.assertEqual(returned.get_content_type(), "text/rfc822-headers")
        self.assertNotIn("xxxxxxxxxx", returned.get_payload())
        _, groups, _ = report_parts(self.texts("bob")[0])
        self.assertEqual(groups[0]["X-Postern-Queue-ID"], default)
        # the mark that it was sent is in the queue file's mode ...
        self.assertTrue(wait_for(lambda: self.mode_bits(asked) & stat.S_IXGRP, 10),
                        oct(self.mode_bits(asked)))
        # ... so a restart sends no second one
        self.inst.stop()
        self.start()
        before = self.attempts(asked)
        self.assertTrue(wait_for(lambda: self.attempts(asked) >= before + 3, 30),
                        self.inst.log())
        self.assertEqual(len(self.files("alice")), 1)
        self.assertEqual(len(self.files("bob")), 1)
        self.assertNotIn("%s: sender delay notification" % refused, self.inst.log())

    def test_no_delay_warning_when_off(self):
        self.start()
        qid = self.inst.inject("alice@example.test", ["dave@example.test"],
                               message("stuck", 4000), "-N", "delay")
        self.assertTrue(wait_for(lambda: self.attempts(qid) >= 3, 30), self.inst.log())
        self.assertEqual(self.files("alice"), [])

    # --- bounces of bounces ----------------------------------------------
    def test_bounce_of_bounce_goes_to_postmaster(self):
        self.start()
        qid = self.inst.inject("", ["nobody@example.test"], message("orphan bounce"))
        self.wait_count("postmaster", 1)
        self.wait_queue_empty()
        text = self.texts("postmaster")[0]
        self.assertIn("Return-Path: <double-bounce@example.test>", text)
        msg, groups, returned = report_parts(text)
        self.assertEqual(msg["Subject"],
                         "Postmaster Copy: Undelivered Mail Returned to Sender")
        self.assertEqual(msg["To"], "<postmaster@example.test>")
        self.assertEqual(groups[0]["X-Postern-Queue-ID"], qid)
        self.assertEqual(groups[1]["Action"], "failed")
        self.assertEqual(groups[1]["Status"], "5.1.1")
        # the whole failed bounce comes back
        self.assertEqual(returned.get_content_type(), "message/rfc822")
        self.assertIn("body line", returned.as_string())
        self.assertIn("%s: postmaster non-delivery notification" % qid, self.inst.log())

    def test_failed_double_bounce_is_dropped(self):
        self.inst.set_main("2bounce_notice_recipient", "nobody-either")
        self.start()
        qid = self.inst.inject("", ["nobody@example.test"], message("orphan bounce"))
        self.assertTrue(wait_for(lambda: "undeliverable postmaster notification discarded"
                                 in self.inst.log(), 20), self.inst.log())
        self.wait_queue_empty()
        log = self.inst.log()
        self.assertIn("%s: postmaster non-delivery notification" % qid, log)
        self.assertIn("to=<nobody-either@example.test>", log)
        self.assertEqual(log.count("non-delivery notification:"), 1, log)
        self.assertEqual(self.files("postmaster"), [])

    def test_bounce_queue_lifetime(self):
        self.inst.set_main("bounce_queue_lifetime", "0")
        self.start()
        bounce = self.inst.inject("", ["dave@example.test"], message("big bounce", 4000))
        normal = self.inst.inject("alice@example.test", ["dave@example.test"],
                                  message("big", 4000))
        self.wait_count("postmaster", 1)
        _, groups, _ = report_parts(self.texts("postmaster")[0])
        self.assertEqual(groups[0]["X-Postern-Queue-ID"], bounce)
        self.assertEqual(groups[1]["Status"], "4.4.7")
        self.assertTrue(wait_for(lambda: self.attempts(normal) >= 3, 30), self.inst.log())
        self.assertIn(normal, self.inst.queue_files("deferred") + self.inst.queue_files("active"))
        self.assertEqual(self.files("alice"), [])

    # --- one delivery per final address ---------------------------------
    def test_two_aliases_one_copy(self):
        self.start()
        self.inst.inject("alice@example.test", ["dup1@example.test", "dup2@example.test"],
                         message("pair"))
        self.wait_count("carol", 1)
        self.wait_queue_empty()
        self.assertEqual(len(self.files("carol")), 1, self.inst.log())

    def test_aliases_across_requests_one_copy(self):
        self.start()
        rcpts = ["dup%d@example.test" % i for i in range(60)]
        qid = self.inst.inject("alice@example.test", rcpts, message("many"))
        self.wait_count("carol", 1)
        self.wait_queue_empty()
        self.assertTrue(wait_for(lambda: "%s: removed" % qid in self.inst.log(), 10))
        self.assertEqual(len(self.files("carol")), 1, self.inst.log())
        self.assertEqual(self.files("alice"), [])


def relay_answer(hop, rcpts):
    """plain.test has no DSN extension, dsn.test takes NOTIFY on."""
    head = [("relay", "mx.%s[192.0.2.30]:25" % hop), ("tls", "none"), ("dest", "ok"),
            ("remote_dsn", 1 if hop == "dsn.test" else 0)]
    return head, [(r, "2.0.0", "250 2.0.0 Ok: queued as R%d" % r) for r in rcpts], 0


@unittest.skipUnless(available(), "qmgr, local or qinject not built")
class RelayedDsn(InstanceCase):
    @classmethod
    def configure(cls):
        inst = cls.inst
        inst.set_mail_services()
        inst.build_map("domains", DOMAINS)
        inst.build_map("mailboxes", MAILBOXES)
        inst.build_map("aliases", "")
        os.makedirs(inst.path("queue", "private"), exist_ok=True)
        cls.agent = FakeAgent(inst.path("queue", "private", "smtp"), relay_answer)
        inst.start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()
        super().tearDownClass()

    def test_relayed_and_remote_dsn(self):
        qid = self.inst.inject("alice@example.test",
                               ["x@plain.test", "y@dsn.test", "bob@example.test"],
                               message("out"), "-N", "success", "-O")
        box = os.path.join(self.inst.config_dir, "mail", "example.test", "alice", "new")
        self.assertTrue(wait_for(lambda: os.path.isdir(box) and os.listdir(box), 20),
                        self.inst.log())
        self.assertTrue(wait_for(lambda: "%s: removed" % qid in self.inst.log(), 10))
        names = os.listdir(box)
        self.assertEqual(len(names), 1)
        with open(os.path.join(box, names[0])) as f:
            _, groups, _ = report_parts(f.read())
        actions = {g["Final-Recipient"]: g["Action"] for g in groups[1:]}
        # y@dsn.test is the remote server's to report: not in ours
        self.assertEqual(actions, {"rfc822; x@plain.test": "relayed",
                                   "rfc822; bob@example.test": "delivered"})


if __name__ == "__main__":
    unittest.main()
