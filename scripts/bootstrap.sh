#!/usr/bin/env bash
# Installs what building, running and testing distributed needs, each piece only when it
# is missing or at the wrong version, so a warm machine skips it all in a second.
#
#   scripts/bootstrap.sh run    # Rust's wasm32 target, cargo-leptos, wasm-bindgen, wasm-opt (npm),
#                               # protoc (the etcd client compiles etcd's protobufs)
#   scripts/bootstrap.sh test   # the same, plus Chromium, the end2end npm packages, etcd
#                               # and PostgreSQL (started by the tests themselves), and
#                               # Debian's prometheus, python3-consul and dig (the
#                               # real clients the discovery tests drive)
#   scripts/bootstrap.sh bench  # the same as run, plus wrk, etcd and PostgreSQL
#   scripts/bootstrap.sh cluster  # the same as run, plus etcd, PostgreSQL, Prometheus and dig
#                                 # (make cluster)
#
# A piece that cannot be installed stops the script with a message that names it and says
# how to install it by hand.
set -euo pipefail

cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10

say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() {
    printf '\nbootstrap: cannot install %s.\n  fix: %s\n\n' "$1" "$2" >&2
    exit 1
}

need_command() { # name, how to get it
    command -v "$1" >/dev/null 2>&1 || die "$1 (not on PATH)" "$2"
}

# Debian packages: installed with apt-get (as root, or through sudo), the package lists
# refreshed once if a package is not found.
apt_updated=
apt_install() { # package...
    local sudo=
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "$*" "run as root: apt-get install -y $*"
        sudo="sudo -n"
    fi
    command -v apt-get >/dev/null 2>&1 || die "$*" "this is not a Debian-like system; install $* with your package manager"
    if [ -z "$apt_updated" ]; then
        say "apt-get update"
        $sudo apt-get update -qq >/dev/null || die "$*" "apt-get update failed; check the package sources, then: apt-get install -y $*"
        apt_updated=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null \
        || die "$*" "apt-get install -y $*"
}

rust_toolchain() {
    need_command cargo "install Rust (stable, 1.95 or newer) with rustup, then open a new shell"
    need_command rustup "install Rust with rustup; the wasm32 target is added through it"
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        say "adding the wasm32-unknown-unknown target"
        rustup target add wasm32-unknown-unknown || die "the wasm32-unknown-unknown target" "rustup target add wasm32-unknown-unknown"
    fi
}

cargo_leptos() {
    local have
    have=$(cargo leptos --version 2>/dev/null | awk '{print $2}') || true
    if [ "$have" != "$CARGO_LEPTOS_VERSION" ]; then
        say "installing cargo-leptos $CARGO_LEPTOS_VERSION (found: ${have:-none}); this takes about 12 minutes"
        cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked \
            || die "cargo-leptos $CARGO_LEPTOS_VERSION" "cargo install cargo-leptos --version $CARGO_LEPTOS_VERSION --locked"
    fi
}

# cargo-leptos runs the wasm-bindgen found on PATH, which must be exactly the version of
# the wasm-bindgen crate in Cargo.lock.
wasm_bindgen_cli() {
    local want have
    want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, "", $0); print; exit }' Cargo.lock)
    [ -n "$want" ] || die "wasm-bindgen-cli" "Cargo.lock names no wasm-bindgen; run cargo generate-lockfile"
    have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}') || true
    if [ "$have" != "$want" ]; then
        say "installing wasm-bindgen-cli $want (found: ${have:-none})"
        cargo install wasm-bindgen-cli --version "=$want" \
            || die "wasm-bindgen-cli $want" "cargo install wasm-bindgen-cli --version =$want"
    fi
}

# npm packages of a folder, installed by `npm ci` unless node_modules already holds the
# version package-lock.json pins for `package`.
npm_packages() { # folder, package
    local dir=$1 package=$2 want have
    command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    want=$(node -p "require('./$dir/package-lock.json').packages['node_modules/$package'].version")
    have=$(node -p "try { require('./$dir/node_modules/$package/package.json').version } catch (e) { '' }")
    if [ "$have" != "$want" ]; then
        say "installing the npm packages of $dir/ ($package $want)"
        # Playwright's own browser download cannot work here; the tests use Debian's Chromium.
        (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) \
            || die "the npm packages of $dir/" "cd $dir && npm ci"
    fi
}

