#!/usr/bin/env bash
# smtps-bench.sh: SMTP over implicit TLS with AUTH, Postfix (with Dovecot's
# auth, ../shared/bench/peers.sh with PEERS_TLS=1, RSA-2048 certificate) and
# Postern (mailctl init's ECDSA P-256 certificate) in one run, alternating:
#   - ../shared/bench/smtps-load.py: full handshake + EHLO + AUTH PLAIN +
#     K messages per connection, 20 connections, N messages, counted when
#     delivered into the Maildir; K = 1 and K = 50
#   - openssl s_time -new: TLS handshakes per second on the implicit-TLS port
# Run as root.  bench/smtps-bench.sh [N]      (default 5000)
# Environment: SHARED, PREFIX (Postern install, default ./_install), REPS (1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
SHARED=${SHARED:-$top/../shared}
PREFIX=${PREFIX:-$top/_install}
N=${1:-5000}
REPS=${REPS:-1}
BENCH_DIR=${BENCH_DIR:-/tmp/mailbench}
PDIR=${PDIR:-/tmp/postern-tls-bench}
PORT_BASE=30000
mailctl="$PREFIX/sbin/mailctl"
export BENCH_DIR PEERS_TLS=1

peers() { "$SHARED/bench/peers.sh" "$@" >/dev/null 2>&1; }

postfix_load() { # per_conn
	peers stop all || true
	find "$BENCH_DIR/mail/maildir" -type f -path '*/new/*' -delete 2>/dev/null || true
	peers start all
	/usr/bin/python3 "$SHARED/bench/smtps-load.py" --port 2465 --user bench --password bench \
		-n "$N" -c 20 --per-conn "$1" \
		--server-pid "$(cat "$BENCH_DIR/postfix/spool/pid/master.pid")" \
		--server-pid "$(cat "$BENCH_DIR/dovecot/run/master.pid")" \
		--maildir-new "$BENCH_DIR/mail/maildir/new" 2>&1 | sed "s/^/postfix per-conn=$1: /"
	echo "postfix s_time: $(openssl s_time -connect 127.0.0.1:2465 -new -time 10 2>/dev/null |
		grep 'connections in' | head -1)"
	peers stop all
}

postern_load() { # per_conn
	"$mailctl" -c "$PDIR" stop >/dev/null 2>&1 || true
	rm -rf "$PDIR"
	"$mailctl" init "$PDIR" --domain bench.test --port-base $PORT_BASE >/dev/null
	echo bench | "$mailctl" -c "$PDIR" user add user@bench.test --password-stdin >/dev/null
	"$mailctl" -c "$PDIR" start >/dev/null
	/usr/bin/python3 "$SHARED/bench/smtps-load.py" --port $((PORT_BASE + 465)) \
		--user user@bench.test --password bench --sender user@bench.test \
		-n "$N" -c 20 --per-conn "$1" --server-pid "$(cat "$PDIR/queue/pid/master.pid")" \
		--maildir-new "$PDIR/mail/bench.test/user/new" 2>&1 | sed "s/^/postern per-conn=$1: /"
	echo "postern s_time: $(openssl s_time -connect 127.0.0.1:$((PORT_BASE + 465)) -new -time 10 2>/dev/null |
		grep 'connections in' | head -1)"
	"$mailctl" -c "$PDIR" stop >/dev/null
}

for rep in $(seq "$REPS"); do
	for k in 1 50; do
		postfix_load "$k"
		postern_load "$k"
	done
done
