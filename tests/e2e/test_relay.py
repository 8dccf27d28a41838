#!/usr/bin/env python3
"""End-to-end tests of relaying (issue 13): Postern instances on their own
loopback addresses sending to each other through the `smtp` client, with
DNS answers from dnsmasq. B hosts example.net and example.com (smtpd on
port 25 of its address, a submission service for the relayhost test);
each test class makes its own sending instance A (example.test, alice)
with the settings it needs. Covered: delivery by MX; the second MX when
the first refuses connections; deferral with its reason in `queue list
--json` and `queue why`, then delivery after the destination comes back
and `queue flush`; a remote 4xx whose reply, relay, TLS and next attempt
`queue why` and --json show alike; a bounce after a short
maximal_queue_lifetime (a multipart/report that Python's email parser
reads); null MX (5.1.10); one recipient refused (550) and one accepted in
one transaction (at B, and at a fake that shows the single transaction);
SIZE over the server's limit (5.3.4); one connection for several
messages; SMTPUTF8 to a server without it (5.6.7); NOTIFY=SUCCESS (B's
"delivered" report by SMTP back to A; A's "relayed" for a server without
DSN); an alias on A pointing at B's domain; smtp_tls_security_level =
encrypt (TLS to B, deferral 4.7.4 where STARTTLS is not offered);
relayhost with STARTTLS at level verify and AUTH from
smtp_sasl_password_maps; verify refusing an untrusted and a misnamed
certificate (4.7.5); a refused password deferring; a domain whose MX is
the sender itself bounced 5.4.6 by the hop count limit. Fake servers
(fakesmtp.py) stand in where a test needs a server that lacks something."""
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ROOT, RelayNet, free_port, relay_instance, require_tools,  # noqa: E402
                     set_password, start_relay_instance, wait_for)
from fakesmtp import FakeSmtp, make_cert  # noqa: E402
from relaytest import (NOT_BUILT, available, dsn_recipients, find_dsn, outcome_lines,  # noqa: E402
                       submit, wait_deferred, wait_dsn, wait_message)

require_tools("dnsmasq")

# timeouts short enough that a refused or silent peer costs seconds
FAST = {
    "smtp_connect_timeout": "3s", "smtp_helo_timeout": "5s", "smtp_starttls_timeout": "5s",
    "smtp_mail_timeout": "5s", "smtp_rcpt_timeout": "5s", "smtp_data_init_timeout": "5s",
    "smtp_data_xfer_timeout": "5s", "smtp_data_done_timeout": "5s", "smtp_rset_timeout": "3s",
    "smtp_quit_timeout": "3s", "dns_timeout": "3s",
    "minimal_backoff_time": "300s", "maximal_backoff_time": "600s", "queue_run_delay": "300s",
}
RELAY_PASSWORD = "relay secret"
W = {}  # the world of this file: net, addresses, B (setUpModule)


def setUpModule():
    if not available():
        return
    net = RelayNet(local=("example.net", "example.com", "example.org", "example.test"))
    W["net"] = net
    for name in ("a", "b", "dead", "back", "tempfail", "noutf8", "nodsn", "plain", "size",
                 "reuse", "half", "many", "params", "helo", "badcert", "badname", "authfail", "a_life",
                 "a_enc", "a_rh", "a_loop"):
        W[name] = net.address()
    W["submission"] = 587 if ROOT else free_port()
    net.add(("A", "mail.example.net", W["b"]), ("MX", "example.net", "mail.example.net", 10),
            ("A", "dead.example.com", W["dead"]), ("MX", "example.com", "dead.example.com", 10),
            ("MX", "example.com", "mail.example.net", 20),
            ("NULLMX", "example.org"),
            ("A", "mail.example.test", W["a"]), ("MX", "example.test", "mail.example.test", 10))
    for name in ("back", "tempfail", "noutf8", "nodsn", "plain", "dead", "size", "reuse",
                 "half", "many", "params", "helo", "badcert", "badname", "authfail"):
        host = "mx.%s.example.net" % name
        net.add(("A", host, W[name]), ("MX", "%s.example.net" % name, host, 10))
        net.route("%s.example.net" % name)
    # a domain whose MX is the loop test's sending instance itself
    net.add(("A", "mx.loop.example.net", W["a_loop"]),
            ("MX", "loop.example.net", "mx.loop.example.net", 10))
    net.route("example.net", "example.com", "example.org", "example.test", "loop.example.net")
    net.start_dns()
    W["tmp"] = tempfile.mkdtemp(prefix="postern-relay-")
    b = relay_instance(net, W["b"], "example.net", users=("bob", "relay"), main=FAST,
                       extra_services=["%s:%d inet n - n - - smtpd -o smtpd_service=submission"
                                       % (W["b"], W["submission"])], also_hosts=["example.com"])
    W["B"] = b
    res = b.ctl("user", "add", "bob@example.com")
    if res.returncode != 0:
        raise RuntimeError(res.stderr)
    set_password(b, "relay@example.net", RELAY_PASSWORD)
    with open(b.path("main.cf")) as f:
        W["b_cert"] = [line.split("=", 1)[1].strip() for line in f
                       if line.startswith("smtpd_tls_cert_file")][-1]
    start_relay_instance(b)


