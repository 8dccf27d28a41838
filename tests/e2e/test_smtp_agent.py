#!/usr/bin/env python3
"""End-to-end tests of the outbound `smtp` program alone: an instance runs
master with only the smtp service (no qmgr), a message is queued with
tests/qinject and moved into active/ by the test, and the test speaks
qmgr's delivery request to private/smtp itself (docs/internals.md, "qmgr
→ smtp"). DNS comes from dnsmasq; the remote servers are small fake SMTP
servers in this file on 127.0.0.2 / 127.0.0.3 (one port for all, given
in the next hop as "domain:port"). Checked: per-recipient results (a 550
and a 250 in one transaction) with Postfix's texts and relay=, the body
as sent (CRLF, dot-stuffed), the state byte written (the same request
again answers "already delivered" and sends nothing), the next MX when
the first refuses connections, STARTTLS at level may (tls= and the log
line), a handshake failure at may retried in plaintext on a new
connection, secure by policy with match= (verified), AUTH PLAIN after
STARTTLS with credentials from smtp_sasl_password_maps, encrypt by
smtp_tls_policy_maps against a server without STARTTLS (4.7.4, nothing
sent), null MX (5.1.10), a DNS failure (4.4.3,
dest=down), every server down (4.4.1, dest=down), a 421 greeting
skipped for the next MX, SMTPUTF8 needed and not offered (5.6.7), a
SIZE limit (5.3.4), a 4xx to DATA never turned into a bounce, one
connection for three requests in a row (parked in between), and a
malformed request refused with a log line. RelayEndToEnd: a client
submits to instance A's smtpd, A's qmgr hands the recipient to A's smtp,
which finds instance B by MX and delivers to B's smtpd, and B's local
writes the Maildir."""
import base64
import os
import smtplib
import socket
import socketserver
import ssl
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DAEMONS, MAIL_SERVICES, QINJECT, DnsServer, Instance,  # noqa: E402
                     free_port, port_open, require_tools, wait_for)

DOMAIN = "dest.example.com"
MESSAGE = "From: a@example.test\nSubject: agent\n\nhello\n.leading dot\nbye\n"


def available():
    return all(os.path.exists(DAEMONS[n]) for n in ("master", "smtp")) and \
        os.path.exists(QINJECT) and os.path.exists(DnsServer.DNSMASQ)


