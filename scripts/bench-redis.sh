#!/usr/bin/env bash
# Load test on the Redis store: starts a private redis-server and `moderato serve` (release build, no captcha, a
# site limit high enough not to refuse), runs `moderato bench` (health Check, SubmitComment, health Check), and
# prints the CPU per submission of the server, Redis and the load tool over the middle of the submit phase.
# Usage: scripts/bench-redis.sh [seconds per phase, default 8] [concurrency, default 32]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_PHASE=${1:-8}
CONCURRENCY=${2:-32}
command -v redis-server >/dev/null || { echo "redis-server not found: apt-get install -y redis-server" >&2; exit 1; }
cargo build --release --locked -q
BIN=$PWD/target/release/moderato
WORK=$(mktemp -d)
SERVER=""; RPORT=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; fi
  if [ -n "$RPORT" ]; then redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
# A Redis store needs configured tokens (generated ones are only for the embedded store): one for this run.
TOKEN=$("$BIN" token new | awk '/^token:/ {print $2}')
TOKEN_SHA=$("$BIN" token hash "$TOKEN" | tail -1)
cat > "$WORK/cfg.toml" <<TOML
identifier_hmac_key = "bench-key-not-for-production"
[[auth.tokens]]
name = "bench-portal"
role = "portal"
sha256 = "$TOKEN_SHA"
[server]
metrics_listen = ""
[captcha]
required = false
[[rate_limits]]
descriptor = "site"
requests = 100000000
period_seconds = 60
burst = 100000
[[rate_limits]]   # every descriptor not listed keeps its default limit, so the others are listed in shadow mode
descriptor = "client_ip"
requests = 100000000
period_seconds = 60
burst = 100000
shadow = true
[[rate_limits]]
descriptor = "author"
requests = 100000000
period_seconds = 60
burst = 100000
shadow = true
[[rate_limits]]
descriptor = "thread"
requests = 100000000
period_seconds = 60
burst = 100000
shadow = true
TOML
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RPORT=$(free_port); GPORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$RPORT" --save "" --appendonly no --daemonize yes \
  --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log"
for _ in $(seq 1 50); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$RPORT" ping >/dev/null || { echo "redis-server did not start:" >&2; cat "$WORK/redis.log" >&2; exit 1; }
for _ in $(seq 1 50); do [ -s "$WORK/redis.pid" ] && break; sleep 0.1; done
RPID=$(cat "$WORK/redis.pid")
"$BIN" serve --config "$WORK/cfg.toml" --redis-url "redis://127.0.0.1:$RPORT" --listen "127.0.0.1:$GPORT" --http-listen "" \
  > "$WORK/serve.log" 2>&1 &
SERVER=$!
# The server takes requests once it logs "moderato listening".
for _ in $(seq 1 300); do grep -q "moderato listening" "$WORK/serve.log" && break; sleep 0.1; done
if ! grep -q "moderato listening" "$WORK/serve.log"; then
  echo "the server did not start:" >&2; cat "$WORK/serve.log" >&2; exit 1
fi
"$BIN" bench --addr "http://127.0.0.1:$GPORT" --token "$TOKEN" --concurrency "$CONCURRENCY" \
  --seconds "$SECONDS_PER_PHASE" > "$WORK/bench.out" 2>&1 &
BENCH=$!
ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
calls() { redis-cli -p "$RPORT" info commandstats | grep '^cmdstat_evalsha:' | sed -E 's/^cmdstat_evalsha:calls=([0-9]+),.*/\1/'; }
while kill -0 "$BENCH" 2>/dev/null; do
  echo "$(ticks "$SERVER") $(ticks "$RPID") $(ticks "$BENCH") $(calls || echo 0)" >> "$WORK/samples"
  sleep 1
done
BENCH_RC=0
wait "$BENCH" || BENCH_RC=$?
cat "$WORK/bench.out"
if [ "$BENCH_RC" -ne 0 ]; then echo "moderato bench failed (exit $BENCH_RC)" >&2; exit 1; fi
# The only scripts this run calls are submissions (submit.lua).
redis-cli -p "$RPORT" info commandstats | grep '^cmdstat_evalsha:' | sed -E 's/.*usec_per_call=([0-9.]+).*/EVALSHA (submit.lua): \1 us per call/'
python3 - "$WORK/samples" <<'PY'
import os, sys
hz = os.sysconf("SC_CLK_TCK")
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 4]
# The submit phase: the longest run of samples in which the script ran more than 1000 times a second.
best = None
for i in range(len(rows)):
    j = i
    while j + 1 < len(rows) and rows[j + 1][3] - rows[j][3] > 1000:
        j += 1
    if j - i >= 3 and (best is None or j - i > best[1] - best[0]):
        best = (i, j)
if best is None:
    sys.exit("no submit phase found in the samples")
i, j = best[0] + 1, best[1] - 1
n = rows[j][3] - rows[i][3]
us = [(rows[j][k] - rows[i][k]) / hz / n * 1e6 for k in range(3)]
print(f"CPU per submission over {n:.0f} submissions: server {us[0]:.0f} us, Redis {us[1]:.0f} us, "
      f"load tool {us[2]:.0f} us, {sum(us):.0f} us in all")
PY
