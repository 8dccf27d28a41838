#!/usr/bin/env bash
# smtps-bench.sh: SMTP over implicit TLS with AUTH, Postfix (with Dovecot's
# auth, ../shared/bench/peers.sh with PEERS_TLS=1, RSA-2048 certificate) and
# Postern (mailctl init's ECDSA P-256 certificate) in one run, alternating
# which goes first from one repetition to the next:
#   - ../shared/bench/smtps-load.py: full handshake + EHLO + AUTH PLAIN +
#     K messages per connection, 20 connections, N messages, counted when
#     delivered into the Maildir; K = 1 and K = 50
#   - openssl s_time -new: TLS handshakes per second on the implicit-TLS port
# Prints every run and, per K, the medians over the repetitions of
# delivered msg/s and server CPU ms per message of each side, with the
# Postern/Postfix ratios. Run as root.
#
# Between loads the script frees no inodes: the last load's Maildir new/ is
# moved aside (and only deleted when the script ends), and each load starts
# SETTLE seconds after the one before, after a sync. On ext4 without a
# journal, which these machines use, creating a file walks every inode of
# its block group freed in the last 60 s (360 s while the inode table block
# is dirty) before it takes a free one; deleting 5,000 files just before a
# load made every file the load created cost about 0.1 ms more, and a load
# paid for the queue files the other side freed just before it.
#
#   bench/smtps-bench.sh [N]      (default 5000)
# Environment: SHARED, PREFIX (Postern install, default ./_install), REPS
# (repetitions, default 1), MODES (messages per connection, default "1 50"),
# PDIR (the Postern instance, made once per run of the script), SETTLE
# (seconds from the end of one load to the start of the next, default 65;
# 0 runs them back to back).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
SHARED=${SHARED:-$top/../shared}
PREFIX=${PREFIX:-$top/_install}
N=${1:-5000}
REPS=${REPS:-1}
MODES=${MODES:-1 50}
BENCH_DIR=${BENCH_DIR:-/tmp/mailbench}
PDIR=${PDIR:-/tmp/postern-tls-bench}
SETTLE=${SETTLE:-65}
PORT_BASE=30000
mailctl="$PREFIX/sbin/mailctl"
export BENCH_DIR PEERS_TLS=1
# every package these scripts call, by name; Postfix and Dovecot through peers.sh
"$top/install-deps" bench
"$SHARED/bench/peers.sh" install >/dev/null
[ -x "$mailctl" ] || { echo "no Postern install at $PREFIX (make install prefix=...)" >&2; exit 1; }
results=$(mktemp /tmp/smtps-bench.XXXXXX)
retired=$(mktemp -d /tmp/smtps-bench-old.XXXXXX)
trap 'rm -f "$results"; rm -rf "$retired"' EXIT
last_load_end=0

# fresh_new: moves a Maildir's new/ out of the way and makes an empty one
# with the same owner and mode, so the next load counts only its own
# deliveries and no inode is freed (see above).
fresh_new() { # dir
	local owner mode
	[ -d "$1" ] || return 0
	owner=$(stat -c %u:%g "$1")
	mode=$(stat -c %a "$1")
	mv "$1" "$retired/new.$(date +%s%N)"
	install -d -o "${owner%:*}" -g "${owner#*:}" -m "$mode" "$1"
}

# settle: waits until SETTLE seconds have passed since the last load ended,
# with dirty blocks written out, so no load pays for the other's deletions.
settle() {
	local wait
	sync
	wait=$((last_load_end + SETTLE - $(date +%s)))
	[ "$wait" -gt 0 ] && sleep "$wait"
	return 0
}

peers() { "$SHARED/bench/peers.sh" "$@" >/dev/null 2>&1; }

# record: prints the load's output with a prefix and keeps its delivered
# rate and server CPU per message in $results.
record() { # name per_conn
	local out rate cpu
	out=$(cat)
	echo "$out" | sed "s/^/$1 per-conn=$2: /"
	rate=$(echo "$out" | sed -n 's/.*delivered, \([0-9.]*\) msg\/s.*/\1/p')
	cpu=$(echo "$out" | sed -n 's/^cpu: .*, \([0-9.]*\) ms\/msg$/\1/p')
	echo "$1 $2 ${rate:-0} ${cpu:-0}" >>"$results"
}

