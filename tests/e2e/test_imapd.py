#!/usr/bin/env python3
"""End-to-end tests of imapd's sessions against a private instance, with
Python's imaplib, curl (imap:// with STARTTLS, imaps://) and a raw
client: the greeting and CAPABILITY in each state; LOGINDISABLED and
[PRIVACYREQUIRED] without TLS; STARTTLS and the plaintext pipelined after
it; imaps; LOGIN good and bad (with its delay); AUTHENTICATE PLAIN with and
without SASL-IR, cancelled; ID, NAMESPACE, ENABLE; unknown and wrong-state
commands (BAD, the session goes on); a literal over the limit refused
without "+"; a flood line cut off with BYE; IDLE and DONE; LOGOUT; the
timeout before login."""
import imaplib
import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (InstanceCase, b64, client_tls_context, free_port,  # noqa: E402
                     port_open, require_tools, set_password, wait_for)
from imaptest import RawImap, imaplib_tls  # noqa: E402

require_tools("curl")

DOMAINS = "example.test OK\n"
MAILBOXES = ("alice@example.test example.test/alice/\n"
             "bob@example.test example.test/bob/\n"
             "carol@example.test example.test/carol/\n")
PASSWORDS = {"alice@example.test": "alice secret", "bob@example.test": "bob secret",
             "carol@example.test": "carol secret"}
ALICE, ALICE_PW = "alice@example.test", "alice secret"


def quiet_shutdown(m):
    """Closes an imaplib connection that LOGOUT may have closed already."""
    try:
        m.shutdown()
    except OSError:
        pass


class ImapBase(InstanceCase):
    """imapd on a plain port (STARTTLS), an imaps port and a plain port
    that allows cleartext logins."""

    EXTRA_MAIN = {}

    @classmethod
    def configure(cls):
        inst = cls.inst
        cls.port, cls.sport, cls.cport = free_port(), free_port(), free_port()
        inst.set_master_cf([
            "127.0.0.1:%d inet n - n - 2 imapd" % cls.port,
            "127.0.0.1:%d inet n - n - 2 imapd -o imapd_service=imaps" % cls.sport,
            "127.0.0.1:%d inet n - n - 2 imapd -o imapd_tls_auth_only=no" % cls.cport,
        ])
        inst.build_map("domains", DOMAINS)
        inst.build_map("mailboxes", MAILBOXES)
        for user, password in PASSWORDS.items():
            set_password(inst, user, password)
        inst.set_main("imapd_auth_failure_delay", "0")
        for key, value in cls.EXTRA_MAIN.items():
            inst.set_main(key, value)
        inst.start()
        for p in (cls.port, cls.sport, cls.cport):
            if not wait_for(lambda: port_open(p)):
                raise RuntimeError("imapd on %d did not come up: %s" % (p, inst.log()))

    def raw(self, port=None, tls=False):
        c = RawImap(port or self.cport, tls=tls)
        self.addCleanup(c.close)
        return c


