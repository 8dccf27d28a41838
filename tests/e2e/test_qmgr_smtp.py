#!/usr/bin/env python3
"""End-to-end tests of qmgr's side of outbound delivery, with a fake smtp
agent written here in place of the smtp program: it listens on
queue/private/smtp, reads qmgr's delivery requests and answers each as its
next hop says (docs/internals.md, "qmgr -> smtp"). They show that qmgr
sends one request per next hop, writes each recipient's answer (2xx done,
5xx bounced in a DSN, 4xx deferred with the relay and TLS kept for
mailctl queue why / --json), logs relay= and tls=, keeps a destination's
deliveries in flight within its window (initial_destination_concurrency
growing to smtp_destination_concurrency_limit), suspends a destination
that could not be reached (dest=down: the messages waiting for it are
deferred without a request), lets a flush lift that, and spaces
deliveries by smtp_destination_rate_delay."""
import email
import email.policy
import json
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DAEMONS, QINJECT, InstanceCase, wait_for  # noqa: E402

TLS = "TLSv1.3:TLS_AES_256_GCM_SHA384:verified"


def available():
    return all(os.path.exists(DAEMONS[n]) for n in ("master", "qmgr", "local")) \
        and os.path.exists(QINJECT)


def message(subject):
    return "From: alice@example.test\nSubject: %s\n\nhello\n" % subject


def decode_record(text):
    fields = []
    for line in text.split("\n"):
        name, _, value = line.partition("=")
        fields.append((name, value.replace("\\n", "\n").replace("\\\\", "\\")))
    return fields


def encode_record(fields):
    return "".join("%s=%s\n" % (n, str(v).replace("\\", "\\\\").replace("\n", "\\n"))
                   for n, v in fields) + "\n"


class FakeAgent:
    """A stand-in for the smtp program on a Unix socket. answer(nexthop,
    rcpts) -> (head fields, [(rcpt, dsn, reason)], delay seconds)."""

    def __init__(self, path, answer):
        self.path, self.answer = path, answer
        self.requests = []  # (time, nexthop, queue_id, rcpts)
        self.inflight, self.max_inflight = {}, {}
        self.lock = threading.Lock()
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.listen(128)
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        data = b""
        with conn:
            while True:
                while b"\n\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                raw, data = data.split(b"\n\n", 1)
                fields = decode_record(raw.decode())
                self._handle(conn, dict_of(fields), fields)

    def _handle(self, conn, rec, fields):
        hop = rec.get("nexthop", "")
        rcpts = [int(v) for n, v in fields if n == "rcpt"]
        with self.lock:
            self.requests.append((time.monotonic(), hop, rec.get("queue_id"), rcpts))
            self.inflight[hop] = self.inflight.get(hop, 0) + 1
            self.max_inflight[hop] = max(self.max_inflight.get(hop, 0), self.inflight[hop])
        head, results, delay = self.answer(hop, rcpts)
        time.sleep(delay)
        with self.lock:
            self.inflight[hop] -= 1
        out = [("protocol", "delivery_reply")] + list(head)
        for rcpt, dsn, reason in results:
            out += [("rcpt", rcpt), ("dsn", dsn), ("reason", reason)]
        try:
            conn.sendall(encode_record(out).encode())
        except OSError:
            pass  # qmgr stopped meanwhile

    def count(self, hop):
        with self.lock:
            return sum(1 for r in self.requests if r[1] == hop)

    def stop(self):
        self.stopped = True
        self.sock.close()


def dict_of(fields):
    out = {}
    for n, v in fields:
        out.setdefault(n, v)
    return out


