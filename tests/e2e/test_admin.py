#!/usr/bin/env python3
"""End-to-end tests of the admin side of receive-and-deliver: what
`mailctl init` sets up (demo domain, user, aliases, built maps),
`mailctl domain/user/alias` round trips checked in the text files and
through `mailctl map get`, their validation errors, `mailctl queue` on
queue files made with tests/qinject (list, show, hold, release, delete,
flush), and the sendmail command: its failure paths without a running
system (exit 75, never a silent loss) and, with smtpd + qmgr + local
running, argv and -t recipients, -f, -F, -i, -bs, -bp and mailq."""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, DAEMONS, QINJECT, Instance, wait_for  # noqa: E402

SENDMAIL = os.path.join(BUILD, "sendmail", "sendmail")
EX_USAGE, EX_NOUSER, EX_TEMPFAIL = 64, 67, 75


def read(path):
    with open(path) as f:
        return f.read()


class AdminBase(unittest.TestCase):
    def setUp(self):
        self.inst = Instance()
        self.addCleanup(self.inst.cleanup)
        self.etc = self.inst.config_dir
        self.mail = os.path.join(self.etc, "mail")

    def ok(self, *args):
        res = self.inst.ctl(*args)
        self.assertEqual(res.returncode, 0, "%s: %s%s" % (args, res.stdout, res.stderr))
        return res.stdout

    def fails(self, *args, code=1, says=None):
        res = self.inst.ctl(*args)
        self.assertEqual(res.returncode, code, "%s: %s%s" % (args, res.stdout, res.stderr))
        if says:
            self.assertIn(says, res.stderr)
        return res.stderr

    def map_get(self, name, key):
        res = self.inst.ctl("map", "get", "hash:" + self.inst.path(name), key)
        return res.stdout.strip() if res.returncode == 0 else None

    def sendmail(self, *args, text="", env=None):
        e = dict(os.environ, MAIL_CONFIG=self.etc)
        e.update(env or {})
        return subprocess.run([SENDMAIL] + list(args), input=text.encode(),
                              capture_output=True, env=e, timeout=60)


class Init(AdminBase):
    def test_demo_domain_user_aliases(self):
        self.assertEqual(self.map_get("domains", "example.test"), "OK")
        self.assertEqual(self.map_get("mailboxes", "demo@example.test"), "example.test/demo/")
        for alias in ("postmaster", "abuse"):
            self.assertEqual(self.map_get("aliases", alias + "@example.test"),
                             "demo@example.test")
        for sub in ("cur", "new", "tmp"):
            self.assertTrue(os.path.isdir(os.path.join(self.mail, "example.test", "demo", sub)))
        for name in ("domains", "mailboxes", "aliases"):
            self.assertTrue(os.path.exists(self.inst.path(name + ".db")), name)

    def test_master_cf_mail_services(self):
        text = read(self.inst.path("master.cf"))
        # the harness's daemon dir has smtpd, qmgr and local: active lines
        self.assertRegex(text, r"(?m)^submit\s+unix\s+n\s+-\s+n\s+-\s+-\s+smtpd -o smtpd_service=local$")
        self.assertRegex(text, r"(?m)^qmgr\s+unix\s+-\s+-\s+n\s+300\s+1\s+qmgr$")
        self.assertRegex(text, r"(?m)^local\s+unix\s+-\s+-\s+n\s+-\s+4\s+local$")
        self.assertEqual(self.inst.ctl("check").returncode, 0)


