#!/usr/bin/env bash
# seed-capture.sh: the cost of verification on a pipe, measured as the
# issue asks: the incident's 1.3 GB stream piped into
# `zerocheck verify --pattern zeros` against the same stream piped into
# `cat >/dev/null`, interleaved, RUNS times each. Prints each pair, the
# medians and their ratio (target: <= 1.3).
#
# Usage: bench/seed-capture.sh [RUNS]    (default 5)
set -euo pipefail
runs=${1:-5}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/zerocheck" ./cmd/zerocheck
go build -o "$tmp/seedstream" ./internal/seedcapture/seedstream

# now prints the time in seconds with nanosecond resolution.
now() { date +%s.%N; }
timeit() {
	local t0 t1
	t0=$(now)
	"$@"
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'
}
drain() { "$tmp/seedstream" | cat >/dev/null; }
verify() {
	# exit 1 (corruption found) is the expected verdict here.
	"$tmp/seedstream" | "$tmp/zerocheck" verify --pattern zeros --json >"$tmp/report.json" || [ $? -eq 1 ]
}

cats=() zcs=()
printf '%-4s %10s %10s\n' run cat zerocheck
for i in $(seq "$runs"); do
	c=$(timeit drain)
	z=$(timeit verify)
	cats+=("$c") zcs+=("$z")
	printf '%-4s %10.3f %10.3f\n' "$i" "$c" "$z"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mc=$(median "${cats[@]}")
mz=$(median "${zcs[@]}")
printf 'median cat %.3fs, zerocheck verify %.3fs, ratio %.2f (target <= 1.30)\n' "$mc" "$mz" "$(awk -v a="$mz" -v b="$mc" 'BEGIN {print a / b}')"
grep -q '"region_count": 3' "$tmp/report.json" || { echo "unexpected report:"; cat "$tmp/report.json"; exit 1; }
