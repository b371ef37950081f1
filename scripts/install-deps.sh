#!/usr/bin/env bash
# Installs what a step needs, only when it is missing:
#
#   scripts/install-deps.sh redis       redis-server (Debian): the Rust tests and the e2e tests start their own
#   scripts/install-deps.sh chromium    chromium (Debian): the e2e tests' headless browser
#   scripts/install-deps.sh node        node_modules from package-lock.json (npm ci when missing or stale):
#                                       the development provider (oidc-provider) and playwright-core
#   scripts/install-deps.sh wrk         wrk (Debian): the benchmark
#   scripts/install-deps.sh deny        cargo-deny (cargo install): the dependency policy check
#
# Several may be named; without arguments: redis chromium node (what `scripts/test.sh` uses).
# Rust and, for `node`, Node >= 20 must already be there. Quiet and fast when everything is
# present (apt-get update only if something is missing); prints the installer's output on failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

wanted=("$@")
[ "${#wanted[@]}" -gt 0 ] || wanted=(redis chromium node)
for what in "${wanted[@]}"; do
  case "$what" in
    redis | chromium | node | wrk | deny) ;;
    *) echo "install-deps: unknown dependency '$what' (redis, chromium, node, wrk, deny)" >&2; exit 2 ;;
  esac
done
wants() {
  case " ${wanted[*]} " in *" $1 "*) return 0 ;; esac
  return 1
}

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

command -v cargo >/dev/null 2>&1 || fail "cargo not found (Rust is required)"

# --- Debian packages ---------------------------------------------------------------------
missing=()
if wants chromium; then
  command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
fi
if wants wrk; then
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
fi
if wants redis; then
  command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
fi

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
if wants chromium; then
  [ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is missing after install"
fi
if wants redis; then
  command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || fail "redis-server is missing after install"
  # The package's service may start a Redis on 6379; the tests start their own.
fi

# --- npm packages ------------------------------------------------------------------------
if wants node; then
  command -v node >/dev/null 2>&1 || fail "node not found (Node.js >= 20 is required)"
  command -v npm >/dev/null 2>&1 || fail "npm not found"
  node_major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$node_major" -ge 20 ] || fail "Node.js >= 20 is required, found $(node --version)"
  stamp=node_modules/.package-lock.json
  if [ ! -d node_modules ] || [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] \
     || [ ! -d node_modules/oidc-provider ] || [ ! -d node_modules/playwright-core ]; then
    echo "install-deps: npm ci" >&2
    npm ci --no-audit --no-fund --loglevel=error </dev/null >>"$log" 2>&1 || fail "npm ci failed"
    touch "$stamp"
  fi
fi

# --- cargo-deny --------------------------------------------------------------------------
if wants deny && ! command -v cargo-deny >/dev/null 2>&1; then
  echo "install-deps: cargo install cargo-deny (a few minutes, once)" >&2
  cargo install --locked --quiet cargo-deny >>"$log" 2>&1 || fail "cargo install cargo-deny failed"
fi