class FakeServer:
    """A small SMTP server on (address, port) in a thread. Behaviour per
    instance: greeting, EHLO keywords, recipients to refuse (address ->
    reply), a DATA reply, a TLS context for STARTTLS. Records every
    connection and transaction (mail, rcpts, data) it saw."""

    def __init__(self, address, port, greeting="220 fake ESMTP", ehlo=("PIPELINING", "DSN"),
                 refuse=None, data_reply="250 2.0.0 Ok: queued as FAKE1", tls=None,
                 auth=False):
        self.greeting, self.ehlo, self.refuse = greeting, list(ehlo), dict(refuse or {})
        self.data_reply, self.tls, self.auth = data_reply, tls, auth
        self.logins = []  # (user, password, over TLS)
        self.connections = 0
        self.socks = []
        self.transactions = []
        self.lock = threading.Lock()
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                with outer.lock:
                    outer.connections += 1
                    outer.socks.append(self.connection)
                outer.session(self)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer((address, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def session(self, h):
        rfile, sock = h.rfile, h.connection

        def send(line):
            sock.sendall(line.encode() + b"\r\n")
        send(self.greeting)
        if not self.greeting.startswith("2"):
            return
        txn = None
        while True:
            line = rfile.readline()
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                keys = list(self.ehlo) + (["STARTTLS"] if self.tls and not
                                          isinstance(sock, ssl.SSLSocket) else [])
                keys += ["AUTH PLAIN LOGIN"] if self.auth else []
                lines = ["fake"] + keys
                for i, k in enumerate(lines):
                    send("250%s%s" % ("-" if i < len(lines) - 1 else " ", k))
            elif verb == "STARTTLS" and self.tls == "broken":
                send("220 2.0.0 go ahead")
                sock.sendall(b"this is no TLS record\r\n")
                return
            elif verb == "STARTTLS":
                send("220 2.0.0 go ahead")
                sock = self.tls.wrap_socket(sock, server_side=True)
                rfile = sock.makefile("rb")
                with self.lock:
                    self.socks.append(sock)  # the plain one is detached now
            elif verb == "AUTH" and cmd.upper().startswith("AUTH PLAIN "):
                _, user, password = base64.b64decode(cmd.split()[2]).decode().split("\0")
                self.logins.append((user, password, isinstance(sock, ssl.SSLSocket)))
                send("235 2.7.0 Authentication successful")
            elif verb == "MAIL":
                txn = {"mail": cmd, "rcpts": [], "data": None, "tls": isinstance(sock, ssl.SSLSocket)}
                send("250 2.1.0 Ok")
            elif verb == "RCPT":
                addr = cmd.split("<", 1)[1].split(">", 1)[0]
                if addr in self.refuse:
                    send(self.refuse[addr])
                else:
                    txn["rcpts"].append(cmd)
                    send("250 2.1.5 Ok")
            elif verb == "DATA":
                if txn is None or not txn["rcpts"]:
                    send("554 5.5.1 no valid recipients")
                    continue
                send("354 go")
                data = b""
                while True:
                    chunk = rfile.readline()
                    if not chunk or chunk == b".\r\n":
                        break
                    data += chunk
                txn["data"] = data
                with self.lock:
                    self.transactions.append(txn)
                send(self.data_reply)
                txn = None
            elif verb == "RSET":
                txn = None
                send("250 2.0.0 Ok")
            elif verb == "QUIT":
                send("221 2.0.0 Bye")
                return
            else:
                send("502 5.5.2 what")

    def stop(self):
        """Stops listening and closes the connections still open (a
        connection smtp keeps for reuse sees the server go)."""
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            for s in self.socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@unittest.skipUnless(available(), "master, smtp, qinject or dnsmasq missing")
class SmtpAgent(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_tools("dnsmasq")
        cls.port = free_port()
        cls.dns = DnsServer([
            ("MX", DOMAIN, "mx1.example.com", 10),
            ("A", "mx1.example.com", "127.0.0.2"),
            ("MX", "backup.example.com", "dead.example.com", 10),
            ("MX", "backup.example.com", "mx2.example.com", 20),
            ("A", "dead.example.com", "127.0.0.4"),
            ("A", "mx2.example.com", "127.0.0.3"),
            ("MX", "down.example.com", "dead.example.com", 10),
            ("NULLMX", "nomail.example.com"),
            ("MX", "secure.example.com", "mx1.example.com", 10),
            ("MX", "verified.example.com", "mx1.example.com", 10),
            ("MX", "auth.example.com", "mx1.example.com", 10),
            ("MX", "busy.example.com", "busy.example.org", 10),
            ("MX", "busy.example.com", "mx2.example.com", 20),
            ("A", "busy.example.org", "127.0.0.5"),
        ])
        cls.inst = inst = Instance()
        try:
            inst.set_master_cf(["smtp unix - - n - - smtp"])
            inst.set_main("dns_servers", cls.dns.servers)
            inst.set_main("smtp_connect_timeout", "5s")
            inst.set_main("smtp_helo_timeout", "10s")
            inst.build_map("tls_policy", "secure.example.com:%d encrypt\n"
                           "verified.example.com:%d secure match=nexthop:localhost\n"
                           % (cls.port, cls.port))
            inst.set_main("smtp_tls_policy_maps", "hash:" + inst.path("tls_policy"))
            with open(inst.path("main.cf")) as f:
                conf = dict((k.strip(), v.strip()) for k, v in
                            (line.split("=", 1) for line in f if "=" in line))
            cls.cert = conf["smtpd_tls_cert_file"].strip()
            cls.key = conf["smtpd_tls_key_file"].strip()
            inst.set_main("smtp_tls_CAfile", cls.cert)  # self-signed, names localhost
            inst.build_map("sasl_passwd", "auth.example.com relay-user:pass:word\n")
            inst.set_main("smtp_sasl_auth_enable", "yes")
            inst.set_main("smtp_sasl_password_maps", "hash:" + inst.path("sasl_passwd"))
            inst.start()
            cls.socket = inst.path("queue", "private", "smtp")
            if not wait_for(lambda: os.path.exists(cls.socket), 10):
                raise RuntimeError("smtp did not come up: %s" % inst.log())
        except Exception:
            inst.cleanup()
            cls.dns.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.cleanup()
        cls.dns.stop()

    def setUp(self):
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()

    # --- helpers ----------------------------------------------------------
    def server(self, address, **kw):
        s = FakeServer(address, self.port, **kw)
        self.servers.append(s)
        return s

    def tls_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def queue(self, rcpts, *opts, text=MESSAGE):
        """Queues a message (no qmgr trigger) and moves it into active/."""
        qid = self.inst.inject("a@example.test", rcpts, text, "-T", *opts)
        os.rename(self.inst.path("queue", "incoming", qid),
                  self.inst.path("queue", "active", qid))
        return qid

    def request(self, qid, nexthop, rcpts, fields=None, timeout=30):
        """Sends one delivery request; returns (per-request fields, {rcpt:
        (dsn, reason)}), or None when smtp closed the connection."""
        lines = ["protocol=delivery", "queue_id=%s" % qid,
                 "queue_file=%s" % self.inst.path("queue", "active", qid),
                 "recover=0", "nexthop=%s" % nexthop] + ["rcpt=%d" % r for r in rcpts or []]
        if fields is not None:
            lines = fields
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(self.socket)
            s.sendall(("\n".join(lines) + "\n\n").encode())
            data = b""
            while not data.endswith(b"\n\n"):
                chunk = s.recv(4096)
                if not chunk:
                    return None
                data += chunk
        head, results, cur = {}, {}, None
        for line in data.decode().splitlines():
            if not line:
                continue
            name, _, value = line.partition("=")
            if name == "rcpt":
                cur = int(value)
                results[cur] = {}
            elif cur is None:
                head[name] = value
            else:
                results[cur][name] = value
        self.assertEqual(head.get("protocol"), "delivery_reply", data)
        return head, {k: (v["dsn"], v["reason"]) for k, v in results.items()}

    def hop(self, domain=DOMAIN):
        return "%s:%d" % (domain, self.port)

    # --- tests ------------------------------------------------------------
    def test_per_recipient_results_and_state(self):
        fake = self.server("127.0.0.2", refuse={
            "b@dest.example.com": "550 5.1.1 <b@dest.example.com>: no such user"})
        qid = self.queue(["a@dest.example.com", "b@dest.example.com"])
        head, res = self.request(qid, self.hop(), [0, 1])
        self.assertEqual(head["relay"], "mx1.example.com[127.0.0.2]:%d" % self.port)
        self.assertEqual(head["dest"], "ok")
        self.assertEqual(head["remote_dsn"], "1")
        self.assertEqual(res[0], ("2.0.0", "250 2.0.0 Ok: queued as FAKE1"))
        self.assertEqual(res[1], ("5.1.1", "host mx1.example.com[127.0.0.2] said: 550 5.1.1 "
                                  "<b@dest.example.com>: no such user (in reply to RCPT TO "
                                  "command)"))
        self.assertEqual(len(fake.transactions), 1)
        txn = fake.transactions[0]
        self.assertTrue(txn["mail"].startswith("MAIL FROM:<a@example.test>"), txn)
        self.assertEqual(txn["data"], MESSAGE.replace("\n.", "\n..").replace("\n", "\r\n")
                         .encode())
        # the state byte of recipient 0 says done: asked again, nothing is sent
        head, res = self.request(qid, self.hop(), [0])
        self.assertEqual(res[0], ("2.0.0", "already delivered"))
        self.assertEqual(len(fake.transactions), 1)

    def test_connection_reused(self):
        fake = self.server("127.0.0.2")
        for n in range(3):
            qid = self.queue(["c%d@dest.example.com" % n])
            head, res = self.request(qid, self.hop(), [0])
            self.assertEqual(res[0][0], "2.0.0", res)
        self.assertEqual(len(fake.transactions), 3)
        self.assertEqual(fake.connections, 1)  # parked between the requests

    def test_next_mx_when_the_first_refuses(self):
        fake = self.server("127.0.0.3")
        qid = self.queue(["x@backup.example.com"])
        head, res = self.request(qid, self.hop("backup.example.com"), [0])
        self.assertEqual(res[0][0], "2.0.0", res)
        self.assertEqual(head["relay"], "mx2.example.com[127.0.0.3]:%d" % self.port)
        self.assertEqual(len(fake.transactions), 1)
        self.assertIn("%s: connect to dead.example.com[127.0.0.4]:%d: Connection refused"
                      % (qid, self.port), self.inst.log())

    def test_every_server_down(self):
        qid = self.queue(["x@down.example.com"])
        head, res = self.request(qid, self.hop("down.example.com"), [0])
        self.assertEqual(head["dest"], "down")
        self.assertEqual(head["relay"], "none")
        self.assertEqual(res[0], ("4.4.1", "connect to dead.example.com[127.0.0.4]:%d: "
                                  "Connection refused" % self.port))

    def test_421_greeting_skipped(self):
        busy = self.server("127.0.0.5", greeting="421 4.3.2 too busy")
        fake = self.server("127.0.0.3")
        qid = self.queue(["x@busy.example.com"])
        head, res = self.request(qid, self.hop("busy.example.com"), [0])
        self.assertEqual(res[0][0], "2.0.0", res)
        self.assertEqual(busy.connections, 1)
        self.assertEqual(len(fake.transactions), 1)
        self.assertIn("host busy.example.org[127.0.0.5] refused to talk to me: 421 4.3.2 too busy",
                      self.inst.log())

    def test_tls_may(self):
        fake = self.server("127.0.0.2", tls=self.tls_context())
        qid = self.queue(["t@dest.example.com"])
        head, res = self.request(qid, self.hop(), [0])
        self.assertEqual(res[0][0], "2.0.0", res)
        self.assertTrue(head["tls"].startswith("TLSv1."), head)
        self.assertTrue(head["tls"].endswith(":unverified"), head)
        self.assertTrue(fake.transactions[0]["tls"])
        self.assertTrue(wait_for(lambda: "%s: Untrusted TLS connection established to "
                                 "mx1.example.com[127.0.0.2]:%d: TLSv1." % (qid, self.port)
                                 in self.inst.log()), self.inst.log())

    def test_tls_may_handshake_failure_retries_in_plaintext(self):
        fake = self.server("127.0.0.2", tls="broken")
        qid = self.queue(["p@dest.example.com"])
        head, res = self.request(qid, self.hop(), [0])
        self.assertEqual(res[0][0], "2.0.0", res)
        self.assertEqual(head["tls"], "none")
        self.assertEqual(fake.connections, 2)
        self.assertFalse(fake.transactions[0]["tls"])
        self.assertIn("%s: TLS handshake with mx1.example.com[127.0.0.2] failed" % qid,
                      self.inst.log())

    def test_secure_by_policy_verified(self):
        fake = self.server("127.0.0.2", tls=self.tls_context())
        qid = self.queue(["v@verified.example.com"])
        head, res = self.request(qid, self.hop("verified.example.com"), [0])
        self.assertEqual(res[0][0], "2.0.0", res)
        self.assertTrue(head["tls"].endswith(":verified"), head)
        self.assertTrue(fake.transactions[0]["tls"])
        self.assertTrue(wait_for(lambda: "%s: Verified TLS connection established to "
                                 "mx1.example.com[127.0.0.2]:%d" % (qid, self.port)
                                 in self.inst.log()), self.inst.log())

    def test_sasl_after_starttls(self):
        fake = self.server("127.0.0.2", tls=self.tls_context(), auth=True)
        qid = self.queue(["s@auth.example.com"])
        head, res = self.request(qid, self.hop("auth.example.com"), [0])
        self.assertEqual(res[0][0], "2.0.0", res)
        self.assertEqual(fake.logins, [("relay-user", "pass:word", True)])
        # no entry for dest.example.com: no AUTH there, even when offered
        qid = self.queue(["s@dest.example.com"])
        head, res = self.request(qid, self.hop(), [0])
        self.assertEqual(res[0][0], "2.0.0", res)
        self.assertEqual(len(fake.logins), 1)

    def test_encrypt_without_starttls(self):
        fake = self.server("127.0.0.2")
        qid = self.queue(["e@secure.example.com"])
        head, res = self.request(qid, self.hop("secure.example.com"), [0])
        self.assertEqual(res[0], ("4.7.4", "TLS is required, but was not offered by host "
                                  "mx1.example.com[127.0.0.2]"))
        self.assertEqual(fake.connections, 1)
        self.assertEqual(fake.transactions, [])

    def test_null_mx(self):
        qid = self.queue(["n@nomail.example.com"])
        head, res = self.request(qid, self.hop("nomail.example.com"), [0])
        self.assertEqual(res[0][0], "5.1.10", res)
        self.assertIn("does not accept mail (nullMX)", res[0][1])
        self.assertEqual(head["dest"], "ok")

    def test_dns_failure_defers(self):
        qid = self.queue(["s@elsewhere.test"])  # outside dnsmasq's domains: REFUSED
        head, res = self.request(qid, "elsewhere.test", [0])
        self.assertEqual(res[0][0], "4.4.3", res)
        self.assertEqual(head["dest"], "down")

    def test_smtputf8_needed(self):
        fake = self.server("127.0.0.2", ehlo=("PIPELINING", "8BITMIME"))
        qid = self.queue(["u@dest.example.com"], "-U")
        head, res = self.request(qid, self.hop(), [0])
        self.assertEqual(res[0], ("5.6.7", "SMTPUTF8 is required, but was not offered by host "
                                  "mx1.example.com[127.0.0.2]"))
        self.assertEqual(fake.transactions, [])

    def test_size_limit(self):
        fake = self.server("127.0.0.2", ehlo=("PIPELINING", "SIZE 10"))
        qid = self.queue(["z@dest.example.com"])
        head, res = self.request(qid, self.hop(), [0])
        self.assertEqual(res[0][0], "5.3.4", res)
        self.assertIn("exceeds size limit 10 of server mx1.example.com[127.0.0.2]", res[0][1])
        self.assertEqual(fake.transactions, [])

    def test_data_4xx_defers(self):
        self.server("127.0.0.2", data_reply="451 4.3.0 try later")
        qid = self.queue(["d@dest.example.com"])
        head, res = self.request(qid, self.hop(), [0])
        self.assertEqual(res[0], ("4.3.0", "host mx1.example.com[127.0.0.2] said: 451 4.3.0 "
                                  "try later (in reply to end of DATA command)"))

    def test_mailctl_check_reports_bad_values(self):
        inst = self.inst
        inst.write("bad_policy", "ok.example.com encrypt\nbad.example.com dane\n")
        inst.write("bad_passwd", "[relay.example.com]:587 nocolon\n")
        inst.set_main("smtp_tls_policy_maps", "texthash:" + inst.path("bad_policy"))
        inst.set_main("smtp_sasl_password_maps", "texthash:" + inst.path("bad_passwd"))
        try:
            res = inst.ctl("check")
        finally:
            inst.set_main("smtp_tls_policy_maps", "hash:" + inst.path("tls_policy"))
            inst.set_main("smtp_sasl_password_maps", "hash:" + inst.path("sasl_passwd"))
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("%s:2: error: bad.example.com: unknown TLS security level 'dane'"
                      % inst.path("bad_policy"), res.stderr)
        self.assertIn("%s:1: error: [relay.example.com]:587: expected user:password"
                      % inst.path("bad_passwd"), res.stderr)
        self.assertEqual(inst.ctl("check").returncode, 0, inst.ctl("check").stderr)

    def test_bad_request_refused(self):
        qid = self.queue(["r@dest.example.com"])
        fields = ["protocol=delivery", "queue_id=%s" % qid, "queue_file=/etc/passwd",
                  "recover=0", "nexthop=%s" % self.hop(), "rcpt=0"]
        self.assertIsNone(self.request(qid, None, None, fields=fields))
        self.assertTrue(wait_for(lambda: "bad delivery request" in self.inst.log()))


def listening(address, port):
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


@unittest.skipUnless(available() and all(os.path.exists(DAEMONS[n]) for n in
                                          ("qmgr", "local", "smtpd")), "daemons missing")
class RelayEndToEnd(unittest.TestCase):
    """Two instances: A (127.0.0.1) relays for its clients, B (127.0.0.2)
    hosts relay.example.net, found by MX through dnsmasq."""

    @classmethod
    def setUpClass(cls):
        require_tools("dnsmasq")
        cls.port_a, cls.port_b = free_port(), free_port()
        cls.dns = DnsServer([("MX", "relay.example.net", "mx.example.net", 10),
                             ("A", "mx.example.net", "127.0.0.2")])
        cls.a, cls.b = Instance(), Instance()
        try:
            cls.setup_b(cls.b)
            cls.setup_a(cls.a)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def setup_b(cls, b):
        b.set_mail_services(["127.0.0.2:%d inet n - n - - smtpd" % cls.port_b])
        b.build_map("domains", "relay.example.net OK\n")
        b.build_map("mailboxes", "bob@relay.example.net relay.example.net/bob/\n")
        b.build_map("aliases", "")
        b.start()
        if not wait_for(lambda: listening("127.0.0.2", cls.port_b), 10):
            raise RuntimeError("B's smtpd did not come up: %s" % b.log())

    @classmethod
    def setup_a(cls, a):
        a.set_mail_services(["127.0.0.1:%d inet n - n - - smtpd" % cls.port_a,
                             "smtp unix - - n - - smtp"])
        a.build_map("domains", "example.test OK\n")
        a.build_map("mailboxes", "alice@example.test example.test/alice/\n")
        a.build_map("aliases", "")
        a.build_map("transport", "relay.example.net smtp:relay.example.net:%d\n" % cls.port_b)
        a.set_main("transport_maps", "hash:" + a.path("transport"))
        a.set_main("dns_servers", cls.dns.servers)
        a.start()
        if not wait_for(lambda: port_open(cls.port_a), 10):
            raise RuntimeError("A's smtpd did not come up: %s" % a.log())

    @classmethod
    def tearDownClass(cls):
        for inst in (cls.a, cls.b):
            inst.cleanup()
        cls.dns.stop()

    def test_relay_by_mx_into_the_maildir(self):
        with smtplib.SMTP("127.0.0.1", self.port_a, timeout=10) as c:
            c.sendmail("alice@example.test", ["bob@relay.example.net"],
                       "From: alice@example.test\r\nSubject: relayed\r\n\r\nover two hops\r\n")
        new = os.path.join(self.b.config_dir, "mail", "relay.example.net", "bob", "new")
        found = wait_for(lambda: os.path.isdir(new) and os.listdir(new), 20)
        self.assertTrue(found, "A: %s\nB: %s" % (self.a.log(), self.b.log()))
        with open(os.path.join(new, found[0])) as f:
            text = f.read()
        self.assertIn("Subject: relayed", text)
        self.assertIn("over two hops", text)
        log = self.a.log()
        self.assertTrue(wait_for(lambda: "status=sent" in self.a.log(), 5), log)
        self.assertIn("relay=mx.example.net[127.0.0.2]:%d" % self.port_b, self.a.log())
        self.assertIn("TLS connection established to mx.example.net[127.0.0.2]:%d"
                      % self.port_b, self.a.log())
        self.assertTrue(wait_for(lambda: self.a.queue_files("active") == [] and
                                 self.a.queue_files("deferred") == [], 5))


if __name__ == "__main__":
    unittest.main()
