#!/usr/bin/env bash
# Throughput of the release demo (a measurement, not a test), all in one run against one
# development provider:
#   GET /ping         no guard ("pong"): the baseline
#   GET /ping/user    OidcUser guard with a session cookie, same answer: the guard's cost
#   GET /             no guard (HTML page)
#   GET /profile      OidcUser guard + JSON of the session
#   GET /api          BearerToken with an opaque client-credentials token; its introspection
#                     result is cached (introspection_cache_seconds=3600): the provider should
#                     see exactly 1 introspection call during the run
#   GET /api          BearerToken with an RFC 9068 JWT access token (from
#                     /service-token?scope=read%20write&resource=<app>/api): checked locally,
#                     0 introspection calls
# The session comes from one real browser login. Prints a table of requests/s and ratios
# against /ping. Fails if any response is not 200.
#
#   scripts/bench.sh          BENCH_DURATION=10s BENCH_THREADS=1 BENCH_CONNECTIONS=16
#                             BENCH_STORE=cookie (or memory: server-side sessions)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

duration="${BENCH_DURATION:-10s}"
threads="${BENCH_THREADS:-1}"
connections="${BENCH_CONNECTIONS:-16}"
store="${BENCH_STORE:-cookie}"
case "$store" in
  cookie | memory) ;;
  *) echo "bench: BENCH_STORE must be cookie or memory, not '$store'" >&2; exit 2 ;;
esac

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

op_port="$(free_port 9210)"
app_port="$(free_port 8210)"
op="http://127.0.0.1:$op_port"
app="http://127.0.0.1:$app_port"

OP_PORT="$op_port" RP_BASES="$app" OP_KEYS=ephemeral OP_STATS=1 node dev/provider.mjs >"$workdir/provider.log" 2>&1 &
pids+=("$!")
wait_http "$op/.well-known/openid-configuration" "$!" provider

ROCKET_CONFIG=/nonexistent \
ROCKET_ADDRESS=127.0.0.1 \
ROCKET_PORT="$app_port" \
ROCKET_LOG_LEVEL=off \
ROCKET_CLI_COLORS=false \
ROCKET_SECRET_KEY="$(node -p 'require("crypto").randomBytes(32).toString("base64")')" \
ROCKET_OIDC="{redirect_uri=\"$app/redirect_uri\",session={store=\"$store\"},providers={default={issuer=\"$op\",client_id=\"demo\",client_secret=\"demo-secret\",scopes=[\"openid\",\"profile\",\"email\"],bearer={mode=\"auto\",audiences=[\"demo\",\"$app/api\"],introspection_cache_seconds=3600}}}}" \
  target/release/examples/demo >"$workdir/demo.log" 2>&1 &
pids+=("$!")
wait_http "$app/" "$!" demo

# GET url [header] -> prints the status code
status_of() {
  node -e '
    const [url, header] = process.argv.slice(1);
    const headers = {};
    if (header) { const i = header.indexOf(":"); headers[header.slice(0, i).trim()] = header.slice(i + 1).trim(); }
    fetch(url, { headers, redirect: "manual" }).then((r) => console.log(r.status), (e) => { console.log(`error ${e.message}`); });
  ' "$@"
}
# GET url -> the JSON field "access_token" of the answer
access_token_of() {
  node -e '
    fetch(process.argv[1]).then(async (r) => {
      const text = await r.text();
      if (r.status !== 200) { console.error(`GET ${process.argv[1]} -> ${r.status}: ${text}`); process.exit(1); }
      process.stdout.write(JSON.parse(text).access_token);
    }, (e) => { console.error(e.message); process.exit(1); });
  ' "$1"
}
# the number of "POST /token/introspection" the provider has seen
introspections() {
  node -e '
    fetch(process.argv[1]).then((r) => r.json()).then((s) => console.log(s.requests["POST /token/introspection"] || 0),
      (e) => { console.error(e.message); process.exit(1); });
  ' "$op/__stats"
}
expect_200() { # name url [header]
  local name="$1"
  shift
  local status
  status="$(status_of "$@")"
  if [ "$status" != 200 ]; then
    echo "bench: $name answered $status, not 200" >&2
    exit 1
  fi
}

