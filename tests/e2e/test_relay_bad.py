#!/usr/bin/env python3
"""End-to-end tests of the `smtp` client against remote servers that
misbehave (issue 13, Bad input): one sending instance (example.test,
alice, ONE smtp process, timeouts of a few seconds) and a fake server
(fakesmtp.py) per case on its own loopback address, each the MX of its
own domain. A greeting of 421 or 450, garbage instead of a reply, a reply
line without end, an overlong one, a multi-line reply that never
finishes, a reply trickled one byte a second, a connection closed at MAIL
or in the middle of DATA, a server that accepts and never speaks, one
that never answers RCPT, a 451 to the final dot: every message is
deferred with a 4.x.x reason that `queue list --json` and `queue why`
show, never marked delivered, never bounced. DNS: a SERVFAIL and a
silent server (timeout) defer with 4.4.3, NXDOMAIN bounces 5.1.2. The
one smtp process goes on delivering to a good server while another
delivery waits for a server that never answers the final dot; that one
is then deferred, not taken as delivered. A server closing right after
its 250 to the dot has the message (delivered once). qmgr stopped before
the remote 250 and killed after it: the recipient is already marked done
by smtp and the next qmgr sends nothing again. A 250 where 354 belongs
must not count as a delivery."""
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (RelayNet, relay_instance, require_tools, start_relay_instance,  # noqa: E402
                     wait_for)
from fakesmtp import (CLOSE, ENDLESS, GARBAGE, HANG, LONGLINE, NOEOL, SLOW,  # noqa: E402
                      FakeDns, FakeSmtp)
from relaytest import (NOT_BUILT, available, find_dsn, outcome_lines, submit,  # noqa: E402
                       wait_deferred, wait_dsn)

require_tools("dnsmasq")

TIMEOUTS = {
    "smtp_connect_timeout": "2s", "smtp_helo_timeout": "3s", "smtp_starttls_timeout": "3s",
    "smtp_mail_timeout": "3s", "smtp_rcpt_timeout": "3s", "smtp_data_init_timeout": "3s",
    "smtp_data_xfer_timeout": "3s",
    # long: the concurrency test holds a delivery there while another runs
    "smtp_data_done_timeout": "60s",
    "smtp_rset_timeout": "2s", "smtp_quit_timeout": "2s",
    "dns_timeout": "2s", "dns_retries": "1",
    "minimal_backoff_time": "300s", "maximal_backoff_time": "600s", "queue_run_delay": "300s",
}

# name: (FakeSmtp keywords, DSN status (a regex), what the reason must
# contain; %s is "host[addr]"). Timeouts and lost connections are 4.4.2,
# replies that are no SMTP 4.x.x, a 4xx its own status.
CASES = {
    "greet421": ({"replies": {"greeting": "421 4.3.2 Service shutting down"}}, r"4\.3\.2",
                 "%s refused to talk to me: 421 4.3.2 Service shutting down"),
    "greet450": ({"replies": {"greeting": "450 4.7.1 Not now, try later"}}, r"4\.7\.1",
                 "%s refused to talk to me: 450 4.7.1 Not now, try later"),
    "garbage": ({"replies": {"ehlo": GARBAGE}}, r"4\.\d\.\d", "%s"),
    "garbagegreet": ({"replies": {"greeting": GARBAGE}}, r"4\.\d\.\d", "%s"),
    "noeol": ({"replies": {"greeting": NOEOL}}, r"4\.4\.2",
              "conversation with %s timed out while receiving the initial server greeting"),
    "longline": ({"replies": {"ehlo": LONGLINE}}, r"4\.\d\.\d", "%s"),
    "endless": ({"replies": {"ehlo": ENDLESS}}, r"4\.\d\.\d", "%s"),
    "slow": ({"replies": {"ehlo": SLOW}}, r"4\.4\.2", "conversation with %s timed out"),
    "hang": ({"replies": {"greeting": HANG}}, r"4\.4\.2",
             "conversation with %s timed out while receiving the initial server greeting"),
    "hangrcpt": ({"replies": {"rcpt": HANG}}, r"4\.4\.2",
                 "conversation with %s timed out while sending RCPT TO"),
    "closemail": ({"replies": {"mail": CLOSE}}, r"4\.4\.2",
                  "lost connection with %s while sending MAIL FROM"),
    "middata": ({"close_mid_data": True}, r"4\.4\.2", "lost connection with %s while sending"),
    "dot451": ({"replies": {"dot": "451 4.3.0 Queue trouble"}}, r"4\.3\.0",
               "%s said: 451 4.3.0 Queue trouble (in reply to end of DATA command)"),
}
W = {}


