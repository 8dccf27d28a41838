#!/usr/bin/env python3
"""End-to-end tests of imapd's reading commands against a private instance,
with Python's imaplib (and a raw client where imaplib hides lines):
messages delivered over SMTP (smtplib) through qmgr and local, some moved
into a folder as a Maildir MUA would; FETCH of every item (partial
BODY[]<o.l>, BODY[1.2.MIME], HEADER.FIELDS(.NOT), the exact BODYSTRUCTURE
of a multipart message with an attachment and a message/rfc822 part,
ENVELOPE with encoded words, BINARY of a base64 part); SEARCH by header,
date, size, flags and text (an encoded-word subject, a base64 body),
ESEARCH and SEARCHRES; STORE with keywords; flags kept across sessions and
an imapd restart; a flag change seen by a second session; CONDSTORE
(CHANGEDSINCE, UNCHANGEDSINCE); a message file deleted by another process
while selected (NO, the session goes on); a 5 MB message fetched by a
client that reads slowly (imapd's memory stays bounded)."""
import base64
import imaplib
import os
import re
import shutil
import smtplib
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MAIL_SERVICES, InstanceCase, free_port, port_open,  # noqa: E402
                     set_password, wait_for)
from imaptest import RawImap  # noqa: E402

DOMAINS = "example.test OK\n"
USERS = ("alice", "bob", "carol", "dave")
MAILBOXES = "".join("%s@example.test example.test/%s/\n" % (u, u) for u in USERS)
PW = "secret pw"

PLAIN = (
    "From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@remote.test>\r\n"
    "To: Alice <alice@example.test>\r\n"
    "Cc: bob@example.test\r\n"
    "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n"
    "Date: Mon, 02 Mar 2026 10:00:00 +0100\r\n"
    "Message-ID: <plain-1@remote.test>\r\n"
    "X-Tag: one\r\n"
    "\r\n"
    "Hello Alice,\r\n"
    "the quick brown fox.\r\n")

ATTACHMENT = bytes(range(256)) * 4  # NULs included: BINARY needs literal8

MULTI = (
    "From: Sender <s@remote.test>\r\n"
    "To: alice@example.test\r\n"
    "Subject: report with attachment\r\n"
    "Date: Tue, 10 Mar 2026 08:30:00 +0000\r\n"
    "Message-ID: <multi-1@remote.test>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--outer\r\n"
    "Content-Type: multipart/alternative; boundary=\"inner\"\r\n"
    "\r\n"
    "--inner\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "plain text body\r\n"
    "--inner\r\n"
    "Content-Type: text/html; charset=us-ascii\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "<p>html body</p>\r\n"
    "--inner--\r\n"
    "--outer\r\n"
    "Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
    "Content-Disposition: attachment; filename=\"data.bin\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    + "\r\n".join(base64.encodebytes(ATTACHMENT).decode().split("\n")).rstrip("\r\n") + "\r\n"
    "--outer\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "From: inner@remote.test\r\n"
    "Subject: inner message\r\n"
    "\r\n"
    "inner body\r\n"
    "--outer--\r\n")