class TestGreeting(ImapBase):
    def test_greeting_and_capability_before_tls(self):
        c = self.raw(self.port)
        self.assertRegex(c.greeting, r"^\* OK \[CAPABILITY IMAP4rev1 .*\] \S+ ready\.$")
        untagged, tagged = c.cmd("CAPABILITY")
        self.assertEqual(tagged, "t1 OK Capability completed.")
        caps = untagged[0].split()[2:]
        for cap in ("IMAP4rev1", "STARTTLS", "LOGINDISABLED", "SASL-IR", "LITERAL-", "ID",
                    "ENABLE", "IDLE", "NAMESPACE"):
            self.assertIn(cap, caps)
        self.assertNotIn("AUTH=PLAIN", caps)  # no cleartext mechanism before TLS
        self.assertIn("AUTH=SCRAM-SHA-256", caps)

    def test_capability_after_starttls_and_login(self):
        c = self.raw(self.port)
        self.assertEqual(c.starttls(), "t1 OK Begin TLS negotiation now.")
        untagged, _ = c.cmd("CAPABILITY")
        caps = untagged[0].split()
        self.assertNotIn("STARTTLS", caps)
        self.assertNotIn("LOGINDISABLED", caps)
        self.assertIn("AUTH=PLAIN", caps)
        _, tagged = c.cmd('LOGIN "%s" "%s"' % (ALICE, ALICE_PW))
        self.assertRegex(tagged, r"^t\d+ OK \[CAPABILITY IMAP4rev1 .*\] Logged in\.$")
        untagged, _ = c.cmd("CAPABILITY")
        caps = untagged[0].split()
        for cap in ("STARTTLS", "AUTH=PLAIN", "SASL-IR", "LOGINDISABLED"):
            self.assertNotIn(cap, caps)
        self.assertIn("IDLE", caps)

    def test_imaps(self):
        m = imaplib_tls(self.sport)
        self.addCleanup(quiet_shutdown, m)
        self.assertNotIn("STARTTLS", m.capabilities)
        self.assertEqual(m.login(ALICE, ALICE_PW)[0], "OK")
        self.assertEqual(m.logout()[0], "BYE")


class TestLogin(ImapBase):
    def test_login_refused_without_tls(self):
        m = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        self.addCleanup(quiet_shutdown, m)
        self.assertIn("LOGINDISABLED", m.capabilities)
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            m.login(ALICE, ALICE_PW)
        self.assertIn("PRIVACYREQUIRED", str(cm.exception))

    def test_imaplib_starttls_login(self):
        m = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        self.addCleanup(quiet_shutdown, m)
        m.starttls(ssl_context=client_tls_context())
        self.assertEqual(m.login(ALICE, ALICE_PW)[0], "OK")
        self.assertEqual(m.noop()[0], "OK")
        self.assertEqual(m.logout()[0], "BYE")
        self.assertIn("login: user=alice@example.test, method=LOGIN, TLS", self.inst.log())

    def test_login_wrong_password(self):
        c = self.raw()
        _, tagged = c.cmd('LOGIN "%s" "wrong"' % ALICE)
        self.assertEqual(tagged, "t1 NO [AUTHENTICATIONFAILED] Authentication failed.")
        _, tagged = c.cmd("NOOP")  # the session goes on
        self.assertEqual(tagged, "t2 OK NOOP completed.")
        self.assertIn("LOGIN authentication failed: wrong password or unknown user, "
                      "user=alice@example.test", self.inst.log())

    def test_authenticate_plain_sasl_ir(self):
        c = self.raw()
        _, tagged = c.cmd("AUTHENTICATE PLAIN " + b64("\0%s\0%s" % (ALICE, ALICE_PW)))
        self.assertRegex(tagged, r"^t1 OK \[CAPABILITY .*\] Logged in\.$")
        untagged, tagged = c.cmd("NAMESPACE")
        self.assertEqual(untagged, ['* NAMESPACE (("" ".")) NIL NIL'])

    def test_authenticate_plain_continuation(self):
        c = self.raw()
        c.send("a1 AUTHENTICATE PLAIN\r\n")
        self.assertEqual(c.line(), "+ ")
        c.send(b64("\0%s\0%s" % (ALICE, ALICE_PW)) + "\r\n")
        self.assertRegex(c.line(), r"^a1 OK \[CAPABILITY .*\] Logged in\.$")

    def test_authenticate_imaplib(self):
        m = imaplib.IMAP4("127.0.0.1", self.cport, timeout=10)
        self.addCleanup(quiet_shutdown, m)
        typ, _ = m.authenticate("PLAIN", lambda _: "\0%s\0%s" % (ALICE, ALICE_PW))
        self.assertEqual(typ, "OK")

    def test_authenticate_bad_and_cancelled(self):
        c = self.raw()
        _, tagged = c.cmd("AUTHENTICATE PLAIN " + b64("\0%s\0nope" % ALICE))
        self.assertEqual(tagged, "t1 NO [AUTHENTICATIONFAILED] Authentication failed.")
        c.send("t2 AUTHENTICATE PLAIN\r\n")
        self.assertEqual(c.line(), "+ ")
        c.send("*\r\n")
        self.assertTrue(c.line().startswith("t2 BAD "))
        c.n = 2
        _, tagged = c.cmd("AUTHENTICATE NOSUCH")
        self.assertTrue(tagged.startswith("t3 NO "), tagged)

    def test_login_literal(self):
        c = self.raw()
        c.send("a1 LOGIN {%d}\r\n" % len(ALICE))
        self.assertTrue(c.line().startswith("+ "))
        c.send('%s "%s"\r\n' % (ALICE, ALICE_PW))
        self.assertRegex(c.line(), r"^a1 OK ")


