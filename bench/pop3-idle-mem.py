#!/usr/bin/env python3
"""pop3-idle-mem.py: memory per idle POP3 session. Opens N connections to
a POP3 port (plain, or implicit TLS with --tls), reads each greeting so
every session is set up, sums the RSS of the server processes named by
--comm (default pop3d) before and after, and prints the difference per
session. The sessions are then closed.

  pop3-idle-mem.py --port 31110 -n 2000
  pop3-idle-mem.py --port 31995 --tls -n 2000
"""
import argparse
import os
import resource
import socket
import ssl
import time


def rss_kb(comm):
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % pid) as f:
                if f.read().strip() != comm:
                    continue
            with open("/proc/%s/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--comm", default="pop3d")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.n + 100), hard))
    ctx = ssl._create_unverified_context()
    before = rss_kb(a.comm)
    conns = []
    for _ in range(a.n):
        s = socket.create_connection(("127.0.0.1", a.port))
        if a.tls:
            s = ctx.wrap_socket(s)
        if not s.recv(512).startswith(b"+OK"):
            raise SystemExit("no greeting")
        conns.append(s)
    time.sleep(0.5)
    after = rss_kb(a.comm)
    print("pop3 idle: %d sessions%s, server RSS %d kB -> %d kB, %.1f kB per session"
          % (a.n, " (TLS)" if a.tls else "", before, after, (after - before) / a.n))
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
