#!/usr/bin/env python3
"""End-to-end tests of routing (transport_maps, relay_domains,
relay_recipient_maps, relayhost) in a private instance running master,
qmgr, local and an smtpd whose client is outside mynetworks: an error:
transport bounces with its status and text (a multipart/report DSN read with
Python's email parser), discard drops and logs, SMTP routes are deferred
with a reason naming the next hop (this instance runs no smtp service), a
relay_domains
recipient is accepted from an outside client while an unlisted one is
refused at RCPT (550 5.1.1) and any other foreign domain is still denied;
mailctl check reports a bad transport_maps entry with file:line and a
malformed relayhost, which also stops the start."""
import email
import email.policy
import os
import smtplib
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DAEMONS, MAIL_SERVICES, QINJECT, Instance, InstanceCase,  # noqa: E402
                     SmtpClient, free_port, port_open, wait_for)

DOMAINS = "example.test OK\n"
MAILBOXES = "alice@example.test example.test/alice/\n"
TRANSPORT = """\
# the transport table of the tests
gone@example.test error:5.1.1 this user has left the company
closed.test error:mailbox closed for good
trap.test discard:spam trap
smart.test smtp:[192.0.2.7]:2525
"""
RELAY_RCPTS = "known@backup.test OK\n"


def available():
    return all(os.path.exists(DAEMONS[n]) for n in ("master", "qmgr", "local", "smtpd")) \
        and os.path.exists(QINJECT)


def message(subject):
    return "From: alice@example.test\nSubject: %s\n\nhello\n" % subject


@unittest.skipUnless(available(), "master, qmgr, local, smtpd or qinject not built")
class Routing(InstanceCase):
    @classmethod
    def configure(cls):
        inst = cls.inst
        cls.port = free_port()
        inst.set_mail_services([
            "127.0.0.1:%d inet n - n - 1 smtpd -o mynetworks=10.0.0.0/8" % cls.port])
        inst.build_map("domains", DOMAINS)
        inst.build_map("mailboxes", MAILBOXES)
        inst.build_map("aliases", "")
        inst.build_map("transport", TRANSPORT)
        inst.build_map("relay_rcpts", RELAY_RCPTS)
        inst.set_main("transport_maps", "hash:" + inst.path("transport"))
        inst.set_main("relay_domains", "backup.test")
        inst.set_main("relay_recipient_maps", "hash:" + inst.path("relay_rcpts"))
        inst.set_main("smtpd_error_sleep_time", "0")
        inst.set_main("minimal_backoff_time", "300s")
        inst.start()
        if not wait_for(lambda: port_open(cls.port), 10):
            raise RuntimeError("smtpd did not come up: %s" % inst.log())
        if not wait_for(lambda: os.path.exists(inst.path("queue", "private", "qmgr")), 10):
            raise RuntimeError("qmgr did not come up: %s" % inst.log())

    # --- helpers ----------------------------------------------------------
    def maildir_messages(self):
        base = os.path.join(self.inst.config_dir, "mail", "example.test", "alice")
        found = []
        for sub in ("new", "cur"):
            d = os.path.join(base, sub)
            if os.path.isdir(d):
                found += [os.path.join(d, n) for n in sorted(os.listdir(d))]
        return found

    def bounce_for(self, qid):
        """The DSN in alice's Maildir about queue ID qid (parsed), or None."""
        for path in self.maildir_messages():
            with open(path, "rb") as f:
                msg = email.message_from_binary_file(f, policy=email.policy.default)
            if qid in msg.as_string():
                return msg
        return None

    def wait_log(self, text, timeout=10):
        self.assertTrue(wait_for(lambda: text in self.inst.log(), timeout),
                        "%r not logged:\n%s" % (text, self.inst.log()))

    def rcpt(self, address):
        c = SmtpClient(self.port)
        self.addCleanup(c.close)
        self.assertEqual(c.cmd("EHLO outside.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<s@outside.test>")[0], 250)
        return c.cmd("RCPT TO:<%s>" % address)

    # --- qmgr -------------------------------------------------------------
    def test_error_transport_bounces_with_its_text(self):
        qid = self.inst.inject("alice@example.test", ["gone@example.test", "x@closed.test"],
                               message("to the departed"))
        self.wait_log("%s: removed" % qid)
        self.assertTrue(wait_for(lambda: self.bounce_for(qid) is not None, 10),
                        self.inst.log())
        dsn = self.bounce_for(qid)
        self.assertEqual(dsn.get_content_type(), "multipart/report")
        self.assertEqual(dsn.get_param("report-type"), "delivery-status")
        parts = [p.get_content_type() for p in dsn.iter_parts()]
        self.assertIn("message/delivery-status", parts)
        status = next(p for p in dsn.iter_parts()
                      if p.get_content_type() == "message/delivery-status")
        fields = {}
        for block in status.get_payload():
            rcpt = block.get("Final-Recipient", "")
            if rcpt:
                fields[rcpt.split(";")[-1].strip()] = block
        self.assertEqual(sorted(fields), ["gone@example.test", "x@closed.test"])
        self.assertEqual(fields["gone@example.test"]["Status"], "5.1.1")
        self.assertIn("this user has left the company",
                      fields["gone@example.test"]["Diagnostic-Code"])
        self.assertEqual(fields["x@closed.test"]["Status"], "5.0.0")
        self.assertIn("mailbox closed for good", fields["x@closed.test"]["Diagnostic-Code"])
        self.assertIn("to=<gone@example.test>, relay=none", self.inst.log())
        self.assertIn("dsn=5.1.1, status=bounced (this user has left the company)",
                      self.inst.log())

    def test_discard_drops_and_logs(self):
        before = len(self.maildir_messages())
        qid = self.inst.inject("alice@example.test", ["someone@trap.test"], message("spam"))
        self.wait_log("%s: removed" % qid)
        self.assertIn("%s: to=<someone@trap.test>, relay=none" % qid, self.inst.log())
        self.assertIn("status=sent (discarded: spam trap)", self.inst.log())
        self.assertEqual(len(self.maildir_messages()), before)  # no bounce
        self.assertIsNone(self.bounce_for(qid))

    def test_transport_next_hop_deferral(self):
        qid = self.inst.inject("alice@example.test", ["y@smart.test"], message("smart"))
        self.wait_log("%s: to=<y@smart.test>, relay=none" % qid)
        # no smtp service in this instance: the reason names the next hop
        self.wait_log("dsn=4.3.0, status=deferred (smtp delivery service unavailable "
                      "(next hop [192.0.2.7]:2525))")
        self.assertTrue(wait_for(lambda: qid in self.inst.queue_files("deferred"), 10))

    # --- smtpd ------------------------------------------------------------
    def test_relay_domain_accepted_from_outside_and_deferred(self):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
            refused = s.sendmail("s@outside.test", ["known@backup.test"],
                                 "From: s@outside.test\r\nSubject: backup\r\n\r\nhi\r\n")
        self.assertEqual(refused, {})
        self.wait_log("to=<known@backup.test>, relay=none")
        self.wait_log("status=deferred (smtp delivery service unavailable "
                      "(next hop backup.test))")

    def test_relay_recipient_maps_refuses_unknown(self):
        code, text = self.rcpt("stranger@backup.test")
        self.assertEqual((code, text[0][:5]), (550, "5.1.1"))
        self.assertIn("<stranger@backup.test>: Recipient address rejected: "
                      "User unknown in relay recipient table", text[0])

    def test_other_foreign_domain_still_denied(self):
        code, text = self.rcpt("victim@elsewhere.test")
        self.assertEqual((code, text[0][:5]), (554, "5.7.1"))
        self.assertIn("Relay access denied", text[0])
        # a transport_maps entry alone does not open relaying either
        code, text = self.rcpt("x@smart.test")
        self.assertEqual(code, 554)


