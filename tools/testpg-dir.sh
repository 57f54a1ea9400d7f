#!/usr/bin/env bash
# Prints the data directory for the test cluster: var/testpg inside the project when the
# postgres system user can reach it (PostgreSQL refuses to run as root, so as root the
# cluster runs as postgres), otherwise a directory under /tmp named after the project path.
set -euo pipefail
dir="$PWD/var/testpg"
if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$PWD" 2>/dev/null; then
  dir="/tmp/sealvault-testpg-$(printf %s "$PWD" | sha256sum | cut -c1-12)/testpg"
fi
echo "$dir"
