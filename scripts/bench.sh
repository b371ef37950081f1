#!/usr/bin/env bash
# Throughput of the release demo (a measurement, not a test), all in one run against one
# development provider and one redis-server, with four instances of the demo side by side:
#   cookie        session.store = "cookie", no Redis
#   memory        session.store = "memory", no Redis
#   redis         session.store = "redis"  ([oidc.redis]: sessions in Redis)
#   cookie+redis  session.store = "cookie" with [oidc.redis] (logouts recorded in Redis)
# For each setup, with a session from one real browser login:
#   GET /ping         no guard ("pong"): the baseline
#   GET /ping/user    OidcUser guard with the session cookie, same answer: the guard's cost
#   GET /             no guard (HTML page)
#   GET /profile      OidcUser guard + JSON of the session
# and, for the Redis setups, the Redis round trips per /ping/user request (commands Redis
# processed during the run / requests). Then, on the cookie setup:
#   GET /api          BearerToken with an opaque client-credentials token; its introspection
#                     result is cached (introspection_cache_seconds=3600): the provider should
#                     see exactly 1 introspection call during the run
#   GET /api          BearerToken with an RFC 9068 JWT access token (from
#                     /service-token?scope=read%20write&resource=<app>/api): checked locally,
#                     0 introspection calls
# Prints a table of requests/s and ratios (/ping/user and /api against /ping, /profile against
# /, each within its setup). Fails if any response is not 200.
#
#   scripts/bench.sh          BENCH_DURATION=10s BENCH_THREADS=1 BENCH_CONNECTIONS=16
#                             BENCH_SETUPS="cookie memory redis cookie+redis"
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

duration="${BENCH_DURATION:-10s}"
threads="${BENCH_THREADS:-1}"
connections="${BENCH_CONNECTIONS:-16}"
read -r -a setups <<<"${BENCH_SETUPS:-cookie memory redis cookie+redis}"
for setup in "${setups[@]}"; do
  case "$setup" in
    cookie | memory | redis | cookie+redis) ;;
    *) echo "bench: BENCH_SETUPS has '$setup'; known: cookie memory redis cookie+redis" >&2; exit 2 ;;
  esac
done

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
redis_port="$(free_port 6410)"
op="http://127.0.0.1:$op_port"

OP_PORT="$op_port" OP_KEYS=ephemeral OP_STATS=1 \
RP_BASES="$(for i in "${!setups[@]}"; do printf 'http://127.0.0.1:%s,' $((8210 + i)); done)" \
  node dev/provider.mjs >"$workdir/provider.log" 2>&1 &
pids+=("$!")
wait_http "$op/.well-known/openid-configuration" "$!" provider

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning \
  >"$workdir/redis.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do
  [ "$(redis-cli -p "$redis_port" PING 2>/dev/null)" = PONG ] && break
  sleep 0.05
done
redis_commands() {
  redis-cli -p "$redis_port" INFO stats | tr -d '\r' | awk -F: '/^total_commands_processed:/ { print $2 }'
}

declare -A app_of cookie_of
for i in "${!setups[@]}"; do
  setup="${setups[$i]}"
  app_port="$(free_port $((8210 + i)))"
  [ "$app_port" = $((8210 + i)) ] || { echo "bench: port $((8210 + i)) is in use" >&2; exit 1; }
  app="http://127.0.0.1:$app_port"
  app_of[$setup]="$app"
  case "$setup" in
    cookie) state='session={store="cookie"}' ;;
    memory) state='session={store="memory"}' ;;
    redis) state="session={store=\"redis\"},redis={url=\"redis://127.0.0.1:$redis_port/0\",key_prefix=\"bench-redis:\"}" ;;
    cookie+redis) state="session={store=\"cookie\"},redis={url=\"redis://127.0.0.1:$redis_port/0\",key_prefix=\"bench-cookie:\"}" ;;
  esac
  ROCKET_CONFIG=/nonexistent \
  ROCKET_ADDRESS=127.0.0.1 \
  ROCKET_PORT="$app_port" \
  ROCKET_LOG_LEVEL=off \
  ROCKET_CLI_COLORS=false \
  ROCKET_SECRET_KEY="$(node -p 'require("crypto").randomBytes(32).toString("base64")')" \
  ROCKET_OIDC="{redirect_uri=\"$app/redirect_uri\",$state,providers={default={issuer=\"$op\",client_id=\"demo\",client_secret=\"demo-secret\",scopes=[\"openid\",\"profile\",\"email\"],bearer={mode=\"auto\",audiences=[\"demo\",\"$app/api\"],introspection_cache_seconds=3600,require_audience=false}}}}" \
    target/release/examples/demo >"$workdir/demo-$i.log" 2>&1 &
  pids+=("$!")
  wait_http "$app/" "$!" "demo-$i"
done

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

for setup in "${setups[@]}"; do
  app="${app_of[$setup]}"
  echo "==> $setup: logging in once ($app/profile via $op)"
  cookie_of[$setup]="$(node scripts/bench-login.mjs "$app" "$op" /profile)"
  expect_200 "$setup: GET /profile with the session cookie" "$app/profile" "Cookie: ${cookie_of[$setup]}"
  expect_200 "$setup: GET /ping/user with the session cookie" "$app/ping/user" "Cookie: ${cookie_of[$setup]}"
