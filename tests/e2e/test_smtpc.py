#!/usr/bin/env python3
"""End-to-end tests of lib/smtpc, the SMTP client of the future `smtp`
program, against Postern's own smtpd: tests/smtpc_drive runs one dialogue
and prints its results. STARTTLS at the levels may / verify / secure with
the instance's self-signed certificate as the CA (SNI and the name check
against "localhost", which the certificate names; verify and secure both
refuse a certificate that does not name the host), AUTH PLAIN on a
submission service, a wrong password (535), TLS required where the
server offers none, AUTH refused without TLS, and one refused and one
accepted recipient in one transaction. No qmgr runs: accepted mail stays
in incoming/."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, MAILCTL, InstanceCase, free_port, port_open, wait_for  # noqa: E402

DRIVE = os.path.join(BUILD, "tests", "smtpc_drive")
DOMAINS = "example.test OK\n"
MAILBOXES = "alice@example.test example.test/alice/\nbob@example.test example.test/bob/\n"
MESSAGE = "From: alice@example.test\nSubject: smtpc\n\nhello over smtpc\n"
PASSWORD = "alice secret"


class SmtpcTests(InstanceCase):
    SERVICES = {
        "smtp": "",
        "submission": "-o smtpd_service=submission",
        "plain": "-o smtpd_tls_security_level=none",
    }

    @classmethod
    def configure(cls):
        inst = cls.inst
        cls.ports = {name: free_port() for name in cls.SERVICES}
        inst.set_master_cf(["127.0.0.1:%d inet n - n - 2 smtpd %s" % (cls.ports[name], args)
                            for name, args in cls.SERVICES.items()])
        inst.build_map("domains", DOMAINS)
        inst.build_map("mailboxes", MAILBOXES)
        res = subprocess.run([MAILCTL, "-c", inst.config_dir, "user", "passwd",
                              "alice@example.test"], input=PASSWORD + "\n",
                             capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            raise RuntimeError(res.stderr)
        with open(inst.path("main.cf")) as f:
            cls.ca = [line.split("=", 1)[1].strip() for line in f
                      if line.startswith("smtpd_tls_cert_file")][-1]
        inst.start()
        for p in cls.ports.values():
            if not wait_for(lambda: port_open(p)):
                raise RuntimeError("smtpd on port %d did not come up: %s" % (p, inst.log()))

    def setUp(self):
        incoming = self.inst.path("queue", "incoming")
        for name in self.inst.queue_files():
            os.unlink(os.path.join(incoming, name))

    def drive(self, service, rcpts, *opts):
        res = subprocess.run([DRIVE] + list(opts) + [str(self.ports[service])] + rcpts,
                             input=MESSAGE, capture_output=True, text=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        out = {"rcpt": {}}
        for line in res.stdout.splitlines():
            key, _, value = line.partition("=")
            if key == "rcpt":
                addr, _, rest = value.partition(" ")
                out["rcpt"][addr] = rest
            else:
                out[key] = value
        return out

    def test_secure_auth_plain_on_submission(self):
        out = self.drive("submission", ["bob@example.test"], "-l", "secure", "-n", "localhost",
                         "-C", self.ca, "-u", "alice@example.test", "-p", PASSWORD,
                         "-f", "alice@example.test")
        self.assertTrue(out["error"].startswith("0 "), out)
        self.assertTrue(out["tls"].startswith("yes TLSv1."), out)
        self.assertIn("verified=yes name=localhost", out["tls"])
        self.assertEqual(out["auth"], "yes")
        self.assertTrue(out["dot"].startswith("250 "), out)
        self.assertTrue(wait_for(lambda: len(self.inst.queue_files()) == 1))

    def test_may_unverified_name_still_delivers(self):
        out = self.drive("smtp", ["bob@example.test"], "-l", "may", "-n", "wrong.test",
                         "-C", self.ca)
        self.assertTrue(out["error"].startswith("0 "), out)
        self.assertIn("verified=no", out["tls"])
        self.assertTrue(out["dot"].startswith("250 "), out)

    def test_secure_wrong_name_sends_nothing(self):
        out = self.drive("smtp", ["bob@example.test"], "-l", "secure", "-n", "wrong.test",
                         "-C", self.ca)
        self.assertTrue(out["error"].startswith("8 "), out)  # SMTPC_ERR_TLS_VERIFY
        self.assertEqual(out["dot"], "")
        self.assertEqual(self.inst.queue_files(), [])

    def test_verify_checks_the_name(self):
        # verify = the chain and the MX host's name (Postfix's
        # smtp_tls_verify_cert_match = hostname): a certificate that does
        # not name the host fails, nothing is sent
        out = self.drive("smtp", ["bob@example.test"], "-l", "verify", "-n", "wrong.test",
                         "-C", self.ca)
        self.assertTrue(out["error"].startswith("8 "), out)  # SMTPC_ERR_TLS_VERIFY
        self.assertEqual(out["dot"], "")
        self.assertEqual(self.inst.queue_files(), [])
        out = self.drive("smtp", ["bob@example.test"], "-l", "verify", "-n", "localhost",
                         "-C", self.ca)
        self.assertTrue(out["error"].startswith("0 "), out)
        self.assertIn("verified=yes name=localhost", out["tls"])
        self.assertTrue(out["dot"].startswith("250 "), out)
        self.assertTrue(wait_for(lambda: len(self.inst.queue_files()) == 1))

    def test_wrong_password_is_535(self):
        out = self.drive("submission", ["bob@example.test"], "-l", "encrypt",
                         "-u", "alice@example.test", "-p", "wrong", "-f", "alice@example.test")
        self.assertEqual(out["failed"], "auth 535", out)
        self.assertEqual(out["auth"], "no")
        self.assertEqual(self.inst.queue_files(), [])

    def test_encrypt_without_starttls_offered(self):
        out = self.drive("plain", ["bob@example.test"], "-l", "encrypt")
        self.assertTrue(out["error"].startswith("9 "), out)  # SMTPC_ERR_NO_STARTTLS
        self.assertTrue(out["tls"].startswith("no"), out)
        self.assertEqual(self.inst.queue_files(), [])

    def test_no_auth_without_tls(self):
        out = self.drive("submission", ["bob@example.test"], "-l", "none",
                         "-u", "alice@example.test", "-p", PASSWORD)
        self.assertTrue(out["error"].startswith("10 "), out)  # SMTPC_ERR_NO_AUTH
        self.assertEqual(self.inst.queue_files(), [])

    def test_one_recipient_refused_one_accepted(self):
        out = self.drive("smtp", ["nobody@example.test", "bob@example.test"], "-l", "may")
        self.assertTrue(out["rcpt"]["nobody@example.test"].startswith("550 "), out)
        self.assertTrue(out["rcpt"]["bob@example.test"].startswith("250 "), out)
        self.assertTrue(out["dot"].startswith("250 "), out)
        self.assertTrue(wait_for(lambda: len(self.inst.queue_files()) == 1))


if __name__ == "__main__":
    unittest.main()
