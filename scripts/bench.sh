#!/usr/bin/env bash
# Throughput of the release demo (a measurement, not a test):
#   GET /         (no guard)
#   GET /profile  (OidcUser guard, with a session cookie from one real browser login)
# Prints requests/s for both and their ratio. Fails if any response is not 200.
#
#   scripts/bench.sh                  BENCH_DURATION=10s BENCH_THREADS=1 BENCH_CONNECTIONS=16
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

duration="${BENCH_DURATION:-10s}"
threads="${BENCH_THREADS:-1}"
connections="${BENCH_CONNECTIONS:-16}"

scripts/install-deps.sh
echo "==> cargo build --release --example demo"
cargo build --release --example demo

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
free_port() {
  local port="$1"
  while port_in_use "$port"; do port=$((port + 1)); done
  echo "$port"
}
wait_http() { # url pid name
  for _ in $(seq 1 150); do
    if node -e 'fetch(process.argv[1],{redirect:"manual"}).then(()=>process.exit(0),()=>process.exit(1))' "$1"; then
      return 0
    fi
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: $3 did not answer at $1; its log:" >&2
  cat "$workdir/$3.log" >&2
  return 1
}

workdir="$(mktemp -d -t oidc-bench.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$workdir"
}
trap cleanup EXIT

op_port="$(free_port 9200)"
app_port="$(free_port 8200)"
op="http://127.0.0.1:$op_port"
app="http://127.0.0.1:$app_port"

OP_PORT="$op_port" RP_BASES="$app" OP_KEYS=ephemeral node dev/provider.mjs >"$workdir/provider.log" 2>&1 &
pids+=("$!")
wait_http "$op/.well-known/openid-configuration" "$!" provider

ROCKET_CONFIG=/nonexistent \
ROCKET_ADDRESS=127.0.0.1 \
ROCKET_PORT="$app_port" \
ROCKET_LOG_LEVEL=off \
ROCKET_CLI_COLORS=false \
ROCKET_SECRET_KEY="$(node -p 'require("crypto").randomBytes(32).toString("base64")')" \
ROCKET_OIDC="{redirect_uri=\"$app/redirect_uri\",providers={default={issuer=\"$op\",client_id=\"demo\",client_secret=\"demo-secret\",scopes=[\"openid\",\"profile\",\"email\"]}}}" \
  target/release/examples/demo >"$workdir/demo.log" 2>&1 &
pids+=("$!")
wait_http "$app/" "$!" demo

echo "==> logging in once ($app/profile via $op)"
cookie="$(node scripts/bench-login.mjs "$app" "$op" /profile)"
status="$(node -e 'fetch(process.argv[1],{headers:{cookie:process.argv[2]},redirect:"manual"}).then(r=>console.log(r.status))' "$app/profile" "$cookie")"
if [ "$status" != 200 ]; then
  echo "bench: GET /profile with the session cookie answered $status, not 200" >&2
  exit 1
fi

run_wrk() { # name path [header]
  local name="$1" path="$2"
  shift 2
  echo "==> wrk -t$threads -c$connections -d$duration $app$path" >&2
  if ! wrk -t"$threads" -c"$connections" -d"$duration" --timeout 5s --latency \
      -s scripts/bench-status.lua "$@" "$app$path" >"$workdir/wrk-$name.txt" 2>&1; then
    cat "$workdir/wrk-$name.txt" >&2
    echo "bench: $name had errors or non-200 responses" >&2
    exit 1
  fi
  grep -E '^(Requests/sec|non-200|latency p50)' "$workdir/wrk-$name.txt" >&2
  awk '/^RPS /{print $2}' "$workdir/wrk-$name.txt"
}

rps_root="$(run_wrk root /)"
rps_profile="$(run_wrk profile /profile -H "Cookie: $cookie")"

echo
printf 'GET /          %10.1f requests/s\n' "$rps_root"
printf 'GET /profile   %10.1f requests/s  (session cookie: %d bytes)\n' "$rps_profile" "${#cookie}"
awk -v a="$rps_profile" -v b="$rps_root" 'BEGIN { printf "ratio /profile : /  = %.3f\n", a / b }'