B64TEXT = "Das geheime Wort ist Xylophon und noch mehr Text.\r\n"
BASE64BODY = (
    "From: b64@remote.test\r\n"
    "To: alice@example.test\r\n"
    "Subject: encoded body\r\n"
    "Date: Fri, 20 Mar 2026 12:00:00 +0000\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    + base64.encodebytes(B64TEXT.encode()).decode().replace("\n", "\r\n"))


def smtp_send(port, rcpt, text):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
        c.sendmail("s@remote.test", [rcpt], text.encode())


class ReadBase(InstanceCase):
    """smtpd, qmgr, local and one imapd process (cleartext logins)."""

    @classmethod
    def configure(cls):
        inst = cls.inst
        cls.smtp, cls.port = free_port(), free_port()
        inst.set_mail_services([
            "127.0.0.1:%d inet n - n - 2 smtpd" % cls.smtp,
            "127.0.0.1:%d inet n - n - 1 imapd -o imapd_tls_auth_only=no" % cls.port,
        ])
        inst.build_map("domains", DOMAINS)
        inst.build_map("mailboxes", MAILBOXES)
        for u in USERS:
            set_password(inst, u + "@example.test", PW)
        inst.set_main("imapd_auth_failure_delay", "0")
        base = inst.ctl("config", "get", "virtual_mailbox_base").stdout.strip()
        cls.maildirs = {u: os.path.join(base, "example.test", u) for u in USERS}
        inst.start()
        for p in (cls.smtp, cls.port):
            if not wait_for(lambda: port_open(p), 10):
                raise RuntimeError("service on %d did not come up: %s" % (p, inst.log()))

    @classmethod
    def deliver(cls, user, text, count):
        """Sends text to user over SMTP and waits until user's INBOX holds
        count messages."""
        smtp_send(cls.smtp, user + "@example.test", text)
        md = cls.maildirs[user]

        def n():
            return sum(len(os.listdir(os.path.join(md, d))) for d in ("new", "cur")
                       if os.path.isdir(os.path.join(md, d)))
        if not wait_for(lambda: n() >= count, 30):
            raise RuntimeError("delivery to %s did not arrive: %s" % (user, cls.inst.log()))

    def login(self, user):
        m = imaplib.IMAP4("127.0.0.1", self.port, timeout=20)
        m.login(user + "@example.test", PW)
        self.addCleanup(self.quiet_logout, m)
        return m

    @staticmethod
    def quiet_logout(m):
        try:
            m.logout()
        except (OSError, imaplib.IMAP4.error):
            pass

    def raw(self, user, select="INBOX"):
        c = RawImap(self.port, timeout=20)
        self.addCleanup(c.close)
        _, t = c.cmd('LOGIN %s@example.test "%s"' % (user, PW))
        self.assertIn(" OK ", t)
        if select:
            _, t = c.cmd("SELECT " + select)
            self.assertIn(" OK ", t)
        return c

    def ok(self, res):
        typ, data = res
        self.assertEqual(typ, "OK", data)
        return data


class TestFetch(ReadBase):
    """alice: PLAIN (1), MULTI (2), BASE64BODY (3) in INBOX."""

    @classmethod
    def configure(cls):
        super().configure()
        for i, text in enumerate((PLAIN, MULTI, BASE64BODY)):
            cls.deliver("alice", text, i + 1)

    def examine(self):
        m = self.login("alice")
        self.ok(m.select("INBOX", readonly=True))
        return m

    def test_fetch_memory_items(self):
        m = self.examine()
        data = self.ok(m.fetch("1:3", "(UID FLAGS RFC822.SIZE INTERNALDATE)"))
        self.assertEqual(len(data), 3)
        for i, (line, text) in enumerate(zip(data, (PLAIN, MULTI, BASE64BODY))):
            line = line.decode()
            self.assertIn("UID %d " % (i + 1), line)
            self.assertRegex(line, r'INTERNALDATE "\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}"')
            size = int(re.search(r"RFC822.SIZE (\d+)", line).group(1))
            whole = self.ok(m.fetch(str(i + 1), "(BODY.PEEK[])"))[0][1]
            self.assertEqual(size, len(whole))
            self.assertTrue(whole.endswith(text.encode()))
        # macros
        line = self.ok(m.fetch("1", "FAST"))[0].decode()
        self.assertRegex(line, r"FLAGS \(.*\) INTERNALDATE .* RFC822.SIZE \d+")
        line = self.ok(m.fetch("1", "ALL"))[0].decode()
        self.assertIn("ENVELOPE (", line)

    def test_envelope_encoded_words(self):
        c = self.raw("alice", "INBOX")
        u, t = c.cmd("FETCH 1 ENVELOPE")
        self.assertIn(" OK ", t)
        self.assertEqual(u, [
            '* 1 FETCH (ENVELOPE ("Mon, 02 Mar 2026 10:00:00 +0100" '
            '"=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=" '
            '(("=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?=" NIL "juergen" "remote.test")) '
            '(("=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?=" NIL "juergen" "remote.test")) '
            '(("=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?=" NIL "juergen" "remote.test")) '
            '(("Alice" NIL "alice" "example.test")) ((NIL NIL "bob" "example.test")) '
            'NIL NIL "<plain-1@remote.test>"))'])
        # the second time from the cache: the same answer
        self.assertEqual(c.cmd("FETCH 1 ENVELOPE")[0], u)

    def test_bodystructure_exact(self):
        c = self.raw("alice", "INBOX")
        inner_env = ('(NIL "inner message" ((NIL NIL "inner" "remote.test")) '
                     '((NIL NIL "inner" "remote.test")) ((NIL NIL "inner" "remote.test")) '
                     'NIL NIL NIL NIL NIL)')
        expect = (
            '* 2 FETCH (BODYSTRUCTURE ('
            '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 15 1 NIL NIL NIL NIL)'
            '("text" "html" ("charset" "us-ascii") NIL NIL "quoted-printable" 16 1 NIL NIL NIL NIL)'
            ' "alternative" ("boundary" "inner") NIL NIL NIL)'
            '("application" "octet-stream" ("name" "data.bin") NIL NIL "base64" %d NIL '
            '("attachment" ("filename" "data.bin")) NIL NIL)'
            '("message" "rfc822" NIL NIL NIL "7bit" 61 %s '
            '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)'
            ' "mixed" ("boundary" "outer") NIL NIL NIL))'
            % (len(MULTI.split("Content-Transfer-Encoding: base64\r\n\r\n")[1]
                   .split("\r\n--outer")[0]), inner_env))
        u, t = c.cmd("FETCH 2 BODYSTRUCTURE")
        self.assertIn(" OK ", t)
        self.assertEqual(u, [expect])
        u, t = c.cmd("FETCH 2 BODY")
        self.assertEqual(u, [
            '* 2 FETCH (BODY ((("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 15 1)'
            '("text" "html" ("charset" "us-ascii") NIL NIL "quoted-printable" 16 1) "alternative")'
            '("application" "octet-stream" ("name" "data.bin") NIL NIL "base64" 1402)'
            '("message" "rfc822" NIL NIL NIL "7bit" 61 %s '
            '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 1) 4) "mixed"))' % inner_env])

    def test_sections(self):
        m = self.examine()
        data = self.ok(m.fetch("2", "(BODY.PEEK[1.2.MIME] BODY.PEEK[1.2] BODY.PEEK[3.TEXT] "
                                    "BODY.PEEK[3.HEADER] BODY.PEEK[1.1] BODY.PEEK[9])"))
        got = {re.search(rb"(BODY\[[^\]]*\])", data[i][0]).group(1): data[i][1]
               for i in range(len(data) - 1) if isinstance(data[i], tuple)}
        self.assertEqual(got[b"BODY[1.2.MIME]"],
                         b"Content-Type: text/html; charset=us-ascii\r\n"
                         b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
        self.assertEqual(got[b"BODY[1.2]"], b"<p>html body</p>")
        self.assertEqual(got[b"BODY[1.1]"], b"plain text body")
        self.assertEqual(got[b"BODY[3.TEXT]"], b"inner body")
        self.assertEqual(got[b"BODY[3.HEADER]"],
                         b"From: inner@remote.test\r\nSubject: inner message\r\n\r\n")
        self.assertIn(b'BODY[9] ""', b"".join(x if isinstance(x, bytes) else x[0] for x in data))

    def test_partial_and_header_fields(self):
        m = self.examine()
        whole = self.ok(m.fetch("1", "(BODY.PEEK[])"))[0][1]
        data = self.ok(m.fetch("1", "(BODY.PEEK[]<10.25>)"))
        self.assertIn(b"BODY[]<10> {25}", data[0][0])
        self.assertEqual(data[0][1], whole[10:35])
        data = self.ok(m.fetch("1", "(BODY.PEEK[TEXT]<6.100>)"))
        self.assertEqual(data[0][1], b"Alice,\r\nthe quick brown fox.\r\n")
        data = self.ok(m.fetch("1", "(BODY.PEEK[]<100000.5>)"))
        self.assertIn(b'BODY[]<100000> ""', data[0])
        data = self.ok(m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT x-tag)])"))
        self.assertEqual(data[0][1], b"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n"
                                     b"X-Tag: one\r\n\r\n")
        data = self.ok(m.fetch("1", "(BODY.PEEK[HEADER.FIELDS.NOT (Subject X-Tag Received "
                                    "Return-Path Delivered-To)])"))
        self.assertEqual(data[0][1], PLAIN.split("Subject:")[0].encode() +
                         b"Date: Mon, 02 Mar 2026 10:00:00 +0100\r\n"
                         b"Message-ID: <plain-1@remote.test>\r\n\r\n")
        data = self.ok(m.fetch("1", "(RFC822.HEADER)"))
        self.assertTrue(data[0][1].endswith(PLAIN.split("\r\n\r\n")[0].encode() + b"\r\n\r\n"))

    def test_cache_handle_kept_between_sessions(self):
        """imapd keeps a folder's cache open after the last session left it:
        the next session's answers are the same, also when the cache file
        was removed meanwhile (it is noticed and written anew)."""
        items = "(UID BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)] ENVELOPE)"
        m = self.examine()
        first = self.ok(m.fetch("1:*", items))
        self.quiet_logout(m)
        cache = os.path.join(self.maildirs["alice"], "postern-cache")
        self.assertTrue(wait_for(lambda: os.path.exists(cache), 10))
        m = self.examine()
        self.assertEqual(self.ok(m.fetch("1:*", items)), first)
        self.quiet_logout(m)
        os.unlink(cache)
        m = self.examine()
        self.assertEqual(self.ok(m.fetch("1:*", items)), first)
        self.quiet_logout(m)
        self.assertTrue(wait_for(lambda: os.path.exists(cache), 10))
        m = self.examine()
        self.assertEqual(self.ok(m.fetch("1:*", items)), first)

    def test_binary(self):
        c = self.raw("alice", "INBOX")
        self.assertIn("BINARY", c.cmd("CAPABILITY")[0][0].split())
        u, t = c.cmd("FETCH 3 (BINARY.PEEK[1] BINARY.SIZE[1])")
        self.assertIn(" OK ", t)
        self.assertEqual(u[0], "* 3 FETCH (BINARY[1] {%d}" % len(B64TEXT))
        self.assertEqual(u[1] + "\r\n", B64TEXT)
        self.assertEqual(u[2], " BINARY.SIZE[1] %d)" % len(B64TEXT))
        # the attachment holds NULs: a literal8 with the decoded bytes
        c.send("b1 FETCH 2 (BINARY.PEEK[2])\r\n")
        head = c.file.readline()
        self.assertEqual(head, b"* 2 FETCH (BINARY[2] ~{%d}\r\n" % len(ATTACHMENT))
        self.assertEqual(c.file.read(len(ATTACHMENT)), ATTACHMENT)
        self.assertEqual(c.file.readline(), b")\r\n")
        self.assertIn("b1 OK", c.line())

    def test_bad_sets_and_examine_keeps_unseen(self):
        c = self.raw("alice", None)
        c.cmd("EXAMINE INBOX")
        _, t = c.cmd("FETCH 4 FLAGS")
        self.assertIn(" BAD ", t)
        _, t = c.cmd("FETCH 0:1 FLAGS")
        self.assertIn(" BAD ", t)
        _, t = c.cmd("FETCH 1 (FLAGS BOGUS)")
        self.assertIn(" BAD ", t)
        u, t = c.cmd("FETCH * FLAGS")
        self.assertEqual(len(u), 1)
        self.assertTrue(u[0].startswith("* 3 FETCH"))
        u, t = c.cmd("UID FETCH 2:99 UID")
        self.assertEqual(u, ["* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)"])
        # "99:*" includes the highest UID even when 99 is above it
        u, t = c.cmd("UID FETCH 99:* FLAGS")
        self.assertEqual(u, ["* 3 FETCH (UID 3 FLAGS (\\Recent))"] if "Recent" in u[0]
                         else ["* 3 FETCH (UID 3 FLAGS ())"])
        u, t = c.cmd("UID FETCH 50:60 UID")
        self.assertEqual(u, [])
        self.assertIn(" OK ", t)
        _, t = c.cmd("UID FETCH 1:x UID")
        self.assertIn(" BAD ", t)
        # EXAMINE: BODY[] does not set \Seen
        u, t = c.cmd("FETCH 1 BODY[]<0.5>")
        self.assertNotIn("\\Seen", " ".join(u))
        u, t = c.cmd("FETCH 1 FLAGS")
        self.assertNotIn("\\Seen", u[0])
        self.assertIn(" OK ", c.cmd("NOOP")[1])

    def test_search(self):
        m = self.examine()

        def search(*crit, charset=None):
            return self.ok(m.search(charset, *crit))[0].split()
        self.assertEqual(search("FROM", "juergen"), [b"1"])
        self.assertEqual(search("HEADER", "X-Tag", "one"), [b"1"])
        self.assertEqual(search("SUBJECT", "attachment"), [b"2"])
        self.assertEqual(search("TO", "alice", "NOT", "CC", "bob"), [b"2", b"3"])
        self.assertEqual(search("SENTBEFORE", "5-Mar-2026"), [b"1"])
        self.assertEqual(search("SENTSINCE", "10-Mar-2026"), [b"2", b"3"])
        self.assertEqual(search("SENTON", "20-Mar-2026"), [b"3"])
        self.assertEqual(search("SINCE", "1-Jan-2020"), [b"1", b"2", b"3"])
        self.assertEqual(search("BEFORE", "1-Jan-2020"), [])
        self.assertEqual(search("LARGER", "2000"), [b"2"])
        self.assertEqual(search("SMALLER", "2000"), [b"1", b"3"])
        self.assertEqual(search("BODY", "xylophon"), [b"3"])
        self.assertEqual(search("TEXT", "\"quick brown\""), [b"1"])
        self.assertEqual(search("OR", "BODY", "xylophon", "FROM", "juergen"), [b"1", b"3"])
        self.assertEqual(search("YOUNGER", "3600"), [b"1", b"2", b"3"])
        self.assertEqual(search("OLDER", "3600"), [])
        # an encoded-word subject, searched in UTF-8 (a literal)
        m.literal = "grüße aus köln".encode()
        self.assertEqual(search("SUBJECT", charset="UTF-8"), [b"1"])
        m.literal = "Jürgen".encode()
        self.assertEqual(search("FROM", charset="UTF-8"), [b"1"])
        typ, data = m.search("KOI8-R", "ALL")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[BADCHARSET", data[0])
        self.assertEqual(self.ok(m.uid("SEARCH", "UID", "2:*"))[0].split(), [b"2", b"3"])

    def test_esearch_and_searchres(self):
        c = self.raw("alice", None)
        c.cmd("EXAMINE INBOX")
        caps = c.cmd("CAPABILITY")[0][0].split()
        for cap in ("ESEARCH", "SEARCHRES", "WITHIN", "CONDSTORE"):
            self.assertIn(cap, caps)
        u, t = c.cmd("SEARCH RETURN (MIN MAX COUNT) ALL", tag="e1")
        self.assertEqual(u, ['* ESEARCH (TAG "e1") MIN 1 MAX 3 COUNT 3'])
        u, t = c.cmd("UID SEARCH RETURN (ALL) SMALLER 2000", tag="e2")
        self.assertEqual(u, ['* ESEARCH (TAG "e2") UID ALL 1,3'])
        u, t = c.cmd("SEARCH RETURN () BODY nothing-like-this", tag="e3")
        self.assertEqual(u, ['* ESEARCH (TAG "e3")'])
        # SAVE, then "$" in FETCH, SEARCH and UID SEARCH
        u, t = c.cmd("SEARCH RETURN (SAVE) OR BODY xylophon FROM juergen")
        self.assertEqual(u, [])
        self.assertIn(" OK ", t)
        u, t = c.cmd("FETCH $ (UID)")
        self.assertEqual(u, ["* 1 FETCH (UID 1)", "* 3 FETCH (UID 3)"])
        u, t = c.cmd("UID FETCH $ (UID)")
        self.assertEqual(u, ["* 1 FETCH (UID 1)", "* 3 FETCH (UID 3)"])
        self.assertEqual(c.cmd("SEARCH $ LARGER 300")[0], ["* SEARCH 1 3"])
        self.assertEqual(c.cmd("UID SEARCH NOT $")[0], ["* SEARCH 2"])
        # MIN alone saves only the minimum
        c.cmd("SEARCH RETURN (SAVE MIN) ALL")
        self.assertEqual(c.cmd("FETCH $ UID")[0], ["* 1 FETCH (UID 1)"])
        # a failed SAVE empties "$"
        _, t = c.cmd("SEARCH RETURN (SAVE) BOGUS")
        self.assertIn(" BAD ", t)
        self.assertEqual(c.cmd("FETCH $ UID")[0], [])



def simple(n):
    return ("From: s@remote.test\r\nTo: x@example.test\r\nSubject: message %d\r\n"
            "Date: Wed, 01 Apr 2026 09:00:00 +0000\r\n\r\nbody %d\r\n" % (n, n))


class TestFlags(ReadBase):
    """bob: four simple messages; STORE, keywords, other sessions,
    restarts, CONDSTORE."""

    @classmethod
    def configure(cls):
        super().configure()
        for i in range(4):
            cls.deliver("bob", simple(i + 1), i + 1)

    def flags(self, m, seq):
        line = self.ok(m.fetch(str(seq), "(FLAGS)"))[0].decode()
        return set(re.search(r"FLAGS \(([^)]*)\)", line).group(1).split())

    def test_a_store_keywords_and_sessions(self):
        m = self.login("bob")
        self.ok(m.select("INBOX"))
        perm = [x for x in m.untagged_responses.get("OK", []) if b"PERMANENTFLAGS" in x]
        self.assertIn(b"\\*", perm[0])
        data = self.ok(m.store("1", "+FLAGS", "(\\Flagged $Work todo)"))
        self.assertIn(b"\\Flagged", data[0])
        self.assertIn(b"$Work", data[0])
        self.assertEqual(self.flags(m, 1) - {"\\Recent"}, {"\\Flagged", "$Work", "todo"})
        self.ok(m.store("1", "-FLAGS", "(todo)"))
        self.ok(m.store("2", "FLAGS", "(\\Answered \\Seen)"))
        data = self.ok(m.store("3", "+FLAGS.SILENT", "(\\Deleted)"))
        self.assertEqual(data, [None])
        self.assertEqual(self.ok(m.search(None, "KEYWORD", "$Work"))[0], b"1")
        self.assertEqual(self.ok(m.search(None, "UNKEYWORD", "$Work", "UNSEEN"))[0], b"3 4")
        self.assertEqual(self.ok(m.search(None, "FLAGGED"))[0], b"1")
        self.assertEqual(self.ok(m.search(None, "ANSWERED", "SEEN"))[0], b"2")
        self.assertEqual(self.ok(m.search(None, "DELETED"))[0], b"3")
        with self.assertRaises(imaplib.IMAP4.error):
            m.store("1", "+FLAGS", "(\\Bogus)")
        # STORE answers UID in UID STORE
        data = self.ok(m.uid("STORE", "4", "+FLAGS", "(\\Flagged)"))
        self.assertRegex(data[0].decode(), r"UID 4")
        self.ok(m.uid("STORE", "4", "-FLAGS", "(\\Flagged)"))
        # a second session sees them, and a change made there comes back
        # as an untagged FETCH at the next NOOP
        c = self.raw("bob")
        u, _ = c.cmd("FETCH 1:3 FLAGS")
        self.assertRegex(u[0], r"FLAGS \(.*\\Flagged.*\$Work")
        self.assertIn("\\Deleted", u[2])
        _, t = c.cmd("STORE 4 +FLAGS (\\Seen later)")
        self.assertIn(" OK ", t)
        m.noop()
        fetches = m.untagged_responses.get("FETCH", [])
        self.assertTrue(any(b"later" in f for f in fetches), fetches)
        # the files carry the flags (Maildir letters, keyword letters)
        names = os.listdir(os.path.join(self.maildirs["bob"], "cur"))
        self.assertTrue(any(re.search(r":2,[a-z]*F", n) for n in names), names)
        self.assertTrue(any(":2,RS" in n for n in names), names)
        with open(os.path.join(self.maildirs["bob"], "dovecot-keywords")) as f:
            kw = f.read()
        for k in ("$Work", "todo", "later"):
            self.assertIn(k, kw)

    def test_b_flags_survive_restart(self):
        before = self.raw("bob")
        u, _ = before.cmd("FETCH 1:4 FLAGS")
        before.close()
        self.inst.stop()
        self.inst.start()
        self.assertTrue(wait_for(lambda: port_open(self.port), 10))
        after = self.raw("bob")
        u2, _ = after.cmd("FETCH 1:4 FLAGS")
        strip = [x.replace(" \\Recent", "").replace("\\Recent", "") for x in u]
        self.assertEqual([x.replace(" \\Recent", "") for x in u2], strip)
        self.assertIn("$Work", u2[0])

    def test_c_condstore(self):
        c = self.raw("bob", None)
        u, t = c.cmd("ENABLE CONDSTORE")
        self.assertIn("* ENABLED CONDSTORE", u)
        u, t = c.cmd("SELECT INBOX (CONDSTORE)")
        hms = [x for x in u if "HIGHESTMODSEQ" in x]
        self.assertTrue(hms, u)
        high = int(re.search(r"HIGHESTMODSEQ (\d+)", hms[0]).group(1))
        u, _ = c.cmd("STATUS INBOX (HIGHESTMODSEQ MESSAGES)")
        self.assertIn("HIGHESTMODSEQ %d" % high, u[0])
        u, _ = c.cmd("FETCH 1:4 (MODSEQ)")
        mods = [int(re.search(r"MODSEQ \((\d+)\)", x).group(1)) for x in u]
        self.assertEqual(max(mods), high)
        # a change raises MODSEQ; CHANGEDSINCE then gives only that message
        u, t = c.cmd("STORE 2 +FLAGS (\\Flagged)")
        m2 = int(re.search(r"MODSEQ \((\d+)\)", u[0]).group(1))
        self.assertGreater(m2, high)
        u, _ = c.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % high)
        self.assertEqual(len(u), 1)
        self.assertRegex(u[0], r"^\* 2 FETCH \(.*MODSEQ \(%d\)" % m2)
        u, _ = c.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % m2)
        self.assertEqual(u, [])
        # UNCHANGEDSINCE: message 2 changed after `high`: MODIFIED
        u, t = c.cmd("STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\\Draft)" % high)
        self.assertIn("[MODIFIED 2]", t)
        self.assertEqual(len(u), 1)
        self.assertRegex(u[0], r"^\* 1 FETCH ")
        u, t = c.cmd("UID STORE 2 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Draft)" % m2)
        self.assertIn(" OK ", t)
        self.assertNotIn("MODIFIED", t)
        self.assertRegex(u[0], r"UID 2 MODSEQ \(\d+\)")
        # another session's change comes with its MODSEQ at NOOP
        other = self.raw("bob")
        other.cmd("STORE 3 +FLAGS (\\Flagged)")
        u, _ = c.cmd("NOOP")
        self.assertTrue(any(re.search(r"^\* 3 FETCH .*MODSEQ \(\d+\)", x) for x in u), u)
        u, _ = c.cmd("SEARCH MODSEQ %d" % m2)
        self.assertRegex(u[0], r"^\* SEARCH [\d ]+ \(MODSEQ \d+\)$")

    def test_d_seen_set_by_fetch(self):
        c = self.raw("bob")
        c.cmd("STORE 4 -FLAGS (\\Seen)")
        u, _ = c.cmd("FETCH 4 BODY[TEXT]")
        self.assertTrue(any("FLAGS (" in x and "\\Seen" in x for x in u), u)
        u, _ = c.cmd("FETCH 4 FLAGS")
        self.assertIn("\\Seen", u[0])
        c.cmd("STORE 4 -FLAGS (\\Seen)")
        u, _ = c.cmd("FETCH 4 (BODY.PEEK[TEXT] RFC822.HEADER)")
        self.assertNotIn("\\Seen", " ".join(u))