def setUpModule():
    if not available():
        return
    net = RelayNet(local=("example.net", "example.com", "example.org", "example.test"))
    W["net"] = net
    W["servfail"] = FakeDns("servfail")
    W["silent"] = FakeDns("silent")
    net.add("--server=/servfail.test/" + W["servfail"].server_option,
            "--server=/silent.test/" + W["silent"].server_option)
    for name in list(CASES) + ["good", "hangdot", "crash", "abrupt", "data250", "a"]:
        W[name] = net.address()
        if name != "a":
            host = "mx.%s.example.com" % name
            net.add(("A", host, W[name]), ("MX", "%s.example.com" % name, host, 10))
            net.route("%s.example.com" % name)
    net.route("servfail.test", "silent.test", "nxdomain.example.net")
    net.start_dns()


def tearDownModule():
    if "net" in W:
        W["net"].stop()
    for name in ("servfail", "silent"):
        if name in W:
            W[name].stop()


class BadServers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not available():
            raise unittest.SkipTest(NOT_BUILT)
        cls.a = relay_instance(W["net"], W["a"], "example.test", users=("alice",),
                               main=TIMEOUTS, smtp_maxproc="1")
        try:
            start_relay_instance(cls.a)
        except Exception:
            cls.a.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.a.cleanup()

    def fake(self, name, **kw):
        f = FakeSmtp(W[name], W["net"].port, name="mx.%s.example.com" % name, **kw)
        self.addCleanup(f.stop)
        return f

    def host(self, name):
        return "mx.%s.example.com[%s]" % (name, W[name])

    def assert_deferred_only(self, qid, rcpt, status_prefix="4."):
        """qid waits in deferred/ with a reason for rcpt (returned), and
        was never delivered nor bounced."""
        got = wait_deferred(self.a, qid, 40)
        self.assertIsNotNone(got, "%s not deferred:\n%s" % (qid, self.a.log()))
        entry = [r for r in got["recipients"] if r["address"] == rcpt][0]
        self.assertEqual(entry["state"], "pending")
        self.assertTrue(entry["status"].startswith(status_prefix), entry)
        why = self.a.queue_why(qid)
        self.assertIsNotNone(why)
        self.assertEqual(why["queue"], "deferred", why["text"])
        self.assertEqual(why["rcpts"][rcpt]["state"], "pending", why["text"])
        self.assertEqual(why["rcpts"][rcpt]["reason"], entry["delay_reason"], why["text"])
        self.assertIsNotNone(why["next_attempt"], why["text"])
        for line in outcome_lines(self.a, qid):
            self.assertNotIn("status=sent", line)
            self.assertNotIn("status=bounced", line)
        self.assertIsNone(find_dsn(self.a, "alice@example.test", qid))
        return entry

    def test_each_misbehaviour_defers(self):
        fakes = {name: self.fake(name, **kw) for name, (kw, _, _) in CASES.items()}
        qids = {name: submit(self.a, ["u@%s.example.com" % name], "bad " + name)
                for name in CASES}
        for name, (_, status, expect) in CASES.items():
            with self.subTest(case=name):
                entry = self.assert_deferred_only(qids[name], "u@%s.example.com" % name)
                self.assertRegex(entry["status"], "^%s$" % status)
                self.assertIn(expect.replace("%s", self.host(name)), entry["delay_reason"])
                self.assertIn(self.host(name), entry["delay_reason"])
                self.assertTrue(fakes[name].sessions, "never connected")
                self.assertEqual(fakes[name].transactions(), [])

    def test_dns_temporary_failure_defers(self):
        qids = {name: submit(self.a, ["u@%s.test" % name], "dns " + name)
                for name in ("servfail", "silent")}
        for name, qid in qids.items():
            with self.subTest(dns=name):
                entry = self.assert_deferred_only(qid, "u@%s.test" % name)
                self.assertEqual(entry["status"], "4.4.3")
                self.assertIn("Name service error for name=%s.test type=MX: Host not found, "
                              "try again" % name, entry["delay_reason"])
        self.assertGreater(W["servfail"].queries, 0)
        self.assertGreater(W["silent"].queries, 0)

    def test_nxdomain_bounces(self):
        qid = submit(self.a, ["u@nxdomain.example.net"], "nxdomain")
        dsn = wait_dsn(self.a, "alice@example.test", qid)
        self.assertIsNotNone(dsn, self.a.log())
        self.assertIn("Status: 5.1.2", dsn.as_string())
        self.assertIn("Host or domain name not found", dsn.as_string())

    def test_other_delivery_goes_on_while_one_hangs(self):
        hang = self.fake("hangdot", replies={"dot": HANG})
        good = self.fake("good")
        stuck = submit(self.a, ["u@hangdot.example.com"], "stuck at the dot")
        self.assertTrue(wait_for(lambda: [t for t in hang.transactions(done_only=False)
                                          if t.data is not None], 30),
                        "the content never reached the hanging server:\n%s" % self.a.log())
        qid = submit(self.a, ["u@good.example.com"], "meanwhile")
        self.assertTrue(wait_for(lambda: good.transactions(), 30),
                        "no delivery while another hangs:\n%s" % self.a.log())
        self.assertTrue(self.a.wait_log("%s: removed" % qid))
        # the first one is still waiting for its reply, in the same process
        self.assertTrue(hang.open_sessions())
        self.assertNotIn("%s: removed" % stuck, self.a.log())
        smtp_pids = {line.split("smtp[", 1)[1].split("]", 1)[0]
                     for line in self.a.log().splitlines() if "/smtp[" in line}
        self.assertLessEqual(len(smtp_pids), 1, smtp_pids)
        # the server goes away without a reply to the dot: not delivered
        hang.stop()
        entry = self.assert_deferred_only(stuck, "u@hangdot.example.com")
        self.assertIn("lost connection with %s" % self.host("hangdot"), entry["delay_reason"])

    def test_250_instead_of_354_is_no_delivery(self):
        """A server that answers DATA with 250 instead of 354 never got the
        message: deferred (4.x.x), not delivered (reason_reply makes any
        refusal but a 5xx temporary)."""
        fake = self.fake("data250", replies={"data": "250 2.0.0 Ok"})
        qid = submit(self.a, ["u@data250.example.com"], "250 to DATA")
        self.assertTrue(wait_for(lambda: fake.sessions and fake.sessions[0].closed, 30))
        self.assertTrue(wait_for(lambda: outcome_lines(self.a, qid), 30), self.a.log())
        self.assertNotIn("status=sent", outcome_lines(self.a, qid)[0])
        entry = self.assert_deferred_only(qid, "u@data250.example.com")
        self.assertIn(self.host("data250"), entry["delay_reason"])
        self.assertEqual(fake.transactions(done_only=False)[0].data, None)

    def test_close_right_after_the_250_is_delivered(self):
        """A server that closes at once after its 250 to the dot (no QUIT):
        the message was taken; it is delivered, not deferred."""
        fake = self.fake("abrupt", close_after_dot=True)
        qid = submit(self.a, ["u@abrupt.example.com"], "abrupt")
        self.assertTrue(self.a.wait_log("%s: removed" % qid), self.a.log())
        lines = outcome_lines(self.a, qid)
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("status=sent (250 2.0.0 Ok: queued as FAKE0001)", lines[0])
        self.assertEqual(len(fake.transactions()), 1)

    def qmgr_pid(self):
        for pid in self.a.processes():
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    argv0 = f.read().split(b"\0")[0]
            except OSError:
                continue
            if argv0.endswith(b"qmgr"):
                return pid
        return None

    def test_qmgr_killed_after_the_remote_250_sends_nothing_twice(self):
        """smtp writes the recipient's done state before it replies: qmgr is
        stopped before the server's 250 to the dot and killed after it, so
        it never hears the reply; the next qmgr must not send again."""
        stopped = []

        def stop_qmgr(session):
            pid = self.qmgr_pid()
            if pid and not stopped:
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
        fake = self.fake("crash", hooks={"dot": stop_qmgr})
        qid = submit(self.a, ["u@crash.example.com"], "crash after 250")

        def state():
            got = self.a.queue_json().get(qid)
            return got and got["recipients"][0]["state"]
        try:
            self.assertTrue(wait_for(lambda: fake.transactions(), 30), self.a.log())
            self.assertTrue(stopped, "qmgr not found %s" % fake.hook_errors)
            self.assertEqual(wait_for(lambda: state() == "delivered" and state(), 10),
                             "delivered", "smtp did not mark the recipient done: %s" % state())
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGKILL)
        # master starts a new qmgr, which finds the message in active/
        self.assertTrue(self.a.wait_log("%s: removed" % qid, 60),
                        "message not finished after the restart:\n%s" % self.a.log())
        self.assertEqual(len(fake.transactions(done_only=False)), 1)
        self.assertNotIn(qid, self.a.queue_json())
        self.assertIsNone(find_dsn(self.a, "alice@example.test", qid))


if __name__ == "__main__":
    if not available():
        print("SKIP: " + NOT_BUILT, file=sys.stderr)
        sys.exit(77)  # make check: SKIP
    unittest.main()