class Domains(AdminBase):
    def test_round_trip(self):
        self.assertIn("domain other.test added", self.ok("domain", "add", "Other.TEST"))
        self.assertIn("other.test OK\n", read(self.inst.path("domains")))
        self.assertEqual(self.map_get("domains", "other.test"), "OK")
        self.assertEqual(self.ok("domain", "list").split(), ["example.test", "other.test"])
        self.fails("domain", "add", "other.test", says="already exists")
        self.ok("domain", "del", "other.test")
        self.assertIsNone(self.map_get("domains", "other.test"))
        self.assertEqual(self.ok("domain", "list").split(), ["example.test"])
        self.fails("domain", "del", "other.test", says="does not exist")

    def test_invalid_domains(self):
        for bad in ("bad..test", "a b.test", "a@b.test", "[127.0.0.1]", "x" * 64 + ".test"):
            self.fails("domain", "add", bad, says="not a valid domain")
        self.fails("domain", "frobnicate", code=2)
        self.fails("domain", "add", code=2)

    def test_del_refuses_with_members_unless_forced(self):
        self.ok("domain", "add", "other.test")
        self.ok("user", "add", "u@other.test")
        self.ok("alias", "add", "a@other.test", "u@other.test")
        self.fails("domain", "del", "other.test", says="1 user and 1 alias")
        self.assertEqual(self.map_get("domains", "other.test"), "OK")
        out = self.ok("domain", "del", "other.test", "--force")
        self.assertIn("removed 1 user and 1 alias", out)
        self.assertIsNone(self.map_get("mailboxes", "u@other.test"))
        self.assertIsNone(self.map_get("aliases", "a@other.test"))
        self.assertIsNone(self.map_get("domains", "other.test"))
        self.assertEqual(self.map_get("mailboxes", "demo@example.test"), "example.test/demo/")
        # the Maildir is kept
        self.assertTrue(os.path.isdir(os.path.join(self.mail, "other.test", "u", "new")))

    def test_comments_and_other_lines_kept(self):
        path = self.inst.path("domains")
        with open(path, "a") as f:
            f.write("# hosted for a customer\nthird.test   OK\n")
        self.ok("domain", "add", "fourth.test")
        self.ok("domain", "del", "example.test", "--force")
        self.assertEqual(read(path), "# hosted for a customer\nthird.test   OK\nfourth.test OK\n")


class Users(AdminBase):
    def test_round_trip(self):
        out = self.ok("user", "add", "Alice@Example.TEST")
        self.assertIn("alice@example.test", out)
        maildir = os.path.join(self.mail, "example.test", "alice")
        for sub in ("cur", "new", "tmp"):
            self.assertTrue(os.path.isdir(os.path.join(maildir, sub)))
        # the special-use folders, Maildir++ style, subscribed in Dovecot's format
        for folder in ("Sent", "Drafts", "Trash", "Junk", "Archive"):
            for sub in ("cur", "new", "tmp", "maildirfolder"):
                self.assertTrue(os.path.exists(os.path.join(maildir, "." + folder, sub)), folder)
        with open(os.path.join(maildir, "subscriptions")) as f:
            self.assertEqual(f.read(), "Sent\nDrafts\nTrash\nJunk\nArchive\n")
        self.assertEqual(self.map_get("mailboxes", "alice@example.test"), "example.test/alice/")
        self.assertEqual(self.ok("user", "list").split(), ["demo@example.test", "alice@example.test"])
        self.fails("user", "add", "alice@example.test", says="already exists")
        self.ok("user", "del", "alice@example.test")
        self.assertIsNone(self.map_get("mailboxes", "alice@example.test"))
        self.assertTrue(os.path.isdir(maildir), "del without --purge keeps the Maildir")
        self.fails("user", "del", "alice@example.test", says="does not exist")

    def test_purge(self):
        self.ok("user", "add", "bob@example.test")
        maildir = os.path.join(self.mail, "example.test", "bob")
        with open(os.path.join(maildir, "new", "1.msg"), "w") as f:
            f.write("Subject: x\n\nx\n")
        self.ok("user", "del", "bob@example.test", "--purge")
        self.assertFalse(os.path.exists(maildir))
        self.assertTrue(os.path.isdir(os.path.join(self.mail, "example.test", "demo")))

    def test_quota(self):
        self.assertEqual(self.inst.ctl("config", "get", "virtual_mailbox_quota_maps").stdout.strip(), "")
        out = self.ok("user", "add", "carol@example.test", "--quota", "50m")
        self.assertIn("virtual_mailbox_quota_maps", out)
        self.assertEqual(self.inst.ctl("config", "get", "virtual_mailbox_quota_maps").stdout.strip(),
                         "hash:%s/quotas" % self.etc)
        self.assertEqual(self.map_get("quotas", "carol@example.test"), "50m")
        self.assertIn("carol@example.test quota=50m", self.ok("user", "list", "example.test"))
        self.fails("user", "add", "dave@example.test", "--quota", "lots", says="bad --quota")
        self.ok("user", "del", "carol@example.test")
        self.assertIsNone(self.map_get("quotas", "carol@example.test"))

    def test_validation(self):
        self.fails("user", "add", "eve@nowhere.test", says="not hosted")
        self.fails("user", "add", "no-domain", says="not a valid address")
        self.fails("user", "add", "a b@example.test", says="not a valid address")
        self.fails("user", "add", '"../x"@example.test', says="cannot name a Maildir")
        self.fails("user", "add", code=2)
        self.assertFalse(os.path.exists(os.path.join(self.mail, "nowhere.test")))

    def test_list_by_domain(self):
        self.ok("domain", "add", "other.test")
        self.ok("user", "add", "x@other.test")
        self.assertEqual(self.ok("user", "list", "other.test").split(), ["x@other.test"])
        self.assertEqual(self.ok("user", "list", "example.test").split(), ["demo@example.test"])