def answer(hop, rcpts):
    """How the fake next hops behave."""
    relay = "mx.%s[192.0.2.10]:25" % hop
    if hop == "ok.test":
        return ([("relay", relay), ("tls", TLS), ("remote_dsn", 0), ("dest", "ok")],
                [(r, "2.0.0", "250 2.0.0 Ok: queued as X%d" % r) for r in rcpts], 0)
    if hop == "mixed.test":
        return ([("relay", relay), ("tls", "none"), ("dest", "ok")],
                [(r, "2.0.0" if i == 0 else "5.1.1",
                  "250 2.0.0 Ok" if i == 0 else
                  "host %s said: 550 5.1.1 no such user (in reply to RCPT TO command)"
                  % relay[:-3]) for i, r in enumerate(rcpts)], 0)
    if hop == "temp.test":
        return ([("relay", relay), ("tls", "none"), ("dest", "ok")],
                [(r, "4.2.0", "host %s said: 450 4.2.0 try later (in reply to RCPT TO "
                  "command)" % relay[:-3]) for r in rcpts], 0)
    if hop == "down.test":
        return ([("relay", "none"), ("tls", "none"), ("dest", "down")],
                [(r, "4.4.1", "connect to mx.down.test[192.0.2.20]:25: Connection refused")
                 for r in rcpts], 0.3)
    if hop == "slow.test":
        return ([("relay", relay), ("tls", "none"), ("dest", "ok")],
                [(r, "2.0.0", "250 ok") for r in rcpts], 0.25)
    return ([("relay", "none"), ("tls", "none"), ("dest", "ok")],
            [(r, "4.0.0", "unexpected next hop %s" % hop) for r in rcpts], 0)


class AgentCase(InstanceCase):
    extra_main = {}

    @classmethod
    def configure(cls):
        inst = cls.inst
        inst.set_mail_services()  # qmgr and local; the fake agent is smtp
        inst.build_map("domains", "example.test OK\n")
        inst.build_map("mailboxes", "alice@example.test example.test/alice/\n")
        inst.build_map("aliases", "")
        inst.set_main("minimal_backoff_time", "60s")
        for key, value in cls.extra_main.items():
            inst.set_main(key, value)
        os.makedirs(inst.path("queue", "private"), exist_ok=True)
        cls.agent = FakeAgent(inst.path("queue", "private", "smtp"), answer)
        inst.start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()
        super().tearDownClass()

    def wait_log(self, text, timeout=15):
        self.assertTrue(wait_for(lambda: text in self.inst.log(), timeout),
                        "%r not logged:\n%s" % (text, self.inst.log()[-4000:]))

    def inbox(self):
        base = os.path.join(self.inst.config_dir, "mail", "example.test", "alice", "new")
        return [os.path.join(base, n) for n in os.listdir(base)] if os.path.isdir(base) else []


