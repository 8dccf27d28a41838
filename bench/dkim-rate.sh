#!/usr/bin/env bash
# dkim-rate.sh: issue 15's end-to-end requirement. The SMTP->Maildir load of
# issue 3 (../shared/bench/smtp-throughput.sh: smtp-source, one message per
# session, a message counting once its file is in the Maildir's new/)
# against one Postern install, with DKIM signing or with SPF/DKIM/DMARC/ARC
# verification on, side by side with the same load with all of it off, in
# one run, alternating. Every run gets a fresh instance (mailctl init, user
# add). Configurations (CONFIGS, in this order, reversed every second
# repetition):
#   off            dkim_sign = no, SPF/DKIM/DMARC/ARC checks off, client
#                  in mynetworks; smtp-source's own messages, From: bench.test
#   sign           as off, with dkim_sign = yes and an RSA-2048 key made by
#                  mailctl dkim keygen bench.test s1: every message signed
#   sign-ed25519   the same with an Ed25519 key (keygen --ed25519, s=e1)
#   verify         client outside mynetworks (127.0.0.99/32), smtpd_spf_policy
#                  = reject, smtpd_dkim_verify, smtpd_dmarc_policy = enforce,
#                  smtpd_arc_verify on; every message one prepared file (the
#                  same header and body shape and SIZE) signed once by dkimpy
#                  for sender.test with RSA-2048, envelope sender in sender.test
#   verify-ed25519 the same signed with an Ed25519 key
# One dnsmasq on 127.0.0.1:DNS_PORT, started here, answers every instance
# (dns_servers) in every configuration: client.test's PTR, A and SPF (the
# HELO name), sender.test's SPF (passes 127.0.0.1), its DKIM keys and a
# DMARC p=reject record. Its CPU is counted with the server's.
# Before each timed run one message goes through and is checked; after it,
# every delivered file and the log are checked (off: no DKIM-Signature nor
# Authentication-Results; sign: one signature of d=bench.test with the
# configuration's algorithm on every file, one log line per message, and a
# few files verified by dkimpy; verify: dkim=pass, spf=pass, dmarc=pass and
# arc=none in every file's Authentication-Results). A failed check stops
# the script. Prints every run and, per concurrency, the medians of
# delivered msg/s and server CPU ms/msg per configuration and the rate
# ratio against off (the issue's target: at least 0.90). Run as root.
#
#   bench/dkim-rate.sh [N] [CONC...]         defaults: 20000, 20 and 100
# Environment: SHARED (../shared), PREFIX (a Postern install, default
# ./_install), REPS (repetitions, default 3), SIZE (4096), CONFIGS (all five
# above), PORT_BASE (30000), DNS_PORT (PORT_BASE + 53), DNS_TTL (TTL of the
# records, 300 s), TIMEOUT (seconds to wait for delivery, 900).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
SHARED=${SHARED:-$top/../shared}
PREFIX=${PREFIX:-$top/_install}
N=${1:-20000}; shift || true
CONCS=${*:-20 100}
REPS=${REPS:-3}
SIZE=${SIZE:-4096}
CONFIGS=${CONFIGS:-off sign sign-ed25519 verify verify-ed25519}
PDIR=${PDIR:-/tmp/postern-dkimrate}
PORT_BASE=${PORT_BASE:-30000}
DNS_PORT=${DNS_PORT:-$((PORT_BASE + 53))}
DNS_TTL=${DNS_TTL:-300}
TIMEOUT=${TIMEOUT:-900}
mailctl="$PREFIX/sbin/mailctl"
interop="$top/tests/dkim_interop.py"
dnsmasq=/usr/sbin/dnsmasq
# every package this script calls, by name (python3-dkim, python3-nacl and
# python3-dnspython for dkimpy under /usr/bin/python3); Postfix, for
# smtp-source, through peers.sh, which keeps its system daemon from starting
"$top/install-deps" bench
"$SHARED/bench/peers.sh" install >/dev/null

[ -x "$mailctl" ] || { echo "no Postern install at $PREFIX (make install prefix=...)" >&2; exit 1; }
for c in $CONFIGS; do
	case $c in off|sign|sign-ed25519|verify|verify-ed25519) ;;
	*) echo "dkim-rate: unknown configuration '$c'" >&2; exit 2 ;;
	esac
done

