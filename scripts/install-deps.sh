#!/usr/bin/env bash
# Installs what the tests and the dev stack need, only when it is missing:
#   Debian: chromium, chromium-driver, wrk, redis-server   (apt-get update only if something is missing)
#   npm:    node_modules from package-lock.json (npm ci when missing or older than the lock file)
# Rust (with rustfmt and clippy) and Node >= 20 must already be there.
# Quiet and fast when everything is present; prints the installer's output on failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log="$(mktemp -t install-deps.XXXXXX)"
trap 'rm -f "$log"' EXIT

fail() {
  echo "install-deps: $*" >&2
  if [ -s "$log" ]; then
    echo "---- installer output ----" >&2
    tail -n 60 "$log" >&2
  fi
  exit 1
}

# --- toolchains that must already be present -------------------------------------------
command -v node >/dev/null 2>&1 || fail "node not found (Node.js >= 20 is required)"
command -v npm >/dev/null 2>&1 || fail "npm not found"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || fail "Node.js >= 20 is required, found $(node --version)"
command -v cargo >/dev/null 2>&1 || fail "cargo not found (Rust is required)"

# --- Debian packages ---------------------------------------------------------------------
missing=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${missing[*]}" >&2
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail "need root (or sudo) to install: ${missing[*]}"
    sudo=(sudo)
  fi
  command -v apt-get >/dev/null 2>&1 || fail "apt-get not found; install by hand: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq >>"$log" 2>&1 || fail "apt-get update failed"
  "${sudo[@]}" apt-get install -y -qq "${missing[@]}" </dev/null >>"$log" 2>&1 \
    || fail "apt-get install ${missing[*]} failed"
fi
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is missing after install"
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || fail "redis-server is missing after install"
# The package's service may start a Redis on 6379; the tests start their own.

# --- npm packages ------------------------------------------------------------------------
stamp=node_modules/.package-lock.json
if [ ! -d node_modules ] || [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] \
   || [ ! -d node_modules/oidc-provider ] || [ ! -d node_modules/playwright-core ]; then
  echo "install-deps: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error </dev/null >>"$log" 2>&1 || fail "npm ci failed"
  touch "$stamp"
fi