class Aliases(AdminBase):
    def test_add_appends_set_replaces_del(self):
        self.ok("alias", "add", "team@example.test", "a@example.test,b@remote.test")
        self.assertEqual(self.map_get("aliases", "team@example.test"),
                         "a@example.test, b@remote.test")
        self.ok("alias", "add", "team@example.test", "b@remote.test,c@example.test")
        self.assertEqual(self.map_get("aliases", "team@example.test"),
                         "a@example.test, b@remote.test, c@example.test")
        self.ok("alias", "del", "team@example.test", "b@remote.test")
        self.assertEqual(self.map_get("aliases", "team@example.test"),
                         "a@example.test, c@example.test")
        self.ok("alias", "set", "team@example.test", "z@example.test")
        self.assertEqual(self.map_get("aliases", "team@example.test"), "z@example.test")
        self.ok("alias", "del", "team@example.test", "z@example.test")  # last target: gone
        self.assertIsNone(self.map_get("aliases", "team@example.test"))
        self.fails("alias", "del", "team@example.test", says="does not exist")

    def test_catch_all_and_list(self):
        self.ok("alias", "add", "@example.test", "demo@example.test")
        self.assertEqual(self.map_get("aliases", "@example.test"), "demo@example.test")
        lines = self.ok("alias", "list", "example.test").splitlines()
        self.assertIn("@example.test demo@example.test", lines)
        self.assertIn("postmaster@example.test demo@example.test", lines)
        self.ok("alias", "del", "@example.test")
        self.assertIsNone(self.map_get("aliases", "@example.test"))

    def test_validation(self):
        self.fails("alias", "add", "x@nowhere.test", "demo@example.test", says="not hosted")
        self.fails("alias", "add", "@nowhere.test", "demo@example.test", says="not hosted")
        self.fails("alias", "add", "x@example.test", "notanaddress", says="not a full address")
        self.fails("alias", "add", "x@example.test", code=2)
        self.fails("alias", "del", "postmaster@example.test", "nobody@example.test",
                   says="has no target")
        self.assertIsNone(self.map_get("aliases", "x@example.test"))


