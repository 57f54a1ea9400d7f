#!/usr/bin/env bash
# Runs the command given with SEALVAULT_TEST_DATABASE_URL set: to the configured database if
# it is set already, else to a throw-away local cluster (fsync off) started for the run and
# stopped afterwards. Used by `make test` and `make bench`.
set -euo pipefail
if [ -n "${SEALVAULT_TEST_DATABASE_URL:-}" ]; then
  exec "$@"
fi
bin=${SEALVAULT_BIN:-./bin/sealvault}
dir=$(tools/testpg-dir.sh)
url=$("$bin" --pg-dir "$dir" --pg-port 0 localdb start --fsync=false --max-connections 500)
trap '"$bin" --pg-dir "$dir" localdb stop' EXIT
SEALVAULT_TEST_DATABASE_URL="$url" "$@"