@unittest.skipUnless(available(), "master, qmgr, local or qinject not built")
class Handoff(AgentCase):
    extra_main = {"initial_destination_concurrency": "2",
                  "smtp_destination_concurrency_limit": "4"}

    def test_one_request_per_next_hop_and_results(self):
        qid = self.inst.inject("alice@example.test",
                               ["a@ok.test", "b@ok.test", "c@mixed.test", "d@mixed.test",
                                "alice@example.test"], message("split"))
        self.wait_log("%s: removed" % qid)
        reqs = [r for r in self.agent.requests if r[2] == qid]
        self.assertEqual(sorted((r[1], r[3]) for r in reqs),
                         [("mixed.test", [2, 3]), ("ok.test", [0, 1])])
        log = self.inst.log()
        self.assertIn("%s: to=<a@ok.test>, relay=mx.ok.test[192.0.2.10]:25, " % qid, log)
        self.assertIn("tls=%s, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as X0)" % TLS, log)
        self.assertIn("%s: to=<d@mixed.test>, relay=mx.mixed.test[192.0.2.10]:25" % qid, log)
        self.assertIn("dsn=5.1.1, status=bounced (host mx.mixed.test[192.0.2.10] said: 550",
                      log)
        self.assertIn("%s: to=<alice@example.test>, relay=local" % qid, log)
        # one DSN, for d@mixed.test only, reached alice's mailbox
        self.assertTrue(wait_for(lambda: [r for r in (self.bounce_of(p, qid)
                                                      for p in self.inbox()) if r], 10))
        reports = [r for r in (self.bounce_of(p, qid) for p in self.inbox()) if r]
        self.assertEqual(reports, [["d@mixed.test"]])

    def bounce_of(self, path, qid):
        """The recipients a multipart/report about qid at path reports."""
        with open(path, "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        if msg.get_content_type() != "multipart/report" or qid not in msg.as_string():
            return None
        status = next(p for p in msg.iter_parts()
                      if p.get_content_type() == "message/delivery-status")
        return sorted(b.get("Final-Recipient", "").split(";")[-1].strip()
                      for b in status.get_payload() if b.get("Final-Recipient"))

    def test_deferral_keeps_relay_and_tls_for_the_admin(self):
        qid = self.inst.inject("alice@example.test", ["x@temp.test"], message("later"))
        self.assertTrue(wait_for(lambda: qid in self.inst.queue_files("deferred"), 15))
        why = self.inst.ctl("queue", "why", qid)
        self.assertEqual(why.returncode, 0, why.stderr)
        self.assertIn("450 4.2.0 try later", why.stdout)
        self.assertIn("relay: mx.temp.test[192.0.2.10]:25, TLS: none", why.stdout)
        listing = self.inst.ctl("queue", "list", "--json")
        entry = next(json.loads(l) for l in listing.stdout.splitlines()
                     if json.loads(l)["queue_id"] == qid)
        rcpt = entry["recipients"][0]
        self.assertEqual((rcpt["relay"], rcpt["tls"], rcpt["status"]),
                         ("mx.temp.test[192.0.2.10]:25", "none", "4.2.0"))

    def test_destination_window_grows_within_the_limit(self):
        ids = [self.inst.inject("alice@example.test", ["w%d@slow.test" % i], message("w"))
               for i in range(24)]
        self.assertTrue(wait_for(lambda: all("%s: removed" % q in self.inst.log()
                                             for q in ids), 60), self.inst.log()[-3000:])
        self.assertLessEqual(self.agent.max_inflight["slow.test"], 4)
        self.assertGreater(self.agent.max_inflight["slow.test"], 2)  # it grew past 2
        # the first two requests ran alone: the third waited for an answer
        starts = sorted(r[0] for r in self.agent.requests if r[1] == "slow.test")
        self.assertGreater(starts[2] - starts[0], 0.2)

    def test_unreachable_destination_is_suspended_then_flushed(self):
        ids = [self.inst.inject("alice@example.test", ["u%d@down.test" % i], message("d"))
               for i in range(6)]
        self.assertTrue(wait_for(lambda: all(q in self.inst.queue_files("deferred")
                                             for q in ids), 20), self.inst.log()[-3000:])
        # the window was 2: at most two requests went out, the rest waited
        # and were deferred with the suspension's reason
        self.assertLessEqual(self.agent.count("down.test"), 2)
        self.wait_log("down.test: destination suspended for 60 s: connect to "
                      "mx.down.test[192.0.2.20]:25: Connection refused")
        self.wait_log("status=deferred (delivery temporarily suspended: connect to "
                      "mx.down.test[192.0.2.20]:25: Connection refused)")
        before = self.agent.count("down.test")
        res = self.inst.ctl("queue", "flush")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertTrue(wait_for(lambda: self.agent.count("down.test") > before, 15))


@unittest.skipUnless(available(), "master, qmgr, local or qinject not built")
class RateDelay(AgentCase):
    extra_main = {"smtp_destination_rate_delay": "1s"}

    def test_deliveries_to_one_destination_are_spaced(self):
        ids = [self.inst.inject("alice@example.test", ["r%d@ok.test" % i], message("r"))
               for i in range(3)]
        self.assertTrue(wait_for(lambda: all("%s: removed" % q in self.inst.log()
                                             for q in ids), 20))
        starts = sorted(r[0] for r in self.agent.requests if r[1] == "ok.test")
        self.assertEqual(len(starts), 3)
        self.assertGreaterEqual(starts[1] - starts[0], 0.9)
        self.assertGreaterEqual(starts[2] - starts[1], 0.9)
        self.assertEqual(self.agent.max_inflight["ok.test"], 1)


if __name__ == "__main__":
    unittest.main()