work=$(mktemp -d /tmp/dkim-rate.XXXXXX)
results=$work/results
dns_pid=
cleanup() {
	"$mailctl" -c "$PDIR" stop >/dev/null 2>&1 || true
	[ -z "$dns_pid" ] || kill "$dns_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
die() { echo "dkim-rate: $*" >&2; exit 1; }

# --- sender.test: keys, DNS, one signed message per key type ----------------

# The body smtp-source makes for -l SIZE (numbered lines of X), and its
# header fields, so that verify's file is the size and shape of off's mail.
make_message() { # file
	python3 - "$SIZE" >"$1" <<'EOF'
import sys, time
size = int(sys.argv[1])
head = ("From: <sender@sender.test>\r\nTo: <user@bench.test>\r\n"
        "Date: %s\r\nMessage-Id: <dkim-rate.1@sender.test>\r\n\r\n"
        % time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()))
body, n = [], 0
while n < size:
    line = (str(len(body) + 1) + "X" * 78)[:min(78, size - n)]
    body.append(line)
    n += len(line) + 2
sys.stdout.write(head + "".join(l + "\r\n" for l in body))
EOF
}

# dkimpy signs the CRLF message; smtp-source -F adds CR LF to each line of
# its file, so the file keeps LF only.
sign_message() { # key selector out
	/usr/bin/python3 "$interop" sign "$work/plain.eml" "$1" sender.test "$2" >"$work/signed.tmp" ||
		die "dkimpy could not sign with $1"
	tr -d '\r' <"$work/signed.tmp" >"$3"
}

openssl genrsa -out "$work/s1.pem" 2048 2>/dev/null
rsa_pub=$(openssl rsa -in "$work/s1.pem" -pubout -outform DER 2>/dev/null | base64 -w0)
openssl genpkey -algorithm ed25519 -out "$work/e1.pem"
openssl pkey -in "$work/e1.pem" -outform DER | tail -c 32 | base64 -w0 >"$work/e1.seed"
ed_pub=$(openssl pkey -in "$work/e1.pem" -pubout -outform DER | tail -c 32 | base64 -w0)
make_message "$work/plain.eml"
sign_message "$work/s1.pem" s1 "$work/verify.eml"
sign_message "$work/e1.seed" e1 "$work/verify-ed25519.eml"

# A TXT value as dnsmasq's comma-separated strings of at most 255 bytes.
txt() { local v=$1 out=; while [ -n "$v" ]; do out="$out${out:+,}${v:0:255}"; v=${v:255}; done; echo "$out"; }
spf="v=spf1 ip4:127.0.0.1 -all"
dns_args=(--keep-in-foreground --conf-file=/dev/null --pid-file= --no-resolv --no-hosts
	--bind-interfaces --listen-address=127.0.0.1 --port="$DNS_PORT" --local-ttl="$DNS_TTL"
	--local=/sender.test/ --local=/client.test/ --local=/bench.test/
	"--host-record=client.test,127.0.0.1"
	--txt-record="client.test,$spf" --txt-record="sender.test,$spf"
	--txt-record="_dmarc.sender.test,v=DMARC1; p=reject"
	--txt-record="s1._domainkey.sender.test,$(txt "v=DKIM1; k=rsa; p=$rsa_pub")"
	--txt-record="e1._domainkey.sender.test,v=DKIM1; k=ed25519; p=$ed_pub")
[ "$(id -u)" -ne 0 ] || dns_args+=(--user=root)
"$dnsmasq" "${dns_args[@]}" >"$work/dnsmasq.log" 2>&1 &
dns_pid=$!
# dnsmasq is up when it answers; the records it serves are the ones meant
dns_ask() { # name type
	/usr/bin/python3 - "$DNS_PORT" "$1" "$2" <<'EOF'
import sys
import dns.resolver
r = dns.resolver.Resolver(configure=False)
r.nameservers, r.port, r.lifetime = ["127.0.0.1"], int(sys.argv[1]), 1
for rr in r.resolve(sys.argv[2], sys.argv[3]):
    print(b"".join(rr.strings).decode() if sys.argv[3] == "TXT" else rr.to_text())
EOF
}
for _ in $(seq 50); do
	kill -0 "$dns_pid" 2>/dev/null || die "dnsmasq did not start: $(cat "$work/dnsmasq.log")"
	dns_ask sender.test TXT >/dev/null 2>&1 && break
	sleep 0.1
done
[ "$(dns_ask s1._domainkey.sender.test TXT)" = "v=DKIM1; k=rsa; p=$rsa_pub" ] ||
	die "dnsmasq does not serve the RSA key of sender.test"
[ "$(dns_ask _dmarc.sender.test TXT)" = "v=DMARC1; p=reject" ] || die "no DMARC record"

