#!/usr/bin/env bash
# smtp-bench.sh: the same SMTP load against Postfix (../shared/bench/peers.sh)
# and against Postern in one run, side by side and alternating: N messages
# of SIZE bytes over CONC concurrent sessions (one message per session, as
# smtp-source sends), a message counting once its file is in the Maildir's
# new/. Both servers fsync every queue file before 250 and every Maildir
# file before it counts. Each repetition starts both from an empty Maildir.
# Prints every run and, per concurrency, the medians and Postern/Postfix
# ratios of delivered msg/s and server CPU ms per message. Run as root
# (Postfix's master needs it).
#
#   bench/smtp-bench.sh [N] [CONC...]        defaults: 20000, 20 and 100
# Environment: SHARED (../shared), PREFIX (a Postern install, default
# ./_install), REPS (repetitions, default 3), SIZE (4096).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
SHARED=${SHARED:-$top/../shared}
PREFIX=${PREFIX:-$top/_install}
N=${1:-20000}; shift || true
CONCS=${*:-20 100}
REPS=${REPS:-3}
SIZE=${SIZE:-4096}
BENCH_DIR=${BENCH_DIR:-/tmp/mailbench}
PDIR=${PDIR:-/tmp/postern-bench}
PORT_BASE=30000
mailctl="$PREFIX/sbin/mailctl"
export BENCH_DIR
# every package these scripts call, by name; Postfix and Dovecot through peers.sh
"$top/install-deps" bench
"$SHARED/bench/peers.sh" install >/dev/null

[ -x "$mailctl" ] || { echo "no Postern install at $PREFIX (make install prefix=...)" >&2; exit 1; }

# XXX the shared smtp-throughput.sh prints its delivery deadline with awk's
# default 6-digit number format (1.7953e+09), so with today's epoch times it
# times out at the first check after sending; run a copy with that fixed.
throughput=$(mktemp /tmp/smtp-throughput.XXXXXX)
results=$(mktemp /tmp/smtp-bench.XXXXXX)
trap 'rm -f "$throughput" "$results"' EXIT
sed 's/BEGIN{print t+d}/BEGIN{printf "%.3f", t+d}/' "$SHARED/bench/smtp-throughput.sh" >"$throughput"
chmod +x "$throughput"

postfix_run() { # conc
	"$SHARED/bench/peers.sh" stop postfix >/dev/null 2>&1 || true
	find "$BENCH_DIR/mail/maildir" -type f -path '*/new/*' -delete 2>/dev/null || true
	"$SHARED/bench/peers.sh" start postfix >/dev/null
	run_one postfix 127.0.0.1:2525 "$BENCH_DIR/mail/maildir/new" "$1" \
		"$(cat "$BENCH_DIR/postfix/spool/pid/master.pid")"
	"$SHARED/bench/peers.sh" stop postfix >/dev/null
}

postern_run() { # conc
	"$mailctl" -c "$PDIR" stop >/dev/null 2>&1 || true
	rm -rf "$PDIR"
	"$mailctl" init "$PDIR" --domain bench.test --port-base $PORT_BASE >/dev/null
	"$mailctl" -c "$PDIR" user add user@bench.test >/dev/null
	"$mailctl" -c "$PDIR" start >/dev/null
	run_one postern 127.0.0.1:$((PORT_BASE + 25)) "$PDIR/mail/bench.test/user/new" "$1" \
		"$(cat "$PDIR/queue/pid/master.pid")"
	"$mailctl" -c "$PDIR" stop >/dev/null
}

run_one() { # name target newdir conc pids
	local name=$1 target=$2 newdir=$3 conc=$4 pids=$5 out rate cpu
	sync
	out=$(SERVER_PIDS="$pids" TIMEOUT=900 "$throughput" "$target" "$newdir" "$N" "$conc" "$SIZE")
	rate=$(echo "$out" | sed -n 's/.*delivered \([0-9.]*\) msg\/s.*/\1/p')
	cpu=$(echo "$out" | sed -n 's/^cpu: server tree.* \([0-9.]*\) ms\/msg.*/\1/p')
	echo "run: $name conc=$conc delivered=$rate msg/s server_cpu=$cpu ms/msg"
	echo "$name $conc $rate $cpu" >>"$results"
}

median() { sort -g | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "smtp-bench: $N messages x $SIZE bytes, concurrency $CONCS, $REPS repetitions, $(nproc) CPUs"
for conc in $CONCS; do
	for rep in $(seq "$REPS"); do
		if [ $((rep % 2)) -eq 1 ]; then postfix_run "$conc"; postern_run "$conc"
		else postern_run "$conc"; postfix_run "$conc"; fi
	done
done
for conc in $CONCS; do
	pf_rate=$(awk -v c="$conc" '$1=="postfix" && $2==c {print $3}' "$results" | median)
	pn_rate=$(awk -v c="$conc" '$1=="postern" && $2==c {print $3}' "$results" | median)
	pf_cpu=$(awk -v c="$conc" '$1=="postfix" && $2==c {print $4}' "$results" | median)
	pn_cpu=$(awk -v c="$conc" '$1=="postern" && $2==c {print $4}' "$results" | median)
	awk -v c="$conc" -v a="$pf_rate" -v b="$pn_rate" -v x="$pf_cpu" -v y="$pn_cpu" 'BEGIN{
		printf "median conc=%s: postfix %.0f msg/s %.3f ms/msg | postern %.0f msg/s %.3f ms/msg | rate x%.2f, cpu x%.2f\n",
		c, a, x, b, y, b/a, y/x }'
done
