#!/usr/bin/env bash
# imap-bench.sh: IMAP, Postern's imapd against Dovecot (../shared/bench/
# peers.sh) in one run, side by side and alternating, with
# ../shared/bench/imap-bench.py (issue 14's benchmark).
#
# ops mode: a 100,000-message INBOX made once by make-maildir.py --count N
# --seed 1; each repetition gives each server its own full copy of it
# (cp -a, made once and reused: see server_copy) and runs, cold then warm:
#   select+envelope  LOGIN, SELECT, UID FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)
#   headers          UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)])
#   search           SEARCH TEXT zanzibar
#   store            STORE_COUNT single UID STORE +FLAGS (\Flagged), one per round trip
# each step in its own session (a step a server does not have is reported
# as failed and the next one runs). "Cold" is the same for both: the server
# stopped, its own index and cache files absent (Dovecot: peers.sh
# clean-index, its index and control directory with its dovecot-uidlist;
# Postern: no postern-* side file in the Maildir), the page cache dropped
# (sync; echo 3 > /proc/sys/vm/drop_caches), the server started. The cold
# SELECT and the cold envelope FETCH build the index and the cache; every
# later step and the warm pass use them. Postern's copy keeps a
# dovecot-uidlist as a store migrated from Dovecot would (the one Dovecot
# wrote in the first cold run of this script, kept in $SOURCE.uidlist);
# POSTERN_UIDLIST=none gives Postern no uidlist either (it then assigns
# the UIDs itself in the cold SELECT, as Dovecot does).
#
# idle mode: a 1,000-message INBOX (seed 2); IDLE_K (1000) connections that
# LOGIN, SELECT and IDLE, and the PSS of the server's whole process tree
# before and after, per connection; then, Postern only, IDLE_MAX (10000)
# concurrent IDLE connections held (none may be refused). For those the
# server's fd limit is raised to the hard limit (ulimit -n; 20,000 here) and
# Postern's imapd keys are set as docs/config.md explains:
# imapd_process_session_limit = 10000 per process, and master.cf's maxproc
# of the imap service left at "-" (default_process_limit: one per CPU), so
# the 2 processes of this machine could hold 20,000.
#
# Prints every run, then the medians, the ratios Postern/Dovecot and the
# targets of issue 14. Run as root.
#
#   bench/imap-bench.sh [ops] [idle]          (default: both)
# Environment: SHARED (../shared), PREFIX (a Postern install, default
# ./_install), REPS (3), N (100000), STORE_COUNT (2000), IDLE_K (1000),
# IDLE_M (1000), IDLE_MAX (10000; 0 = skip), ONLY (dovecot or postern),
# DROP_CACHES (1), POSTERN_UIDLIST (dovecot | none), OUT (raw log),
# PERF (a directory: perf record -g of Postern's imapd in every step).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
SHARED=${SHARED:-$top/../shared}
[ -d "$SHARED/bench" ] || SHARED=$top/../../shared   # a worktree in /work/wt
PREFIX=${PREFIX:-$top/_install}
MODES=${*:-ops idle}
REPS=${REPS:-3}
N=${N:-100000}
STORE_COUNT=${STORE_COUNT:-2000}
IDLE_K=${IDLE_K:-1000}
IDLE_M=${IDLE_M:-1000}
IDLE_MAX=${IDLE_MAX:-10000}
ONLY=${ONLY:-}
DROP_CACHES=${DROP_CACHES:-1}
POSTERN_UIDLIST=${POSTERN_UIDLIST:-dovecot}
# a private Dovecot (own ports and directory: other peers.sh users go on)
export BENCH_DIR=${BENCH_DIR:-/tmp/mailbench-imap}
export IMAP_PORT=${IMAP_PORT:-11143} POP3_PORT=${POP3_PORT:-11110}
export MAILDIR=$BENCH_DIR/mail/maildir   # set to the copy served
PDIR=${PDIR:-/tmp/postern-imap-bench}
PCOPIES=${PCOPIES:-/tmp/postern-imap-bench-copies}   # Postern's copies between runs
PORT_BASE=${PORT_BASE:-36000}
PIMAP=$((PORT_BASE + 143))
SOURCE=${SOURCE:-/tmp/imap-bench-maildir-$N}
SMALL=${SMALL:-/tmp/imap-bench-maildir-small-$IDLE_M}
OUT=${OUT:-/tmp/imap-bench-results.txt}
mailctl="$PREFIX/sbin/mailctl"
bench="/usr/bin/python3 $SHARED/bench/imap-bench.py"