@unittest.skipUnless(os.path.exists(QINJECT), "tests/qinject not built")
class Queue(AdminBase):
    def inject(self, sender, rcpts, text):
        for sub in ("tmp", "incoming", "active", "deferred", "hold", "corrupt"):
            os.makedirs(self.inst.path("queue", sub), exist_ok=True)
        res = subprocess.run([QINJECT, self.inst.path("queue"), sender] + rcpts,
                             input=text.encode(), capture_output=True, timeout=30,
                             preexec_fn=self.inst.as_owner())
        self.assertEqual(res.returncode, 0, res.stderr)
        return res.stdout.decode().strip()

    def test_empty(self):
        self.assertEqual(self.ok("queue", "list"), "Mail queue is empty\n")
        res = self.sendmail("-bp")
        self.assertEqual((res.returncode, res.stdout), (0, b"Mail queue is empty\n"))

    def test_list_show_hold_release_delete(self):
        q1 = self.inject("sender@remote.test", ["a@example.test", "b@example.test"],
                         "Subject: one\n\nfirst body\n")
        q2 = self.inject("", ["c@example.test"], "Subject: two\n\n" + "x" * 2000 + "\n")
        out = self.ok("queue", "list")
        lines = out.splitlines()
        self.assertEqual(lines[0], "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------")
        self.assertIn("sender@remote.test", out)
        self.assertIn("MAILER-DAEMON", out)
        self.assertRegex(out, r"(?m)^ {42}a@example\.test$")
        self.assertRegex(out, r"(?m)^ {42}c@example\.test$")
        self.assertEqual(lines[-1], "-- 2 Kbytes in 2 Requests.")
        # sendmail -bp and a program named mailq print the same
        self.assertEqual(self.sendmail("-bp").stdout.decode(), out)
        linkdir = tempfile.mkdtemp(dir=self.inst.dir)
        os.symlink(SENDMAIL, os.path.join(linkdir, "mailq"))
        res = subprocess.run([os.path.join(linkdir, "mailq")], capture_output=True, text=True,
                             env=dict(os.environ, MAIL_CONFIG=self.etc))
        self.assertEqual(res.stdout, out)

        shown = self.ok("queue", "show", q1)
        self.assertIn("queue_id: %s" % q1, shown)
        self.assertIn("sender: sender@remote.test", shown)
        self.assertIn("recipient: b@example.test (pending)", shown)
        self.assertTrue(shown.endswith("\nSubject: one\n\nfirst body\n"), shown)

        self.ok("queue", "hold", q1)
        self.assertEqual(self.inst.queue_files("hold"), [q1])
        self.assertIn(q1 + "!", self.ok("queue", "list"))
        self.fails("queue", "hold", q1, says="already on hold")
        self.ok("queue", "release", q1)
        self.assertEqual(self.inst.queue_files("hold"), [])
        self.assertIn(q1, self.inst.queue_files("deferred"))

        self.ok("queue", "delete", q2)
        self.assertNotIn(q2, self.ok("queue", "list"))
        self.fails("queue", "delete", q2, says="no such message")
        self.fails("queue", "show", "../../etc", says="not a queue ID")
        self.assertIn("1 message deleted", self.ok("queue", "delete", "ALL"))
        self.assertEqual(self.ok("queue", "list"), "Mail queue is empty\n")
        self.assertIn("removed from incoming by mailctl queue delete", self.inst.log())

    def test_flush_needs_qmgr(self):
        self.fails("queue", "flush", says="cannot reach qmgr")


class SendmailDown(AdminBase):
    """No mail system running: the message must not vanish silently."""

    def test_socket_missing_is_tempfail(self):
        res = self.sendmail("demo@example.test", text="Subject: x\n\nhello\n")
        self.assertEqual(res.returncode, EX_TEMPFAIL)
        self.assertIn(b"sendmail: mail system is down", res.stderr)

    def test_bs_socket_missing(self):
        res = self.sendmail("-bs", text="QUIT\r\n")
        self.assertEqual(res.returncode, EX_TEMPFAIL)
        self.assertTrue(res.stdout.startswith(b"421 "), res.stdout)

    def test_usage_errors(self):
        for args in ((), ("-R", "bogus", "x@y.test"), ("-N", "sometimes", "x@y.test"),
                     ("-B", "9BIT", "x@y.test"), ("-Z", "x@y.test"), ("-f",), ("-bd",)):
            res = self.sendmail(*args, text="x\n")
            self.assertEqual(res.returncode, EX_USAGE, (args, res.stderr))
        # -t without any recipient in the header
        res = self.sendmail("-t", text="Subject: none\n\nbody\n")
        self.assertEqual(res.returncode, EX_USAGE)
        self.assertIn(b"no recipient", res.stderr)

    def test_bad_config_dir(self):
        res = self.sendmail("-C", os.path.join(self.inst.dir, "nowhere"), "x@y.test",
                            text="x\n")
        self.assertEqual(res.returncode, 78)


