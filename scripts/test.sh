#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs redis-server/redis-cli when missing (the suite starts
# its own private servers on free ports, standalone and a 3-master cluster), php-cli with php-curl, node with the
# Node gRPC example's packages (npm ci from examples/node/package-lock.json) and python's grpcio (the client
# examples run against a live server), chromium, chromedriver and a font with Vietnamese diacritics (the web
# console's browser tests), then runs every test: the suite, and the failover target (`cargo test --test
# failover`, about a minute: it builds a 6-node cluster and kills masters).
set -euo pipefail
cd "$(dirname "$0")/.."

# Installs Debian packages, saying why: apt_install "<what was missing>" package...
apt_install() {
  local why=$1
  shift
  echo "$why not found: installing it (apt-get install -y $*)" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  apt_install "redis-server" redis-server
fi

if ! command -v php >/dev/null 2>&1 || ! php -r 'exit(function_exists("curl_init") ? 0 : 1);'; then
  apt_install "php with php-curl" php8.2-cli php8.2-curl
fi

if ! command -v node >/dev/null 2>&1; then
  apt_install "node" nodejs
fi

if [ ! -d examples/node/node_modules/@grpc/grpc-js ]; then
  if ! command -v npm >/dev/null 2>&1; then
    apt_install "npm" npm
  fi
  echo "the Node gRPC example's packages are missing: npm ci --prefix examples/node" >&2
  npm ci --prefix examples/node --no-audit --no-fund --ignore-scripts >/dev/null
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
  || ! fc-list 2>/dev/null | grep -qi "Noto Sans"; then
  apt_install "chromium/chromedriver/fonts-noto-core (for the browser tests)" chromium chromium-driver fonts-noto-core
fi

if ! python3 -c "import grpc, grpc_tools, grpc_status" >/dev/null 2>&1; then
  echo "python grpcio not found: installing it (pip install grpcio grpcio-tools grpcio-status)" >&2
  python3 -m pip install -q grpcio grpcio-tools grpcio-status
fi

cargo test --locked --all-targets "$@"
