#!/usr/bin/env bash
# `make cluster-check`: starts `make cluster`'s script on a scratch data dir, checks that
# every URL it prints answers, adds a grade, asks the registry's DNS with dig and
# Prometheus what it scrapes, stops it as Ctrl-C would (SIGINT), checks
# that every process it printed has exited, its whole session with it, and that its ports
# are free; then starts it again on the same data and finds the grade. Exits non-zero,
# saying what, otherwise. CI runs it after make test.
set -euo pipefail

cd "$(dirname "$0")/.."

# A private folder (mktemp -d's 0700), as a clone in root's home is: as root, make
# cluster must place PostgreSQL's data where the postgres user can reach it by itself.
dir=$(mktemp -d /tmp/distributed-cluster-check.XXXXXX)
out=$dir/stdout
export CLUSTER_DIR=$dir/data

# The folder make cluster put PostgreSQL's data in, if not under CLUSTER_DIR.
pg_elsewhere() {
    cat "$CLUSTER_DIR/postgres-data-dir" 2>/dev/null || true
}

# Deletes the scratch folders.
clean_up() {
    local elsewhere
    elsewhere=$(pg_elsewhere)
    [ -n "$elsewhere" ] && rm -rf "$elsewhere"
    rm -rf "$dir"
}

fail() {
    printf '\ncluster-check: FAILED: %s\n' "$*" >&2
    [ -e "$out" ] && sed 's/^/  | /' "$out" >&2
    # TERM, which make cluster handles as it does Ctrl-C: a SIGINT may be ignored here
    # (see down).
    [ -n "${script:-}" ] && kill -TERM "$script" 2>/dev/null && wait "$script" 2>/dev/null
    clean_up
    exit 1
}