def tearDownModule():
    if "B" in W:
        W["B"].cleanup()
    if "net" in W:
        W["net"].stop()
    if "tmp" in W:
        shutil.rmtree(W["tmp"], ignore_errors=True)


def sender_instance(addr, main=None, **kw):
    """A (not started): example.test with alice, relaying for 127.0.0.0/8."""
    keys = dict(FAST)
    keys.update(main or {})
    return relay_instance(W["net"], addr, "example.test", users=("alice",), main=keys, **kw)


class RelayCase(unittest.TestCase):
    """A sending instance per class: ADDR names its address in W, MAIN its
    extra main.cf keys; setup(cls) may add more before the start."""
    ADDR = "a"
    MAIN = {}

    @classmethod
    def setUpClass(cls):
        if not available():
            raise unittest.SkipTest(NOT_BUILT)
        cls.a = sender_instance(W[cls.ADDR], cls.MAIN)
        cls.b = W["B"]
        try:
            cls.setup()
            start_relay_instance(cls.a)
        except Exception:
            cls.a.cleanup()
            raise

    @classmethod
    def setup(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        cls.a.cleanup()

    def fake(self, name, **kw):
        """A FakeSmtp on W[name], stopped after the test."""
        f = FakeSmtp(W[name], W["net"].port, name="mx.%s.example.net" % name, **kw)
        self.addCleanup(f.stop)
        return f

    def assert_sent(self, qid, rcpt, relay_host, timeout=30):
        """qid was delivered to rcpt through relay_host, then left A's queue."""
        self.assertTrue(self.a.wait_log("%s: removed" % qid, timeout),
                        "%s not done:\n%s" % (qid, self.a.log()))
        lines = [line for line in outcome_lines(self.a, qid) if "to=<%s>" % rcpt in line]
        self.assertTrue(lines, self.a.log())
        self.assertIn("relay=%s" % relay_host, lines[-1])
        self.assertIn("status=sent", lines[-1])

    def assert_never_sent_or_bounced(self, qid):
        for line in outcome_lines(self.a, qid):
            self.assertNotIn("status=sent", line)
            self.assertNotIn("status=bounced", line)
        self.assertIsNone(find_dsn(self.a, "alice@example.test", qid))


class Pair(RelayCase):
    MAIN = {"smtp_connection_cache_time_limit": "30s"}  # reuse even on a loaded machine

    @classmethod
    def setup(cls):
        res = cls.a.ctl("alias", "add", "fwd@example.test", "bob@example.net")
        if res.returncode != 0:
            raise RuntimeError(res.stderr)

    def test_delivery_by_mx(self):
        qid = submit(self.a, ["bob@example.net"], "by mx")
        msg = wait_message(self.b, "bob@example.net", "by mx")
        self.assertIsNotNone(msg, self.a.log())
        self.assertIn("hello across the relay", msg.get_content())
        self.assert_sent(qid, "bob@example.net", "mail.example.net[%s]:%d"
                         % (W["b"], W["net"].port))
        # B recorded the hop from A
        self.assertIn("mail.example.test", msg.get_all("Received")[0])

    def test_second_mx_when_first_refuses(self):
        qid = submit(self.a, ["bob@example.com"], "second mx")
        self.assertIsNotNone(wait_message(self.b, "bob@example.com", "second mx"),
                             self.a.log())
        self.assert_sent(qid, "bob@example.com", "mail.example.net[%s]" % W["b"])

    def test_deferral_then_flush_after_the_destination_returns(self):
        qid = submit(self.a, ["x@back.example.net"], "comes back")
        got = wait_deferred(self.a, qid)
        self.assertIsNotNone(got, "not deferred:\n%s" % self.a.log())
        rcpt = got["recipients"][0]
        self.assertEqual(rcpt["status"], "4.4.1")
        self.assertIn("connect to mx.back.example.net[%s]:%d: Connection refused"
                      % (W["back"], W["net"].port), rcpt["delay_reason"])
        self.assertGreater(got["next_attempt_time"], time.time() + 60)
        why = self.a.queue_why(qid)
        self.assertEqual(why["queue"], "deferred")
        self.assertIsNotNone(why["next_attempt"], why["text"])
        self.assertEqual(why["rcpts"]["x@back.example.net"]["state"], "pending")
        self.assertEqual(why["rcpts"]["x@back.example.net"]["status"], "4.4.1")
        self.assertIn("Connection refused", why["rcpts"]["x@back.example.net"]["reason"])
        self.assert_never_sent_or_bounced(qid)
        # the destination comes back; flush retries now
        fake = self.fake("back")
        res = self.a.ctl("queue", "flush", qid)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertTrue(wait_for(lambda: fake.transactions(), 30),
                        "not retried after flush:\n%s" % self.a.log())
        txn = fake.transactions()[0]
        self.assertEqual((txn.sender, txn.accepted), ("alice@example.test",
                                                       ["x@back.example.net"]))
        self.assertIn(b"Subject: comes back", txn.data)
        self.assert_sent(qid, "x@back.example.net", "mx.back.example.net[%s]" % W["back"])
        self.assertNotIn(qid, self.a.queue_json())

    def test_remote_4xx_shown_by_queue_why(self):
        cert = make_cert(W["tmp"], "mx.tempfail.example.net")
        fake = self.fake("tempfail", starttls=cert,
                         rcpt={"busy@tempfail.example.net": "450 4.2.0 mailbox busy, later"})
        qid = submit(self.a, ["busy@tempfail.example.net"], "busy")
        got = wait_deferred(self.a, qid)
        self.assertIsNotNone(got, self.a.log())
        self.assertEqual(fake.sessions[0].tls and fake.sessions[0].tls[:5], "TLSv1")
        reason = "host mx.tempfail.example.net[%s] said: 450 4.2.0 mailbox busy, later " \
                 "(in reply to RCPT TO command)" % W["tempfail"]
        relay = "mx.tempfail.example.net[%s]:%d" % (W["tempfail"], W["net"].port)
        rcpt = got["recipients"][0]
        self.assertEqual((rcpt["status"], rcpt["delay_reason"]), ("4.2.0", reason))
        # the relay (host[address]:port) and the TLS of the last attempt
        self.assertEqual(rcpt.get("relay"), relay, rcpt)
        self.assertRegex(rcpt.get("tls", ""), r"^TLSv1\.[23]:\S+:unverified$")
        why = self.a.queue_why(qid)
        entry = why["rcpts"]["busy@tempfail.example.net"]
        self.assertEqual((entry["status"], entry["reason"]), ("4.2.0", reason), why["text"])
        self.assertEqual(entry["fields"].get("relay"), relay, why["text"])
        self.assertEqual(entry["fields"].get("tls"), rcpt["tls"], why["text"])
        # the next attempt: the same time in both, minimal_backoff_time ahead
        self.assertIsNotNone(why["next_attempt"], why["text"])
        due = time.mktime(time.strptime(why["next_attempt"], "%Y-%m-%d %H:%M:%S"))
        self.assertAlmostEqual(due, got["next_attempt_time"], delta=1)
        self.assertAlmostEqual(got["next_attempt_time"], got["last_deferral_time"] + 300,
                               delta=5)
        self.assert_never_sent_or_bounced(qid)
        self.assertEqual(fake.transactions(), [])

    def test_null_mx_bounces_5_1_10(self):
        qid = submit(self.a, ["someone@example.org"], "null mx")
        dsn = wait_dsn(self.a, "alice@example.test", qid)
        self.assertIsNotNone(dsn, self.a.log())
        self.assertEqual(dsn.get_content_type(), "multipart/report")
        self.assertEqual(dsn.get_param("report-type"), "delivery-status")
        fields = dsn_recipients(dsn)["someone@example.org"]
        self.assertEqual(fields["Status"], "5.1.10")
        self.assertEqual(fields["Action"], "failed")
        self.assertIn("<example.org> does not accept mail (nullMX)", fields["Diagnostic-Code"])
        self.assertTrue(self.a.wait_log("%s: removed" % qid))

    def test_one_refused_one_accepted_in_one_transaction(self):
        qid = submit(self.a, ["bob@example.net", "nobody@example.net"], "half")
        self.assertIsNotNone(wait_message(self.b, "bob@example.net", "half"), self.a.log())
        dsn = wait_dsn(self.a, "alice@example.test", qid)
        self.assertIsNotNone(dsn, self.a.log())
        fields = dsn_recipients(dsn)
        self.assertEqual(list(fields), ["nobody@example.net"])
        self.assertEqual(fields["nobody@example.net"]["Status"], "5.1.1")
        diag = fields["nobody@example.net"]["Diagnostic-Code"]
        self.assertIn("host mail.example.net[%s] said: 550 5.1.1" % W["b"], diag)
        self.assertIn("in reply to RCPT TO command", diag)
        self.assert_sent(qid, "bob@example.net", "mail.example.net[%s]" % W["b"])
        # one transaction: B queued one message from A with one recipient
        got = [line for line in self.b.log().splitlines()
               if "from=<alice@example.test>" in line and "nrcpt=" in line]
        half = [line for line in got if "nrcpt=1" in line]
        self.assertTrue(half, got)

    def test_one_refused_one_accepted_seen_by_the_server(self):
        fake = self.fake("half", rcpt={"no@half.example.net": "550 5.1.1 <no@half.example.net>: "
                                       "no such user"})
        qid = submit(self.a, ["yes@half.example.net", "no@half.example.net"], "halves")
        dsn = wait_dsn(self.a, "alice@example.test", qid)
        self.assertIsNotNone(dsn, self.a.log())
        self.assertEqual(list(dsn_recipients(dsn)), ["no@half.example.net"])
        txns = fake.transactions(done_only=False)
        self.assertEqual(len(txns), 1, txns)
        self.assertEqual([r for r, _ in txns[0].rcpts], ["yes@half.example.net",
                                                         "no@half.example.net"])
        self.assertEqual(txns[0].accepted, ["yes@half.example.net"])
        self.assertTrue(txns[0].done)
        self.assert_sent(qid, "yes@half.example.net", "mx.half.example.net[%s]" % W["half"])

    def test_many_recipients_split_and_one_deferred(self):
        """55 recipients: two transactions (smtp_destination_recipient_limit
        50); the one the server answers 452 stays pending, the rest are done."""
        rcpts = ["r%02d@many.example.net" % n for n in range(55)]
        fake = self.fake("many", rcpt={"r07@many.example.net": "452 4.5.3 Too many recipients"})
        qid = submit(self.a, rcpts, "many")
        got = wait_deferred(self.a, qid)
        self.assertIsNotNone(got, self.a.log())
        states = {r["address"]: r["state"] for r in got["recipients"]}
        self.assertEqual(states.pop("r07@many.example.net"), "pending")
        self.assertEqual(set(states.values()), {"delivered"})
        pending = [r for r in got["recipients"] if r["state"] == "pending"][0]
        self.assertEqual(pending["status"], "4.5.3")
        self.assertIn("said: 452 4.5.3 Too many recipients (in reply to RCPT TO command)",
                      pending["delay_reason"])
        txns = fake.transactions()
        self.assertEqual(sorted(len(t.rcpts) for t in txns), [5, 50])
        accepted = sorted(a for t in txns for a in t.accepted)
        self.assertEqual(accepted, sorted(set(rcpts) - {"r07@many.example.net"}))
        # the retry sends only the one still pending
        before = {id(t) for t in fake.transactions(done_only=False)}
        res = self.a.ctl("queue", "flush", qid)
        self.assertEqual(res.returncode, 0, res.stderr)

        def retried():
            return [t for t in fake.transactions(done_only=False) if id(t) not in before]
        # the second deferral of r07 is logged once its RCPT was answered
        self.assertTrue(wait_for(lambda: len([
            line for line in outcome_lines(self.a, qid)
            if "to=<r07@many.example.net>" in line]) >= 2, 30), self.a.log())
        self.assertEqual([[r for r, _ in t.rcpts] for t in retried()],
                         [["r07@many.example.net"]])

    def test_esmtp_parameters_passed_on(self):
        """To a server offering DSN, SMTPUTF8 and SIZE: ENVID, RET, NOTIFY,
        ORCPT (xtext kept), SMTPUTF8 and SIZE go on, the UTF-8 address intact."""
        fake = self.fake("params", dsn=True, size=10000000)
        rcpt = "j\u00f6rg@params.example.net"
        submit(self.a, [rcpt, "plain@params.example.net"], "params",
               mail_options=["SMTPUTF8", "RET=HDRS", "ENVID=a+2Bb+3Dc"],
               rcpt_options=["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;orig+2Bx@example.test"])
        self.assertTrue(wait_for(lambda: fake.transactions(), 30), self.a.log())
        txn = fake.transactions()[0]
        self.assertEqual(txn.params.get("RET"), "HDRS")
        self.assertEqual(txn.params.get("ENVID"), "a+2Bb+3Dc")  # xtext of "a+b=c"
        self.assertIn("SMTPUTF8", txn.params)
        self.assertGreater(int(txn.params.get("SIZE", "0")), 100)
        got = dict(txn.rcpts)
        self.assertEqual(sorted(got), sorted([rcpt, "plain@params.example.net"]))
        for params in got.values():
            self.assertEqual(params.get("NOTIFY"), "SUCCESS,DELAY")
            self.assertEqual(params.get("ORCPT"), "rfc822;orig+2Bx@example.test")
        self.assertIn(b"Subject: params", txn.data)

    def test_helo_when_ehlo_is_refused(self):
        fake = self.fake("helo", ehlo=False)
        qid = submit(self.a, ["u@helo.example.net"], "helo only", rcpt_options=["NOTIFY=NEVER"])
        self.assertTrue(wait_for(lambda: fake.transactions(), 30), self.a.log())
        verbs = [c.split()[0].upper() for c in fake.sessions[0].commands]
        self.assertEqual(verbs[:2], ["EHLO", "HELO"])
        txn = fake.transactions()[0]
        self.assertEqual((txn.params, txn.rcpts[0][1]), ({}, {}))  # no ESMTP parameters
        self.assert_sent(qid, "u@helo.example.net", "mx.helo.example.net[%s]" % W["helo"])

    def test_size_refused_by_the_servers_limit_bounces_5_3_4(self):
        fake = self.fake("size", size=1000)
        big = "x" * 70 + "\r\n"
        qid = submit(self.a, ["u@size.example.net"], "big",
                     text="From: <alice@example.test>\r\nSubject: big\r\n\r\n" + big * 60)
        dsn = wait_dsn(self.a, "alice@example.test", qid)
        self.assertIsNotNone(dsn, self.a.log())
        block = dsn_recipients(dsn)["u@size.example.net"]
        self.assertEqual(block["Status"], "5.3.4")
        self.assertRegex(block["Diagnostic-Code"], r"message size \d+ exceeds size limit 1000 "
                         r"of server mx\.size\.example\.net\[%s\]" % W["size"].replace(".", r"\."))
        self.assertEqual(fake.transactions(done_only=False), [])

    def test_connection_reused_for_the_next_message(self):
        fake = self.fake("reuse")
        for n in range(3):
            qid = submit(self.a, ["u%d@reuse.example.net" % n], "reuse %d" % n)
            self.assertTrue(self.a.wait_log("%s: removed" % qid), self.a.log())
        self.assertEqual(len(fake.transactions()), 3)
        self.assertEqual(len(fake.sessions), 1, "a connection per message")
        self.assertEqual([c.split()[0] for c in fake.sessions[0].commands].count("EHLO"), 1)

    def test_smtputf8_to_a_server_without_it_bounces_5_6_7(self):
        fake = self.fake("noutf8", smtputf8=False)
        rcpt = "j\u00fcrgen@noutf8.example.net"
        qid = submit(self.a, [rcpt], "utf8", mail_options=["SMTPUTF8"])
        dsn = wait_dsn(self.a, "alice@example.test", qid)
        self.assertIsNotNone(dsn, self.a.log())
        fields = dsn_recipients(dsn)
        self.assertEqual(len(fields), 1)
        block = list(fields.values())[0]
        self.assertEqual(block["Status"], "5.6.7")
        self.assertIn("SMTPUTF8 is required, but was not offered by host "
                      "mx.noutf8.example.net[%s]" % W["noutf8"], block["Diagnostic-Code"])
        # nothing went past EHLO: never mangled into a transaction
        self.assertEqual(fake.transactions(done_only=False), [])

    def test_notify_success_brings_a_dsn(self):
        qid = submit(self.a, ["bob@example.net"], "notify me", rcpt_options=["NOTIFY=SUCCESS"])
        self.assertIsNotNone(wait_message(self.b, "bob@example.net", "notify me"))
        # B offers DSN, so A passes NOTIFY on and B reports the delivery
        # ("delivered"); a server without DSN would give A's "relayed"
        dsn = wait_dsn(self.a, "alice@example.test", "notify me", 40)
        self.assertIsNotNone(dsn, "no success DSN:\nA:\n%s\nB:\n%s" % (self.a.log(),
                                                                       self.b.log()))
        self.assertEqual(dsn.get_content_type(), "multipart/report")
        fields = dsn_recipients(dsn)["bob@example.net"]
        self.assertEqual(fields["Action"], "delivered")
        self.assertTrue(fields["Status"].startswith("2."), fields["Status"])
        self.assertIn("mail.example.net", dsn["From"])  # B's report, not a "relayed" of A's
        self.assertTrue(self.a.wait_log("%s: removed" % qid))
        # A wrote no report of its own (it would log it before "removed")
        self.assertNotIn("%s: sender delivery status notification" % qid, self.a.log())
        reports = [m for m in self.a.messages("alice@example.test")
                   if m.get_content_type() == "multipart/report" and "notify me" in m.as_string()]
        self.assertEqual(len(reports), 1, "A reported too")

    def test_notify_success_relayed_by_a_server_without_dsn(self):
        fake = self.fake("nodsn")
        qid = submit(self.a, ["y@nodsn.example.net"], "relayed notice",
                     rcpt_options=["NOTIFY=SUCCESS"])
        self.assertTrue(wait_for(lambda: fake.transactions(), 30), self.a.log())
        self.assertNotIn("NOTIFY", fake.transactions()[0].rcpts[0][1])
        dsn = wait_dsn(self.a, "alice@example.test", qid)
        self.assertIsNotNone(dsn, self.a.log())
        fields = dsn_recipients(dsn)["y@nodsn.example.net"]
        self.assertEqual(fields["Action"], "relayed")
        self.assertTrue(fields["Status"].startswith("2."), fields["Status"])

    def test_alias_to_a_remote_address_goes_out_by_smtp(self):
        qid = submit(self.a, ["fwd@example.test"], "aliased")
        self.assertIsNotNone(wait_message(self.b, "bob@example.net", "aliased"), self.a.log())
        # local forwards it as a new message (Postfix's way), which smtp sends
        self.assertTrue(self.a.wait_log("%s: to=<fwd@example.test>" % qid), self.a.log())
        self.assertTrue(wait_for(lambda: [
            line for line in self.a.log().splitlines()
            if "to=<bob@example.net>, relay=mail.example.net[%s]:%d" % (W["b"], W["net"].port)
            in line and "status=sent" in line and qid not in line], 10), self.a.log())


class Lifetime(RelayCase):
    """A message that cannot leave is returned after maximal_queue_lifetime."""
    ADDR = "a_life"
    MAIN = {"maximal_queue_lifetime": "3s", "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s", "queue_run_delay": "1s"}

    def test_bounce_after_lifetime(self):
        qid = submit(self.a, ["x@dead.example.net"], "too late")
        dsn = wait_dsn(self.a, "alice@example.test", qid, 40)
        self.assertIsNotNone(dsn, self.a.log())
        self.assertEqual(dsn.get_content_type(), "multipart/report")
        self.assertEqual(dsn.get_param("report-type"), "delivery-status")
        fields = dsn_recipients(dsn)["x@dead.example.net"]
        self.assertEqual(fields["Action"], "failed")
        self.assertRegex(fields["Status"], r"^[45]\.4\.[17]$")  # 4.4.7: expired
        self.assertIn("Connection refused", fields["Diagnostic-Code"])
        parts = [p.get_content_type() for p in dsn.iter_parts()]
        self.assertEqual(parts[:2], ["text/plain", "message/delivery-status"])
        self.assertTrue(self.a.wait_log("%s: removed" % qid))
        # tried more than once before giving up
        tries = [line for line in outcome_lines(self.a, qid) if "status=deferred" in line]
        self.assertGreaterEqual(len(tries), 1, self.a.log())


class Loop(RelayCase):
    """The MX of a domain is the sending instance itself."""
    ADDR = "a_loop"

    def test_mail_looping_back_to_myself_bounces(self):
        """The message goes round (A to A) until smtpd's hopcount_limit (50
        Received: lines) refuses it with 554 5.4.6 and the sender gets a
        bounce, as with Postfix; never for ever. The test gives up after
        80 turns."""
        qid = submit(self.a, ["u@loop.example.net"], "round and round")
        hops = "relay=mx.loop.example.net[%s]" % W["a_loop"]

        def outcome():
            if find_dsn(self.a, "alice@example.test", "round and round"):
                return "bounced"
            if self.a.log().count(hops) > 80:
                return "loops"
            return None
        self.assertEqual(wait_for(outcome, 60, 0.2), "bounced", "mail loop: %d turns"
                         % self.a.log().count(hops))
        dsn = find_dsn(self.a, "alice@example.test", "round and round")
        fields = dsn_recipients(dsn)["u@loop.example.net"]
        self.assertEqual(fields["Status"], "5.4.6")
        self.assertEqual(fields["Action"], "failed")
        self.assertGreaterEqual(self.a.log().count(hops), 45)
        self.assertNotIn(qid, self.a.queue_json())


class EncryptLevel(RelayCase):
    """smtp_tls_security_level = encrypt: TLS or nothing."""
    ADDR = "a_enc"
    MAIN = {"smtp_tls_security_level": "encrypt"}

    def test_tls_to_a_server_offering_it(self):
        qid = submit(self.a, ["bob@example.net"], "encrypted")
        self.assertIsNotNone(wait_message(self.b, "bob@example.net", "encrypted"), self.a.log())
        self.assert_sent(qid, "bob@example.net", "mail.example.net[%s]" % W["b"])
        line = [x for x in outcome_lines(self.a, qid) if "status=sent" in x][-1]
        self.assertRegex(line, r"tls=TLSv1\.[23]:")

    def test_no_starttls_offered_defers_4_7_4(self):
        fake = self.fake("plain")
        qid = submit(self.a, ["x@plain.example.net"], "needs tls")
        got = wait_deferred(self.a, qid)
        self.assertIsNotNone(got, self.a.log())
        rcpt = got["recipients"][0]
        self.assertEqual(rcpt["status"], "4.7.4")
        self.assertIn("TLS is required, but was not offered by host mx.plain.example.net[%s]"
                      % W["plain"], rcpt["delay_reason"])
        why = self.a.queue_why(qid)
        self.assertIn("TLS is required", why["rcpts"]["x@plain.example.net"]["reason"])
        self.assertEqual(fake.transactions(done_only=False), [])
        self.assert_never_sent_or_bounced(qid)


class Relayhost(RelayCase):
    """relayhost = [mail.example.net]:587 (B's submission service), STARTTLS
    at level verify (B's certificate as the CA) and AUTH with the password
    from smtp_sasl_password_maps. transport_maps sends three domains past
    the relayhost to fake servers: a certificate no CA vouches for, a
    trusted certificate for another name (the verify level checks the MX
    host name), and a server that refuses the password."""
    ADDR = "a_rh"

    @classmethod
    def setup(cls):
        hop = "[mail.example.net]:%d" % W["submission"]
        cls.certs = {name: make_cert(W["tmp"], host) for name, host in (
            ("badcert", "mx.badcert.example.net"), ("badname", "other.example.net"),
            ("authfail", "mx.authfail.example.net"))}
        bundle = os.path.join(W["tmp"], "ca-bundle.pem")
        with open(bundle, "w") as out:
            for path in (W["b_cert"], cls.certs["badname"][0], cls.certs["authfail"][0]):
                with open(path) as f:
                    out.write(f.read())
        os.chmod(W["tmp"], 0o755)
        os.chmod(bundle, 0o644)
        cls.a.build_map("sasl_passwd", "%s relay@example.net:%s\n"
                        "authfail.example.net someone:wrong\n" % (hop, RELAY_PASSWORD))
        cls.a.build_map("transport", "".join(
            "%s.example.net smtp:%s.example.net:%d\n" % (n, n, W["net"].port)
            for n in ("badcert", "badname", "authfail")))
        for key, value in (("relayhost", hop), ("smtp_sasl_auth_enable", "yes"),
                           ("smtp_sasl_password_maps", "hash:" + cls.a.path("sasl_passwd")),
                           ("transport_maps", "hash:" + cls.a.path("transport")),
                           ("smtp_tls_security_level", "verify"),
                           ("smtp_tls_CAfile", bundle)):
            cls.a.set_main(key, value)

    def test_relayhost_with_starttls_and_auth(self):
        # B's submission service lets relay@example.net send as itself only
        qid = submit(self.a, ["bob@example.com"], "via relayhost", sender="relay@example.net")
        self.assertIsNotNone(wait_message(self.b, "bob@example.com", "via relayhost"),
                             "A:\n%s\nB:\n%s" % (self.a.log(), self.b.log()))
        self.assert_sent(qid, "bob@example.com",
                         "mail.example.net[%s]:%d" % (W["b"], W["submission"]))
        line = [x for x in outcome_lines(self.a, qid) if "status=sent" in x][-1]
        self.assertRegex(line, r"tls=TLSv1\.[23]:[^,]*:verified")
        self.assertIn("sasl_username=relay@example.net", self.b.log())

    def test_verify_refuses_untrusted_or_misnamed_certificates(self):
        fakes = {n: self.fake(n, starttls=self.certs[n]) for n in ("badcert", "badname")}
        qids = {n: submit(self.a, ["u@%s.example.net" % n], "verify " + n) for n in fakes}
        for name, qid in qids.items():
            with self.subTest(cert=name):
                got = wait_deferred(self.a, qid)
                self.assertIsNotNone(got, self.a.log())
                rcpt = got["recipients"][0]
                self.assertEqual(rcpt["status"], "4.7.5", rcpt)
                self.assertIn("Server certificate not verified", rcpt["delay_reason"])
                self.assertTrue(fakes[name].sessions, "never connected")
                self.assertEqual(fakes[name].transactions(done_only=False), [])
                self.assert_never_sent_or_bounced(qid)

    def test_password_refused_defers(self):
        fake = self.fake("authfail", starttls=self.certs["authfail"], auth={"someone": "right"})
        qid = submit(self.a, ["u@authfail.example.net"], "wrong password")
        got = wait_deferred(self.a, qid)
        self.assertIsNotNone(got, self.a.log())
        rcpt = got["recipients"][0]
        self.assertTrue(rcpt["status"].startswith("4."), rcpt)
        self.assertIn("SASL authentication failed; server mx.authfail.example.net[%s] said: "
                      "535 5.7.8 Authentication failed" % W["authfail"], rcpt["delay_reason"])
        self.assertEqual(fake.sessions[0].tls and fake.sessions[0].tls[:5], "TLSv1")
        self.assertIsNone(fake.sessions[0].auth)
        self.assertEqual(fake.transactions(done_only=False), [])
        self.assert_never_sent_or_bounced(qid)


if __name__ == "__main__":
    if not available():
        print("SKIP: " + NOT_BUILT, file=sys.stderr)
        sys.exit(77)  # make check: SKIP
    unittest.main()
