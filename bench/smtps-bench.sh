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
#   bench/smtps-bench.sh [N]      (default 5000)
# Environment: SHARED, PREFIX (Postern install, default ./_install), REPS
# (repetitions, default 1), MODES (messages per connection, default "1 50"),
# PDIR (the Postern instance, rebuilt for every run).
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
PORT_BASE=30000
mailctl="$PREFIX/sbin/mailctl"
export BENCH_DIR PEERS_TLS=1
[ -x "$mailctl" ] || { echo "no Postern install at $PREFIX (make install prefix=...)" >&2; exit 1; }
results=$(mktemp /tmp/smtps-bench.XXXXXX)
trap 'rm -f "$results"' EXIT

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
	find "$BENCH_DIR/mail/maildir" -type f -path '*/new/*' -delete 2>/dev/null || true
	peers start all
	/usr/bin/python3 "$SHARED/bench/smtps-load.py" --port 2465 --user bench --password bench \
		-n "$N" -c 20 --per-conn "$1" \
		--server-pid "$(cat "$BENCH_DIR/postfix/spool/pid/master.pid")" \
		--server-pid "$(cat "$BENCH_DIR/dovecot/run/master.pid")" \
		--maildir-new "$BENCH_DIR/mail/maildir/new" 2>&1 | record postfix "$1"
	echo "postfix s_time: $(openssl s_time -connect 127.0.0.1:2465 -new -time 10 2>/dev/null |
		grep 'connections in' | head -1)"
	peers stop all
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
	find "$PDIR/mail/bench.test/user" -type f -path '*/new/*' -delete 2>/dev/null || true
	"$mailctl" -c "$PDIR" start >/dev/null
	/usr/bin/python3 "$SHARED/bench/smtps-load.py" --port $((PORT_BASE + 465)) \
		--user user@bench.test --password bench --sender user@bench.test \
		-n "$N" -c 20 --per-conn "$1" --server-pid "$(cat "$PDIR/queue/pid/master.pid")" \
		--maildir-new "$PDIR/mail/bench.test/user/new" 2>&1 | record postern "$1"
	echo "postern s_time: $(openssl s_time -connect 127.0.0.1:$((PORT_BASE + 465)) -new -time 10 2>/dev/null |
		grep 'connections in' | head -1)"
	"$mailctl" -c "$PDIR" stop >/dev/null
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
for rep in $(seq "$REPS"); do
	for k in $MODES; do
		if [ $((rep % 2)) -eq 1 ]; then postfix_load "$k"; postern_load "$k"
		else postern_load "$k"; postfix_load "$k"; fi
	done
done
summary