# wasm-opt for release builds: binaryen 132 from npm, in tools/node_modules/.bin, which
# the Makefile puts first on PATH. (Debian's binaryen 108 breaks the WASM.)
wasm_opt() {
    npm_packages tools binaryen
    local version
    version=$(tools/node_modules/.bin/wasm-opt --version 2>/dev/null) \
        || die "wasm-opt" "cd tools && npm ci (it provides binaryen's wasm-opt)"
    case "$version" in
        *"version 132"*) ;;
        *) die "wasm-opt 132 (found: $version)" "cd tools && npm ci" ;;
    esac
}

# protoc, which the etcd-client crate runs when it builds etcd's protobufs (named so
# that `command -v protoc` finds the program, not this function).
protoc_tool() {
    command -v protoc >/dev/null 2>&1 || apt_install protobuf-compiler
    command -v protoc >/dev/null 2>&1 || die "protoc" "apt-get install -y protobuf-compiler"
}

# etcd, which the registry-cluster tests start on their own ports and data directories.
etcd_server() {
    command -v etcd >/dev/null 2>&1 || apt_install etcd-server
    etcd --version >/dev/null 2>&1 || die "etcd" "apt-get install -y etcd-server"
}

# PostgreSQL 15's programs, which the grading tests and make bench run on temp dirs and
# free ports of their own (testkit/). Nothing here starts a server: Debian's package is
# told not to create its system cluster, so `make run` and the tests never depend on one.
postgres_server() {
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && return
    local sudo=
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    $sudo mkdir -p /etc/postgresql-common/createcluster.d \
        && echo 'create_main_cluster = false' \
            | $sudo tee /etc/postgresql-common/createcluster.d/distributed.conf >/dev/null \
        || die "postgresql" "run as root: apt-get install -y postgresql"
    apt_install postgresql
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || die "postgresql" "apt-get install -y postgresql"
}

chromium() {
    [ -x /usr/bin/chromium ] || apt_install chromium
    /usr/bin/chromium --version >/dev/null 2>&1 || die "chromium" "apt-get install -y chromium (the tests use /usr/bin/chromium)"
}

end2end_packages() {
    npm_packages end2end @playwright/test
}

# Debian's prometheus: promtool, Prometheus' own checker, which a test holds /metrics to,
# and Prometheus itself, which a test starts to discover the services through the
# registry (installing the package starts no server here).
promtool_tool() {
    if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
        apt_install --no-install-recommends prometheus
    fi
    command -v promtool >/dev/null 2>&1 || die "promtool" "apt-get install -y prometheus"
    command -v prometheus >/dev/null 2>&1 || die "prometheus" "apt-get install -y prometheus"
}

# Debian's python3-consul, a Consul client library, which a test points at the registry's
# Consul-compatible catalog (Debian's Prometheus is built without its Consul discovery).
consul_client() {
    /usr/bin/python3 -c 'import consul' >/dev/null 2>&1 || apt_install --no-install-recommends python3-consul
    /usr/bin/python3 -c 'import consul' >/dev/null 2>&1 || die "python3-consul" "apt-get install -y python3-consul"
}

# dig (Debian's bind9-dnsutils), which a test asks the registry's DNS with.
dig_tool() {
    command -v dig >/dev/null 2>&1 || apt_install --no-install-recommends bind9-dnsutils
    command -v dig >/dev/null 2>&1 || die "dig" "apt-get install -y bind9-dnsutils"
}

# curl: make cluster and make cluster-check ask their pieces over HTTP with it.
curl_tool() {
    command -v curl >/dev/null 2>&1 || apt_install curl
}

# (Named so that `command -v wrk` finds the program, not this function.)
wrk_tool() {
    command -v wrk >/dev/null 2>&1 || apt_install wrk
}

case "${1:-}" in
    run)
        rust_toolchain; protoc_tool; cargo_leptos; wasm_bindgen_cli; wasm_opt ;;
    test)
        rust_toolchain; protoc_tool; cargo_leptos; wasm_bindgen_cli; wasm_opt; chromium; end2end_packages; etcd_server; postgres_server; promtool_tool; consul_client; dig_tool ;;
    cluster)
        rust_toolchain; protoc_tool; cargo_leptos; wasm_bindgen_cli; wasm_opt; etcd_server; postgres_server; curl_tool; promtool_tool; dig_tool ;;
    bench)
        rust_toolchain; protoc_tool; cargo_leptos; wasm_bindgen_cli; wasm_opt; wrk_tool; etcd_server; postgres_server ;;
    *)
        echo "usage: scripts/bootstrap.sh run|test|bench|cluster" >&2; exit 2 ;;
esac