@unittest.skipUnless(available(), "master, qmgr, local, smtpd or qinject not built")
class CheckRouting(unittest.TestCase):
    def setUp(self):
        self.inst = Instance()
        self.addCleanup(self.inst.cleanup)

    def test_check_reports_bad_transport_entry(self):
        self.inst.write("transport", "ok.test smtp:[10.0.0.1]:25\n"
                        "# a comment\n"
                        "bad.test smtp:[10.0.0.1:25\n"
                        "typo.test smpt:mx.typo.test\n")
        self.inst.set_main("transport_maps", "hash:" + self.inst.path("transport"))
        res = self.inst.ctl("check")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        path = self.inst.path("transport")
        self.assertIn("%s:3: error: bad.test: next hop \"[10.0.0.1:25\"" % path, res.stderr)
        self.assertIn("%s:4: error: typo.test: unknown transport \"smpt\"" % path, res.stderr)
        self.assertNotIn(":1:", res.stderr)
        self.inst.write("transport", "ok.test smtp:[10.0.0.1]:25\n")
        res = self.inst.ctl("check")
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_malformed_relayhost_is_an_error_and_stops_start(self):
        res = self.inst.ctl("config", "set", "relayhost=[smart.test")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("relayhost", res.stderr)
        with open(self.inst.path("main.cf"), "a") as f:
            f.write("relayhost = smart.test:smtp\n")
        res = self.inst.ctl("check")
        self.assertEqual(res.returncode, 1)
        self.assertRegex(res.stderr, r"main\.cf:\d+: error: .*relayhost.*bad port")
        res = self.inst.ctl("start")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("relayhost", res.stdout + res.stderr)
        self.assertFalse(self.inst.master_pid())
        self.assertEqual(self.inst.processes(), [])


if __name__ == "__main__":
    unittest.main()
