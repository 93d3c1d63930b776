#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs redis-server/redis-cli when missing (the suite starts
# its own private servers on free ports, standalone and a 3-master cluster), then runs every test: the suite, and
# the failover target (`cargo test --test failover`, about a minute: it builds a 6-node cluster and kills masters).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "redis-server not found: installing it (apt-get install -y redis-server)" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

cargo test --locked --all-targets "$@"
