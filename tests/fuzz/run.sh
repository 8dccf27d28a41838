#!/bin/sh
# run.sh: builds every fuzz target with clang and libFuzzer (plus ASan and
# UBSan), linking the lib/ sources directly, and runs each one for a while
# starting from its seed corpus (tests/fuzz/corpus/<target>/, read only).
#
#   tests/fuzz/run.sh [-t SECONDS] [TARGET...]     (default 30 s, all targets)
#
# Work files go to $FUZZ_WORK (default ${TMPDIR:-/tmp}/postern-fuzz):
# bin/ the binaries, corpus/<target>/ the growing corpus, crashes/<target>/
# any crash, leak or timeout input. FUZZ_MAX_LEN (default 8192) bounds the
# input size; FUZZ_ARGS adds libFuzzer options. Copy a crash input into
# tests/fuzz/corpus/<target>/ (and EXTRA_DIST in tests/fuzz/Makefile.inc)
# once it is fixed, so make check replays it from then on.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
seconds=30
if [ "${1:-}" = "-t" ]; then
	seconds=$2
	shift 2
fi
targets=${*:-"addr attr cfg mcf map_line strm netmatch q sasl uidlist pop3_msgout pop3_session dot smtp_reply qreason route mime imapcmd imapseq mutf7 imapcache imapsearch imapfetch mfolder imapbox imapd_session spf dkim dmarc authres dkim_policy arc"}
work=${FUZZ_WORK:-${TMPDIR:-/tmp}/postern-fuzz}
CC=${CC_FUZZ:-clang}

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "run.sh: $CC not found; installing the Debian package clang" >&2
	if [ "$(id -u)" -eq 0 ]; then
		apt-get install -y clang
	else
		sudo apt-get install -y clang
	fi
fi

# every lib/ file but svc.c (the daemon skeleton) and the session layer
# sess*.c that needs it (fuzz_pop3_session links sess*.c and stubs the svc
# functions they call), and the programs' config key tables
# (<prog>/<prog>_keys.c), which libpostern carries too
srcs=
sess_srcs=
for f in "$top"/lib/*.c; do
	case $(basename "$f") in
	svc.c) ;;
	sess*.c) sess_srcs="$sess_srcs $f" ;;
	*) srcs="$srcs $f" ;;
	esac
done
for f in "$top"/*/*_keys.c; do
	case $f in "$top"/lib/*) ;; *) srcs="$srcs $f" ;; esac
done
ssl_flags=$(pkg-config --cflags --libs openssl 2>/dev/null || echo "-lssl -lcrypto")

mkdir -p "$work/bin"
status=0
for t in $targets; do
	# the pop3d targets link pop3d's files (not pop3d.c: it has main)
	extra=
	case $t in
	pop3_msgout) extra="-I$top/pop3d $top/pop3d/msgout.c" ;;
	pop3_session)
		extra="-I$top/pop3d $sess_srcs $here/fuzz_session.c"
		for f in session commands login stls send msgout; do
			extra="$extra $top/pop3d/$f.c"
		done
		;;
	imapd_session)
		# every file of imapd/ but imapd.c (main)
		extra="-I$top/imapd -DPACKAGE_VERSION=\"fuzz\" $sess_srcs $here/fuzz_session.c"
		for f in "$top"/imapd/*.c; do
			case $(basename "$f") in imapd.c | imapd_keys.c) ;; *) extra="$extra $f" ;; esac
		done
		;;
	esac
	echo "== fuzz_$t: building"
	$CC -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -I"$top/lib" \
		"$here/fuzz_$t.c" $extra $srcs $ssl_flags -lcares -ldb -lcrypt -o "$work/bin/fuzz_$t"
	mkdir -p "$work/corpus/$t" "$work/crashes/$t"
	echo "== fuzz_$t: running for $seconds s"
	if ! "$work/bin/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-max_len="${FUZZ_MAX_LEN:-8192}" -print_final_stats=1 ${FUZZ_ARGS:-} \
		-artifact_prefix="$work/crashes/$t/" \
		"$work/corpus/$t" "$here/corpus/$t" >"$work/fuzz_$t.log" 2>&1; then
		echo "== fuzz_$t: FAILED, see $work/fuzz_$t.log and $work/crashes/$t/"
		status=1
	fi
	tail -n 12 "$work/fuzz_$t.log" | grep -E "stat::number_of_executed_units|stat::new_units_added|SUMMARY|ERROR" || true
done
exit $status
