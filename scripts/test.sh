#!/usr/bin/env bash
# The project's test command (CI runs it through .ci/run):
#   cargo fmt --check, cargo clippy, cargo test (every Rust test; needs redis-server),
#   cargo doc (and as docs.rs builds it), cargo build --examples, cargo publish --dry-run (packages the crate and builds
#   the package alone), cargo deny (licences, duplicate versions, sources), end-to-end tests
#   (node --test tests/e2e/: the real provider, a real browser, the examples).
# Each step first installs what it needs and nothing else (scripts/install-deps.sh): Redis for
# cargo-test and e2e, cargo-deny for deny, Node packages and Chromium for e2e.
# Stops at the first failing step and names it. Prints how long each step took.
#
#   scripts/test.sh                 all steps
#   scripts/test.sh clippy e2e      only the named steps:
#                                   fmt clippy features cargo-test doc docsrs build-examples package deny e2e
set -euo pipefail

all_steps=(fmt clippy features cargo-test doc docsrs build-examples package deny e2e)
selected=("$@")
for name in "${selected[@]}"; do
  case " ${all_steps[*]} " in
    *" $name "*) ;;
    *) echo "test.sh: unknown step '$name' (steps: ${all_steps[*]})" >&2; exit 2 ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."

color=never
[ -t 1 ] && color=auto
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-$color}"

# In CI the committed Cargo.lock must be up to date; locally cargo may update it.
# CI packages what is committed; locally, the working tree.
locked=()
dirty=(--allow-dirty)
if [ "${CI:-}" = "true" ]; then
  locked=(--locked)
  dirty=()
fi

current_step=""
timings=()
on_exit() {
  rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$current_step" ]; then
    echo >&2
    echo "==> FAILED: step '$current_step' (exit code $rc)" >&2
  fi
  if [ "${#timings[@]}" -gt 0 ]; then
    echo "==> step timings:"
    printf '    %s\n' "${timings[@]}"
  fi
  exit "$rc"
}
trap on_exit EXIT

wanted() {
  [ "${#selected[@]}" -eq 0 ] && return 0
  case " ${selected[*]} " in *" $1 "*) return 0 ;; esac
  return 1
}

step() {
  local name="$1"
  shift
  if ! wanted "$name"; then
    return 0
  fi
  current_step="$name"
  echo "==> $name: $*"
  local start=${EPOCHREALTIME/,/.}
  "$@"
  timings+=("$(awk -v n="$name" -v a="$start" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%-16s %7.1fs", n, b - a }')")
  current_step=""
}

# `step NAME CMD...` runs CMD when NAME is selected; `needs NAME DEPS...` installs DEPS first.
needs() {
  local name="$1"
  shift
  wanted "$name" || return 0
  scripts/install-deps.sh "$@"
}

step fmt cargo fmt --all -- --check --color "$color"
step clippy cargo clippy --all-targets "${locked[@]}" -- -D warnings
# The feature combinations that matter: a cookie-only build without Redis
# (and with the test kit) builds, lints clean and refuses `[oidc.redis]`.
step features bash -c 'cargo clippy --lib --no-default-features "$@" -- -D warnings &&
  cargo clippy --lib --no-default-features --features testing "$@" -- -D warnings &&
  cargo test --lib --no-default-features "$@" -- --exact store::redis::tests::a_redis_table_without_the_redis_feature_aborts_launch_naming_the_key' features "${locked[@]}"
needs cargo-test redis
step cargo-test cargo test "${locked[@]}"
step doc env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features "${locked[@]}"
# docs.rs builds with `--cfg docsrs` on a nightly compiler (the `doc_cfg` feature); the same
# path is built here, on the stable compiler allowed its unstable features for this one build.
step docsrs env RUSTC_BOOTSTRAP=1 RUSTDOCFLAGS="--cfg docsrs -D warnings" cargo doc --no-deps --all-features "${locked[@]}"
step build-examples cargo build --examples "${locked[@]}"
# The package crates.io would get: what it holds (`include`), and that it builds on its own.
step package cargo publish --dry-run "${locked[@]}" "${dirty[@]}"
# deny.toml: licences, bans (duplicate versions), sources; the advisory database cannot be
# fetched from the CI machines, so advisories are not checked.
needs deny deny
step deny cargo deny --locked check licenses bans sources
needs e2e redis node chromium
step e2e node --test --test-concurrency=1 tests/e2e/

if [ "${#selected[@]}" -eq 0 ]; then
  echo "==> all steps passed"
else
  echo "==> steps passed: ${selected[*]}"
fi
