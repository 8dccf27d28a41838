#!/usr/bin/env python3
"""End-to-end tests of smtpd's client name lookup (smtpd_peername_lookup)
with a real DNS server (dnsmasq, harness.DnsServer): clients bind to
loopback addresses (127.0.0.5, ...) whose PTR records the server holds.
A forward-confirmed name shows in the "connect from" line, the Received:
header and the queue file; a PTR whose name does not resolve back, or no
PTR at all, gives unknown[addr]. A second smtpd service asks a DNS server
that never answers: its sessions wait at most dns_timeout for the
greeting, all at once, and a session already greeted keeps being served
meanwhile. No qmgr runs: accepted mail stays in incoming/."""
import os
import re
import smtplib
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DnsServer, Instance, free_port, port_open, require_tools,  # noqa: E402
                     wait_for)

require_tools("dnsmasq")

RECORDS = [
    ("A", "client5.example.net", "127.0.0.5"),  # with its PTR
    ("PTR", "127.0.0.6", "liar.example.net"),  # no A: does not confirm
    ("PTR", "127.0.0.7", "other.example.net"),
    ("A", "other.example.net", "127.0.0.70"),  # resolves, to another address
    ("PTR", "127.0.0.10", "10.0.0.127"),  # a name that pretends to be an address
    ("A", "10.0.0.127", "127.0.0.10"),
    "--local=/127.in-addr.arpa/",  # other 127.x PTRs: NXDOMAIN
]
SLOW_TIMEOUT = 2  # dns_timeout of the service whose DNS server is silent


class PeernameTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = DnsServer(RECORDS)
        cls.silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        cls.silent.bind(("127.0.0.1", 0))  # never read: a server that never answers
        cls.inst = Instance()
        try:
            cls.configure()
        except Exception:
            cls.inst.cleanup()
            cls.dns.stop()
            raise

    @classmethod
    def configure(cls):
        inst = cls.inst
        cls.port = free_port()
        cls.slow = free_port()
        inst.set_master_cf([
            "127.0.0.1:%d inet n - n - 1 smtpd -o smtpd_peername_lookup=yes" % cls.port,
            "127.0.0.1:%d inet n - n - 1 smtpd -o smtpd_peername_lookup=yes "
            "-o dns_servers=127.0.0.1:%d -o dns_timeout=%ds"
            % (cls.slow, cls.silent.getsockname()[1], SLOW_TIMEOUT),
        ])
        inst.set_main("dns_servers", cls.dns.servers)
        inst.build_map("domains", "example.test OK\n")
        inst.build_map("mailboxes", "alice@example.test example.test/alice/\n")
        inst.start()
        for p in (cls.port, cls.slow):
            if not wait_for(lambda: port_open(p)):
                raise RuntimeError("smtpd on port %d did not come up: %s" % (p, inst.log()))

    @classmethod
    def tearDownClass(cls):
        cls.inst.cleanup()
        cls.dns.__exit__()
        cls.silent.close()

    def send_from(self, source):
        """One message from a client bound to source; returns its queue file."""
        before = set(self.inst.queue_files())
        with smtplib.SMTP("127.0.0.1", self.port, source_address=(source, 0),
                          timeout=15) as smtp:
            smtp.sendmail("someone@example.org", ["alice@example.test"],
                          b"Subject: hi\r\n\r\nbody\r\n")
        new = set(self.inst.queue_files()) - before
        self.assertEqual(len(new), 1, new)
        with open(self.inst.path("queue", "incoming", new.pop()), "rb") as f:
            return f.read()

    def wait_log(self, pattern):
        found = wait_for(lambda: re.search(pattern, self.inst.log()))
        self.assertTrue(found, "no %r in the log:\n%s" % (pattern, self.inst.log()))

    def test_confirmed_name(self):
        qf = self.send_from("127.0.0.5")
        self.wait_log(r"connect from client5\.example\.net\[127\.0\.0\.5\]")
        self.assertRegex(qf, rb"Received: from \S+ \(client5\.example\.net \[127\.0\.0\.5\]\)")
        self.assertNotIn(b"unknown [127.0.0.5]", qf)

    def test_ptr_without_address(self):
        qf = self.send_from("127.0.0.6")
        self.wait_log(r"connect from unknown\[127\.0\.0\.6\]")
        self.wait_log(r"127\.0\.0\.6: hostname liar\.example\.net does not resolve to "
                      r"address 127\.0\.0\.6")
        self.assertRegex(qf, rb"Received: from \S+ \(unknown \[127\.0\.0\.6\]\)")

    def test_name_resolving_elsewhere(self):
        self.send_from("127.0.0.7")
        self.wait_log(r"connect from unknown\[127\.0\.0\.7\]")
        self.wait_log(r"hostname other\.example\.net does not resolve to address 127\.0\.0\.7")

    def test_numeric_ptr(self):
        self.send_from("127.0.0.10")
        self.wait_log(r"connect from unknown\[127\.0\.0\.10\]")
        self.wait_log(r"127\.0\.0\.10: malformed name in its PTR record: \"10\.0\.0\.127\"")

    def test_no_ptr(self):
        qf = self.send_from("127.0.0.8")
        self.wait_log(r"connect from unknown\[127\.0\.0\.8\]")
        self.assertRegex(qf, rb"\(unknown \[127\.0\.0\.8\]\)")
        self.assertNotIn("127.0.0.8: address to name lookup failed", self.inst.log())

    def test_bad_dns_servers(self):
        """A host name or a bad port in dns_servers is a config error that
        names the key (mailctl check, which start runs too)."""
        other = Instance()
        try:
            for value in ("dns.example", "127.0.0.1:99999", "[::1"):
                other.set_main("dns_servers", value)
                res = other.ctl("check")
                self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
                self.assertIn("error: dns_servers:", res.stderr)
            other.set_main("dns_servers", "127.0.0.1:5353 [::1]:53")
            res = other.ctl("check")
            self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        finally:
            other.cleanup()

    def connect_slow(self):
        return socket.create_connection(("127.0.0.1", self.slow), timeout=15)

    def test_silent_dns_server(self):
        """Three sessions wait for the greeting together, each about
        dns_timeout, not one after the other; a greeted session is served
        while the others wait."""
        first = self.connect_slow()
        start = time.monotonic()
        f = first.makefile("rb")
        self.assertTrue(f.readline().startswith(b"220"))
        waited = time.monotonic() - start
        self.assertGreaterEqual(waited, SLOW_TIMEOUT - 0.5)

        start = time.monotonic()
        others = [self.connect_slow() for _ in range(3)]
        first.sendall(b"NOOP\r\n")
        self.assertTrue(f.readline().startswith(b"250"))
        self.assertLess(time.monotonic() - start, 1.0, "a lookup blocked the process")
        for sock in others:
            self.assertTrue(sock.makefile("rb").readline().startswith(b"220"))
        took = time.monotonic() - start
        self.assertGreaterEqual(took, SLOW_TIMEOUT - 0.5)
        self.assertLess(took, 2 * SLOW_TIMEOUT, "the lookups ran one after another")
        for sock in others + [first]:
            sock.close()
        # smtpd's own bound or the resolver's deadline, whichever fires first
        self.wait_log(r"127\.0\.0\.1: (client name lookup timed out|address to name "
                      r"lookup failed: Timeout)")
        self.wait_log(r"connect from unknown\[127\.0\.0\.1\]")


if __name__ == "__main__":
    unittest.main()