postfix_load() { # per_conn
	peers stop all || true
	fresh_new "$BENCH_DIR/mail/maildir/new"
	settle
	peers start all
	/usr/bin/python3 "$SHARED/bench/smtps-load.py" --port 2465 --user bench --password bench \
		-n "$N" -c 20 --per-conn "$1" \
		--server-pid "$(cat "$BENCH_DIR/postfix/spool/pid/master.pid")" \
		--server-pid "$(cat "$BENCH_DIR/dovecot/run/master.pid")" \
		--maildir-new "$BENCH_DIR/mail/maildir/new" 2>&1 | record postfix "$1"
	echo "postfix s_time: $(openssl s_time -connect 127.0.0.1:2465 -new -time 10 2>/dev/null |
		grep 'connections in' | head -1)"
	peers stop all
	last_load_end=$(date +%s)
}

# postern_instance: made once per run of this script; like Postfix's spool
# it is kept between loads, which only delete the Maildir's files (a fresh
# instance right after deleting the last one pays the file system's cost
# of reusing just-freed inodes, which Postfix's side does not).
postern_instance() {
	"$mailctl" -c "$PDIR" stop >/dev/null 2>&1 || true
	rm -rf "$PDIR"
	"$mailctl" init "$PDIR" --domain bench.test --port-base $PORT_BASE >/dev/null
	echo bench | "$mailctl" -c "$PDIR" user add user@bench.test --password-stdin >/dev/null
	if [ -n "${SMTPD_BUSY_POLL:-}" ]; then
		"$mailctl" -c "$PDIR" config set smtpd_busy_poll="$SMTPD_BUSY_POLL" >/dev/null
	fi
}

postern_load() { # per_conn
	"$mailctl" -c "$PDIR" stop >/dev/null 2>&1 || true
	fresh_new "$PDIR/mail/bench.test/user/new"
	settle
	"$mailctl" -c "$PDIR" start >/dev/null
	/usr/bin/python3 "$SHARED/bench/smtps-load.py" --port $((PORT_BASE + 465)) \
		--user user@bench.test --password bench --sender user@bench.test \
		-n "$N" -c 20 --per-conn "$1" --server-pid "$(cat "$PDIR/queue/pid/master.pid")" \
		--maildir-new "$PDIR/mail/bench.test/user/new" 2>&1 | record postern "$1"
	echo "postern s_time: $(openssl s_time -connect 127.0.0.1:$((PORT_BASE + 465)) -new -time 10 2>/dev/null |
		grep 'connections in' | head -1)"
	"$mailctl" -c "$PDIR" stop >/dev/null
	last_load_end=$(date +%s)
}

median() { sort -g | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# summary: per mode, the medians of both sides and the ratios.
summary() {
	local k side col
	echo "smtps-bench medians ($REPS repetitions, $N messages, $(nproc) CPUs):"
	for k in $MODES; do
		for side in postfix postern; do
			for col in 3 4; do
				awk -v s="$side" -v k="$k" -v c="$col" '$1==s && $2==k {print $c}' "$results" |
					median
			done
		done | paste -s -d ' ' | awk -v k="$k" '{
			printf "median per-conn=%s: postfix %.0f msg/s %.2f ms/msg | postern %.0f msg/s %.2f ms/msg | rate x%.2f, cpu x%.2f\n",
			k, $1, $2, $3, $4, ($1 > 0 ? $3 / $1 : 0), ($2 > 0 ? $4 / $2 : 0) }'
	done
}

postern_instance
last_load_end=$(date +%s) # the old instance's files were just deleted
for rep in $(seq "$REPS"); do
	for k in $MODES; do
		if [ $((rep % 2)) -eq 1 ]; then postfix_load "$k"; postern_load "$k"
		else postern_load "$k"; postfix_load "$k"; fi
	done
done
summary