echo "==> logging in once ($app/profile via $op, store=$store)"
cookie="$(node scripts/bench-login.mjs "$app" "$op" /profile)"
expect_200 "GET /profile with the session cookie" "$app/profile" "Cookie: $cookie"
expect_200 "GET /ping/user with the session cookie" "$app/ping/user" "Cookie: $cookie"

echo "==> getting an opaque and a JWT access token from $app/service-token"
opaque="$(access_token_of "$app/service-token?scope=read%20write")"
jwt="$(access_token_of "$app/service-token?scope=read%20write&resource=$(node -p 'encodeURIComponent(process.argv[1])' "$app/api")")"
case "$opaque" in *.*.*) echo "bench: the client-credentials token without resource is a JWT, expected opaque" >&2; exit 1 ;; esac
case "$jwt" in *.*.*) ;; *) echo "bench: the token with resource= is not a JWT: $jwt" >&2; exit 1 ;; esac

# Each run appends "name|label|rps|p50|p99" to $workdir/results.
run_wrk() { # name label path [wrk args...]
  local name="$1" label="$2" path="$3"
  shift 3
  echo "==> $label: wrk -t$threads -c$connections -d$duration $app$path" >&2
  if ! wrk -t"$threads" -c"$connections" -d"$duration" --timeout 5s --latency \
      -s scripts/bench-status.lua "$@" "$app$path" >"$workdir/wrk-$name.txt" 2>&1; then
    cat "$workdir/wrk-$name.txt" >&2
    echo "bench: $name had errors or non-200 responses" >&2
    exit 1
  fi
  grep -E '^(Requests/sec|non-200|latency p50)' "$workdir/wrk-$name.txt" >&2
  awk -v n="$name" -v l="$label" '
    /^RPS / { rps = $2 }
    /^latency p50/ { p50 = $3; p99 = $6 }
    END { printf "%s|%s|%s|%s|%s\n", n, l, rps, p50, p99 }
  ' "$workdir/wrk-$name.txt" >>"$workdir/results"
}

run_wrk ping "GET /ping (no guard)" /ping
run_wrk ping_user "GET /ping/user (OidcUser)" /ping/user -H "Cookie: $cookie"
run_wrk root "GET / (no guard, HTML)" /
run_wrk profile "GET /profile (OidcUser + JSON)" /profile -H "Cookie: $cookie"

before_opaque="$(introspections)"
run_wrk api_opaque "GET /api (opaque, cached introspection)" /api -H "Authorization: Bearer $opaque"
after_opaque="$(introspections)"
run_wrk api_jwt "GET /api (RFC 9068 JWT, local check)" /api -H "Authorization: Bearer $jwt"
after_jwt="$(introspections)"

echo
echo "wrk -t$threads -c$connections -d$duration, release demo, session store: $store, session cookie: ${#cookie} bytes"
awk -F'|' '
  { name[NR] = $1; label[NR] = $2; rps[NR] = $3; p50[NR] = $4; p99[NR] = $5; if ($1 == "ping") base = $3 }
  END {
    printf "%-42s %12s %9s %9s %9s\n", "request", "requests/s", "vs /ping", "p50 ms", "p99 ms"
    for (i = 1; i <= NR; i++)
      printf "%-42s %12.1f %9.3f %9.2f %9.2f\n", label[i], rps[i], rps[i] / base, p50[i], p99[i]
  }
' "$workdir/results"
echo "introspection calls at the provider: $((after_opaque - before_opaque)) during the opaque /api run (expected 1), $((after_jwt - after_opaque)) during the JWT run (expected 0)"
