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
#
#   scripts/dev.sh --rust     the same with the pure-Rust development provider instead
#                             (`cargo run --example dev_provider`: no Node needed; its login
#                             page lets you pick the user and claims, /sessions sends
#                             back-channel logouts)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

rust_provider=false
if [ "${1:-}" = "--rust" ]; then
  rust_provider=true
  shift
else
  scripts/install-deps.sh node
fi

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
  (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /.well-known/openid-configuration HTTP/1.0\r\n\r\n' >&3 \
    && head -1 <&3 | grep -q ' 200 ') 2>/dev/null
}

for port in 9000 9001; do
  if port_in_use "$port"; then
    echo "dev.sh: port $port is already in use (another provider running?); stop it first" >&2
    exit 1
  fi
  if [ "$rust_provider" = false ]; then
    OP_PORT="$port" node dev/provider.mjs >".dev/provider-$port.log" 2>&1 &
    pids+=("$!")
  fi
done
if [ "$rust_provider" = true ]; then
  cargo build --example dev_provider --example demo
  DEV_PROVIDER_PORT=9000 target/debug/examples/dev_provider >".dev/provider-9000.log" 2>&1 &
  pids+=("$!")
fi

for port in 9000 9001; do
  for _ in $(seq 1 100); do
    discovery_ok "$port" && break
    sleep 0.1
  done
  if ! discovery_ok "$port"; then
    echo "dev.sh: the provider on port $port did not start; its log:" >&2
    cat ".dev/provider-$port.log" >&2 2>/dev/null || cat .dev/provider-9000.log >&2
    exit 1
  fi
  echo "dev.sh: provider ready at http://127.0.0.1:$port (log: .dev/provider-$port.log)"
done

echo "dev.sh: starting the demo on http://127.0.0.1:8000/ (Ctrl-C stops everything)"
cargo run --example demo -- "$@"
