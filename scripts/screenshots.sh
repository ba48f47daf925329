#!/usr/bin/env bash
# make screenshots: the README's pictures of the portal (docs/screenshots/*.png), taken
# from the release build of the all-in-one server with a fresh grade database, plus a
# standalone log service (so the map shows a service with two instances) and a grade or
# two added through the portal's API, so the charts have something to show.
set -euo pipefail
cd "$(dirname "$0")/.."

out=docs/screenshots
# The release binaries, where cargo puts them (CARGO_TARGET_DIR if set).
bin="${CARGO_TARGET_DIR:-target}/release"
dir=$(mktemp -d "${TMPDIR:-/tmp}/distributed-screenshots.XXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

# A free port from the kernel, for the server.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
"$bin"/server --addr "127.0.0.1:$port" --site-root target/site \
    --log-file "$dir/distributed.log" --database "$dir/grades.db" >"$dir/server.out" 2>&1 &
pids+=($!)
until curl -sf "$base/students" >/dev/null; do
    kill -0 "${pids[0]}" 2>/dev/null || { cat "$dir/server.out"; exit 1; }
    sleep 0.2
done
"$bin"/logservice --addr 127.0.0.1:0 --registry-url "$base" \
    --log-file "$dir/standalone.log" >"$dir/logservice.out" 2>&1 &
pids+=($!)
for score in 88 79; do
    curl -sf -X POST "$base/grading/students/1/grades" -H 'content-type: application/json' \
        -d "{\"Title\":\"Homework $score\",\"Type\":\"Homework\",\"Score\":$score}" >/dev/null
done
until [ "$(curl -sf "$base/services/LogService" | grep -o '"ServiceURL"' | wc -l)" -ge 2 ]; do sleep 0.2; done

mkdir -p "$out"
(cd end2end && node screenshots.mjs "$base" "../$out")