[ "$(id -u)" = 0 ] || { echo "imap-bench.sh: run as root" >&2; exit 1; }
"$top/install-deps" bench
"$SHARED/bench/peers.sh" install >/dev/null
if [ "$ONLY" != dovecot ] && [ ! -x "$mailctl" ]; then
	echo "no Postern install at $PREFIX (make install prefix=...)" >&2; exit 1
fi
# the servers inherit this: 10,000 connections need more than 1024 fds
ulimit -n "$(ulimit -Hn)"

peers() { "$SHARED/bench/peers.sh" "$@" >/dev/null 2>&1; }
log() { echo "$*" | tee -a "$OUT"; }
cleanup() {
	peers stop dovecot || true
	[ -x "$mailctl" ] && "$mailctl" -c "$PDIR" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

make_source() { # dir count seed
	[ -f "$1/.complete" ] && return
	rm -rf "$1"
	/usr/bin/python3 "$SHARED/bench/make-maildir.py" --count "$2" --seed "$3" "$1" >/dev/null
	touch "$1/.complete"
}

# A server's own copy of a source Maildir, made once (cp -a of 100,000
# files takes minutes) and reused: a run leaves the files as it found them
# (the STOREd flags are removed again), only index and cache files change,
# and those are removed before every cold start.
server_copy() { # source destination owner
	if [ ! -f "$2/.complete" ] || [ "$(cat "$2/.complete")" != "$1" ]; then
		rm -rf "$2"
		mkdir -p "$(dirname "$2")"
		cp -a "$1" "$2.tmp"
		mv "$2.tmp" "$2"
		echo "$1" >"$2/.complete"
	fi
	chown -R "$3" "$2"
}

drop_caches() {
	[ "$DROP_CACHES" = 1 ] || return 0
	sync
	echo 3 >/proc/sys/vm/drop_caches || true
}

dovecot_start() { # source
	peers stop dovecot || true
	MAILDIR=$BENCH_DIR/mail/$(basename "$1")
	server_copy "$1" "$MAILDIR" mailbench
	peers clean-index dovecot || true
	drop_caches
	peers start dovecot
}

dovecot_stop() {
	# keep Dovecot's uidlist of the big mailbox: Postern's copy is then the
	# same store migrated (UIDs as Dovecot gave them)
	local ul
	ul=$(find "$BENCH_DIR/dovecot/index" -name dovecot-uidlist 2>/dev/null | head -1)
	if [ "${1:-}" = big ] && [ -n "$ul" ] && [ ! -f "$SOURCE.uidlist" ]; then
		cp "$ul" "$SOURCE.uidlist"
	fi
	peers stop dovecot || true
}

postern_start() { # source
	local box=$PDIR/mail/bench.test/user
	"$mailctl" -c "$PDIR" stop >/dev/null 2>&1 || true
	rm -rf "$PDIR"
	"$mailctl" init "$PDIR" --domain bench.test --port-base "$PORT_BASE" >/dev/null
	echo bench | "$mailctl" -c "$PDIR" user add user@bench.test --password-stdin >/dev/null
	# like the peer's Dovecot: LOGIN without TLS; 10,000 sessions per process
	"$mailctl" -c "$PDIR" config set imapd_tls_auth_only=no \
		imapd_process_session_limit=10000 >/dev/null
	pcopy=$PCOPIES/$(basename "$1")
	server_copy "$1" "$pcopy" "$(stat -c %U "$PDIR/mail")"
	find "$pcopy" -maxdepth 1 -name 'postern-*' -delete
	rm -f "$pcopy/dovecot-uidlist"
	if [ "$1" = "$SOURCE" ] && [ "$POSTERN_UIDLIST" = dovecot ] && [ -f "$SOURCE.uidlist" ]; then
		cp "$SOURCE.uidlist" "$pcopy/dovecot-uidlist"
		chown --reference="$pcopy" "$pcopy/dovecot-uidlist"
	fi
	rm -rf "$box"
	mv "$pcopy" "$box"
	drop_caches
	"$mailctl" -c "$PDIR" start >/dev/null
}

postern_stop() { # source: the copy goes back to its place
	"$mailctl" -c "$PDIR" stop >/dev/null 2>&1 || true
	mv "$PDIR/mail/bench.test/user" "$PCOPIES/$(basename "$1")"
}

# perf_start label op: with PERF=DIR, perf record -g of Postern's imapd
# processes during one step (DIR/label-op.data; the report's top lines go
# to DIR/label-op.txt)
perf_pid=
perf_start() {
	perf_pid=
	[ -n "${PERF:-}" ] && [ "${1%% *}" = postern ] || return 0
	local pids
	pids=$(pgrep -d, -x imapd -P "$(tr -d ' \n' <"$PDIR/queue/pid/master.pid")") || return 0
	mkdir -p "$PERF"
	perf record -q -g -o "$PERF/${1// /-}-$2.data" -p "$pids" >/dev/null 2>&1 &
	perf_pid=$!
	sleep 0.5
}
perf_stop() {
	[ -n "$perf_pid" ] || return 0
	kill -INT "$perf_pid"; wait "$perf_pid" || true
	local data=$PERF/${1// /-}-$2.data
	perf report -i "$data" --no-children --stdio --percent-limit 1 2>/dev/null |
		grep -v '^$' | head -150 >"${data%.data}.txt" || true
}

# one pass of the ops, each step in its own session; a failing step is logged
ops_pass() { # label port user
	local label=$1 port=$2 user=$3 op
	for op in envelope headers search store; do
		perf_start "$label" "$op"
		$bench --port "$port" --user "$user" --password bench --ops "$op" \
			--store-count "$STORE_COUNT" 2>&1 | sed "s/^/$label $op: /" | tee -a "$OUT" || true
		perf_stop "$label" "$op"
	done
}

ops_rep() { # server
	case $1 in
	dovecot)
		dovecot_start "$SOURCE"
		ops_pass "dovecot cold" "$IMAP_PORT" bench
		ops_pass "dovecot warm" "$IMAP_PORT" bench
		dovecot_stop big ;;
	postern)
		postern_start "$SOURCE"
		ops_pass "postern cold" "$PIMAP" user@bench.test
		ops_pass "postern warm" "$PIMAP" user@bench.test
		postern_stop "$SOURCE" ;;
	esac
}

