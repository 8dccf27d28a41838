#!/usr/bin/env python3
"""imap-bench-summary.py: the table of bench/imap-bench.sh from its raw log:
medians per server and step, the ratio Postern/Dovecot and the targets of
issue 14. A line of the log is "<server> <phase> <step>: <imap-bench.py
output>"; a step that failed is shown as "fails: <the server's reply>".

  bench/imap-bench-summary.py RAW_LOG IDLE_K IDLE_MAX
"""
import re, statistics, sys
out, k, kmax = sys.argv[1], sys.argv[2], sys.argv[3]
v, err = {}, {}
pats = {"select": r"select ([\d.]+) s", "envelope": r"fetch-envelope ([\d.]+) s",
        "headers": r"fetch-headers ([\d.]+) s", "search": r"search-text \S+ ([\d.]+) s",
        "store": r"store \d+ cmds [\d.]+ s \((\d+) cmd/s", "pss": r"PSS total .* (\d+) KiB/conn",
        "conns": r"idle: (\d+) connections in"}
for line in open(out):
    m = re.match(r"(\w+) (\w+) (\w+): (.*)", line)
    if not m:
        continue
    srv, ph, op, rest = m.groups()
    # warm1: the first SELECT of the warm pass, after the cold pass's
    # STOREs renamed files (Dovecot rescans cur/ then)
    if ph == "warm" and op == "envelope" and "select" in rest:
        v.setdefault((srv, "warm1", "select"), []).append(float(re.search(r"select ([\d.]+) s", rest).group(1)))
    if rest.startswith("imap-bench:"):
        e = re.search(r"failed: b'\S+ (.*?)(\\r\\n)?'", rest)
        err[(srv, ph, op)] = "fails: " + (e.group(1) if e else rest[12:60]).strip()
    for what, rx in pats.items():
        s = re.search(rx, rest)
        if s:
            v.setdefault((srv, ph, what), []).append(float(s.group(1)))
# the select of a phase: the first session's (cold = the cold SELECT)
def med(srv, ph, what):
    x = v.get((srv, ph, what))
    if not x:
        return None
    if what == "select" and ph == "cold":   # four sessions per pass: the
        x = x[0::4]                             # first one's SELECT is cold
    return statistics.median(x)
rows = [("SELECT cold, s", "cold", "select", "<= 1x", lambda r: r <= 1),
        ("SELECT warm (median of the warm pass), s", "warm", "select", "<= 0.5x", lambda r: r <= .5),
        ("SELECT warm, first after the cold pass's STOREs, s", "warm1", "select", "<= 0.5x", lambda r: r <= .5),
        ("UID FETCH ENVELOPE cold, s", "cold", "envelope", "<= 1x", lambda r: r <= 1),
        ("UID FETCH ENVELOPE warm, s", "warm", "envelope", "<= 0.5x", lambda r: r <= .5),
        ("header-field FETCH cold, s", "cold", "headers", "<= 1x", lambda r: r <= 1),
        ("header-field FETCH warm, s", "warm", "headers", "<= 0.5x", lambda r: r <= .5),
        ("SEARCH TEXT cold, s", "cold", "search", "<= 1x", lambda r: r <= 1),
        ("SEARCH TEXT warm, s", "warm", "search", "<= 0.5x", lambda r: r <= .5),
        ("UID STORE, cmd/s", "warm", "store", ">= 10x", lambda r: r >= 10),
        ("PSS per IDLE conn (%s conns), KiB" % k, "idle" + k, "pss", "<= 64 KiB", None)]
print("| step | Dovecot | Postern | Postern/Dovecot | target | met |")
print("|---|---|---|---|---|---|")
for name, ph, what, target, ok in rows:
    d, p = med("dovecot", ph, what), med("postern", ph, what)
    fmt = lambda x, srv: ("%.4g" % x) if x is not None else err.get((srv, ph, what), "n/a")
    ratio = "%.2fx" % (p / d) if d and p is not None else "-"
    met = "-"
    if p is not None and ok and d:
        met = "yes" if ok(p / d) else "no"
    elif p is not None and what == "pss":
        met = "yes" if p <= 64 else "no"
    print("| %s | %s | %s | %s | %s | %s |" % (name, fmt(d, "dovecot"), fmt(p, "postern"), ratio, target, met))
c = v.get(("postern", "idle" + kmax, "conns"))
if kmax != "0":
    held = "%d" % c[0] if c else err.get(("postern", "idle" + kmax, "mem"), "n/a")
    print("| concurrent IDLE connections held (of %s) | - | %s | - | %s, none refused | %s |"
          % (kmax, held, kmax, "yes" if c and c[0] >= int(kmax) else "no"))
