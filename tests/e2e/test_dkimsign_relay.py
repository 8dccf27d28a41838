"""test_dkimsign_relay.py: a message signed by one Postern instance and
relayed to a second verifies there (issue 15).

A hosts example.test with an RSA and an Ed25519 key made by `mailctl dkim
keygen`; their records, A's MX and an SPF record are served by dnsmasq. A
client in A's mynetworks sends to bob@example.net; A signs, its smtp client
relays to B (by MX), B checks the signatures while the message streams in
and writes Authentication-Results: both signatures pass there, and dkimpy
verifies the message as B delivered it. A message whose body is changed on
the way (a second copy with the same signatures sent to B by hand) fails
at B: the check can fail.
"""
import os
import re
import smtplib
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (RelayNet, relay_instance, require_tools,  # noqa: E402
                     cleanup_all, start_with_dns, wait_for)
from relaytest import NOT_BUILT, available, submit, wait_message  # noqa: E402

require_tools("dnsmasq")
SRCDIR = os.environ.get("POSTERN_SRCDIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
INTEROP = os.path.join(SRCDIR, "tests", "dkim_interop.py")
FAST = {"dns_timeout": "3s", "smtp_connect_timeout": "3s", "queue_run_delay": "300s",
        "minimal_backoff_time": "300s", "maximal_backoff_time": "600s"}


def zone_value(line):
    return "".join(re.findall(r'"([^"]*)"', line))


class SignedRelay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not available():
            raise unittest.SkipTest(NOT_BUILT)
        net = cls.net = RelayNet(local=("example.net", "example.test"))
        addr_a, addr_b = net.address(), net.address()
        net.add(("A", "mail.example.net", addr_b), ("MX", "example.net", "mail.example.net", 10),
                ("A", "mail.example.test", addr_a),
                ("MX", "example.test", "mail.example.test", 10),
                ("TXT", "example.test", "v=spf1 ip4:%s -all" % addr_a))
        net.route("example.net")
        cls.a = cls.b = None
        try:
            cls.a = relay_instance(net, addr_a, "example.test", users=("alice",), main=FAST)
            # B trusts no loopback client: A (and the test) are outside to it
            cls.b = relay_instance(net, addr_b, "example.net", users=("bob",),
                                   main=dict(FAST, mynetworks="10.0.0.0/8"))
            cls.records = {}
            for selector, opts in (("r1", []), ("e1", ["--ed25519"])):
                res = cls.a.ctl("dkim", "keygen", "example.test", selector, *opts)
                if res.returncode != 0:
                    raise RuntimeError(res.stderr)
                value = zone_value(res.stdout)
                name = "%s._domainkey.example.test" % selector
                cls.records[name] = value
                net.add(("TXT", name, ",".join(value[i:i + 255]
                                               for i in range(0, len(value), 255))))
            net.start_dns()
            start_with_dns((cls.a, cls.b), net.dns.servers)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cleanup_all((cls.a, cls.b), cls.net)

    def raw(self, subject):
        def find():
            for path in self.b.maildir_files("bob@example.net"):
                with open(path, "rb") as f:
                    data = f.read()
                if ("Subject: %s\n" % subject).encode() in data:
                    return data
            return None
        data = wait_for(find, timeout=30)
        self.assertIsNotNone(data, "A: %s\nB: %s" % (self.a.log(), self.b.log()))
        return data

    def test_signed_at_a_passes_at_b(self):
        submit(self.a, ["bob@example.net"], "signed relay")
        self.assertIsNotNone(wait_message(self.b, "bob@example.net", "signed relay"),
                             "A: %s\nB: %s" % (self.a.log(), self.b.log()))
        data = self.raw("signed relay")
        ar = re.findall(rb"(?im)^Authentication-Results:.*(?:\n[ \t].*)*", data)
        self.assertEqual(len(ar), 1, data)
        self.assertEqual(len(re.findall(rb"dkim=pass", ar[0])), 2, ar[0])
        self.assertIn(b"header.d=example.test", ar[0])
        # dkimpy agrees on the message as B delivered it
        tmp = self.b.path("relayed.eml")
        with open(tmp, "wb") as f:
            f.write(data.replace(b"\n", b"\r\n"))
        rec = self.b.path("relayed.records")
        with open(rec, "w") as f:
            for name, value in self.records.items():
                f.write("%s. %s\n" % (name, value))
        res = subprocess.run(["/usr/bin/python3", INTEROP, "verify", tmp, rec],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)

    def test_changed_on_the_way_fails_at_b(self):
        submit(self.a, ["bob@example.net"], "to be changed")
        data = self.raw("to be changed")
        sigs = re.findall(rb"(?im)^DKIM-Signature:.*(?:\n[ \t].*)*\n", data)
        self.assertEqual(len(sigs), 2, data)
        rest = data.split(b"\nReceived: ", 1)[1]
        forged = b"".join(sigs) + b"Received: " + rest.replace(b"hello across", b"HELLO across")
        forged = forged.replace(b"Subject: to be changed", b"Subject: changed")
        with smtplib.SMTP(self.b.addr, self.b.smtp_port, timeout=30) as s:
            s.sendmail("x@example.net", ["bob@example.net"], forged.replace(b"\n", b"\r\n"))
        data = self.raw("changed")
        ar = re.findall(rb"(?im)^Authentication-Results:.*(?:\n[ \t].*)*", data)[0]
        self.assertNotIn(b"dkim=pass", ar)
        self.assertIn(b"dkim=fail", ar)


if __name__ == "__main__":
    unittest.main()