class TestLoginDelay(ImapBase):
    EXTRA_MAIN = {"imapd_auth_failure_delay": "1s"}

    def test_failed_login_is_delayed(self):
        # the delay doubles with each failure of one address: the second
        # failure waits at least the first delay
        c = self.raw()
        c.cmd('LOGIN "%s" "wrong1"' % ALICE)
        start = time.monotonic()
        _, tagged = c.cmd('LOGIN "%s" "wrong2"' % ALICE)
        self.assertIn("AUTHENTICATIONFAILED", tagged)
        self.assertGreaterEqual(time.monotonic() - start, 0.9)


class TestCommands(ImapBase):
    def login(self):
        c = self.raw()
        _, tagged = c.cmd('LOGIN "%s" "%s"' % (ALICE, ALICE_PW))
        self.assertIn(" OK ", tagged)
        return c

    def test_id(self):
        c = self.raw()
        untagged, tagged = c.cmd('ID ("name" "pytest" "version" "1.0")')
        self.assertEqual(untagged, ['* ID ("name" "Postern" "version" "0.1.0")'])
        self.assertIn("OK", tagged)
        self.assertIn("ID: name=pytest, version=1.0", self.inst.log())
        _, tagged = c.cmd("ID NIL")
        self.assertIn("OK", tagged)
        _, tagged = c.cmd('ID ("odd")')
        self.assertIn("BAD", tagged)

    def test_enable_and_namespace(self):
        c = self.login()
        untagged, tagged = c.cmd("ENABLE NOSUCHEXT")
        self.assertEqual(untagged, ["* ENABLED"])
        self.assertIn(" OK ", tagged)

    def test_unknown_and_wrong_state(self):
        c = self.raw()
        _, tagged = c.cmd("FROBNICATE")
        self.assertEqual(tagged, "t1 BAD Unknown command.")
        _, tagged = c.cmd("NAMESPACE")
        self.assertEqual(tagged, "t2 BAD NAMESPACE is not valid in the not authenticated state.")
        _, tagged = c.cmd("ENABLE X")
        self.assertIn("BAD", tagged)
        _, tagged = c.cmd("NOOP")
        self.assertEqual(tagged, "t4 OK NOOP completed.")
        c = self.login()
        _, tagged = c.cmd('LOGIN "%s" "%s"' % (ALICE, ALICE_PW))
        self.assertIn("BAD LOGIN is not valid in the authenticated state", tagged)

    def test_syntax_error_then_next_command(self):
        c = self.raw()
        c.send('a1 LOGIN "unterminated\r\na2 NOOP\r\n')
        self.assertTrue(c.line().startswith("a1 BAD "))
        self.assertEqual(c.line(), "a2 OK NOOP completed.")

    def test_literal_over_limit_refused_without_continuation(self):
        c = self.raw()
        c.send("a1 APPEND INBOX {999999999}\r\n")
        line = c.line()
        self.assertTrue(line.startswith("a1 BAD [TOOBIG]"), line)
        _, tagged = c.cmd("NOOP")
        self.assertIn("OK", tagged)

    def test_prelogin_literal_small(self):
        # before login a literal carries a password at most: 100 KB is
        # refused before "+"; after login the APPENDLIMIT applies
        c = self.raw()
        c.send("a1 LOGIN {100000}\r\n")
        line = c.line()
        self.assertTrue(line.startswith("a1 BAD [TOOBIG]"), line)
        c.send('a2 LOGIN {%d}\r\n' % len(ALICE))
        self.assertTrue(c.line().startswith("+"))
        c.send('%s "%s"\r\n' % (ALICE, ALICE_PW))
        self.assertTrue(c.line().startswith("a2 OK"))
        c.send("a3 APPEND INBOX {100000}\r\n")
        self.assertTrue(c.line().startswith("+"))
        c.send("x" * 99998 + "\r\n\r\n")
        self.assertTrue(c.line().startswith("a3 OK"))

    def test_flood_line_cut_off(self):
        c = self.raw()
        chunk = b"x" * (1024 * 1024)
        c.send(b"a1 NOOP ")
        sent = 0
        try:
            while sent < 100:
                c.send(chunk)
                sent += 1
        except OSError:
            pass
        lines = []
        while True:
            try:
                ln = c.line()
            except OSError:
                break
            if ln == "":
                break
            lines.append(ln)
        # the BYE may be lost to the reset of a connection closed with
        # unread input; the log line is not
        self.assertTrue(wait_for(lambda: "flood of a broken command" in self.inst.log()))
        self.assertTrue(all(ln.startswith("* BYE") or ln.startswith("a1 BAD")
                            for ln in lines), lines)
        self.assertLess(sent, 100)  # closed before the client sent it all

    def test_idle_and_done(self):
        c = self.login()
        c.send("i1 IDLE\r\n")
        self.assertEqual(c.line(), "+ idling")
        c.send("DONE\r\n")
        self.assertEqual(c.line(), "i1 OK IDLE completed.")
        c.send("i2 IDLE\r\n")
        self.assertEqual(c.line(), "+ idling")
        c.send("NOPE\r\n")
        self.assertEqual(c.line(), "i2 BAD Expected DONE.")

    def test_deleted_user_loses_session(self):
        c = self.raw()
        _, tagged = c.cmd('LOGIN "carol@example.test" "carol secret"')
        self.assertIn(" OK ", tagged)
        res = self.inst.ctl("user", "del", "carol@example.test")
        self.assertEqual(res.returncode, 0, res.stderr)
        untagged, tagged = c.cmd("NOOP")
        self.assertEqual(untagged, ["* BYE [AUTHENTICATIONFAILED] The user no longer exists."])
        self.assertEqual(tagged, "")  # closed
        self.assertIn("user=carol@example.test: the user was deleted", self.inst.log())

    def test_logout(self):
        c = self.raw()
        untagged, tagged = c.cmd("LOGOUT")
        self.assertEqual(untagged, ["* BYE Logging out."])
        self.assertEqual(tagged, "t1 OK Logout completed.")
        self.assertEqual(c.line(), "")  # closed

    def test_pipelined_commands(self):
        c = self.raw()
        c.send("".join("p%d NOOP\r\n" % i for i in range(50)))
        for i in range(50):
            self.assertEqual(c.line(), "p%d OK NOOP completed." % i)