# smtp-source refuses -l with -F, and smtp-throughput.sh always gives -l
# SIZE: for the prepared file it runs through this, which drops -l
smtp_source=$(command -v smtp-source || echo /usr/sbin/smtp-source)
cat >"$work/smtp-source-F" <<EOF
#!/usr/bin/env bash
args=()
while [ \$# -gt 0 ]; do
	if [ "\$1" = -l ]; then shift 2; else args+=("\$1"); shift; fi
done
exec $smtp_source "\${args[@]}"
EOF
chmod +x "$work/smtp-source-F"

# --- one run -----------------------------------------------------------------

setup() { # config
	local c=$1
	"$mailctl" -c "$PDIR" stop >/dev/null 2>&1 || true
	rm -rf "${PDIR:?}"
	"$mailctl" init "$PDIR" --domain bench.test --port-base "$PORT_BASE" >/dev/null
	"$mailctl" -c "$PDIR" user add user@bench.test >/dev/null
	"$mailctl" -c "$PDIR" config set "dns_servers=127.0.0.1:$DNS_PORT" >/dev/null
	case $c in
	verify*) "$mailctl" -c "$PDIR" config set mynetworks=127.0.0.99/32 dkim_sign=no \
		smtpd_spf_policy=reject smtpd_dkim_verify=yes smtpd_dmarc_policy=enforce \
		smtpd_arc_verify=yes >/dev/null ;;
	*) "$mailctl" -c "$PDIR" config set smtpd_spf_policy=off smtpd_dkim_verify=no \
		smtpd_dmarc_policy=off smtpd_arc_verify=no >/dev/null ;;
	esac
	case $c in
	off) "$mailctl" -c "$PDIR" config set dkim_sign=no >/dev/null ;;
	sign) "$mailctl" -c "$PDIR" dkim keygen bench.test s1 >"$work/bench.txt" 2>/dev/null ;;
	sign-ed25519) "$mailctl" -c "$PDIR" dkim keygen bench.test e1 --ed25519 \
		>"$work/bench.txt" 2>/dev/null ;;
	esac
	"$mailctl" -c "$PDIR" start >/dev/null
}

# smtp-throughput.sh with the envelope sender and smtp-source options of a
# configuration: smtp-source's own messages, or verify's prepared file
throughput() { # config smtp-throughput-args...
	local c=$1 sender=sender@bench.test opts='' source=$smtp_source
	shift
	case $c in
	verify*) sender=sender@sender.test opts="-F $work/$c.eml" source=$work/smtp-source-F ;;
	esac
	SENDER=$sender SMTP_SOURCE_OPTS=$opts SMTP_SOURCE=$source "$SHARED/bench/smtp-throughput.sh" \
		127.0.0.1:$((PORT_BASE + 25)) "$@"
}

# Checks every delivered file of NEWDIR against what the configuration
# must have done to it; prints one line, fails when a file is wrong.
check_files() { # config newdir
	python3 - "$1" "$2" <<'EOF'
import os, re, sys
config, newdir = sys.argv[1], sys.argv[2]
AUTHSERV = "mail.bench.test"

def fields(path):
    with open(path, "rb") as f:
        head = f.read().split(b"\n\n", 1)[0].decode("utf-8", "replace")
    return [re.sub(r"\s+", " ", f) for f in re.split(r"\n(?=[^ \t])", head)]

def named(fs, name):
    return [f.split(":", 1)[1].strip() for f in fs if f.lower().startswith(name + ":")]

def tags(sig):
    return dict(t.strip().split("=", 1) for t in sig.split(";") if "=" in t)

def wrong(fs):
    sigs, ars = named(fs, "dkim-signature"), named(fs, "authentication-results")
    if config == "off":
        return "signed or judged" if sigs or ars else None
    if config.startswith("sign"):
        alg = "ed25519-sha256" if config.endswith("ed25519") else "rsa-sha256"
        if len(sigs) != 1 or tags(sigs[0]).get("d") != "bench.test" or \
                tags(sigs[0]).get("a") != alg:
            return "not one %s signature of bench.test" % alg
        return "judged" if ars else None
    ours = [a for a in ars if a.startswith(AUTHSERV + ";")]
    if len(ours) != 1:
        return "%d Authentication-Results of %s" % (len(ours), AUTHSERV)
    for want in ("dkim=pass header.d=sender.test", "spf=pass smtp.mailfrom=sender@sender.test",
                 "dmarc=pass", "arc=none"):
        if want not in ours[0]:
            return "no %s in: %s" % (want, ours[0])
    return None

names = sorted(os.listdir(newdir))
bad = [(n, why) for n in names for why in [wrong(fields(os.path.join(newdir, n)))] if why]
print("check %s: %d of %d delivered files right" % (config, len(names) - len(bad), len(names)))
for n, why in bad[:3]:
    print("  %s: %s" % (n, why))
sys.exit(1 if bad or not names else 0)
EOF
}