idle_run() { # label port user pid k
	perf_start "$1" idle
	$bench --port "$2" --user "$3" --password bench --mode idle --connections "$5" \
		--server-pid "$4" --settle 3 2>&1 | sed "s/^/$1 mem: /" | tee -a "$OUT" || true
	perf_stop "$1" idle
}

idle_rep() { # server rep
	case $1 in
	dovecot)
		dovecot_start "$SMALL"
		idle_run "dovecot idle$IDLE_K" "$IMAP_PORT" bench \
			"$(tr -d ' \n' <"$BENCH_DIR/dovecot/run/master.pid")" "$IDLE_K"
		dovecot_stop ;;
	postern)
		postern_start "$SMALL"
		local pid
		pid=$(tr -d ' \n' <"$PDIR/queue/pid/master.pid")
		idle_run "postern idle$IDLE_K" "$PIMAP" user@bench.test "$pid" "$IDLE_K"
		if [ "$IDLE_MAX" -gt 0 ] && [ "$2" = 1 ]; then
			idle_run "postern idle$IDLE_MAX" "$PIMAP" user@bench.test "$pid" "$IDLE_MAX"
			grep -c 'UNAVAILABLE\|refus' "$PDIR/log/maillog" 2>/dev/null |
				sed "s/^/postern idle$IDLE_MAX mem: refused-in-log /" | tee -a "$OUT" || true
		fi
		postern_stop "$SMALL" ;;
	esac
}

servers() { # rep: alternate which server goes first
	if [ -n "$ONLY" ]; then echo "$ONLY"
	elif [ $(($1 % 2)) = 1 ]; then echo dovecot postern
	else echo postern dovecot; fi
}

summary() { /usr/bin/python3 "$here/imap-bench-summary.py" "$OUT" "$IDLE_K" "$IDLE_MAX"; }

if [[ " $MODES " == *" ops "* ]]; then make_source "$SOURCE" "$N" 1; fi
if [[ " $MODES " == *" idle "* ]]; then make_source "$SMALL" "$IDLE_M" 2; fi
: >"$OUT"
log "# $(date -u '+%F %H:%M') imap-bench.sh $MODES: REPS=$REPS N=$N, $(nproc) cpus, dovecot $(dovecot --version | cut -d' ' -f1), postern $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')"
for rep in $(seq "$REPS"); do
	for s in $(servers "$rep"); do
		if [[ " $MODES " == *" ops "* ]]; then ops_rep "$s"; fi
		if [[ " $MODES " == *" idle "* ]]; then idle_rep "$s" "$rep"; fi
	done
done
summary | tee -a "$OUT"
