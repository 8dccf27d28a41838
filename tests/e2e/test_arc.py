#!/usr/bin/env python3
"""test_arc.py: ARC (RFC 8617) end to end (issue 15): smtpd verifies the
ARC sets of mail from outside and records arc= in Authentication-Results;
local seals the copies it forwards.

Two instances on a RelayNet (dnsmasq serves the keys): A hosts
example.test (alice, and the alias fwd@example.test -> bob@example.net,
with an RSA key made by `mailctl dkim keygen`), B hosts example.net (bob).
example.org is a local zone too (the list's key; no DMARC record).
Neither trusts a loopback client (mynetworks 10.0.0.0/8), so the test's
mail and A's relayed copy are checked as mail from outside.
(a) A message sealed by dkimpy's arc_sign (tests/arc_interop.py under
/usr/bin/python3) for lists.example.org arrives at A with arc=pass; with
its body changed after sealing, arc=fail; without a set, arc=none.
(b) A message to fwd@example.test is forwarded by A's local to B: B's
copy carries A's set (i=1, cv=none), dkimpy's arc_verify accepts it, and
B's Authentication-Results says arc=pass (smtp.remote-ip, and the
newest set's instance and domain in a comment). A list message (dkimpy's set at
i=1) forwarded the same way gets A's set at i=2 with cv=pass; a changed one
gets cv=fail and fails at B. B has no key: its alias back@example.net
forwards to alice at A unsealed, with one log line.
(c) A trusts lists.example.org's seals (smtpd_arc_trusted_sealers): a
list message from strict.example.org (DMARC p=reject, nothing aligned)
sealed by the list gets in at A with the override noted; at B, which
trusts no sealer, and at A with the chain broken, it is refused."""
import base64
import os
import re
import smtplib
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (RelayNet, relay_instance, require_tools,  # noqa: E402
                     cleanup_all, start_with_dns, wait_for)
from relaytest import NOT_BUILT, available  # noqa: E402

