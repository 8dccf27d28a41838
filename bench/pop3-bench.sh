#!/usr/bin/env bash
# pop3-bench.sh: POP3 and POP3S against Dovecot (../shared/bench/peers.sh,
# PEERS_TLS=1) and Postern (a fresh instance made by mailctl init) on
# identical copies of one 10,000-message Maildir made by
# ../shared/bench/make-maildir.py --count N --seed 1, in one run, alternating.
# Per repetition and server:
#   - cold: the index removed (Dovecot: peers.sh clean-index; Postern: the
#     Maildir's dovecot-uidlist removed and the page cache of the files
#     kept), one session: login + first STAT, LIST, UIDL, RETR of all
#   - warm: the same session again (index present)
#   - tls: the same over implicit TLS (995)
#   - Postern only: memory per idle session (bench/pop3-idle-mem.py)
# every run with --rset, so nothing changes between runs, and the server
# process trees' CPU (Dovecot's master; Postern's master).
# Run as root.   bench/pop3-bench.sh [N]     (default 10000)
# Environment: SHARED, PREFIX (Postern install, default ./_install), REPS (3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
SHARED=${SHARED:-$top/../shared}
PREFIX=${PREFIX:-$top/_install}
N=${1:-10000}
REPS=${REPS:-3}
BENCH_DIR=${BENCH_DIR:-/tmp/mailbench}
PDIR=${PDIR:-/tmp/postern-pop3-bench}
PORT_BASE=${PORT_BASE:-31000}
SOURCE=${SOURCE:-/tmp/pop3-bench-maildir-$N}
OUT=${OUT:-/tmp/pop3-bench-results.txt}
mailctl="$PREFIX/sbin/mailctl"
bench="/usr/bin/python3 $SHARED/bench/pop3-bench.py"
export BENCH_DIR PEERS_TLS=1
# every package these scripts call, by name; Postfix and Dovecot through peers.sh
"$top/install-deps" bench
"$SHARED/bench/peers.sh" install >/dev/null

peers() { "$SHARED/bench/peers.sh" "$@" >/dev/null 2>&1; }

make_source() {
	[ -d "$SOURCE/cur" ] && return
	/usr/bin/python3 "$SHARED/bench/make-maildir.py" --count "$N" --seed 1 "$SOURCE" >/dev/null
}

copy_maildir() { # destination owner
	rm -rf "$1"
	mkdir -p "$(dirname "$1")"
	cp -a "$SOURCE" "$1"
	chown -R "$2" "$1"
}

dovecot_setup() {
	peers stop dovecot || true
	copy_maildir "$BENCH_DIR/mail/maildir" mailbench
	peers clean-index dovecot || true
	peers start dovecot
}

postern_setup() {
	"$mailctl" -c "$PDIR" stop >/dev/null 2>&1 || true
	rm -rf "$PDIR"
	"$mailctl" init "$PDIR" --domain bench.test --port-base "$PORT_BASE" >/dev/null
	echo bench | "$mailctl" -c "$PDIR" user add user@bench.test --password-stdin >/dev/null
	# the peer's Dovecot allows USER/PASS without TLS on 110; so does this
	"$mailctl" -c "$PDIR" config set pop3d_tls_auth_only=no >/dev/null
	copy_maildir "$PDIR/mail/bench.test/user" "$(stat -c %U "$PDIR/mail")"
	"$mailctl" -c "$PDIR" start >/dev/null
}

run() { # label port tls user pid
	local label=$1 port=$2 tls=$3 user=$4 pid=$5 opts=()
	[ "$tls" = 1 ] && opts+=(--tls)
	$bench --port "$port" "${opts[@]}" --user "$user" --password bench --rset \
		--server-pid "$pid" 2>&1 | sed "s/^/$label: /" | tee -a "$OUT"
}

dovecot_runs() {
	dovecot_setup
	local pid
	pid=$(cat "$BENCH_DIR/dovecot/run/master.pid")
	run "dovecot cold" 1110 0 bench "$pid"
	run "dovecot warm" 1110 0 bench "$pid"
	run "dovecot tls" 1995 1 bench "$pid"
	peers stop dovecot
}

postern_runs() {
	postern_setup
	local pid
	pid=$(cat "$PDIR/queue/pid/master.pid")
	run "postern cold" $((PORT_BASE + 110)) 0 user@bench.test "$pid"
	run "postern warm" $((PORT_BASE + 110)) 0 user@bench.test "$pid"
	run "postern tls" $((PORT_BASE + 995)) 1 user@bench.test "$pid"
	/usr/bin/python3 "$here/pop3-idle-mem.py" --port $((PORT_BASE + 110)) -n 2000 | tee -a "$OUT"
	/usr/bin/python3 "$here/pop3-idle-mem.py" --port $((PORT_BASE + 995)) --tls -n 1000 |
		tee -a "$OUT"
	"$mailctl" -c "$PDIR" stop >/dev/null
}

# summary: medians per server and mode of login+STAT, RETR msg/s and CPU.
summary() {
	/usr/bin/python3 - "$OUT" <<'EOF'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\w+ \w+): pop3: .*", line)
    if not m:
        continue
    key = m.group(1)
    r = rows.setdefault(key, {"stat": [], "retr": [], "cpu": []})
    if (s := re.search(r"login ([\d.]+) s, stat ([\d.]+) s", line)):
        r["stat"].append(float(s.group(1)) + float(s.group(2)))
    if (s := re.search(r"retr \d+ msgs [\d.]+ s \((\d+) msg/s", line)):
        r["retr"].append(float(s.group(1)))
    if (s := re.search(r"server cpu ([\d.]+) s", line)):
        r["cpu"].append(float(s.group(1)))
med = lambda v: statistics.median(v) if v else float("nan")
print("| mode | Dovecot | Postern | ratio |\n|---|---|---|---|")
for mode in ("cold", "warm", "tls"):
    d, p = rows.get("dovecot " + mode), rows.get("postern " + mode)
    if not d or not p:
        continue
    for what, unit in (("stat", "login+first STAT s"), ("retr", "RETR msg/s"),
                       ("cpu", "server CPU s")):
        a, b = med(d[what]), med(p[what])
        print("| %s %s | %.3f | %.3f | %.2fx |" % (mode, unit, a, b, b / a if a else 0))
EOF
}

make_source
: >"$OUT"
for rep in $(seq "$REPS"); do
	dovecot_runs
	postern_runs
done
summary