done

# Each run appends "setup|name|label|rps|p50|p99|requests|redis commands" to $workdir/results.
run_wrk() { # setup name label path [wrk args...]
  local setup="$1" name="$2" label="$3" path="$4"
  shift 4
  local app="${app_of[$setup]}"
  echo "==> $setup, $label: wrk -t$threads -c$connections -d$duration $app$path" >&2
  local before after
  before="$(redis_commands)"
  if ! wrk -t"$threads" -c"$connections" -d"$duration" --timeout 5s --latency \
      -s scripts/bench-status.lua "$@" "$app$path" >"$workdir/wrk-$setup-$name.txt" 2>&1; then
    cat "$workdir/wrk-$setup-$name.txt" >&2
    echo "bench: $setup $name had errors or non-200 responses" >&2
    exit 1
  fi
  after="$(redis_commands)"
  grep -E '^(Requests/sec|non-200|latency p50)' "$workdir/wrk-$setup-$name.txt" >&2
  awk -v s="$setup" -v n="$name" -v l="$label" -v c="$((after - before - 1))" '
    /^RPS / { rps = $2 }
    /^REQUESTS / { requests = $2 }
    /^latency p50/ { p50 = $3; p99 = $6 }
    END { printf "%s|%s|%s|%s|%s|%s|%s|%s\n", s, n, l, rps, p50, p99, requests, c }
  ' "$workdir/wrk-$setup-$name.txt" >>"$workdir/results"
}

# Side by side: each route on every setup before the next route.
for route in "ping|GET /ping (no guard)|/ping" "ping_user|GET /ping/user (OidcUser)|/ping/user" \
             "root|GET / (no guard, HTML)|/" "profile|GET /profile (OidcUser + JSON)|/profile"; do
  IFS='|' read -r name label path <<<"$route"
  for setup in "${setups[@]}"; do
    if [ "$name" = ping_user ] || [ "$name" = profile ]; then
      run_wrk "$setup" "$name" "$label" "$path" -H "Cookie: ${cookie_of[$setup]}"
    else
      run_wrk "$setup" "$name" "$label" "$path"
    fi
  done
done

api_setup="${setups[0]}"
app="${app_of[$api_setup]}"
echo "==> getting an opaque and a JWT access token from $app/service-token"
opaque="$(access_token_of "$app/service-token?scope=read%20write")"
jwt="$(access_token_of "$app/service-token?scope=read%20write&resource=$(node -p 'encodeURIComponent(process.argv[1])' "$app/api")")"
case "$opaque" in *.*.*) echo "bench: the client-credentials token without resource is a JWT, expected opaque" >&2; exit 1 ;; esac
case "$jwt" in *.*.*) ;; *) echo "bench: the token with resource= is not a JWT: $jwt" >&2; exit 1 ;; esac
before_opaque="$(introspections)"
run_wrk "$api_setup" api_opaque "GET /api (opaque, cached introspection)" /api -H "Authorization: Bearer $opaque"
after_opaque="$(introspections)"
run_wrk "$api_setup" api_jwt "GET /api (RFC 9068 JWT, local check)" /api -H "Authorization: Bearer $jwt"
after_jwt="$(introspections)"

echo
echo "wrk -t$threads -c$connections -d$duration, release demo, $(nproc) cores, session cookies:$(for setup in "${setups[@]}"; do printf ' %s %s bytes;' "$setup" "${#cookie_of[$setup]}"; done)"
awk -F'|' '
  { setup[NR] = $1; name[NR] = $2; label[NR] = $3; rps[NR] = $4; p50[NR] = $5; p99[NR] = $6; req[NR] = $7; cmds[NR] = $8
    if ($2 == "ping") ping[$1] = $4
    if ($2 == "root") root[$1] = $4 }
  END {
    printf "%-13s %-40s %12s %10s %8s %8s %13s\n", "setup", "request", "requests/s", "ratio", "p50 ms", "p99 ms", "redis/request"
    for (i = 1; i <= NR; i++) {
      base = (name[i] == "profile") ? root[setup[i]] : ping[setup[i]]
      against = (name[i] == "profile") ? "vs /" : "vs /ping"
      ratio = (name[i] == "ping" || name[i] == "root") ? "" : sprintf("%.3f %s", rps[i] / base, against)
      rt = (setup[i] ~ /redis/ && req[i] > 0) ? sprintf("%.2f", cmds[i] / req[i]) : ""
      printf "%-13s %-40s %12.1f %10s %8.2f %8.2f %13s\n", setup[i], label[i], rps[i], ratio, p50[i], p99[i], rt
    }
  }
' "$workdir/results" | sed -e 's/ vs \/ping/ (\/ping)/' -e 's/ vs \// (\/)/'
echo "introspection calls at the provider: $((after_opaque - before_opaque)) during the opaque /api run (expected 1), $((after_jwt - after_opaque)) during the JWT run (expected 0)"