require_tools("dnsmasq", "openssl")
SRCDIR = os.environ.get("POSTERN_SRCDIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
INTEROP = os.path.join(SRCDIR, "tests", "arc_interop.py")
FAST = {"dns_timeout": "3s", "smtp_connect_timeout": "3s", "queue_run_delay": "300s",
        "minimal_backoff_time": "300s", "maximal_backoff_time": "600s",
        "mynetworks": "10.0.0.0/8", "smtpd_peername_lookup": "no"}
LIST = "lists.example.org"
STRICT = "strict.example.org"  # DMARC p=reject, nothing to align with


def zone_value(line):
    return "".join(re.findall(r'"([^"]*)"', line))


def txt(value):
    """A TXT value as dnsmasq strings of at most 255 bytes."""
    return ",".join(value[i:i + 255] for i in range(0, len(value), 255))


def rsa_key(path):
    """An RSA 1024 key at path; the p= value of its record."""
    subprocess.run(["openssl", "genrsa", "-out", path, "1024"], check=True,
                   capture_output=True, timeout=60)
    der = subprocess.run(["openssl", "rsa", "-in", path, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True, timeout=60).stdout
    return base64.b64encode(der).decode()


def fields(data, name):
    """The header fields called name in data (bytes), unfolded, in order."""
    head = data.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    return [f.replace("\n", "") for f in re.split(r"\n(?=[^ \t])", head)
            if f.lower().startswith(name.lower() + ":")]


class ArcTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not available():
            raise unittest.SkipTest(NOT_BUILT)
        net = cls.net = RelayNet(local=("example.net", "example.test", "example.org"))
        addr_a, addr_b = net.address(), net.address()
        net.add(("A", "mail.example.net", addr_b), ("MX", "example.net", "mail.example.net", 10),
                ("A", "mail.example.test", addr_a),
                ("MX", "example.test", "mail.example.test", 10))
        net.route("example.net", "example.test")
        cls.a = cls.b = None
        try:
            cls.a = relay_instance(net, addr_a, "example.test", users=("alice",),
                                   main=dict(FAST, smtpd_arc_trusted_sealers=LIST))
            cls.b = relay_instance(net, addr_b, "example.net", users=("bob",), main=FAST)
            for inst, alias, target in ((cls.a, "fwd@example.test", "bob@example.net"),
                                        (cls.b, "back@example.net", "alice@example.test")):
                res = inst.ctl("alias", "add", alias, target)
                if res.returncode != 0:
                    raise RuntimeError(res.stderr)
            cls.records = {}
            res = cls.a.ctl("dkim", "keygen", "example.test", "a1")
            if res.returncode != 0:
                raise RuntimeError(res.stderr)
            cls.records["a1._domainkey.example.test"] = zone_value(res.stdout)
            cls.list_key = cls.a.path("list.pem")
            cls.records["arc._domainkey." + LIST] = "v=DKIM1; k=rsa; p=" + rsa_key(cls.list_key)
            cls.records["_dmarc." + STRICT] = "v=DMARC1; p=reject"
            for name, value in cls.records.items():
                net.add(("TXT", name, txt(value)))
            net.start_dns()
            start_with_dns((cls.a, cls.b), net.dns.servers)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cleanup_all((cls.a, cls.b), cls.net)

    # --- helpers --------------------------------------------------------
    def message(self, subject, rcpt):
        return ("Authentication-Results: %s; spf=pass smtp.mailfrom=list@example.org\r\n"
                "From: <someone@example.org>\r\nTo: <%s>\r\nSubject: %s\r\n"
                "Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <%s@example.org>\r\n"
                "\r\nhello through the list\r\nsecond line\r\n"
                % (LIST, rcpt, subject, subject)).encode()

    def seal(self, text):
        path = self.a.path("to-seal.eml")
        with open(path, "wb") as f:
            f.write(text)
        res = subprocess.run(["/usr/bin/python3", INTEROP, "seal", path, self.list_key, LIST,
                              "arc", LIST], capture_output=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn(b"ARC-Seal: i=1", res.stdout)
        return res.stdout

    def send(self, inst, rcpt, text):
        with smtplib.SMTP(inst.addr, inst.smtp_port, timeout=30) as s:
            s.ehlo("client.example.org")
            s.sendmail("list@example.org", [rcpt], text)

    def raw(self, inst, address, subject):
        def find():
            for path in inst.maildir_files(address):
                with open(path, "rb") as f:
                    data = f.read()
                if ("Subject: %s\n" % subject).encode() in data:
                    return data
            return None
        data = wait_for(find, timeout=30)
        self.assertIsNotNone(data, "A: %s\nB: %s" % (self.a.log(), self.b.log()))
        return data

    def ours(self, data, host):
        ar = [f for f in fields(data, "Authentication-Results")
              if f.split(":", 1)[1].strip().startswith(host + ";")]
        self.assertEqual(len(ar), 1, data)
        return ar[0]

    # --- (a) verification ----------------------------------------------
    def test_sealed_passes(self):
        self.send(self.a, "alice@example.test", self.seal(self.message("sealed", "alice@example.test")))
        ar = self.ours(self.raw(self.a, "alice@example.test", "sealed"), "mail.example.test")
        self.assertIn("arc=pass smtp.remote-ip=127.0.0.1 (i=1 d=%s)" % LIST, ar)
        # each hook waited for its own answers (no DMARC policy: none)
        self.assertIn("dmarc=none", ar)

    def test_tampered_fails(self):
        text = self.seal(self.message("tampered", "alice@example.test"))
        self.send(self.a, "alice@example.test", text.replace(b"second line", b"SECOND line"))
        ar = self.ours(self.raw(self.a, "alice@example.test", "tampered"), "mail.example.test")
        self.assertRegex(ar, r"arc=fail reason=\"[^\"]+\" smtp\.remote-ip=127\.0\.0\.1 "
                             r"\(i=1 d=" + re.escape(LIST) + r"\)")
        self.assertNotIn("arc=pass", ar)

    def test_unsealed_is_none(self):
        self.send(self.a, "alice@example.test", self.message("unsealed", "alice@example.test"))
        ar = self.ours(self.raw(self.a, "alice@example.test", "unsealed"), "mail.example.test")
        self.assertIn("arc=none", ar)

    # --- (c) a trusted sealer's pass overrides a DMARC reject ------------
    def strict_message(self, subject, rcpt):
        return self.message(subject, rcpt).replace(b"From: <someone@example.org>",
                                                   b"From: <someone@%s>" % STRICT.encode())

    def test_trusted_sealer_overrides_dmarc_reject(self):
        """A trusts lists.example.org (smtpd_arc_trusted_sealers): the
        list's message from a p=reject domain it cannot align gets in."""
        self.send(self.a, "alice@example.test",
                  self.seal(self.strict_message("overridden", "alice@example.test")))
        ar = self.ours(self.raw(self.a, "alice@example.test", "overridden"), "mail.example.test")
        self.assertIn("arc=pass", ar)
        self.assertRegex(ar, r"dmarc=fail .*header\.from=" + re.escape(STRICT) +
                         r".* \(policy overridden: arc=pass from trusted forwarder " +
                         re.escape(LIST) + r"\)")
        self.assertTrue(self.a.wait_log("dmarc reject of %s policy overridden" % STRICT))

    def test_no_override_untrusted_or_broken(self):
        """B trusts no sealer: 550 5.7.1. A trusts the list, but the chain
        of a message changed after sealing fails: 550 5.7.1 too."""
        text = self.seal(self.strict_message("untrusted", "bob@example.net"))
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            self.send(self.b, "bob@example.net", text)
        self.assertEqual(cm.exception.smtp_code, 550)
        self.assertIn(b"5.7.1", cm.exception.smtp_error)
        text = self.seal(self.strict_message("broken", "alice@example.test"))
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            self.send(self.a, "alice@example.test", text.replace(b"second line", b"2nd line"))
        self.assertEqual(cm.exception.smtp_code, 550)

    # --- (b) sealing on forwarding --------------------------------------
    def dkimpy_verify(self, data, name):
        tmp = self.b.path(name + ".eml")
        with open(tmp, "wb") as f:
            f.write(data.replace(b"\n", b"\r\n"))
        rec = self.b.path(name + ".records")
        with open(rec, "w") as f:
            for rname, value in self.records.items():
                f.write("%s. %s\n" % (rname, value))
        return subprocess.run(["/usr/bin/python3", INTEROP, "verify", tmp, rec],
                              capture_output=True, text=True, timeout=60)

    def test_forward_of_a_chain(self):
        text = self.seal(self.message("chain", "fwd@example.test"))
        self.send(self.a, "fwd@example.test", text)
        data = self.raw(self.b, "bob@example.net", "chain")
        seals = fields(data, "ARC-Seal")
        self.assertEqual(len(seals), 2, "%s\nA: %s" % (data.decode(), self.a.log()))
        self.assertRegex(seals[0], r"\bi=2;.*\bcv=pass\b.*\bd=example\.test\b")
        self.assertRegex(fields(data, "ARC-Authentication-Results")[0],
                         r"i=2; mail\.example\.test;.*arc=pass smtp\.remote-ip=127\.0\.0\.1 "
                         r"\(i=1 d=" + re.escape(LIST) + r"\)")
        self.assertIn("arc=pass smtp.remote-ip=127.0.0.1 (i=2 d=example.test)",
                      self.ours(data, "mail.example.net"))
        res = self.dkimpy_verify(data, "chain")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)

    def test_forward_of_a_broken_chain(self):
        text = self.seal(self.message("broken chain", "fwd@example.test"))
        self.send(self.a, "fwd@example.test", text.replace(b"second line", b"2nd line"))
        data = self.raw(self.b, "bob@example.net", "broken chain")
        seals = fields(data, "ARC-Seal")
        self.assertEqual(len(seals), 2, "%s\nA: %s" % (data.decode(), self.a.log()))
        self.assertRegex(seals[0], r"\bi=2;.*\bcv=fail\b")
        self.assertIn("arc=fail", self.ours(data, "mail.example.net"))
        self.assertNotEqual(self.dkimpy_verify(data, "broken").returncode, 0)

    def test_no_key_forwards_unsealed(self):
        for n in (1, 2):
            self.send(self.b, "back@example.net", self.message("unsealed %d" % n,
                                                               "back@example.net"))
            data = self.raw(self.a, "alice@example.test", "unsealed %d" % n)
            self.assertEqual(fields(data, "ARC-Seal"), [], data)
            self.assertIn("arc=none", self.ours(data, "mail.example.test"))
        self.assertEqual(self.b.log().count("forwarded mail goes unsealed"), 1, self.b.log())

    def test_forward_is_sealed(self):
        self.send(self.a, "fwd@example.test", self.message("forwarded", "fwd@example.test"))
        data = self.raw(self.b, "bob@example.net", "forwarded")
        seals = fields(data, "ARC-Seal")
        self.assertEqual(len(seals), 1, data)
        self.assertRegex(seals[0], r"\bi=1;")
        self.assertRegex(seals[0], r"\bcv=none\b")
        self.assertRegex(seals[0], r"\bd=example\.test\b")
        aar = fields(data, "ARC-Authentication-Results")
        self.assertEqual(len(aar), 1, data)
        self.assertRegex(aar[0], r"i=1; mail\.example\.test;.*arc=none")
        # our clauses as they were, folds included
        self.assertIn(b"ARC-Authentication-Results: i=1; mail.example.test;\n\tdkim=none;\n"
                      b"\tarc=none smtp.remote-ip=127.0.0.1;", data)
        self.assertIn("arc=pass smtp.remote-ip=127.0.0.1 (i=1 d=example.test)",
                      self.ours(data, "mail.example.net"))
        self.assertIn("dmarc=none", self.ours(data, "mail.example.net"))
        # dkimpy agrees on the message as B delivered it
        res = self.dkimpy_verify(data, "forwarded")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertTrue(self.a.wait_log("arc-sealed d=example.test s=a1 cv=none"), self.a.log())


if __name__ == "__main__":
    unittest.main()
