#!/usr/bin/env bash
# Try the library: two development OpenID Providers and the demo app.
#
#   scripts/dev.sh            then open http://127.0.0.1:8000/ (any login/password works)
#
# Starts `node dev/provider.mjs` on 127.0.0.1:9000 (used by the demo) and a second one on
# 127.0.0.1:9001 (for `cargo run --example multi_provider`), waits until both answer their
# discovery documents, then runs `cargo run --example demo` (127.0.0.1:8000, see Rocket.toml).
# The providers stop when the demo exits. Their logs go to .dev/provider-<port>.log.
# Extra arguments are passed to the demo after `--`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh

mkdir -p .dev
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

discovery_ok() {
  node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
    "http://127.0.0.1:$1/.well-known/openid-configuration"
}

for port in 9000 9001; do
  if port_in_use "$port"; then
    echo "dev.sh: port $port is already in use (another provider running?); stop it first" >&2
    exit 1
  fi
  OP_PORT="$port" node dev/provider.mjs >".dev/provider-$port.log" 2>&1 &
  pids+=("$!")
done

for port in 9000 9001; do
  for _ in $(seq 1 100); do
    discovery_ok "$port" && break
    sleep 0.1
  done
  if ! discovery_ok "$port"; then
    echo "dev.sh: the provider on port $port did not start; its log:" >&2
    cat ".dev/provider-$port.log" >&2
    exit 1
  fi
  echo "dev.sh: provider ready at http://127.0.0.1:$port (log: .dev/provider-$port.log)"
done

echo "dev.sh: starting the demo on http://127.0.0.1:8000/ (Ctrl-C stops everything)"
cargo run --example demo -- "$@"