# The log and a few signatures (dkimpy, with the record keygen printed)
check_log() { # config expected-messages
	local c=$1 want=$2 log=$PDIR/log/maillog got f
	case $c in
	off) got=$(grep -c -E ': dkim-signed |: dkim=' "$log" || true); want=0 ;;
	sign*) got=$(grep -c ': dkim-signed d=bench.test ' "$log" || true)
		# "NAME. IN TXT ( "a" "b" )" to "NAME. ab"
		sed -E 's/^([^ ]+) IN TXT \( "(.*)" \)$/\1 \2/; s/" "//g' <"$work/bench.txt" \
			>"$work/records"
		for f in $(find "$PDIR/mail/bench.test/user/new" -type f | head -3); do
			/usr/bin/python3 "$interop" verify "$f" "$work/records" >/dev/null ||
				die "$c: dkimpy does not verify $f"
		done ;;
	verify*) got=$(grep -c ': dkim=pass d=sender.test ' "$log" || true) ;;
	esac
	echo "check $c: $got log lines of $want"
	[ "$got" -eq "$want" ] || die "$c: $got log lines where $want were due"
}

run_one() { # config conc
	local c=$1 conc=$2 newdir=$PDIR/mail/bench.test/user/new out rate cpu pids
	setup "$c"
	pids="$(cat "$PDIR/queue/pid/master.pid") $dns_pid"
	# one message first, checked: a configuration that does not do what it
	# says must not be timed
	TIMEOUT=60 throughput "$c" "$newdir" 1 1 "$SIZE" >/dev/null ||
		die "$c: the first message was not delivered: $(tail -5 "$PDIR/log/maillog")"
	check_files "$c" "$newdir" >/dev/null || die "$c: $(check_files "$c" "$newdir")"
	sync
	out=$(SERVER_PIDS="$pids" TIMEOUT="$TIMEOUT" throughput "$c" "$newdir" "$N" "$conc" "$SIZE")
	rate=$(echo "$out" | sed -n 's/.*delivered \([0-9.]*\) msg\/s.*/\1/p')
	cpu=$(echo "$out" | sed -n 's/^cpu: server tree.* \([0-9.]*\) ms\/msg.*/\1/p')
	"$mailctl" -c "$PDIR" stop >/dev/null
	echo "run: $c conc=$conc delivered=$rate msg/s server_cpu=$cpu ms/msg"
	check_files "$c" "$newdir" || die "$c: delivered mail is not what the configuration makes"
	check_log "$c" $((N + 1))
	echo "$c $conc $rate $cpu" >>"$results"
}

median() { sort -g | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

reversed=$(echo "$CONFIGS" | tr ' ' '\n' | grep . | tac | tr '\n' ' ')
echo "dkim-rate: $N messages x $SIZE bytes, concurrency $CONCS, $REPS repetitions," \
	"configurations $CONFIGS, $(nproc) CPUs"
for conc in $CONCS; do
	for rep in $(seq "$REPS"); do
		order=$CONFIGS
		[ $((rep % 2)) -eq 1 ] || order=$reversed
		for c in $order; do run_one "$c" "$conc"; done
	done
done
for conc in $CONCS; do
	off_rate=$(awk -v c="$conc" '$1=="off" && $2==c {print $3}' "$results" | median)
	off_cpu=$(awk -v c="$conc" '$1=="off" && $2==c {print $4}' "$results" | median)
	for c in $CONFIGS; do
		rate=$(awk -v k="$c" -v c="$conc" '$1==k && $2==c {print $3}' "$results" | median)
		cpu=$(awk -v k="$c" -v c="$conc" '$1==k && $2==c {print $4}' "$results" | median)
		awk -v k="$c" -v c="$conc" -v r="$rate" -v u="$cpu" -v r0="$off_rate" -v u0="$off_cpu" 'BEGIN{
			line = sprintf("median conc=%s %-14s %6.0f msg/s %7.3f ms/msg", c, k, r, u)
			if (r0 != "" && k != "off")
				line = line sprintf(" | rate x%.2f of off (%s 0.90), cpu %+.3f ms/msg",
					r / r0, r / r0 >= 0.90 ? ">=" : "<", u - u0)
			print line }'
	done
done
