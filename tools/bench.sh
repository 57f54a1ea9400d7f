#!/usr/bin/env bash
# Runs `go test -run '^$' -bench PATTERN ARGS... PKG` and fails when the pattern ran no
# benchmark: a pattern that matches nothing must not pass as a measurement.
# With BENCH_OUT set, the results are appended to that file under a line
# "# bench: PKG PATTERN ARGS", which cmd/benchtable reads to pair each benchmark with its
# floor or peer of the same run. BENCH_ROUNDS=N (default 1) runs the package N times one
# after another, so each benchmark and its peer are interleaved and the table takes the
# median of the N rounds.
# Usage: tools/bench.sh PKG PATTERN [go test flags...]
set -euo pipefail
pkg=$1 pattern=$2
shift 2
rounds=${BENCH_ROUNDS:-1}
if ! [[ $rounds =~ ^[1-9][0-9]?$ ]]; then
	echo "bench: BENCH_ROUNDS must be a number from 1 to 99, not '$rounds'" >&2
	exit 2
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((r = 1; r <= rounds; r++)); do
	go test -run '^$' -bench "$pattern" -count=1 "$@" "$pkg" | tee -a "$out"
done
if ! grep -qE '^Benchmark[^ ]+[[:space:]]+[0-9]+' "$out"; then
	echo "bench: pattern $pattern ran no benchmark in $pkg" >&2
	exit 1
fi
if [ -n "${BENCH_OUT:-}" ]; then
	{
		echo "# bench: $pkg $pattern $* (rounds: $rounds, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
		grep -E '^Benchmark[^ ]+[[:space:]]+[0-9]+' "$out"
	} >>"$BENCH_OUT"
fi
