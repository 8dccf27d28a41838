#!/usr/bin/env python3
"""dkimsign-rate.py: smtpd's wall time and CPU per message with DKIM
signing off and on (issue 15, signing side). One private instance (the
e2e harness, build tree) with two smtpd services for a client in
mynetworks: "unsigned" (-o dkim_sign=no) and "signed" (keys made by
mailctl dkim keygen for example.test: RSA-2048 and Ed25519, two signatures
per message). N messages of SIZE bytes (From: example.test) are sent one
after the other over one session to each, alternating, ROUNDS times;
prints per round the wall time until the last 250 and the CPU of the
instance's smtpd processes per message.

  bench/dkimsign-rate.py [N] [SIZE]     (defaults 1000, 4096; build tree)
Environment: ROUNDS (2)."""
import os
import socket
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "e2e"))
from harness import MAIL_SERVICES, Instance, free_port, port_open, wait_for  # noqa: E402


def smtpd_cpu(inst):
    """CPU seconds (user + system) of the instance's smtpd processes."""
    total = 0
    for pid in inst.processes():
        try:
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.index("(") + 1:stat.rindex(")")] != "smtpd":
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def send_all(port, n, text):
    """n messages over one session; returns when the last 250 came."""
    import time
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    f = sock.makefile("rb")

    def reply():
        while True:
            line = f.readline()
            if line[3:4] != b"-":
                return line

    reply()
    sock.sendall(b"EHLO bench.example\r\n")
    reply()
    start = time.monotonic()
    for _ in range(n):
        sock.sendall(b"MAIL FROM:<demo@example.test>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n")
        for _ in range(3):
            reply()
        sock.sendall(text + b".\r\n")
        line = reply()
        if not line.startswith(b"250"):
            raise RuntimeError(line)
    wall = time.monotonic() - start
    sock.sendall(b"QUIT\r\n")
    sock.close()
    return wall


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 4096
    rounds = int(os.environ.get("ROUNDS", "2"))
    inst = Instance()
    try:
        ports = {"unsigned": free_port(), "signed": free_port()}
        inst.set_master_cf(MAIL_SERVICES + [
            "127.0.0.1:%d inet n - n - 1 smtpd -o dkim_sign=no" % ports["unsigned"],
            "127.0.0.1:%d inet n - n - 1 smtpd" % ports["signed"]])
        for sel, opts in (("r1", []), ("e1", ["--ed25519"])):
            res = inst.ctl("dkim", "keygen", "example.test", sel, *opts)
            if res.returncode != 0:
                raise RuntimeError(res.stderr)
        inst.start()
        for p in ports.values():
            wait_for(lambda: port_open(p), 20)
        line = b"x" * 70 + b"\r\n"
        text = (b"From: <demo@example.test>\r\nTo: <demo@example.test>\r\nSubject: bench\r\n"
                b"Message-ID: <bench@example.test>\r\n\r\n" + line * max(1, size // 72))
        print("%d messages of %d bytes, one session per service" % (n, len(text)))
        print("%-9s %-6s %9s %16s" % ("service", "round", "wall s", "smtpd CPU us/msg"))
        for r in range(rounds):
            for name in ("unsigned", "signed"):
                before = smtpd_cpu(inst)
                wall = send_all(ports[name], n, text)
                cpu = smtpd_cpu(inst) - before
                print("%-9s %-6d %9.2f %16.0f" % (name, r + 1, wall, cpu / n * 1e6))
        signed = inst.log().count("dkim-signed d=example.test s=r1,e1")
        print("signed messages logged: %d (expected %d)" % (signed, n * rounds))
    finally:
        inst.cleanup()


if __name__ == "__main__":
    main()
