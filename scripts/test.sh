#!/usr/bin/env bash
# `make test`: every check the project has, in order, stopping at the first failure.
# Its last line says what passed, as "test: N passed, 0 failed".
set -euo pipefail

cd "$(dirname "$0")/.."

target_dir=${CARGO_TARGET_DIR:-$PWD/target}
site_root=$PWD/target/site # cargo-leptos' site-root, relative to the workspace
log=$(mktemp)
trap 'rm -f "$log"' EXIT
stage=
rust_tests=0
e2e_tests=0

on_error() {
    printf '\nmake test: FAILED in stage "%s" (see the output above)\n' "$stage" >&2
}
trap on_error ERR

run_stage() { # name, command...
    stage=$1; shift
    printf '\n==> %s\n' "$stage"
    "$@" 2>&1 | tee "$log"
}

run_stage "format (cargo fmt --check)" cargo fmt --all -- --check
run_stage "clippy, server side (ssr)" \
    cargo clippy --locked -p wire -p app -p server -p bench -p testkit --all-targets -- -D warnings
run_stage "clippy, browser side (hydrate, wasm32)" \
    cargo clippy --locked -p frontend --target wasm32-unknown-unknown -- -D warnings
run_stage "Rust tests" cargo test --locked -p wire -p app -p server -p bench -p testkit
rust_tests=$(awk '/^test result: ok\./ { n += $4 } END { print n + 0 }' "$log")

run_stage "release build (cargo leptos build --release)" cargo leptos build --release
run_stage "standalone binaries (cargo build --release -p server --bins)" \
    cargo build --locked --release -p server --bins

stage="end2end tests (Playwright, headless Chromium)"
printf '\n==> %s\n' "$stage"
(cd end2end && SERVER_BIN="$target_dir/release/server" LOGSERVICE_BIN="$target_dir/release/logservice" \
    REGISTRYSERVICE_BIN="$target_dir/release/registryservice" PORTAL_BIN="$target_dir/release/portal" \
    SITE_ROOT="$site_root" npx playwright test) 2>&1 | tee "$log"
e2e_tests=$(awk '/^ *[0-9]+ passed/ { n = $1 } END { print n + 0 }' "$log")

printf '\nmake test: format, clippy (ssr and hydrate), %d Rust tests, release builds, %d end2end tests\n' \
    "$rust_tests" "$e2e_tests"
echo "test: $((rust_tests + e2e_tests)) passed, 0 failed"
