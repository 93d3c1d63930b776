# Shared by the load scripts (sourced, not run): the moderato binary, a free port, the configuration of a load run
# and a server start that waits until it takes requests.

command -v redis-server >/dev/null || { echo "redis-server not found: apt-get install -y redis-server" >&2; exit 1; }

# MODERATO_BIN=path/to/moderato uses that binary instead of a release build.
if [ -z "${MODERATO_BIN:-}" ]; then
  cargo build --release --locked -q
  BIN=$PWD/target/release/moderato
else
  BIN=$MODERATO_BIN
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A portal token for this run (a Redis store needs configured tokens; generated ones are only for the embedded
# store): sets TOKEN and TOKEN_SHA.
new_token() {
  TOKEN=$("$BIN" token new | awk '/^token:/ {print $2}')
  TOKEN_SHA=$("$BIN" token hash "$TOKEN" | tail -1)
}

# Writes the configuration of a load run to $1: no captcha, no metrics listener, the token of new_token, a site
# limit high enough not to refuse, and every other descriptor listed in shadow mode (a descriptor not listed keeps
# its default limit).
write_bench_config() {
  cat > "$1" <<TOML
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
TOML
  for d in client_ip author thread; do
    printf '[[rate_limits]]\ndescriptor = "%s"\nrequests = 100000000\nperiod_seconds = 60\nburst = 100000\nshadow = true\n' \
      "$d" >> "$1"
  done
}

# Starts `moderato serve` with the given arguments (its log in $WORK/serve.log, no HTTP listener), sets SERVER to
# its pid and returns once it logs "moderato listening" (it takes requests then).
start_server() {
  : > "$WORK/serve.log"
  "$BIN" serve --http-listen "" "$@" > "$WORK/serve.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 300); do grep -q "moderato listening" "$WORK/serve.log" && break; sleep 0.1; done
  if ! grep -q "moderato listening" "$WORK/serve.log"; then
    echo "the server did not start:" >&2; cat "$WORK/serve.log" >&2; exit 1
  fi
}