# The status code of `GET url`, or of a POST of `json` if given; 000 if nothing answers.
http() { # url [json]
    if [ $# -gt 1 ]; then
        curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
            -H 'Content-Type: application/json' --data-raw "$2" "$1" || true
    else
        curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$1" || true
    fi
}

# The body of `GET url`.
http_body() { # url
    curl -s --max-time 10 "$1" || true
}

# Whether anything still accepts connections on `port` (curl's exit status 7 is "could
# not connect"; any other, an HTTP answer or not, means something is listening).
port_open() { # port
    local status=0
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/" || status=$?
    [ "$status" -ne 7 ]
}

# Starts the cluster and checks that everything it prints answers; sets pids and ports.
up() {
    : >"$out"
    # With job control on, the script runs as a job of its own whose SIGINT is not
    # ignored (a non-interactive shell starts background commands ignoring it), as in
    # a terminal.
    set -m
    scripts/cluster.sh >"$out" 2>"$dir/stderr" &
    script=$!
    set +m

    local tries=0
    until grep -q 'Ctrl-C stops everything' "$out"; do
        kill -0 "$script" 2>/dev/null || fail "make cluster exited at start: $(tail -n 20 "$dir/stderr")"
        tries=$((tries + 1))
        [ $tries -lt 2400 ] || fail "make cluster was not up within two minutes: $(tail -n 20 "$dir/stderr")"
        sleep 0.05
    done
    # The lines after the heading, up to the blank line: name, URL, "pid", pid.
    local lines line name url pid port check rest
    mapfile -t lines < <(sed -n '/^The cluster is up:/,/^$/p' "$out" | sed '1d;/^$/d')
    [ ${#lines[@]} -eq 13 ] || fail "expected 13 processes, it printed ${#lines[@]}"

    pids=()
    ports=()
    for line in "${lines[@]}"; do
        read -r name url _ pid <<<"$line"
        pids+=("$pid")
        kill -0 "$pid" 2>/dev/null || fail "$name (pid $pid) is not running"
        case "$url" in
            postgres://*)
                port=${url##*:}
                port=${port%%/*}
                ports+=("$port")
                "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pg_isready" -q -h 127.0.0.1 -p "$port" \
                    || fail "$name does not accept connections at $url"
                ;;
            http://*)
                rest=${url#http://127.0.0.1:}
                ports+=("${rest%%/*}")
                check=$url
                [[ $name == etcd-* ]] && check=$url/health
                # A service answers once it has registered and found what it needs: wait
                # for each to answer (2xx, or a redirect: the portal's / goes to the grade
                # book).
                tries=0
                until [[ $(http "$check") =~ ^[23] ]]; do
                    tries=$((tries + 1))
                    [ $tries -lt 1200 ] || fail "$name does not answer at $check (got: $(http "$check"))"
                    sleep 0.05
                done
                ;;
            *) fail "$name printed no URL: $line" ;;
        esac
        printf 'cluster-check: %-14s answers at %s\n' "$name" "$url"
    done
}

# Stops it as Ctrl-C does and checks that nothing is left.
down() {
    kill -INT "$script"
    # A shell that starts a command in the background without job control makes it
    # ignore SIGINT, for good: make cluster then cannot see the Ctrl-C this sends.
    local tries=0
    while kill -0 "$script" 2>/dev/null; do
        tries=$((tries + 1))
        [ $tries -lt 1200 ] || fail "make cluster did not stop within a minute of SIGINT (was cluster-check started in the background by a shell that makes SIGINT ignored? start it from a terminal, or with set -m)"
        sleep 0.05
    done
    wait "$script" || fail "make cluster exited with $? after Ctrl-C"
    script=
    local pid port
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null && fail "pid $pid is still running after Ctrl-C"
        pgrep -s "$pid" >/dev/null && fail "a process of pid $pid's session is still running: $(pgrep -a -s "$pid")"
    done
    for port in "${ports[@]}"; do
        port_open "$port" && fail "port $port still answers after Ctrl-C"
    done
    echo "cluster-check: Ctrl-C left no process behind"
}

# The instances Prometheus scrapes through the registry's discovery, as "service health"
# lines; empty until it has scraped them (or while it does not answer).
command -v python3 >/dev/null || fail "python3 is missing (apt-get install python3)"
scraped() {
    http_body "http://127.0.0.1:9090/api/v1/targets?state=active" | python3 -c '
import json, sys
targets = json.load(sys.stdin)["data"]["activeTargets"]
for t in sorted(targets, key=lambda t: t["scrapeUrl"]):
    if t["labels"]["job"] == "distributed":
        print(t["labels"].get("service", "?"), t["health"])
' 2>/dev/null || true
}

# Every registry node answers DNS: dig finds both log service instances on each (a
# follower may take a moment to hear of them). dig's own failure (exit 9: no answer)
# counts as none found, never as the end of this script.
check_dns() {
    local port found tries
    for port in 8600 8610 8620; do
        tries=0
        while true; do
            found=$({ dig @127.0.0.1 -p "$port" +short +time=2 logservice.service.consul SRV || true; } | wc -l)
            [ "$found" -eq 2 ] && break
            tries=$((tries + 1))
            [ $tries -lt 100 ] || fail "dig found $found log service instances on 127.0.0.1:$port, not 2"
            sleep 0.1
        done
    done
    echo "cluster-check: dig finds both log service instances on each registry node's DNS"
}

# Prometheus scrapes every instance it found through the registry, each once: two
# grading, two log, the portal and the three registry nodes.
check_prometheus() {
    local tries=0 want
    want=$'GradingService up\nGradingService up\nLogService up\nLogService up\nPortal up\nRegistry up\nRegistry up\nRegistry up'
    until [ "$(scraped | sort)" = "$want" ]; do
        tries=$((tries + 1))
        [ $tries -lt 600 ] || fail "Prometheus did not scrape the eight instances through the registry; it has: $(scraped | tr '\n' ',')"
        sleep 0.1
    done
    echo "cluster-check: Prometheus scrapes the eight instances it found through the registry, each once"
}

# Every registry node answers the same history of the log service after the restart: each
# node kept its own files, and the events carry etcd's ids and the writers' times.
log_history() {
    http_body "http://127.0.0.1:$1/history?service=LogService" | python3 -c '
import json, sys
for e in json.load(sys.stdin)["Events"]:
    if e["Kind"] not in ("started", "gap"):
        print(e["Id"], e["At"], e["Kind"], e["Instance"])
' 2>/dev/null || true
}
check_history() {
    local first port tries=0
    until first=$(log_history 3000) && [ "$(grep -c registered <<<"$first")" -ge 2 ] \
        && [ "$(log_history 3010)" = "$first" ] && [ "$(log_history 3020)" = "$first" ]; do
        tries=$((tries + 1))
        [ $tries -lt 100 ] || fail "the registry nodes do not answer the same history of LogService: $(for port in 3000 3010 3020; do printf '%s: %s; ' $port "$(log_history $port | tr '\n' ',')"; done)"
        sleep 0.1
    done
    echo "cluster-check: every registry node answers the same history of LogService after a restart"
}

grade='{"Title":"Kept across restarts","Type":"Quiz","Score":77}'
up
[[ $(http http://127.0.0.1:6000/students/1/grades "$grade") == 201 ]] \
    || fail "a grade posted to grading-6000 was not answered 201"
down
up
http_body http://127.0.0.1:6010/students/1 | grep -q 'Kept across restarts' \
    || fail "the grade added before the restart is not listed by grading-6010 after it"
echo "cluster-check: a grade added before a restart is listed after it"
check_history
check_dns
check_prometheus
# etcd runs with a quota and its own compaction (the registry compacts too): it never
# grows until its alarm stops every write.
http_body http://127.0.0.1:2379/metrics \
    | grep '^etcd_server_quota_backend_bytes 1.073741824e+09' >/dev/null \
    || fail "etcd-1 runs without the 1 GiB quota make cluster gives it"
echo "cluster-check: etcd runs with its quota and auto-compaction"
down
if [ "$(id -u)" -eq 0 ]; then
    grep -q "PostgreSQL's data is in $(pg_elsewhere)" "$dir/stderr" \
        || fail "as root in a private folder, make cluster did not say where PostgreSQL's data is"
    echo "cluster-check: from a private folder, PostgreSQL's data went to $(pg_elsewhere), and it said so"
fi
clean_up
echo "cluster-check: every URL answered; Ctrl-C left no process behind"