class TestTrouble(ReadBase):
    """carol: a message file removed under a session; a folder filled by
    moving delivered files; dave: a 5 MB message read slowly."""

    @classmethod
    def configure(cls):
        super().configure()
        for i in range(3):
            cls.deliver("carol", simple(i + 1), i + 1)

    def test_deleted_file_gives_no(self):
        c = self.raw("carol")
        u, _ = c.cmd("FETCH 1:3 (UID RFC822.SIZE)")
        self.assertEqual(len(u), 3)
        cur = os.path.join(self.maildirs["carol"], "cur")
        victim = [n for n in os.listdir(cur)]
        victim.sort()
        # the second message (by UID order = delivery order)
        name = None
        for n in victim:
            with open(os.path.join(cur, n), "rb") as f:
                if b"Subject: message 2" in f.read():
                    name = n
        os.unlink(os.path.join(cur, name))
        u, t = c.cmd("FETCH 1:3 (UID BODY.PEEK[TEXT])")
        self.assertIn(" NO ", t)
        joined = "\n".join(u)
        self.assertIn("body 1", joined)
        self.assertIn("body 3", joined)
        self.assertNotIn("body 2", joined)
        self.assertNotIn("* 2 FETCH (UID 2 BODY", joined)
        u, t = c.cmd("NOOP")
        self.assertIn("* 2 EXPUNGE", u)
        u, t = c.cmd("FETCH 1:2 (UID)")
        self.assertEqual(u, ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)"])
        self.assertIn(" OK ", t)

    def test_folder_moved_files(self):
        md = self.maildirs["carol"]
        c = self.raw("carol", None)
        self.assertIn(" OK ", c.cmd("CREATE Work")[1])
        smtp_send(self.smtp, "carol@example.test", simple(7).replace("message 7", "moved seven"))
        new = os.path.join(md, "new")

        def delivered():
            for n in os.listdir(new):
                with open(os.path.join(new, n), "rb") as f:
                    if b"moved seven" in f.read():
                        return n
            return None
        self.assertTrue(wait_for(delivered, 30))
        n = delivered()
        os.rename(os.path.join(new, n), os.path.join(md, ".Work", "cur", n + ":2,S"))
        m = self.login("carol")
        self.ok(m.select("Work"))
        self.assertEqual(self.ok(m.search(None, "SUBJECT", "seven", "SEEN"))[0], b"1")
        data = self.ok(m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        self.assertEqual(data[0][1], b"Subject: moved seven\r\n\r\n")

    def test_big_message_slow_reader(self):
        big = ("From: s@remote.test\r\nTo: dave@example.test\r\nSubject: big\r\n\r\n" +
               "".join("line %07d of the big message, padded to be long enough......\r\n" % i
                       for i in range(5 * 1024 * 1024 // 64)))
        self.deliver("dave", big, 1)
        pid = self.imapd_pid()
        c = self.raw("dave")
        rss0 = rss_kib(pid)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        # a NOOP pipelined behind the FETCH waits for it
        c.send("big FETCH 1 BODY.PEEK[]\r\nafter NOOP\r\n")
        head = c.file.readline()
        n = int(re.search(rb"\{(\d+)\}", head).group(1))
        got = bytearray()
        peak = rss0
        while len(got) < n:
            chunk = c.file.read(min(65536, n - len(got)))
            got += chunk
            if len(got) % (1024 * 1024) < 65536:
                peak = max(peak, rss_kib(pid))
                time.sleep(0.05)
        self.assertTrue(bytes(got).endswith(big.encode()))
        self.assertEqual(c.file.readline(), b")\r\n")
        self.assertIn("big OK", c.line())
        self.assertIn("after OK", c.line())
        # the 5 MB were never queued whole: imapd's heap (RssAnon: the
        # mapped file does not count) grew by far less
        self.assertLess(peak - rss0, 3 * 1024, "RSS %d -> %d KiB" % (rss0, peak))

    def test_many_messages_in_turns(self):
        """3,000 messages written into a folder as a MUA would: SEARCH and
        FETCH over all of them (long enough to run in several turns)."""
        md = self.maildirs["carol"]
        c = self.raw("carol", None)
        self.assertIn(" OK ", c.cmd("CREATE Many")[1])
        cur = os.path.join(md, ".Many", "cur")
        for i in range(3000):
            word = "needle" if i % 100 == 7 else "hay"
            with open(os.path.join(cur, "17000%05d.M%dP1.test:2," % (i, i)), "w") as f:
                f.write("From: a@remote.test\nSubject: many %d\n\nsome %s here\n" % (i, word))
        self.inst.give(os.path.join(md, ".Many"))
        u, t = c.cmd("SELECT Many")
        self.assertIn("* 3000 EXISTS", u)
        u, t = c.cmd("SEARCH BODY needle")
        self.assertEqual(u, ["* SEARCH " + " ".join(str(i + 1) for i in range(7, 3000, 100))])
        m = self.login("carol")
        self.ok(m.select("Many", readonly=True))
        data = self.ok(m.fetch("1:*", "(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        heads = [x for x in data if isinstance(x, tuple)]
        self.assertEqual(len(heads), 3000)
        self.assertEqual(heads[-1][1], b"Subject: many 2999\r\n\r\n")
        # sizes count CRLF line ends, the files have LF ones
        size = int(re.search(rb"RFC822.SIZE (\d+)", heads[0][0]).group(1))
        self.assertEqual(size, len("From: a@remote.test\r\nSubject: many 0\r\n\r\nsome hay here\r\n"))

    def make_folder(self, name, count, body, seen):
        """A folder of count messages written into cur/ as a MUA would;
        seen(i) says which carry \\Seen."""
        md = self.maildirs["carol"]
        c = self.raw("carol", None)
        self.assertIn(" OK ", c.cmd("CREATE " + name)[1])
        cur = os.path.join(md, "." + name, "cur")
        for i in range(count):
            with open(os.path.join(cur, "18000%05d.M%dP1.test:2,%s" %
                                   (i, i, "S" if seen(i) else "")), "w") as f:
                f.write("From: a@remote.test\nSubject: %s %d\n\n%s\n" % (name, i, body))
        self.inst.give(os.path.join(md, "." + name))
        return cur

    def test_search_reply_streamed(self):
        """A SEARCH answer over 20,000 messages (about 110 KB, several
        chunks past the high-water mark) read by a slow client: the same
        numbers, and the pipelined command after it waits its turn."""
        n = 20000
        self.make_folder("Huge", n, "x", lambda i: i % 2 == 0)
        c = self.raw("carol", "Huge")
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        c.send("s1 SEARCH ALL\r\ns2 UID SEARCH RETURN (ALL COUNT) SEEN\r\n"
               "s3 SEARCH RETURN (MIN MAX) UNSEEN\r\ns4 NOOP\r\n")
        time.sleep(0.3)  # the server meets a full socket before we read
        u, t = c.until("s1")
        self.assertEqual(t, "s1 OK Search completed.")
        self.assertEqual(u, ["* SEARCH " + " ".join(str(i) for i in range(1, n + 1))])
        u, t = c.until("s2")
        self.assertEqual(t, "s2 OK UID Search completed.")
        # UIDs are given in name order: 1, 3, 5, ... carry S
        want = ",".join(str(i) for i in range(1, n + 1, 2))
        self.assertEqual(u, ['* ESEARCH (TAG "s2") UID COUNT %d ALL %s' % (n // 2, want)])
        u, t = c.until("s3")
        self.assertEqual(u, ['* ESEARCH (TAG "s3") MIN 2 MAX %d' % n])
        self.assertEqual(c.until("s4")[1], "s4 OK NOOP completed.")

    def test_fetch_sets_seen_as_it_streams(self):
        """FETCH 1:* BODY[] over 3,000 unseen messages of 8 KB: the first
        replies arrive while most files are still without S (the old way
        renamed all 3,000 first); in the end all are \\Seen, each reply
        that set it carries FLAGS, EXAMINE sets none."""
        n = 3000
        cur = self.make_folder("Unread", n, "y" * 8000, lambda i: False)

        def seen_files():
            return sum(1 for f in os.listdir(cur) if f.endswith(",S") or ":2,S" in f)
        e = self.raw("carol", None)
        e.sock.settimeout(60)  # 24 MB while make check loads the machine
        self.assertIn(" OK ", e.cmd("EXAMINE Unread")[1])
        e.send("e1 FETCH 1:* BODY[TEXT]\r\n")
        try:
            u, t = e.until("e1")
        except TimeoutError:
            raise AssertionError("FETCH stalled for 60 s" + self.stall_report())
        self.assertEqual(t, "e1 OK Fetch completed.")
        self.assertEqual(seen_files(), 0)
        c = self.raw("carol", "Unread")
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        c.send("f1 FETCH 1:* BODY[]\r\n")
        try:
            first = read_response(c.file)
        except TimeoutError:
            raise AssertionError("FETCH gave nothing in 20 s" + self.stall_report())
        self.assertTrue(first.startswith(b"* 1 FETCH ("), first[:80])
        self.assertIn(b"FLAGS (\\Seen", first)
        time.sleep(0.5)  # let the server run into the full socket
        early = seen_files()
        self.assertLess(early, n // 2, "renamed before the first reply was read: %d" % early)
        heads = [first]
        while True:
            ln = read_response(c.file)
            if not ln or ln.startswith(b"f1 "):
                break
            heads.append(ln)
        self.assertEqual(ln.strip(), b"f1 OK Fetch completed.")
        self.assertEqual(len(heads), n)
        self.assertTrue(all(b"FLAGS (\\Seen" in h for h in heads))
        self.assertEqual(seen_files(), n)
        u, t = c.cmd("SEARCH UNSEEN")
        self.assertEqual(u, ["* SEARCH"])
        # a second FETCH sets nothing: no FLAGS in its replies
        u, t = c.cmd("FETCH 1:2 RFC822.HEADER")
        self.assertNotIn("FLAGS", "\n".join(u))

    def test_concurrent_streams(self):
        """Eight sessions of one process stream 24 MB FETCHes at once, three
        each, some reading through a small buffer, half of them setting
        \\Seen: every FETCH ends (a FETCH whose backed-up output drained
        just as it stopped once waited forever, 1 run in 3)."""
        self.make_folder("Streams", 3000, "z" * 8000, lambda i: False)
        errors = []

        def reader(k):
            try:
                c = self.raw("carol", None)
                c.sock.settimeout(60)
                if k % 3 == 0:
                    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
                c.cmd("EXAMINE Streams" if k % 2 else "SELECT Streams")
                for r in range(3):
                    c.send("s%d FETCH 1:* BODY%s[TEXT]\r\n" % (r, ".PEEK" if k % 2 else ""))
                    _, t = c.until("s%d" % r)
                    if t != "s%d OK Fetch completed." % r:
                        errors.append("reader %d FETCH %d: %r" % (k, r, t))
            except (OSError, TimeoutError) as e:
                errors.append("reader %d: %r%s" % (k, e, self.stall_report()))
        threads = [threading.Thread(target=reader, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])

    def stall_report(self):
        """The server's log, processes, and imapd's sockets and epoll set."""
        pids = [p for p in self.inst.processes() if self.is_imapd(p)]
        return "; server log:\n%s\n%s\n%s" % (
            "\n".join(self.inst.log().splitlines()[-40:]), self.inst.describe_processes(),
            "\n".join(self.inst.describe_sockets(p) for p in pids))

    @staticmethod
    def is_imapd(pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return b"imapd" in f.read().split(b"\0")[0]
        except OSError:
            return False

    def imapd_pid(self):
        c = self.raw("dave", None)
        c.close()
        for pid in self.inst.processes():
            if self.is_imapd(pid):
                return pid
        raise RuntimeError("no imapd: %s" % self.inst.describe_processes())


class TestLiteralMinus(ReadBase):
    """RFC 7888 on two imapd services: the default (LITERAL+ after login)
    and imapd_literal_plus = no (LITERAL-); LITERAL- before login on both."""

    @classmethod
    def configure(cls):
        cls.minus = free_port()
        inst = cls.inst
        cls.smtp, cls.port = free_port(), free_port()
        inst.set_mail_services([
            "127.0.0.1:%d inet n - n - 1 imapd -o imapd_tls_auth_only=no" % cls.port,
            "127.0.0.1:%d inet n - n - 1 imapd -o imapd_tls_auth_only=no "
            "-o imapd_literal_plus=no" % cls.minus,
        ])
        inst.build_map("domains", DOMAINS)
        inst.build_map("mailboxes", MAILBOXES)
        set_password(inst, "alice@example.test", PW)
        inst.set_main("imapd_auth_failure_delay", "0")
        inst.start()
        for p in (cls.port, cls.minus):
            if not wait_for(lambda: port_open(p), 10):
                raise RuntimeError("service on %d did not come up: %s" % (p, inst.log()))

    def caps(self, c):
        u, t = c.cmd("CAPABILITY")
        self.assertIn(" OK ", t)
        return u[0].split()[2:]

    def connect(self, port):
        c = RawImap(port, timeout=20)
        self.addCleanup(c.close)
        return c

    def check_literal_caps(self, caps, want):
        other = "LITERAL+" if want == "LITERAL-" else "LITERAL-"
        self.assertIn(want, caps)
        self.assertNotIn(other, caps)  # RFC 7888 4: never both

    def test_before_login_literal_minus(self):
        for port in (self.port, self.minus):
            c = self.connect(port)
            self.check_literal_caps(c.greeting.split(), "LITERAL-")
            self.check_literal_caps(self.caps(c), "LITERAL-")
            # up to 4096 bytes a {n+} is taken
            c.send(b'a1 ID ("name" {4096+}\r\n' + b"x" * 4096 + b')\r\n')
            _, t = c.until("a1")
            self.assertTrue(t.startswith("a1 OK"), t)
            # over it: BAD [TOOBIG], the announced bytes dropped, the next
            # command read
            c.send(b'a2 ID ("name" {4097+}\r\n' + b"y" * 4097 + b')\r\na3 NOOP\r\n')
            _, t = c.until("a2")
            self.assertTrue(t.startswith("a2 BAD [TOOBIG]"), t)
            _, t = c.until("a3")
            self.assertEqual(t, "a3 OK NOOP completed.")
            # a synchronizing literal up to 8 KiB still works before login
            c.send(b"a4 LOGIN {16}\r\n")
            self.assertTrue(c.line().startswith("+ "))
            c.send(b"alice@example.test"[:16] + b"\r\n")
            _, t = c.until("a4")
            self.assertIn("a4 BAD", t)  # the password is missing

    def login_raw(self, port):
        c = self.connect(port)
        _, t = c.cmd('LOGIN alice@example.test "%s"' % PW)
        self.assertIn(" OK ", t)
        return c, t

    def test_after_login_literal_plus(self):
        c, t = self.login_raw(self.port)
        self.check_literal_caps(t.split(), "LITERAL+")
        self.check_literal_caps(self.caps(c), "LITERAL+")
        c.send(b'b1 ID ("name" {5000+}\r\n' + b"z" * 5000 + b')\r\n')
        _, t = c.until("b1")
        self.assertTrue(t.startswith("b1 OK"), t)

    def test_after_login_literal_minus(self):
        c, t = self.login_raw(self.minus)
        self.check_literal_caps(t.split(), "LITERAL-")
        self.check_literal_caps(self.caps(c), "LITERAL-")
        c.send(b'b1 ID ("name" {4096+}\r\n' + b"z" * 4096 + b')\r\n')
        _, t = c.until("b1")
        self.assertTrue(t.startswith("b1 OK"), t)
        c.send(b'b2 ID ("name" {5000+}\r\n' + b"z" * 5000 + b')\r\nb3 NOOP\r\n')
        _, t = c.until("b2")
        self.assertTrue(t.startswith("b2 BAD [TOOBIG]"), t)
        _, t = c.until("b3")
        self.assertEqual(t, "b3 OK NOOP completed.")
        # a synchronizing literal of that size is fine
        c.send(b'b4 ID ("name" {5000}\r\n')
        self.assertTrue(c.line().startswith("+ "))
        c.send(b"z" * 5000 + b")\r\n")
        _, t = c.until("b4")
        self.assertTrue(t.startswith("b4 OK"), t)


def read_response(f):
    """One whole response from a binary file, literals included ("" at EOF)."""
    out = b""
    while True:
        ln = f.readline()
        out += ln
        m = re.search(rb"\{(\d+)\}\r\n$", ln)
        if not m:
            return out
        out += f.read(int(m.group(1)))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


if __name__ == "__main__":
    unittest.main()
