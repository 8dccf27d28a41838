#!/bin/sh
# replay.sh: run by make check. Feeds every fuzz target's corpus (the seeds
# and the crash inputs kept as regressions, tests/fuzz/corpus/<target>/) to
# the replay build of that target (tests/fuzz/replay_<target>, plain
# compiler, no libFuzzer). Any crash or abort fails the test.
set -u

src=${srcdir:-${POSTERN_SRCDIR:-.}}
bin=${POSTERN_BUILDDIR:-.}/tests/fuzz
status=0
for dir in "$src"/tests/fuzz/corpus/*/; do
	t=$(basename "$dir")
	if [ ! -x "$bin/replay_$t" ]; then
		echo "FAIL: $bin/replay_$t is missing"
		status=1
		continue
	fi
	if ! "$bin/replay_$t" "$dir"; then
		echo "FAIL: replay_$t on $dir"
		status=1
	fi
done
exit $status
