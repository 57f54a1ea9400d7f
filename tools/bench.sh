#!/usr/bin/env bash
# Runs `go test -run '^$' -bench PATTERN ARGS... PKG` and fails when the pattern ran no
# benchmark: a pattern that matches nothing must not pass as a measurement.
# Usage: tools/bench.sh PKG PATTERN [go test flags...]
set -euo pipefail
pkg=$1 pattern=$2
shift 2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench "$pattern" -count=1 "$@" "$pkg" | tee "$out"
if ! grep -qE '^Benchmark[^ ]+[[:space:]]+[0-9]+' "$out"; then
	echo "bench: pattern $pattern ran no benchmark in $pkg" >&2
	exit 1
fi