def mail_system_built():
    return all(os.path.exists(DAEMONS.get(n, "")) for n in ("master", "smtpd", "qmgr", "local"))


@unittest.skipUnless(mail_system_built(), "smtpd, qmgr or local not built")
class SendmailLive(AdminBase):
    def setUp(self):
        super().setUp()
        self.inst.set_master_cf(["submit unix n - n - - smtpd -o smtpd_service=local",
                                 "qmgr unix - - n 300 1 qmgr",
                                 "local unix - - n - 4 local"])
        for user in ("alice", "bob", "carol"):
            self.ok("user", "add", "%s@example.test" % user)
        self.inst.start()

    def new_mail(self, user, count=1):
        new = os.path.join(self.mail, "example.test", user, "new")
        found = wait_for(lambda: len(os.listdir(new)) >= count and sorted(os.listdir(new)),
                         timeout=10)
        self.assertTrue(found, "no mail for %s; log:\n%s" % (user, self.inst.log()))
        return [read(os.path.join(new, name)) for name in found]

    def test_argv_recipient_from_and_full_name(self):
        res = self.sendmail("-f", "robot@example.test", "-F", "Build Robot", "alice@example.test",
                            text="Subject: argv\n\nhello alice\n")
        self.assertEqual(res.returncode, 0, res.stderr)
        msg = self.new_mail("alice")[0]
        self.assertIn("Return-Path: <robot@example.test>", msg)
        self.assertIn("From: Build Robot <robot@example.test>", msg)
        self.assertTrue(msg.endswith("\nhello alice\n"), msg)

    def test_existing_from_kept(self):
        res = self.sendmail("-F", "Ignored", "bob@example.test",
                            text="From: Real <real@example.test>\nSubject: s\n\nx\n")
        self.assertEqual(res.returncode, 0, res.stderr)
        msg = self.new_mail("bob")[0]
        self.assertIn("From: Real <real@example.test>", msg)
        self.assertNotIn("Ignored", msg)

    def test_t_extracts_and_removes_bcc(self):
        text = ("To: Alice <alice@example.test>\nCc: bob@example.test (Bob)\n"
                "Bcc: carol@example.test\nSubject: -t\n\nto three\n")
        res = self.sendmail("-t", "-oi", text=text)
        self.assertEqual(res.returncode, 0, res.stderr)
        for user in ("alice", "bob", "carol"):
            msg = self.new_mail(user)[0]
            self.assertNotIn("Bcc:", msg)
            self.assertNotIn("carol@example.test\n\n", msg.split("\n\n")[0] + "\n\n")
            self.assertIn("Subject: -t", msg)

    def test_t_plus_argv(self):
        res = self.sendmail("-t", "bob@example.test",
                            text="To: alice@example.test\nSubject: both\n\nx\n")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.new_mail("alice")
        self.new_mail("bob")

    def test_dots(self):
        text = "Subject: dots\n\n.starts with a dot\n.\nafter the dot\n"
        res = self.sendmail("-i", "alice@example.test", text=text)
        self.assertEqual(res.returncode, 0, res.stderr)
        msg = self.new_mail("alice")[0]
        self.assertTrue(msg.endswith("\n.starts with a dot\n.\nafter the dot\n"), msg)
        res = self.sendmail("bob@example.test", text=text)  # no -i: "." ends the input
        self.assertEqual(res.returncode, 0, res.stderr)
        msg = self.new_mail("bob")[0]
        self.assertTrue(msg.endswith("\n.starts with a dot\n"), msg)
        self.assertNotIn("after the dot", msg)

    def test_verbose_pipelines_the_envelope(self):
        # the client sends MAIL, both RCPTs and DATA before it reads the
        # MAIL reply when smtpd offers PIPELINING; the replies still match
        res = self.sendmail("-v", "alice@example.test", "bob@example.test",
                            text="Subject: piped\n\n.dot\n")
        self.assertEqual(res.returncode, 0, res.stderr)
        lines = res.stderr.decode().splitlines()
        sent = [i for i, l in enumerate(lines) if l.startswith(">>> ")]
        mail = next(i for i in sent if lines[i].startswith(">>> MAIL FROM:"))
        self.assertEqual([lines[i].split(":")[0].split(",")[0] for i in sent if i > mail][:4],
                         [">>> RCPT TO", ">>> RCPT TO", ">>> DATA", ">>> (message"], lines)
        self.assertTrue(lines[mail + 1].startswith(">>> RCPT TO:"), lines)
        self.assertTrue(any(l.startswith("sendmail: 250 ") for l in lines), lines)
        for user in ("alice", "bob"):
            self.assertTrue(self.new_mail(user)[0].endswith("\n.dot\n"))

    def test_crlf_input(self):
        res = self.sendmail("alice@example.test", text="Subject: crlf\r\n\r\nline\r\n")
        self.assertEqual(res.returncode, 0, res.stderr)
        msg = self.new_mail("alice")[0]
        self.assertNotIn("\r", msg)
        self.assertTrue(msg.endswith("\nline\n"))

    def test_unknown_user_is_nouser(self):
        res = self.sendmail("nobody@example.test", text="Subject: x\n\nx\n")
        self.assertEqual(res.returncode, EX_NOUSER)
        self.assertIn(b"550", res.stderr)
        # one good and one bad recipient: sent to the good one, still 67
        res = self.sendmail("nobody@example.test", "alice@example.test", text="Subject: y\n\ny\n")
        self.assertEqual(res.returncode, EX_NOUSER)
        self.assertIn("Subject: y", self.new_mail("alice")[0])

    def test_postmaster_alias_reaches_demo(self):
        res = self.sendmail("postmaster@example.test", text="Subject: pm\n\nfor the demo\n")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("for the demo", self.new_mail("demo")[0])

    def test_bs(self):
        session = ("EHLO me\r\nMAIL FROM:<s@example.test>\r\nRCPT TO:<carol@example.test>\r\n"
                   "DATA\r\nSubject: bs\r\n\r\nvia -bs\r\n.\r\nQUIT\r\n")
        res = self.sendmail("-bs", text=session)
        self.assertEqual(res.returncode, 0, res.stderr)
        out = res.stdout.decode()
        self.assertTrue(out.startswith("220 "), out)
        self.assertIn("queued as", out)
        self.assertIn("221 ", out)
        self.assertIn("via -bs", self.new_mail("carol")[0])

    def test_user_added_while_running(self):
        # the running smtpd/local answer from the new maps at once (mapgen)
        self.ok("user", "add", "late@example.test")
        self.ok("alias", "add", "team@example.test", "late@example.test,bob@example.test")
        res = self.sendmail("team@example.test", text="Subject: late\n\nhello\n")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("Subject: late", self.new_mail("late")[0])
        self.assertIn("Subject: late", self.new_mail("bob")[0])

    def test_queue_empty_after_delivery_and_flush(self):
        res = self.sendmail("alice@example.test", text="Subject: q\n\nq\n")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.new_mail("alice")
        self.assertTrue(wait_for(lambda: self.sendmail("-bp").stdout == b"Mail queue is empty\n",
                                 timeout=10))
        self.assertIn("qmgr asked", self.ok("queue", "flush"))


if __name__ == "__main__":
    unittest.main()
