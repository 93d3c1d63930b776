#!/usr/bin/env bash
# Load test on the Redis store: starts a private redis-server and `moderato serve` (release build, no captcha, a
# site limit high enough not to refuse), runs `moderato bench` (health Check, SubmitComment, health Check), and
# prints, per phase, the CPU per call of the server, Redis and the load tool, then Redis's time in submit.lua next
# to a no-op script called the same way.
# BENCH_DISTINCT=1 makes every body its own text (`moderato bench --distinct-bodies`).
# Usage: [BENCH_AUTHORS=N] [BENCH_TRUST=N] [BENCH_CAMPAIGNS=0] [BENCH_DISTINCT=1] scripts/bench-redis.sh [seconds per phase, default 8] [concurrency, default 32]
# MODERATO_BIN=path/to/moderato uses that binary instead of a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_PHASE=${1:-8}
CONCURRENCY=${2:-32}
. scripts/bench-common.sh
WORK=$(mktemp -d)
SERVER=""; RPORT=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; fi
  if [ -n "$RPORT" ]; then redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
new_token
write_bench_config "$WORK/cfg.toml"
# BENCH_TRUST=N turns author trust on in the default policy (trusted after N published comments);
# BENCH_AUTHORS=N gives the submissions phone numbers from a pool of N readers (see `moderato bench --authors`).
# BENCH_CAMPAIGNS=0 turns campaign detection off (the bench's bodies repeat from distinct clients, so with it on
# every submission after the first few of a body is part of a campaign: the probe's worst case).
if [ -n "${BENCH_TRUST:-}" ] || [ "${BENCH_CAMPAIGNS:-1}" = 0 ]; then
  printf '[policy]\n' >> "$WORK/cfg.toml"
  if [ -n "${BENCH_TRUST:-}" ]; then printf 'trusted_after_approvals = %s\n' "$BENCH_TRUST" >> "$WORK/cfg.toml"; fi
  if [ "${BENCH_CAMPAIGNS:-1}" = 0 ]; then printf 'detect_campaigns = false\n' >> "$WORK/cfg.toml"; fi
fi
RPORT=$(free_port); GPORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$RPORT" --save "" --appendonly no --daemonize yes \
  --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log"
for _ in $(seq 1 50); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$RPORT" ping >/dev/null || { echo "redis-server did not start:" >&2; cat "$WORK/redis.log" >&2; exit 1; }
for _ in $(seq 1 50); do [ -s "$WORK/redis.pid" ] && break; sleep 0.1; done
RPID=$(cat "$WORK/redis.pid")
start_server --config "$WORK/cfg.toml" --redis-url "redis://127.0.0.1:$RPORT" --listen "127.0.0.1:$GPORT"
"$BIN" bench --addr "http://127.0.0.1:$GPORT" --token "$TOKEN" --concurrency "$CONCURRENCY" \
  --seconds "$SECONDS_PER_PHASE" --authors "${BENCH_AUTHORS:-0}" ${BENCH_DISTINCT:+--distinct-bodies} --watch "server=$SERVER" --watch "redis=$RPID"
# The only scripts the run called are submissions (submit.lua): Redis's own time inside them, per call.
redis-cli -p "$RPORT" info commandstats | grep '^cmdstat_evalsha:' \
  | sed -E 's/.*usec_per_call=([0-9.]+).*/EVALSHA submit.lua: \1 us per call (INFO commandstats)/'
# What the script's commands cost (Redis counts the commands a script calls under their own names), by total time.
echo "commands run by the scripts, by total time (INFO commandstats):"
redis-cli -p "$RPORT" info commandstats | tr -d '\r' | grep '^cmdstat_' | grep -v '^cmdstat_evalsha:' \
  | sed -E 's/^cmdstat_([a-z|]+):calls=([0-9]+),usec=([0-9]+),usec_per_call=([0-9.]+).*/\3 \1 \2 \4/' \
  | sort -rn | head -12 \
  | awk '{ printf "  %-18s %10d calls  %6.2f us per call  %8d us in all\n", $2, $3, $4, $1 }'
# The floor in the same run: a script that does nothing, called the same way (EVALSHA, one client per connection,
# CONCURRENCY connections), timed by Redis and by the CPU its process spends per call.
redis-cli -p "$RPORT" config resetstat >/dev/null
NOOP=$(redis-cli -p "$RPORT" script load "return 0")
CALLS=200000
TICKS0=$(awk '{print $14+$15}' "/proc/$RPID/stat")
redis-benchmark -p "$RPORT" -c "$CONCURRENCY" -n "$CALLS" -q evalsha "$NOOP" 0 >/dev/null
TICKS1=$(awk '{print $14+$15}' "/proc/$RPID/stat")
redis-cli -p "$RPORT" info commandstats | grep '^cmdstat_evalsha:' \
  | sed -E 's/.*usec_per_call=([0-9.]+).*/EVALSHA no-op script: \1 us per call (INFO commandstats)/'
awk -v t="$((TICKS1 - TICKS0))" -v n="$CALLS" 'BEGIN { printf "Redis process CPU per no-op EVALSHA: %.1f us (compare with redis in the SubmitComment phase)\n", t * 10000 / n }'
# The campaign sketch's memory: its generations (hashes of band fields), in bytes per comment they hold.
SKETCH_KEYS=$(redis-cli -p "$RPORT" --scan --pattern '*camp:[0-9]*')
if [ -n "$SKETCH_KEYS" ]; then
  BYTES=0; FIELDS=0
  for k in $SKETCH_KEYS; do
    BYTES=$((BYTES + $(redis-cli -p "$RPORT" memory usage "$k" samples 0)))
    FIELDS=$((FIELDS + $(redis-cli -p "$RPORT" hlen "$k")))
  done
  ENTRIES=0
  for k in $SKETCH_KEYS; do
    ENTRIES=$((ENTRIES + $(redis-cli -p "$RPORT" --no-raw hvals "$k" | tr -cd ';' | wc -c)))
  done
  awk -v b="$BYTES" -v f="$FIELDS" -v e="$ENTRIES" 'BEGIN { printf "campaign sketch: %d bytes, %d band fields, %d entries: %.0f bytes per comment entered (8 entries each)\n", b, f, e, b * 8 / (e > 0 ? e : 1) }'
fi
