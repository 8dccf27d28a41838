#!/usr/bin/env bash
# crash-storm.sh: the long form of tests/e2e/test_storm.py (issue 12). A
# private instance of the build tree takes MESSAGES messages over SESSIONS
# SMTP sessions while a random smtpd, qmgr or local (a child of master)
# gets SIGKILL every KILL_MS ms on average, during the sending and for
# DRAIN_KILL_S seconds of the drain after it; the clients retry every 4xx,
# lost connection and timeout like an MTA. Each repetition prints the
# test's "storm:" line; the end prints medians of accepted, delivered,
# duplicates (attempts delivered whose 250 the client never saw, which
# is allowed), lost, drain time (from the last kill to an empty queue; and
# drain_from_sent_s: from the last 250 to all delivered, under fire) and
# the messages still in active/ 60 s after the last kill. Run as root, from
# a built checkout.
#
#   bench/crash-storm.sh [REPS]          default 3
# Environment: MESSAGES (5000), SESSIONS (10), KILL_MS (100), SEND_S (20:
# the clients spread the messages over at least that long), DRAIN_KILL_S
# (10), DRAIN_TIMEOUT (300), POSTERN_BUILDDIR (this checkout), LOG (the
# tests' whole output, /tmp/crash-storm.log).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
REPS=${1:-3}
export POSTERN_BUILDDIR=${POSTERN_BUILDDIR:-$top}
export STORM_MESSAGES=${MESSAGES:-5000} STORM_SESSIONS=${SESSIONS:-10}
export STORM_KILL_MS=${KILL_MS:-100} STORM_SEND_S=${SEND_S:-20}
export STORM_DRAIN_KILL_S=${DRAIN_KILL_S:-10} STORM_DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-300}
export STORM_SEND_TIMEOUT=${SEND_TIMEOUT:-600}
"$top/install-deps" bench test

results=$(mktemp /tmp/crash-storm.XXXXXX)
trap 'rm -f "$results"' EXIT
echo "crash-storm: $STORM_MESSAGES messages, $STORM_SESSIONS sessions, a kill every" \
	"${STORM_KILL_MS} ms, $REPS repetitions, $(nproc) CPUs, commit" \
	"$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)"
log=${LOG:-/tmp/crash-storm.log}
: >"$log"
for rep in $(seq "$REPS"); do
	python3 -W ignore "$top/tests/e2e/test_storm.py" >>"$log" 2>&1 || true
	line=$(grep '^storm: \|\.\.\. storm: ' "$log" | tail -1 | sed 's/.*storm: /storm: /')
	: "${line:=}"
	[ -n "$line" ] && [ "$(grep -c 'storm: ' "$log")" -ge "$rep" ] ||
		{ echo "run $rep: the test printed no figures (see $log)" >&2; exit 1; }
	echo "run $rep: ${line#storm: }"
	echo "${line#storm: }" >>"$results"
done

# field NAME: that key's value from every run, one a line ("timeout" as 999999)
field() { tr ' ' '\n' <"$results" | sed -n "s/^$1=//p" | sed 's/^timeout$/999999/'; }
median() { sort -g | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
printf 'median of %s runs:' "$REPS"
for key in accepted delivered duplicates_unacked twice lost kills drain_s drain_from_sent_s active_60s tmp_left \
	cannot_link backoff_max_ms; do
	printf ' %s=%s' "$key" "$(field "$key" | median)"
done
echo
