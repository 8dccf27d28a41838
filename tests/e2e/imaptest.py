"""imaptest.py: helpers of the imapd end-to-end tests: a raw IMAP client
that shows every line the server sends (imaplib hides continuations and
untagged data), and an imaplib connection to an instance."""
import imaplib
import socket

from harness import client_tls_context


class RawImap:
    """A line-level IMAP client: send bytes, read lines, run a tagged
    command and collect its untagged lines."""

    def __init__(self, port, tls=False, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            self.sock = client_tls_context().wrap_socket(self.sock)
        self.file = self.sock.makefile("rb")
        self.greeting = self.line()
        self.n = 0

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def line(self):
        """The next line without CRLF ("" at EOF)."""
        return self.file.readline().decode("utf-8", "replace").rstrip("\r\n")

    def cmd(self, text, tag=None):
        """Sends "<tag> text"; returns (untagged lines, the tagged line)."""
        if tag is None:
            self.n += 1
            tag = "t%d" % self.n
        self.send("%s %s\r\n" % (tag, text))
        return self.until(tag)

    def until(self, tag):
        untagged = []
        while True:
            ln = self.line()
            if ln == "" or ln.startswith(tag + " "):
                return untagged, ln
            untagged.append(ln)

    def starttls(self):
        _, tagged = self.cmd("STARTTLS")
        if " OK " in tagged:
            self.file.close()
            self.sock = client_tls_context().wrap_socket(self.sock)
            self.file = self.sock.makefile("rb")
        return tagged

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass


def imaplib_tls(port):
    """An imaplib connection on an imaps port."""
    return imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=client_tls_context(), timeout=10)
