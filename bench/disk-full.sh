#!/usr/bin/env bash
# disk-full.sh: the full-disk scenario of tests/e2e/test_diskfull.py (issue
# 12) REPS times against Postern (the build tree) and, alternating, against
# Postfix (../shared/bench/peers.sh), each with queue, mail store and log on
# a fresh 64 MiB ext4 file system on a loop device: a filler leaves 10 MiB
# free, 4 sessions send 32 KB messages until the first refusal and 40 more
# each after it, the filler is removed, 20 more messages, and every 250 must
# be in the Maildir once within 60 s, without a restart. Each run prints
# one line; the end prints, per server, the medians of accepted, delivered,
# lost, duplicates, free bytes at the first refusal, seconds to deliver
# everything after space was freed, and the messages still in active/
# 60 s after space was freed. Run as root, from a built checkout.
#
#   bench/disk-full.sh [REPS]            default 3
# Environment: SHARED (../shared), POSTFIX=0 (Postern only),
# DISKFULL_MB (64), DISKFULL_LEAVE_MB (10), DISKFULL_MORE (40).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
REPS=${1:-3}
SHARED=${SHARED:-$top/../shared}
POSTFIX=${POSTFIX:-1}
export POSTERN_BUILDDIR=${POSTERN_BUILDDIR:-$top}
"$top/install-deps" bench test
[ "$POSTFIX" = 0 ] || "$SHARED/bench/peers.sh" install >/dev/null

results=$(mktemp /tmp/disk-full.XXXXXX)
trap 'rm -f "$results"' EXIT
echo "disk-full: ${DISKFULL_MB:-64} MiB ext4, $REPS repetitions, commit" \
	"$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)"

postern_run() {
	local line
	line=$(python3 -W ignore "$top/tests/e2e/test_diskfull.py" OneFullFileSystem 2>&1 |
		sed -n 's/.*diskfull: /diskfull: /p' | tail -1)
	[ -n "$line" ] || { echo "postern: the test printed no figures" >&2; exit 1; }
	echo "run: postern ${line#diskfull: }"
	echo "postern ${line#diskfull: }" >>"$results"
}

postfix_run() {
	local line
	line=$(python3 -W ignore "$here/disk-full-postfix.py" "$SHARED" 2>&1 | sed -n 's/.*diskfull: /diskfull: /p' | tail -1)
	[ -n "$line" ] || { echo "postfix: the run printed no figures" >&2; exit 1; }
	echo "run: ${line#diskfull: server=}"
	echo "postfix ${line#diskfull: server=postfix }" >>"$results"
}

for rep in $(seq "$REPS"); do
	if [ "$POSTFIX" = 0 ]; then postern_run
	elif [ $((rep % 2)) -eq 1 ]; then postern_run; postfix_run
	else postfix_run; postern_run; fi
done

# field SERVER NAME: that key's value in every run of SERVER ("timeout" as 999999)
field() {
	awk -v s="$1" '$1 == s' "$results" | tr ' ' '\n' | sed -n "s/^$2=//p" |
		sed 's/^timeout$/999999/'
}
median() { sort -g | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
for server in postern postfix; do
	grep -q "^$server " "$results" || continue
	printf 'median %s:' "$server"
	for key in accepted after_free delivered lost twice free_at_first delivery_s active_at_end; do
		printf ' %s=%s' "$key" "$(field "$server" "$key" | median)"
	done
	printf ' first_refusal=%s\n' "$(field "$server" first_refusal | sort | uniq -c |
		awk '{printf "%s%s(x%s)", (NR > 1 ? "," : ""), $2, $1}')"
done
