#!/usr/bin/env bash
# The cost of store.replica_ack: a private Redis primary with one replica (both on this machine), `moderato serve`
# on it with replica_ack off and then on, `moderato bench` against each, the SubmitComment lines side by side.
# Usage: scripts/bench-replica-ack.sh [replica_ack ms, default 100] [seconds per phase, default 8] [concurrency, default 32]
# MODERATO_BIN=path/to/moderato uses that binary instead of a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
ACK=${1:-100}
SECONDS_PER_PHASE=${2:-8}
CONCURRENCY=${3:-32}
. scripts/bench-common.sh
WORK=$(mktemp -d)
SERVER=""; PPORT=""; RPORT=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; fi
  for p in $PPORT $RPORT; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
new_token
write_bench_config "$WORK/cfg.toml"
PPORT=$(free_port); RPORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$PPORT" --save "" --appendonly no --daemonize yes --dir "$WORK" \
  --pidfile "$WORK/primary.pid" --logfile "$WORK/primary.log"
mkdir -p "$WORK/replica"
redis-server --bind 127.0.0.1 --port "$RPORT" --save "" --appendonly no --daemonize yes --dir "$WORK/replica" \
  --replicaof 127.0.0.1 "$PPORT" --pidfile "$WORK/replica.pid" --logfile "$WORK/replica.log"
for _ in $(seq 1 100); do
  redis-cli -p "$RPORT" info replication 2>/dev/null | grep -q "master_link_status:up" && break; sleep 0.1
done
redis-cli -p "$RPORT" info replication | grep -q "master_link_status:up" || { echo "the replica did not sync" >&2; exit 1; }

run() { # $1 = replica_ack ms
  local gport; gport=$(free_port)
  MODERATO__STORE__REPLICA_ACK=$1 start_server --config "$WORK/cfg.toml" --redis-url "redis://127.0.0.1:$PPORT" \
    --key-prefix "bench-ack-$1:" --listen "127.0.0.1:$gport"
  "$BIN" bench --addr "http://127.0.0.1:$gport" --token "$TOKEN" --concurrency "$CONCURRENCY" \
    --seconds "$SECONDS_PER_PHASE" > "$WORK/bench-$1.out" 2>&1
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
}
run 0
run "$ACK"
echo "SubmitComment on Redis with one replica, concurrency $CONCURRENCY, $SECONDS_PER_PHASE s:"
printf "replica_ack off:     %s\n" "$(grep -i '^submit' "$WORK/bench-0.out" | head -1)"
printf "replica_ack %s ms: %s\n" "$ACK" "$(grep -i '^submit' "$WORK/bench-$ACK.out" | head -1)"
grep -h "errors by code" "$WORK"/bench-*.out || true
