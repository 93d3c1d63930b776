#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs redis-server/redis-cli when missing (the suite starts
# its own private servers on free ports, standalone and a 3-master cluster), php-cli with php-curl, node with the
# Node gRPC example's packages (npm ci from examples/node/package-lock.json) and python's grpcio (the client
# examples run against a live server), chromium, chromedriver and a font with Vietnamese diacritics (the web
# console's browser tests), then runs every test: the suite, and the failover target (`cargo test --test
# failover`, about a minute: it builds a 6-node cluster and kills masters).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "redis-server not found: installing it (apt-get install -y redis-server)" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

if ! command -v php >/dev/null 2>&1 || ! php -r 'exit(function_exists("curl_init") ? 0 : 1);'; then
  echo "php with php-curl not found: installing it (apt-get install -y php8.2-cli php8.2-curl)" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq php8.2-cli php8.2-curl >/dev/null
fi

if ! command -v node >/dev/null 2>&1; then
  echo "node not found: installing it (apt-get install -y nodejs)" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs >/dev/null
fi

if [ ! -d examples/node/node_modules/@grpc/grpc-js ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: installing it (apt-get install -y npm)" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq npm >/dev/null
  fi
  echo "the Node gRPC example's packages are missing: npm ci --prefix examples/node" >&2
  npm ci --prefix examples/node --no-audit --no-fund --ignore-scripts >/dev/null
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
  || ! fc-list 2>/dev/null | grep -qi "Noto Sans"; then
  echo "chromium/chromedriver/fonts-noto-core not found: installing them for the browser tests" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver fonts-noto-core >/dev/null
fi

if ! python3 -c "import grpc, grpc_tools, grpc_status" >/dev/null 2>&1; then
  echo "python grpcio not found: installing it (pip install grpcio grpcio-tools grpcio-status)" >&2
  python3 -m pip install -q grpcio grpcio-tools grpcio-status
fi

cargo test --locked --all-targets "$@"
