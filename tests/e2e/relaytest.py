"""relaytest.py: what test_relay.py and test_relay_bad.py share: mail
submitted over SMTP to the sending instance (returns its queue ID), waits
for a message in a Maildir or for a queue state, DSNs parsed with
Python's email package."""
import os
import re
import smtplib
import time

from harness import DAEMONS, QINJECT, wait_for


def available():
    """The programs a relay test runs are built (smtp is issue 13's)."""
    return all(os.path.exists(DAEMONS[n]) for n in ("master", "qmgr", "local", "smtpd", "smtp")) \
        and os.path.exists(QINJECT)


NOT_BUILT = "master, qmgr, local, smtpd or smtp (the issue 13 client) not built"


def body(subject, sender="alice@example.test", extra=""):
    return ("From: <%s>\r\nSubject: %s\r\nMessage-ID: <%s.%d@example.test>\r\n\r\n"
            "hello across the relay\r\n%s" % (sender, subject, subject.replace(" ", "-"),
                                               int(time.time() * 1000), extra))


def submit(inst, rcpts, subject, sender="alice@example.test", mail_options=(),
           rcpt_options=(), text=None):
    """Sends one message to inst's smtpd (from 127.0.0.1, in mynetworks)
    and returns the queue ID from the 250 reply to the final dot."""
    with smtplib.SMTP(inst.addr, inst.smtp_port, timeout=30) as s:
        s.ehlo("client.example.test")
        code, msg = s.mail(sender, list(mail_options))
        assert code == 250, (code, msg)
        for rcpt in rcpts:
            code, msg = s.rcpt(rcpt, list(rcpt_options))
            assert code == 250, (rcpt, code, msg)
        data = text if text is not None else body(subject, sender)
        code, msg = s.data(data.encode() if isinstance(data, str) else data)
        assert code == 250, (code, msg)
    m = re.search(r"queued as (\S+)", msg.decode())
    assert m, msg
    return m.group(1)


def find_message(inst, address, subject):
    for msg in inst.messages(address):
        if msg.get("Subject") == subject:
            return msg
    return None


def wait_message(inst, address, subject, timeout=30):
    """The message with this Subject once it is in address's Maildir."""
    return wait_for(lambda: find_message(inst, address, subject), timeout, 0.1)


def find_dsn(inst, address, marker):
    """The delivery status notification in address's Maildir whose text
    mentions marker (a queue ID or a Subject)."""
    for msg in inst.messages(address):
        if msg.get_content_type() == "multipart/report" and marker in msg.as_string():
            return msg
    return None


def wait_dsn(inst, address, marker, timeout=30):
    return wait_for(lambda: find_dsn(inst, address, marker), timeout, 0.1)


def dsn_recipients(msg):
    """{final recipient address: its per-recipient fields (a Message)} of
    the message/delivery-status part of a multipart/report."""
    status = next(p for p in msg.iter_parts() if p.get_content_type() == "message/delivery-status")
    out = {}
    for block in status.get_payload():
        rcpt = block.get("Final-Recipient", "")
        if rcpt:
            out[rcpt.split(";", 1)[-1].strip()] = block
    return out


def wait_deferred(inst, qid, timeout=30):
    """The --json object of qid once it sits in deferred/ with a reason
    for every pending recipient; None if that does not happen in time."""
    def ready():
        got = inst.queue_json().get(qid)
        if got is None or got["queue_name"] != "deferred":
            return None
        pending = [r for r in got["recipients"] if r["state"] == "pending"]
        if pending and all("delay_reason" in r for r in pending):
            return got
        return None
    return wait_for(ready, timeout, 0.1)


def outcome_lines(inst, qid):
    """The delivery log lines of qid (to=<...>, ... status=...)."""
    return [line for line in inst.log().splitlines()
            if "%s: to=<" % qid in line and "status=" in line]