class TestStartTls(ImapBase):
    def test_pipelined_plaintext_dropped(self):
        c = self.raw(self.port)
        c.send('a1 STARTTLS\r\na2 LOGIN "%s" "%s"\r\n' % (ALICE, ALICE_PW))
        self.assertEqual(c.line(), "a1 OK Begin TLS negotiation now.")
        c.file.close()
        c.sock = client_tls_context().wrap_socket(c.sock)
        c.file = c.sock.makefile("rb")
        _, tagged = c.cmd("NOOP", tag="a3")
        self.assertEqual(tagged, "a3 OK NOOP completed.")  # no reply for a2
        untagged, _ = c.cmd("NAMESPACE", tag="a4")
        self.assertEqual(untagged, [])  # not logged in: a2 was dropped

    def test_curl_imap_and_imaps(self):
        for url, extra in (("imap://127.0.0.1:%d/" % self.port, ["--ssl-reqd"]),
                           ("imaps://127.0.0.1:%d/" % self.sport, [])):
            res = subprocess.run(["curl", "-s", "-k", "-u", "%s:%s" % (ALICE, ALICE_PW)] + extra
                                 + ["-X", "CAPABILITY", url],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(res.returncode, 0, url + res.stderr)
            self.assertIn("IMAP4rev1", res.stdout)


class TestFolders(ImapBase):
    """LIST/LSUB/CREATE/DELETE/RENAME/SUBSCRIBE over lib/mfolder; the
    Maildir++ directories they make."""

    def login(self, user="bob@example.test"):
        c = self.raw()
        _, tagged = c.cmd('LOGIN "%s" "%s"' % (user, PASSWORDS[user]))
        self.assertIn(" OK ", tagged)
        return c

    def maildir(self, user="bob@example.test"):
        base = self.inst.ctl("config", "get", "virtual_mailbox_base").stdout.strip()
        return os.path.join(base, "example.test", user.split("@")[0])

    def test_create_list_rename_delete(self):
        c = self.login()
        self.assertIn("OK", c.cmd("CREATE Work")[1])
        self.assertIn("OK", c.cmd('CREATE "Work.Project"')[1])
        self.assertIn("OK", c.cmd('CREATE "Entw&APw-rfe"')[1])  # non-ASCII: Entwuerfe
        self.assertTrue(os.path.isdir(os.path.join(self.maildir(), ".Work.Project", "cur")))
        self.assertTrue(os.path.isdir(os.path.join(self.maildir(), ".Entw&APw-rfe", "new")))
        untagged, tagged = c.cmd('LIST "" "*"')
        self.assertIn("OK", tagged)
        self.assertIn('* LIST (\\HasNoChildren) "." "INBOX"', untagged)
        self.assertIn('* LIST (\\HasChildren) "." "Work"', untagged)
        self.assertIn('* LIST (\\HasNoChildren) "." "Work.Project"', untagged)
        self.assertIn('* LIST (\\HasNoChildren) "." "Entw&APw-rfe"', untagged)
        untagged, _ = c.cmd('LIST "" "%"')
        self.assertNotIn('* LIST (\\HasNoChildren) "." "Work.Project"', untagged)
        self.assertIn(" NO [ALREADYEXISTS] ", c.cmd("CREATE Work")[1])
        self.assertIn("OK", c.cmd("RENAME Work Play")[1])
        untagged, _ = c.cmd('LIST "" "Play*"')
        self.assertIn('* LIST (\\HasNoChildren) "." "Play.Project"', untagged)
        self.assertIn("OK", c.cmd('DELETE "Play.Project"')[1])
        self.assertIn("OK", c.cmd("DELETE Play")[1])
        untagged, _ = c.cmd('LIST "" "Play*"')
        self.assertEqual(untagged, [])
        self.assertIn("NO [NONEXISTENT]", c.cmd("DELETE Play")[1])
        self.assertIn("NO", c.cmd("DELETE INBOX")[1])

    def test_bad_names(self):
        c = self.login()
        for name in ('"a/b"', '"..x"', '"x..y"', '".hidden"', '"%"', '"&Jjo"'):
            _, tagged = c.cmd("CREATE " + name)
            self.assertIn("NO [CANNOT]", tagged, name)
        self.assertFalse([n for n in os.listdir(os.path.dirname(self.maildir()))
                          if n not in ("alice", "bob", "carol", "demo")])

    def test_subscriptions_and_lsub(self):
        c = self.login()
        c.cmd("CREATE Lists")
        self.assertIn("OK", c.cmd("SUBSCRIBE Lists")[1])
        untagged, _ = c.cmd('LSUB "" "*"')
        self.assertIn('* LSUB () "." "Lists"', untagged)
        with open(os.path.join(self.maildir(), "subscriptions")) as f:
            self.assertIn("Lists", f.read())
        untagged, _ = c.cmd('LIST (SUBSCRIBED) "" "Lists" RETURN (CHILDREN)')
        self.assertEqual(len(untagged), 1)
        self.assertIn("\\Subscribed", untagged[0])
        self.assertIn("OK", c.cmd("UNSUBSCRIBE Lists")[1])
        untagged, _ = c.cmd('LSUB "" "*"')
        self.assertNotIn('* LSUB () "." "Lists"', untagged)

    def test_special_use(self):
        c = self.login()
        self.assertIn("OK", c.cmd("CREATE Sent")[1])
        self.assertIn("OK", c.cmd("CREATE Outbox (USE (\\Sent))")[1])
        self.assertIn("NO [USEATTR]", c.cmd("CREATE Other (USE (\\Bogus))")[1])
        untagged, _ = c.cmd('LIST (SPECIAL-USE) "" "*"')
        names = " ".join(untagged)
        self.assertIn('"Sent"', names)
        self.assertIn('"Outbox"', names)
        self.assertNotIn('"INBOX"', names)
        self.assertTrue(all("\\Sent" in u for u in untagged), untagged)

    def test_list_status(self):
        # LIST-STATUS (RFC 5819): a STATUS line after each selectable folder
        c = self.login()
        self.assertIn("LIST-STATUS", " ".join(c.cmd("CAPABILITY")[0]))
        c.cmd("CREATE Box")
        c.cmd("CREATE Par.Kid")  # Par has no directory: no STATUS for it
        cur = os.path.join(self.maildir(), ".Box", "cur")
        for i in range(3):
            with open(os.path.join(cur, "17000000%02d.M1P1.h:2,%s" % (i, "S" if i else "")),
                      "w") as f:
                f.write("Subject: %d\n\nbody\n" % i)
        untagged, tagged = c.cmd('LIST "" "*" RETURN (CHILDREN STATUS (MESSAGES UNSEEN))')
        self.assertIn("OK", tagged)
        i = untagged.index(next(u for u in untagged if u.endswith('"Box"')))
        self.assertEqual(untagged[i + 1], '* STATUS "Box" (MESSAGES 3 UNSEEN 1)')
        self.assertTrue(any(u.startswith('* STATUS "INBOX" (MESSAGES ') for u in untagged))
        self.assertFalse(any(u.startswith('* STATUS "Par"') for u in untagged), untagged)
        self.assertTrue(any(u.startswith('* STATUS "Par.Kid" (MESSAGES 0 ') for u in untagged))

    def test_list_root_and_syntax(self):
        c = self.login()
        untagged, tagged = c.cmd('LIST "" ""')
        self.assertEqual(untagged, ['* LIST (\\Noselect) "." ""'])
        self.assertIn("BAD", c.cmd('LIST "" "*" RETURN (STATUS (BOGUS))')[1])
        self.assertIn("BAD", c.cmd('LIST "" "*" RETURN (STATUS)')[1])
        self.assertIn("BAD", c.cmd('LIST (RECURSIVEMATCH) "" "*"')[1])
        self.assertIn("BAD", c.cmd("LIST")[1])
        raw = self.raw()
        self.assertIn("BAD", raw.cmd('LIST "" "*"')[1])  # not logged in

    def test_imaplib_list(self):
        m = imaplib.IMAP4("127.0.0.1", self.cport, timeout=10)
        self.addCleanup(quiet_shutdown, m)
        m.login("alice@example.test", PASSWORDS["alice@example.test"])
        self.assertEqual(m.create("Archive")[0], "OK")
        typ, data = m.list()
        self.assertEqual(typ, "OK")
        self.assertTrue(any(b'"Archive"' in d and b"\\Archive" in d for d in data), data)


class TestSelected(ImapBase):
    """SELECT/EXAMINE/STATUS/CLOSE/UNSELECT/EXPUNGE/CHECK over lib/imapbox,
    changes by others reported after NOOP and during IDLE (lib/watch)."""

    USER = "alice@example.test"

    def maildir(self):
        base = self.inst.ctl("config", "get", "virtual_mailbox_base").stdout.strip()
        return os.path.join(base, "example.test", self.USER.split("@")[0])

    def fill(self, count, flags=None):
        """Empties the INBOX and stores count messages in new/ (or in cur/
        with flags); returns their base names."""
        md = self.maildir()
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
            for name in os.listdir(os.path.join(md, sub)):
                os.unlink(os.path.join(md, sub, name))
        for name in os.listdir(md):
            if name.startswith("dovecot-") or name.startswith("postern-"):
                os.unlink(os.path.join(md, name))
        names = []
        for i in range(count):
            name = "%d.M%dP1.test" % (1700000000 + i, i)
            path = os.path.join(md, "new", name) if flags is None else \
                os.path.join(md, "cur", name + ":2," + flags[i])
            with open(path, "wb") as f:
                f.write(b"From: x@example.test\nSubject: m%d\n\nbody %d\n" % (i, i))
            names.append(name)
        self.inst.give(md)
        return names

    def deliver(self, name):
        """A message written as local writes one: tmp/ then new/."""
        md = self.maildir()
        tmp = os.path.join(md, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(b"Subject: late\n\nlate\n")
        self.inst.give(tmp)
        os.rename(tmp, os.path.join(md, "new", name))

    def login(self):
        c = self.raw()
        _, tagged = c.cmd('LOGIN "%s" "%s"' % (self.USER, PASSWORDS[self.USER]))
        self.assertIn(" OK ", tagged)
        return c

    def test_select_examine_status(self):
        self.fill(3)
        c = self.login()
        untagged, tagged = c.cmd("SELECT INBOX")
        self.assertRegex(tagged, r"^t\d+ OK \[READ-WRITE\] Select completed\.$")
        self.assertIn("* 3 EXISTS", untagged)
        self.assertIn("* 3 RECENT", untagged)
        self.assertIn("* OK [UNSEEN 1] First unseen.", untagged)
        self.assertIn("* OK [UIDNEXT 4] Predicted next UID.", untagged)
        self.assertTrue(any(u.startswith("* FLAGS (") for u in untagged), untagged)
        self.assertTrue(any(u.startswith("* OK [UIDVALIDITY ") for u in untagged), untagged)
        self.assertEqual(len(os.listdir(os.path.join(self.maildir(), "cur"))), 3)
        d = self.login()
        untagged, tagged = d.cmd("EXAMINE inbox")
        self.assertIn("OK [READ-ONLY]", tagged)
        self.assertIn("* 0 RECENT", untagged)  # \Recent went to the first session
        self.assertIn("NO [READ-ONLY]", d.cmd("EXPUNGE")[1])
        untagged, tagged = d.cmd("STATUS INBOX (MESSAGES UIDNEXT UNSEEN SIZE)")
        self.assertIn(" OK ", tagged)
        self.assertRegex(untagged[0], r'^\* STATUS "INBOX" \(MESSAGES 3 UIDNEXT 4 UNSEEN 3 '
                         r'SIZE \d+\)$')
        self.assertIn("NO [NONEXISTENT]", d.cmd("SELECT Nowhere")[1])
        self.assertIn("BAD", d.cmd("CLOSE")[1])  # the failed SELECT left no folder
        self.assertIn("BAD", d.cmd("STATUS INBOX (BOGUS)")[1])

    def test_changes_after_noop(self):
        names = self.fill(3)
        c = self.login()
        c.cmd("SELECT INBOX")
        cur = os.path.join(self.maildir(), "cur")
        files = sorted(os.listdir(cur))
        os.rename(os.path.join(cur, files[1]), os.path.join(cur, names[1] + ":2,S"))
        os.unlink(os.path.join(cur, files[0]))
        untagged, tagged = c.cmd("NOOP")
        self.assertIn("OK", tagged)
        self.assertIn("* 1 EXPUNGE", untagged)
        self.assertTrue(any(u.startswith("* 1 FETCH (UID 2 FLAGS (\\Seen") for u in untagged),
                        untagged)
        self.deliver("1700000100.M100P1.test")
        untagged, _ = c.cmd("CHECK")
        self.assertIn("* 3 EXISTS", untagged)

    def test_idle_woken_by_delivery_and_expunge(self):
        self.fill(2)
        c = self.login()
        c.cmd("SELECT INBOX")
        other = self.login()
        other.cmd("SELECT INBOX")
        c.send("i1 IDLE\r\n")
        self.assertEqual(c.line(), "+ idling")
        start = time.monotonic()
        self.deliver("1700000200.M200P1.test")
        self.assertEqual(c.line(), "* 3 EXISTS")
        self.assertEqual(c.line(), "* 3 RECENT")  # all three first seen here
        self.assertLess(time.monotonic() - start, 1.5)
        # another session's STORE-less change: \Deleted set on disk, then
        # that session expunges
        cur = os.path.join(self.maildir(), "cur")
        first = sorted(os.listdir(cur))[0]
        os.rename(os.path.join(cur, first), os.path.join(cur, first.split(":")[0] + ":2,T"))
        self.assertEqual(c.line(), "* 1 FETCH (UID 1 FLAGS (\\Deleted \\Recent))")
        untagged, tagged = other.cmd("EXPUNGE")
        self.assertIn(" OK ", tagged)
        self.assertIn("* 1 EXPUNGE", untagged)
        self.assertEqual(c.line(), "* 1 EXPUNGE")
        c.send("DONE\r\n")
        self.assertEqual(c.line(), "i1 OK IDLE completed.")

    def test_close_expunges_unselect_does_not(self):
        self.fill(3, flags=["T", "", "S"])
        c = self.login()
        c.cmd("SELECT INBOX")
        self.assertIn("OK Unselect completed.", c.cmd("UNSELECT")[1])
        self.assertEqual(len(os.listdir(os.path.join(self.maildir(), "cur"))), 3)
        c.cmd("EXAMINE INBOX")
        c.cmd("CLOSE")  # read-only: nothing expunged
        self.assertEqual(len(os.listdir(os.path.join(self.maildir(), "cur"))), 3)
        c.cmd("SELECT INBOX")
        self.assertIn("OK Close completed.", c.cmd("CLOSE")[1])
        self.assertEqual(len(os.listdir(os.path.join(self.maildir(), "cur"))), 2)
        self.assertIn("BAD", c.cmd("EXPUNGE")[1])  # not selected any more

    def test_imaplib_select(self):
        self.fill(2)
        m = imaplib.IMAP4("127.0.0.1", self.cport, timeout=10)
        self.addCleanup(quiet_shutdown, m)
        m.login(self.USER, PASSWORDS[self.USER])
        typ, data = m.select("INBOX")
        self.assertEqual((typ, data), ("OK", [b"2"]))
        self.assertEqual(m.status("INBOX", "(MESSAGES)")[1], [b'"INBOX" (MESSAGES 2)'])
        self.assertEqual(m.close()[0], "OK")


class TestTimeout(ImapBase):
    EXTRA_MAIN = {"imapd_login_timeout": "1s"}

    def test_timeout_before_login(self):
        c = self.raw()
        start = time.monotonic()
        self.assertEqual(c.line(), "* BYE Disconnected for inactivity.")
        self.assertEqual(c.line(), "")
        self.assertLess(time.monotonic() - start, 4)


if __name__ == "__main__":
    unittest.main()
