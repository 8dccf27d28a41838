"""test_dkim_bounce.py: the notifications qmgr writes are DKIM-signed
(issue 15: mail Postern sends passes other servers' checks).

With an RSA and an Ed25519 key made by `mailctl dkim keygen` for
example.test (the instance's $mydomain; its myhostname is
mail.example.test): a bounce for an unknown mailbox (queued by qinject, as
smtpd queues) reaches the local sender's Maildir with both signatures,
d=example.test, and dkimpy (tests/dkim_interop.py, keys through its
dnsfunc) verifies them; a changed copy fails. RET=FULL (the whole message
returned) and a success report are signed too, once each. A key for the
From: domain itself (mail.example.test) is preferred; keys that cannot be
read leave the bounce unsigned but still delivered, with a warning. Over a
real relay (dnsmasq MX, the smtp client, a fake server answering 550 at
RCPT) the bounce of a message smtpd accepted is signed and verifies.
"""
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (InstanceCase, RelayNet, require_tools,  # noqa: E402
                     start_relay_instance, relay_instance, wait_for)
from fakesmtp import FakeSmtp  # noqa: E402
from relaytest import NOT_BUILT, available, submit, wait_dsn  # noqa: E402
from test_dsn import available as qmgr_available  # noqa: E402

require_tools("dnsmasq")
SRCDIR = os.environ.get("POSTERN_SRCDIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
INTEROP = os.path.join(SRCDIR, "tests", "dkim_interop.py")
SENDER = "demo@example.test"


def zone_value(text):
    """owner and value of a keygen zone line."""
    owner = text.split()[0].rstrip(".")
    return owner, "".join(re.findall(r'"([^"]*)"', text))


def keygen(inst, domain, selector, *opts):
    res = inst.ctl("dkim", "keygen", domain, selector, *opts)
    if res.returncode != 0:
        raise RuntimeError("keygen: " + res.stderr)
    return zone_value(res.stdout)


def signatures(data):
    return re.findall(rb"(?im)^DKIM-Signature:.*(?:\n[ \t].*)*", data)


def dkimpy_verify(inst, data, records):
    """dkimpy's verdict on every signature of data: (exit status, output)."""
    tmp = inst.path("verify.eml")
    with open(tmp, "wb") as f:
        f.write(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    rec = inst.path("verify.records")
    with open(rec, "w") as f:
        for owner, value in records.items():
            f.write("%s. %s\n" % (owner, value))
    res = subprocess.run(["/usr/bin/python3", INTEROP, "verify", tmp, rec],
                         capture_output=True, text=True, timeout=60)
    return res.returncode, res.stdout + res.stderr


def raw_dsn(inst, address, qid, timeout=30):
    """The bytes of the notification about qid in address's Maildir."""
    marker = ("X-Postern-Queue-ID: %s\n" % qid).encode()

    def find():
        for path in inst.maildir_files(address):
            with open(path, "rb") as f:
                data = f.read()
            if marker in data:
                return data
        return None
    return wait_for(find, timeout, 0.05)


def message(subject):
    return ("From: Demo <%s>\nTo: nobody@example.test\nSubject: %s\n"
            "Date: Mon, 07 Dec 2026 10:00:00 +0000\n\nbody line one\n"
            "  two   spaces\there\n\n\n" % (SENDER, subject))


@unittest.skipUnless(qmgr_available(), "qmgr, local or qinject not built")
class BounceSigned(InstanceCase):
    @classmethod
    def configure(cls):
        inst = cls.inst
        inst.set_mail_services()
        for key, value in (("minimal_backoff_time", "1s"), ("maximal_backoff_time", "1s"),
                           ("queue_run_delay", "1s")):
            inst.set_main(key, value)
        cls.records = dict([keygen(inst, "example.test", "r1", "--bits", "1024"),
                            keygen(inst, "example.test", "e1", "--ed25519")])
        inst.start()
        if not wait_for(lambda: os.path.exists(inst.path("queue", "private", "qmgr")), 10):
            raise RuntimeError("qmgr did not come up: " + inst.log())

    def dsn(self, qid):
        data = raw_dsn(self.inst, SENDER, qid)
        self.assertIsNotNone(data, "no notification about %s:\n%s" % (qid, self.inst.log()))
        return data

    def dsn_id(self, qid, kind="sender non-delivery"):
        m = re.search(r"%s: %s notification: (\S+)" % (qid, kind), self.inst.log())
        self.assertIsNotNone(m, self.inst.log())
        return m.group(1)

    def test_unknown_mailbox_bounce_signed(self):
        qid = self.inst.inject(SENDER, ["nobody@example.test"], message("lost one"))
        data = self.dsn(qid)
        self.assertIn(b"\nFrom: MAILER-DAEMON@mail.example.test", data)
        self.assertIn(b"Status: 5.1.1", data)
        sigs = signatures(data)
        self.assertEqual(len(sigs), 2, data)  # one of each key, once
        self.assertTrue(any(b"a=rsa-sha256" in s for s in sigs), sigs)
        self.assertTrue(any(b"a=ed25519-sha256" in s for s in sigs), sigs)
        self.assertTrue(all(re.search(rb"\bd=example\.test;", s) for s in sigs), sigs)
        # above the notification's own fields
        self.assertLess(data.index(b"DKIM-Signature:"), data.index(b"\nFrom: MAILER-DAEMON"))
        code, out = dkimpy_verify(self.inst, data, self.records)
        self.assertEqual(code, 0, out)
        self.assertEqual(out.count(": pass"), 2, out)
        # a changed body or header fails: the check can fail
        code, out = dkimpy_verify(self.inst, data.replace(b"Status: 5.1.1", b"Status: 5.1.2"),
                                  self.records)
        self.assertNotEqual(code, 0, out)
        code, out = dkimpy_verify(self.inst, data.replace(b"Subject: Undelivered",
                                                          b"Subject: Delivered"), self.records)
        self.assertNotEqual(code, 0, out)
        self.assertIn("%s: dkim-signed d=example.test s=r1,e1" % self.dsn_id(qid),
                      self.inst.log())

    def test_full_return_and_success_report_signed(self):
        full = self.inst.inject(SENDER, ["nobody@example.test"], message("returned whole"),
                                "-R", "full")
        data = self.dsn(full)
        self.assertIn(b"Content-Type: message/rfc822", data)
        self.assertIn(b"two   spaces", data)  # the returned body is in the signed body
        self.assertEqual(len(signatures(data)), 2, data)
        code, out = dkimpy_verify(self.inst, data, self.records)
        self.assertEqual(code, 0, out)
        code, out = dkimpy_verify(self.inst, data.replace(b"two   spaces", b"two spaces"),
                                  self.records)
        self.assertEqual(code, 0, out)  # relaxed body: white space runs count as one
        code, out = dkimpy_verify(self.inst, data.replace(b"body line one", b"body line 1"),
                                  self.records)
        self.assertNotEqual(code, 0, out)
        ok = self.inst.inject(SENDER, [SENDER], message("report me"), "-N", "success")
        data = self.dsn(ok)
        self.assertIn(b"Subject: Successful Mail Delivery Report", data)
        self.assertEqual(len(signatures(data)), 2, data)
        code, out = dkimpy_verify(self.inst, data, self.records)
        self.assertEqual(code, 0, out)
        self.assertIn("%s: dkim-signed d=example.test" % self.dsn_id(ok, "sender delivery status"),
                      self.inst.log())

    def test_from_domain_key_preferred(self):
        owner, value = keygen(self.inst, "mail.example.test", "h1", "--ed25519")
        try:
            qid = self.inst.inject(SENDER, ["nobody@example.test"], message("own key"))
            data = self.dsn(qid)
            sigs = signatures(data)
            self.assertEqual(len(sigs), 1, data)
            self.assertIn(b"d=mail.example.test;", sigs[0])
            self.assertIn(b"s=h1;", sigs[0])
            code, out = dkimpy_verify(self.inst, data, {owner: value})
            self.assertEqual(code, 0, out)
        finally:
            res = self.inst.ctl("dkim", "del", "mail.example.test", "h1", "--purge")
            self.assertEqual(res.returncode, 0, res.stderr)

    def test_key_trouble_bounce_still_sent(self):
        keys = [self.inst.path("dkim", "example.test.%s.key" % s) for s in ("r1", "e1")]
        for k in keys:
            os.rename(k, k + ".away")
        try:
            qid = self.inst.inject(SENDER, ["nobody@example.test"], message("keys away"))
            data = self.dsn(qid)
        finally:
            for k in keys:
                os.rename(k + ".away", k)
        self.assertIn(b"Status: 5.1.1", data)
        self.assertEqual(signatures(data), [], data)
        dsn = self.dsn_id(qid)
        self.assertIn("%s: notification not signed: no usable DKIM key for example.test" % dsn,
                      self.inst.log())
        self.assertTrue(self.inst.wait_log("%s: removed" % qid))
        # keys back: signed again
        qid = self.inst.inject(SENDER, ["nobody@example.test"], message("keys back"))
        self.assertEqual(len(signatures(self.dsn(qid))), 2)


class RelayBounceSigned(unittest.TestCase):
    """A message smtpd accepted for a remote domain whose server refuses
    the recipient (550 at RCPT): the bounce comes back signed."""

    @classmethod
    def setUpClass(cls):
        if not available():
            raise unittest.SkipTest(NOT_BUILT)
        net = cls.net = RelayNet(local=("example.test", "fail.example.com"))
        cls.a = cls.fake = None
        try:
            addr_a, cls.addr_mx = net.address(), net.address()
            net.add(("A", "mx.fail.example.com", cls.addr_mx),
                    ("MX", "fail.example.com", "mx.fail.example.com", 10))
            net.route("fail.example.com")
            net.start_dns()
            cls.a = relay_instance(net, addr_a, "example.test", users=("alice",), main={
                "dns_timeout": "3s", "smtp_connect_timeout": "3s", "queue_run_delay": "300s",
                "minimal_backoff_time": "300s", "maximal_backoff_time": "600s"})
            cls.records = dict([keygen(cls.a, "example.test", "r1", "--bits", "1024"),
                                keygen(cls.a, "example.test", "e1", "--ed25519")])
            cls.fake = FakeSmtp(cls.addr_mx, net.port, name="mx.fail.example.com",
                                rcpt={"u@fail.example.com":
                                      "550 5.1.1 <u@fail.example.com>: no such user"})
            start_relay_instance(cls.a)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.fake is not None:
            cls.fake.stop()
        if cls.a is not None:
            cls.a.cleanup()
        cls.net.stop()

    def test_refused_by_relay_bounce_signed(self):
        qid = submit(self.a, ["u@fail.example.com"], "refused far away")
        self.assertIsNotNone(wait_dsn(self.a, "alice@example.test", qid), self.a.log())
        data = raw_dsn(self.a, "alice@example.test", qid)
        self.assertIsNotNone(data)
        self.assertIn(b"Status: 5.1.1", data)
        self.assertIn(b"no such user", data)
        self.assertTrue(self.fake.sessions, "the relay was never asked")
        sigs = signatures(data)
        # the bounce's own two; the original's (smtpd signed it: a trusted
        # client) come back inside the returned headers, not at the top
        top = data.split(b"\n\n", 1)[0]
        self.assertEqual(len(signatures(top)), 2, data)
        self.assertGreaterEqual(len(sigs), 2)
        code, out = dkimpy_verify(self.a, data, self.records)
        self.assertEqual(code, 0, out)
        self.assertEqual(out.count(": pass"), 2, out)


if __name__ == "__main__":
    unittest.main()
