#!/usr/bin/env bash
# vs-iperf3.sh: zerocheck's throughput on loopback against iperf3's.
# `zerocheck send` -> `zerocheck recv` (separate processes, every byte
# verified) against `iperf3 -c` -> `iperf3 -s`, on 127.0.0.1 only, for the
# patterns zeros, counter and random, with 1 and with 4 streams
# (--streams 4 / -P 4). Interleaved: in each round every case runs iperf3
# and then zerocheck back to back, so drift in machine load hits both; the
# table shows the median over rounds of each and their ratio, and the
# receiver's peak RSS (the largest over rounds).
#
# iperf3 ignores the pattern (it sends its own buffer): its run in each
# row is a fresh measurement of the same thing, there for the interleaving.
# zerocheck's throughput is the receiver-verified bytes from the sender's
# report over its seconds; iperf3's is end.sum_received.bits_per_second.
#
# Target: ratio zerocheck/iperf3 >= 0.90 for every row, and receiver peak
# RSS < 64 MiB at 4 streams. A row that misses it is marked in the table;
# that is a measurement, not an error. Any zerocheck run that is not clean
# aborts the script with exit 1.
#
# Usage: bench/vs-iperf3.sh [SECONDS] [ROUNDS]    (default 5 s, 3 rounds)
# Needs iperf3 (apt-get install -y iperf3) and python3 or jq. The receiver's
# peak RSS comes from /usr/bin/time -v (Debian package "time") when present,
# else from sampling VmHWM in /proc/PID/status while it runs.
set -euo pipefail
secs=${1:-5}
rounds=${2:-3}
case $secs$rounds in
*[!0-9]*) echo "usage: $0 [SECONDS] [ROUNDS]   (positive integers)" >&2; exit 2 ;;
esac
if [ "$secs" -lt 1 ] || [ "$rounds" -lt 1 ]; then
	echo "usage: $0 [SECONDS] [ROUNDS]   (positive integers)" >&2
	exit 2
fi

patterns=(zeros counter random)
streamcounts=(1 4)
min_ratio=0.90
max_rss_mib=64 # at 4 streams

if ! command -v iperf3 >/dev/null; then
	echo "iperf3 is not installed; install it with: apt-get install -y iperf3" >&2
	exit 2
fi
if command -v python3 >/dev/null; then
	# json_get FILE EXPR: print EXPR (a Python expression over d) of FILE's JSON.
	json_get() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
	iperf_bps='d["end"]["sum_received"]["bits_per_second"]'
	iperf_err='d.get("error", "")'
	zc_verdict='d["verdict"]'
	zc_bytes='d["bytes_verified"]'
	zc_secs='d["seconds"]'
elif command -v jq >/dev/null; then
	json_get() { jq -r "$2" "$1"; }
	iperf_bps='.end.sum_received.bits_per_second'
	iperf_err='.error // ""'
	zc_verdict='.verdict'
	zc_bytes='.bytes_verified'
	zc_secs='.seconds'
else
	echo "need python3 or jq to read JSON reports" >&2
	exit 2
fi
gnutime=
if [ -x /usr/bin/time ] && /usr/bin/time -v -o /dev/null true 2>/dev/null; then
	gnutime=/usr/bin/time
fi

cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
bg_pids=()  # the iperf3 server
run_pids=() # the receiver of the run under way (and its RSS sampler)
# kill_tree PID: stop PID and its descendants (e.g. time's child).
kill_tree() {
	local c
	# shellcheck disable=SC2013 # the file is one line of space-separated PIDs
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		kill_tree "$c"
	done
	kill "$1" 2>/dev/null || true
}
cleanup() {
	local p
	for p in "${run_pids[@]}" "${bg_pids[@]}"; do
		kill_tree "$p"
	done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

zc=$tmp/zerocheck
go build -o "$zc" ./cmd/zerocheck

# listening PORT: is something listening on 127.0.0.1:PORT (or 0.0.0.0)?
# Read from /proc: a probe connection would use up an iperf3 test.
listening() {
	awk -v p=":$(printf '%04X' "$1")" '$4 == "0A" && substr($2, length($2) - 4) == p {f = 1} END {exit !f}' /proc/net/tcp
}

# Persistent iperf3 server on a free high port, stopped at exit.
iperf_pid='' iperf_port=''
for _ in 1 2 3 4 5 6 7 8 9 10; do
	iperf_port=$((20000 + RANDOM % 40000))
	listening "$iperf_port" && continue
	iperf3 -s -B 127.0.0.1 -p "$iperf_port" >"$tmp/iperf3-server.log" 2>&1 &
	iperf_pid=$!
	bg_pids+=("$iperf_pid")
	for _ in $(seq 50); do
		listening "$iperf_port" && break 2
		kill -0 "$iperf_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill_tree "$iperf_pid"
	iperf_pid=
done
if [ -z "$iperf_pid" ]; then
	echo "could not start iperf3 -s:" >&2
	cat "$tmp/iperf3-server.log" >&2
	exit 1
fi

# run_iperf3 N: one iperf3 run with N streams; prints Gbit/s received.
run_iperf3() {
	local out=$tmp/iperf3.json err
	if ! iperf3 -c 127.0.0.1 -p "$iperf_port" -t "$secs" -P "$1" -J >"$out"; then
		echo "iperf3 -c failed:" >&2
		cat "$out" >&2
		exit 1
	fi
	err=$(json_get "$out" "$iperf_err")
	if [ -n "$err" ]; then
		echo "iperf3: $err" >&2
		exit 1
	fi
	awk -v b="$(json_get "$out" "$iperf_bps")" 'BEGIN {printf "%.3f\n", b / 1e9}'
}

# sample_hwm PID OUT: keep writing PID's VmHWM (KiB) to OUT until it exits.
sample_hwm() {
	local v
	while v=$(awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null) && [ -n "$v" ]; do
		echo "$v" >"$2"
		sleep 0.05
	done
}

# run_zerocheck PATTERN N: one send -> recv run; sets zc_gbps and zc_rss
# (receiver peak RSS, KiB). Aborts (exit 1) unless both ends report a
# clean run. Not run in a subshell, so that exit and cleanup work.
zc_gbps='' zc_rss=''
run_zerocheck() {
	local pattern=$1 n=$2 rpid spid='' wpid port='' rrc=0 src=0 verdict
	: >"$tmp/recv.err"
	rm -f "$tmp/recv.time" "$tmp/recv.hwm"
	if [ -n "$gnutime" ]; then
		"$gnutime" -v -o "$tmp/recv.time" "$zc" recv --listen 127.0.0.1:0 --once --quiet --json --no-hostinfo \
			>"$tmp/recv.json" 2>"$tmp/recv.err" &
		rpid=$!
	else
		"$zc" recv --listen 127.0.0.1:0 --once --quiet --json --no-hostinfo \
			>"$tmp/recv.json" 2>"$tmp/recv.err" &
		rpid=$!
		sample_hwm "$rpid" "$tmp/recv.hwm" &
		spid=$!
		run_pids+=("$spid")
	fi
	run_pids+=("$rpid")
	for _ in $(seq 100); do
		port=$(sed -n 's/.*msg=listening addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/recv.err")
		[ -n "$port" ] && break
		kill -0 "$rpid" 2>/dev/null || break
		sleep 0.05
	done
	if [ -z "$port" ]; then
		echo "zerocheck recv did not start listening:" >&2
		cat "$tmp/recv.err" >&2
		exit 1
	fi
	"$zc" send "127.0.0.1:$port" --duration "${secs}s" --streams "$n" --pattern "$pattern" \
		--quiet --json --no-hostinfo >"$tmp/send.json" 2>"$tmp/send.err" || src=$?
	# A receiver still waiting 20 s after the sender is done (e.g. send
	# failed before connecting) is stopped; the run is then not clean.
	(
		sleep 20
		kill_tree "$rpid"
	) &
	wpid=$!
	run_pids+=("$wpid")
	wait "$rpid" || rrc=$?
	kill_tree "$wpid"
	wait "$wpid" 2>/dev/null || true
	if [ -n "$spid" ]; then
		wait "$spid" || true
	fi
	run_pids=()
	verdict=$(json_get "$tmp/send.json" "$zc_verdict" 2>/dev/null || echo "(no report)")
	if [ "$src" -ne 0 ] || [ "$rrc" -ne 0 ] || [ "$verdict" != clean ]; then
		{
			echo
			echo "!!! zerocheck run NOT CLEAN: pattern $pattern, $n streams: verdict $verdict, send exit $src, recv exit $rrc"
			echo "--- send stderr:"; cat "$tmp/send.err"
			echo "--- send report:"; cat "$tmp/send.json"
			echo "--- recv stderr:"; cat "$tmp/recv.err"
			echo "--- recv report:"; cat "$tmp/recv.json"
		} >&2
		exit 1
	fi
	zc_gbps=$(awk -v b="$(json_get "$tmp/send.json" "$zc_bytes")" -v s="$(json_get "$tmp/send.json" "$zc_secs")" \
		'BEGIN {printf "%.3f\n", b * 8 / s / 1e9}')
	if [ -n "$gnutime" ]; then
		zc_rss=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$tmp/recv.time")
	else
		zc_rss=$(cat "$tmp/recv.hwm" 2>/dev/null || true)
	fi
	zc_rss=${zc_rss:-0}
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
maximum() { printf '%s\n' "$@" | sort -g | tail -n 1; }

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "cpu:    ${cpu:-unknown}"
echo "cores:  $(nproc)"
echo "kernel: $(uname -r)"
echo "go:     $(go version)"
echo "iperf3: $(iperf3 --version | head -n 1)"
echo "rss:    $([ -n "$gnutime" ] && echo "/usr/bin/time -v (Maximum resident set size)" || echo "VmHWM sampled from /proc/PID/status")"
echo "runs:   ${secs}s each, $rounds rounds, 127.0.0.1, interleaved iperf3 then zerocheck"
echo

# Results per case, keyed "pattern/streams": space-separated values per round.
declare -A ip_runs zc_runs rss_runs
printf '%-5s %-8s %7s %8s %12s %12s\n' round pattern streams iperf3 zerocheck 'recv RSS'
for r in $(seq "$rounds"); do
	for p in "${patterns[@]}"; do
		for n in "${streamcounts[@]}"; do
			k=$p/$n
			i=$(run_iperf3 "$n")
			run_zerocheck "$p" "$n"
			z=$zc_gbps rss=$zc_rss
			ip_runs[$k]+="$i " zc_runs[$k]+="$z " rss_runs[$k]+="$rss "
			printf '%-5s %-8s %7s %8.2f %12.2f %8.1f MiB\n' "$r" "$p" "$n" "$i" "$z" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')"
		done
	done
done

echo
echo "median over $rounds rounds of ${secs}s; target: ratio >= $min_ratio, recv peak RSS < $max_rss_mib MiB at 4 streams"
printf '%-8s %7s %14s %17s %7s %15s\n' pattern streams 'iperf3 Gbit/s' 'zerocheck Gbit/s' ratio 'recv RSS MiB'
for p in "${patterns[@]}"; do
	for n in "${streamcounts[@]}"; do
		k=$p/$n
		# shellcheck disable=SC2086 # word splitting of the per-round lists is intended
		mi=$(median ${ip_runs[$k]})
		# shellcheck disable=SC2086
		mz=$(median ${zc_runs[$k]})
		# shellcheck disable=SC2086
		mr=$(maximum ${rss_runs[$k]})
		ratio=$(awk -v z="$mz" -v i="$mi" 'BEGIN {printf "%.2f", (i > 0) ? z / i : 0}')
		rss_mib=$(awk -v k="$mr" 'BEGIN {printf "%.1f", k / 1024}')
		flag=
		if awk -v x="$ratio" -v t="$min_ratio" 'BEGIN {exit !(x < t)}'; then
			flag+="  below target (ratio)"
		fi
		if [ "$n" -eq 4 ] && awk -v x="$rss_mib" -v t="$max_rss_mib" 'BEGIN {exit !(x >= t)}'; then
			flag+="  above target (RSS)"
		fi
		printf '%-8s %7s %14.2f %17.2f %7s %15s%s\n' "$p" "$n" "$mi" "$mz" "$ratio" "$rss_mib" "$flag"
	done
done
