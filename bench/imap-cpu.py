#!/usr/bin/env python3
"""imap-cpu.py: server CPU of one imap-bench.py step, beside its wall time.

The benchmark's client is Python and reads every reply line by line, so a
fast server's step can take as long as the client needs to read it; the
CPU the server's process tree spent (the live processes' user+system time
plus what the root has collected from children that exited, as Dovecot's
per-connection imap processes do) shows the server's own cost.

  bench/imap-cpu.py --pid MASTER_PID --port PORT --user U --password P \
      [--ops headers] [--runs 5] [--raw]

--raw times the warm header-field fetch with a client that reads the reply
in bulk (recv into a buffer until the tagged OK, no parsing), so the wall
time is the server's and the socket's, not Python's line handling.
"""
import argparse
import os
import socket
import time
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("SHARED", os.path.join(HERE, "..", "..", "shared"))
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def tree_cpu_ms(root):
    """User+system ms of root and its live descendants, and root's reaped children."""
    stats, kids = {}, {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            s = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        f = s[s.rindex(")") + 2:].split()
        stats[int(p)] = f
        kids.setdefault(int(f[1]), []).append(int(p))
    ticks, todo = 0, [root]
    while todo:
        p = todo.pop()
        f = stats.get(p)
        if f is None:
            continue
        ticks += int(f[11]) + int(f[12])
        if p == root:
            ticks += int(f[13]) + int(f[14])
        todo += kids.get(p, [])
    return ticks * TICK_MS


def raw_fetch(a):
    """Wall seconds of the header-field fetch read in bulk."""
    s = socket.create_connection(("127.0.0.1", a.port))
    f = s.makefile("rb")
    f.readline()
    s.sendall(b'R1 LOGIN "%s" "%s"\r\nR2 SELECT INBOX\r\n' % (a.user.encode(), a.password.encode()))
    while not f.readline().startswith(b"R2 "):
        pass
    t = time.perf_counter()
    s.sendall(b"R3 UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)])\r\n")
    tail, n = b"", 0
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            raise EOFError("server closed connection")
        n += len(chunk)
        tail = (tail + chunk)[-256:]
        i = tail.rfind(b"\r\nR3 ")
        if i >= 0 and tail.endswith(b"\r\n") and tail.find(b"\r\n", i + 2) == len(tail) - 2:
            break
    d = time.perf_counter() - t
    s.sendall(b"R4 LOGOUT\r\n")
    s.close()
    return d, n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True, help="the server's master process")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--ops", default="headers")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--raw", action="store_true", help="bulk reader for the header fetch")
    a = ap.parse_args()
    bench = [sys.executable, os.path.join(SHARED, "bench", "imap-bench.py"), "--port",
             str(a.port), "--user", a.user, "--password", a.password, "--ops", a.ops]
    for _ in range(a.runs):
        before = tree_cpu_ms(a.pid)
        if a.raw:
            d, n = raw_fetch(a)
            after = tree_cpu_ms(a.pid)
            print(f"raw fetch-headers {d:.3f} s ({n / 1e6:.1f} MB); server CPU {after - before:.0f} ms")
            continue
        out = subprocess.run(bench, capture_output=True, text=True).stdout
        after = tree_cpu_ms(a.pid)
        steps = " ".join(re.findall(r"(?:fetch-\w+|search|store)[^(]*?[0-9.]+ s", out))
        print(f"{steps}; server CPU {after - before:.0f} ms")


if __name__ == "__main__":
    main()
