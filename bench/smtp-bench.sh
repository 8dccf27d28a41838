#!/usr/bin/env bash
# smtp-bench.sh: the same SMTP load against Postfix (../shared/bench/peers.sh)
# and against Postern in one run, side by side: N messages of SIZE bytes over
# CONC concurrent sessions (one message per session, as smtp-source sends),
# counting a message when its file appears in the Maildir's new/.
# Prints delivered msg/s and server CPU ms per message for each, and the
# Postern/Postfix ratio. Run as root (Postfix's master needs it).
#
#   bench/smtp-bench.sh [N] [CONC...]        defaults: 20000, 20 and 100
# Environment: SHARED (../shared), PREFIX (a Postern install, default
# ./_install), REPS (repetitions, default 1), SIZE (4096).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
SHARED=${SHARED:-$top/../shared}
PREFIX=${PREFIX:-$top/_install}
N=${1:-20000}; shift || true
CONCS=${*:-20 100}
REPS=${REPS:-1}
SIZE=${SIZE:-4096}
BENCH_DIR=${BENCH_DIR:-/tmp/mailbench}
PDIR=${PDIR:-/tmp/postern-bench}
PORT_BASE=30000
mailctl="$PREFIX/sbin/mailctl"
# XXX the shared smtp-throughput.sh prints its delivery deadline with awk's
# default 6-digit number format (1.7953e+09), so with today's epoch times it
# times out at the first check after sending; run a copy with that fixed.
throughput=$(mktemp /tmp/smtp-throughput.XXXXXX)
trap 'rm -f "$throughput"' EXIT
sed 's/BEGIN{print t+d}/BEGIN{printf "%.3f", t+d}/' "$SHARED/bench/smtp-throughput.sh" >"$throughput"
chmod +x "$throughput"
export BENCH_DIR

[ -x "$mailctl" ] || { echo "no Postern install at $PREFIX (make install prefix=...)" >&2; exit 1; }

postfix_start() { "$SHARED/bench/peers.sh" start postfix >/dev/null; }
postfix_stop() { "$SHARED/bench/peers.sh" stop postfix >/dev/null || true; }

postern_setup() {
	"$mailctl" -c "$PDIR" stop >/dev/null 2>&1 || true
	rm -rf "$PDIR"
	"$mailctl" init "$PDIR" --domain bench.test --port-base $PORT_BASE >/dev/null
	"$mailctl" -c "$PDIR" user add user@bench.test >/dev/null
	"$mailctl" -c "$PDIR" start >/dev/null
}

run_one() { # name target newdir conc pids
	local name=$1 target=$2 newdir=$3 conc=$4 pids=$5 out
	out=$(SERVER_PIDS="$pids" TIMEOUT=900 "$throughput" "$target" "$newdir" "$N" "$conc" "$SIZE")
	local rate cpu
	rate=$(echo "$out" | sed -n 's/.*delivered \([0-9.]*\) msg\/s.*/\1/p')
	cpu=$(echo "$out" | sed -n 's/^cpu: server tree.* \([0-9.]*\) ms\/msg.*/\1/p')
	echo "$name conc=$conc delivered=$rate msg/s server_cpu=$cpu ms/msg"
	echo "$out" | sed 's/^/    /' >&2
}

for conc in $CONCS; do
	for rep in $(seq "$REPS"); do
		postfix_start
		run_one postfix 127.0.0.1:2525 "$BENCH_DIR/mail/maildir/new" "$conc" \
			"$(cat "$BENCH_DIR/postfix/spool/pid/master.pid")"
		postfix_stop
		postern_setup
		run_one postern 127.0.0.1:$((PORT_BASE + 25)) "$PDIR/mail/bench.test/user/new" "$conc" \
			"$(cat "$PDIR/queue/pid/master.pid")"
		"$mailctl" -c "$PDIR" stop >/dev/null
	done
done
