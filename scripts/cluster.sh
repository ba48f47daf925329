#!/usr/bin/env bash
# `make cluster`: the whole system as a fault-tolerant cluster on 127.0.0.1.
#
#   scripts/cluster.sh               # start everything; Ctrl-C stops everything
#   scripts/cluster.sh restart NAME  # (from another terminal) start a stopped piece again
#
# It starts, in order, each once the one before answers:
#   etcd-1..3        a three-member etcd (client ports 2379, 22379, 32379)
#   postgres         PostgreSQL on 15432 (not 5432, so a system PostgreSQL is no bother)
#   registry-3000/3010/3020  three registry nodes on that etcd
#   log-4000/4010    two log service instances
#   grading-6000/6010  two grading instances sharing the PostgreSQL database `grades`
#   portal-8080      the teacher portal
#   prometheus       Debian's Prometheus on 9090, finding every instance through the
#                    registry (GET /prometheus/targets) and scraping its /metrics
# and prints one line per process with its URL. Data and each process's log stay under
# ./cluster/ (CLUSTER_DIR), so a restart keeps the registry, the grades, the logs and
# Prometheus' samples (kept 7 days, at most 1 GB). Each registry node also answers DNS
# (registry-3000 on 127.0.0.1:8600, the others on 8610 and 8620).
#
# Killing a piece (the failover drill, see the README) leaves the rest running; the
# script says which piece stopped, and `scripts/cluster.sh restart NAME` starts it again
# with the same command. Ctrl-C (or SIGTERM) stops every piece, the services first and
# etcd last, and waits for each: no process is left behind.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
data=${CLUSTER_DIR:-$root/cluster}
bin=${CLUSTER_BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/release}
site=${CLUSTER_SITE_ROOT:-$root/target/site}
run=$data/run
logs=$data/logs
pg_port=15432
etcd_members=(1:2379:2380 2:22379:22380 3:32379:32380)
registry_ports=(3000 3010 3020)
log_ports=(4000 4010)
grading_ports=(6000 6010)
portal_port=8080
dns_ports=(8600 8610 8620)
prometheus_port=9090
# The order to stop in: what depends on others first.
stop_order=(prometheus portal grading log registry postgres etcd)

say() { printf 'cluster: %s\n' "$*" >&2; }
die() {
    printf '\ncluster: %s\n  fix: %s\n\n' "$1" "$2" >&2
    stop_all
    exit 1
}

join() { local IFS=,; echo "$*"; }
etcd_urls=$(join $(for m in "${etcd_members[@]}"; do echo "http://127.0.0.1:$(cut -d: -f2 <<<"$m")"; done))
registry_urls=$(join $(for p in "${registry_ports[@]}"; do echo "http://127.0.0.1:$p"; done))
database_url="postgres://postgres@127.0.0.1:$pg_port/grades"

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
# Whether anything accepts connections on PORT (curl's exit status 7 is "could not
# connect"; any other, an HTTP answer or not, means something listens).
listening() { # port
    local status=0
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/" || status=$?
    [ "$status" -ne 7 ]
}

# Starts the piece NAME with the command saved for it, in a session of its own (so a
# Ctrl-C reaches only this script, which stops the pieces in order).
launch() { # name
    local name=$1
    setsid bash -c 'exec "$@"' "$name" $(cat "$run/$name.cmd") >>"$logs/$name.log" 2>&1 </dev/null &
    echo $! >"$run/$name.pid"
    # Its death is said by the loop at the end, not by bash's job notices.
    disown $!
}

# Saves NAME's command (words without spaces) and starts it.
start() { # name command...
    local name=$1
    shift
    echo "$*" >"$run/$name.cmd"
    launch "$name"
}

# Waits until NAME listens on PORT; stops everything, with its log, if it exits first.
wait_listening() { # name port
    local name=$1 port=$2 pid tries=0
    pid=$(cat "$run/$name.pid")
    until listening "$port"; do
        alive "$pid" || die "$name exited at start; its log ($logs/$name.log) ends:
$(tail -n 15 "$logs/$name.log" | sed 's/^/    /')" "read the log above"
        tries=$((tries + 1))
        [ $tries -lt 1200 ] || die "$name did not listen on $port within a minute" "read $logs/$name.log"
        sleep 0.05
    done
}

# Whether the etcd member with client PORT says it is healthy.
etcd_healthy() { # port
    [[ $(curl -s --max-time 2 "http://127.0.0.1:$1/health" || true) == *'"health":"true"'* ]]
}

line() { # name url
    printf '  %-14s %-44s pid %s\n' "$1" "$2" "$(cat "$run/$1.pid")"
}

# Stops every piece whose pid file is here, kind by kind in stop_order: a polite signal
# to its whole session (INT: PostgreSQL's fast shutdown, and Ctrl-C to the services),
# then, after 15 s, KILL. Returns when every one has exited.
stop_all() {
    trap - INT TERM
    [ -d "$run" ] || return 0
    local kind file pid waited
    for kind in "${stop_order[@]}"; do
        local pids=()
        for file in "$run/$kind"*.pid; do
            [ -e "$file" ] || continue
            pid=$(cat "$file")
            rm -f "$file"
            alive "$pid" || continue
            kill -INT -- "-$pid" 2>/dev/null || kill -INT "$pid" 2>/dev/null || true
            pids+=("$pid")
        done
        for pid in "${pids[@]}"; do
            waited=0
            while alive "$pid" || pgrep -s "$pid" >/dev/null 2>&1; do
                if [ $waited -ge 300 ]; then
                    kill -KILL -- "-$pid" 2>/dev/null || true
                fi
                waited=$((waited + 1))
                sleep 0.05
            done
        done
    done
}

restart() { # name
    local name=${1:-}
    [ -n "$name" ] && [ -e "$run/$name.cmd" ] || {
        echo "usage: scripts/cluster.sh restart NAME, NAME one of: $(cd "$run" 2>/dev/null && ls *.cmd | sed 's/\.cmd$//' | tr '\n' ' ')" >&2
        exit 2
    }
    if alive "$(cat "$run/$name.pid" 2>/dev/null)"; then
        echo "cluster: $name is running (pid $(cat "$run/$name.pid"))" >&2
        exit 0
    fi
    launch "$name"
    echo "cluster: $name started again (pid $(cat "$run/$name.pid"))" >&2
}

if [ "${1:-}" = restart ]; then
    restart "${2:-}"
    exit 0
fi

# --- checks before anything starts --------------------------------------------------

for program in registryservice logservice gradingservice portal; do
    [ -x "$bin/$program" ] || die "$bin/$program is missing" "make build (make cluster builds it first)"
done
command -v prometheus >/dev/null || die "Prometheus is not installed" "scripts/bootstrap.sh cluster"
[ -e "$site/pkg" ] || die "the portal's site ($site) is missing" "make build"
command -v etcd >/dev/null || die "etcd is not installed" "scripts/bootstrap.sh cluster"
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] || die "PostgreSQL is not installed" "scripts/bootstrap.sh cluster"
if [ -d "$run" ]; then
    for file in "$run"/*.pid; do
        [ -e "$file" ] || continue
        alive "$(cat "$file")" && {
            printf '\ncluster: another make cluster is running here (%s is pid %s)\n  fix: stop it with Ctrl-C in its terminal\n\n' \
                "$(basename "$file" .pid)" "$(cat "$file")" >&2
            exit 1
        }
    done
fi
for port in 2379 2380 22379 22380 32379 32380 $pg_port "${registry_ports[@]}" "${log_ports[@]}" "${grading_ports[@]}" $portal_port "${dns_ports[@]}" $prometheus_port; do
    if listening "$port"; then
        printf '\ncluster: port %s on 127.0.0.1 is in use\n  fix: stop what listens there (ss -ltnp "sport = :%s" names it), then make cluster again\n\n' \
            "$port" "$port" >&2
        exit 1
    fi
done

mkdir -p "$run" "$logs"
rm -f "$run"/*.pid "$run"/*.cmd
trap 'echo >&2; say "stopping every piece …"; stop_all; say "stopped"; exit 0' INT TERM

# PostgreSQL refuses to run as root: as root, it runs as the postgres user, which owns
# its data dir and must be able to reach it. A clone in a private folder (root's home, a
# mktemp -d folder) is out of its reach: PostgreSQL's data then goes to a folder of its
# own under /var/tmp, named after this data dir so a restart finds it again.
as_postgres=()
pg_data=$data/postgres
if [ "$(id -u)" -eq 0 ]; then
    as_postgres=(runuser -u postgres --)
    mkdir -p "$pg_data"
    chown postgres: "$pg_data"
    if ! runuser -u postgres -- test -x "$pg_data"; then
        pg_data=/var/tmp/distributed-postgres-$(realpath "$data" | sha256sum | cut -c1-12)
        mkdir -p "$pg_data"
        chown postgres: "$pg_data"
        chmod 700 "$pg_data"
        runuser -u postgres -- test -x "$pg_data" \
            || die "the postgres user cannot reach $data nor $pg_data" "set CLUSTER_DIR to a folder the postgres user can reach (such as /var/tmp/distributed-cluster)"
        echo "$pg_data" >"$data/postgres-data-dir"
        say "the postgres user cannot reach $data: PostgreSQL's data is in $pg_data"
    fi
fi

say "starting; data and logs in $data"

# --- etcd -----------------------------------------------------------------------------
initial_cluster=$(join $(for m in "${etcd_members[@]}"; do IFS=: read -r n _ peer <<<"$m"; echo "etcd-$n=http://127.0.0.1:$peer"; done))
# A quota well above what the registry keeps (it compacts its history older than an hour
# itself, --etcd-history), and etcd's own periodic compaction as a second line: etcd
# never grows until its alarm stops every write.
etcd_limits=(--quota-backend-bytes 1073741824 --auto-compaction-mode periodic --auto-compaction-retention 2h)
for member in "${etcd_members[@]}"; do
    IFS=: read -r n client peer <<<"$member"
    start "etcd-$n" etcd --name "etcd-$n" --data-dir "$data/etcd-$n" \
        --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
        --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "$initial_cluster" --initial-cluster-state new --initial-cluster-token distributed-cluster \
        "${etcd_limits[@]}"
done
for member in "${etcd_members[@]}"; do
    IFS=: read -r n client _ <<<"$member"
    wait_listening "etcd-$n" "$client"
done
# Listening is not serving: wait until the members have elected a leader and each says
# it is healthy, so that the registry nodes find a working etcd.
for member in "${etcd_members[@]}"; do
    IFS=: read -r n client _ <<<"$member"
    tries=0
    until etcd_healthy "$client"; do
        alive "$(cat "$run/etcd-$n.pid")" || die "etcd-$n exited at start" "read $logs/etcd-$n.log"
        tries=$((tries + 1))
        [ $tries -lt 1200 ] || die "etcd-$n was not healthy within a minute" "read $logs/etcd-$n.log"
        sleep 0.05
    done
done

# --- PostgreSQL -------------------------------------------------------------------------
if [ ! -s "$pg_data/PG_VERSION" ]; then
    mkdir -p "$pg_data"
    [ ${#as_postgres[@]} -eq 0 ] || chown postgres: "$pg_data"
    "${as_postgres[@]}" "$pg_bin/initdb" -D "$pg_data" -A trust -U postgres -E UTF8 --locale=C \
        >>"$logs/postgres.log" 2>&1 || die "initdb failed" "read $logs/postgres.log"
fi
start postgres "${as_postgres[@]}" "$pg_bin/postgres" -D "$pg_data" -p "$pg_port" -k "$pg_data" -c listen_addresses=127.0.0.1
wait_listening postgres "$pg_port"
until "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; do
    alive "$(cat "$run/postgres.pid")" || die "PostgreSQL exited at start" "read $logs/postgres.log"
    sleep 0.05
done
if [ "$("$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'grades'")" != 1 ]; then
    "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres grades || die "cannot create the database grades" "read $logs/postgres.log"
fi

# --- the registry, the services and the portal --------------------------------------------
for i in "${!registry_ports[@]}"; do
    port=${registry_ports[$i]}
    start "registry-$port" "$bin/registryservice" --addr "127.0.0.1:$port" --etcd "$etcd_urls" \
        --history-dir "$data/registry-history" \
        --dns-addr "127.0.0.1:${dns_ports[$i]}"
done
for port in "${registry_ports[@]}"; do wait_listening "registry-$port" "$port"; done
for port in "${log_ports[@]}"; do
    mkdir -p "$data/log-$port"
    start "log-$port" "$bin/logservice" --addr "127.0.0.1:$port" --registry-url "$registry_urls" \
        --log-file "$data/log-$port/distributed.log"
done
for port in "${grading_ports[@]}"; do
    start "grading-$port" "$bin/gradingservice" --addr "127.0.0.1:$port" --registry-url "$registry_urls" \
        --database "$database_url"
done
start "portal-$portal_port" "$bin/portal" --addr "127.0.0.1:$portal_port" --registry-url "$registry_urls" \
    --site-root "$site" --prometheus-url "http://127.0.0.1:$prometheus_port/classic/targets"
for port in "${log_ports[@]}"; do wait_listening "log-$port" "$port"; done
for port in "${grading_ports[@]}"; do wait_listening "grading-$port" "$port"; done
wait_listening "portal-$portal_port" "$portal_port"

# --- Prometheus ---------------------------------------------------------------------------
# It asks every registry node for the targets (one answering is enough; the same target
# from several is scraped once): every service, the registry nodes too (each registers
# as Registry). etcd, which registers nowhere, is listed as it is.
mkdir -p "$data/prometheus"
{
    echo "# Written by scripts/cluster.sh at each start."
    echo "global:"
    echo "  scrape_interval: 5s"
    echo "scrape_configs:"
    echo "  - job_name: distributed"
    echo "    http_sd_configs:"
    for port in "${registry_ports[@]}"; do
        echo "      - url: http://127.0.0.1:$port/prometheus/targets"
        echo "        refresh_interval: 5s"
    done
    echo "    relabel_configs:"
    echo "      - source_labels: [__meta_distributed_service]"
    echo "        target_label: service"
    echo "  - job_name: etcd"
    echo "    static_configs:"
    echo "      - targets: [$(join $(for m in "${etcd_members[@]}"; do echo "'127.0.0.1:$(cut -d: -f2 <<<"$m")'"; done))]"
} >"$data/prometheus/prometheus.yml"
start prometheus prometheus --config.file "$data/prometheus/prometheus.yml" \
    --storage.tsdb.path "$data/prometheus/data" --storage.tsdb.retention.time 7d \
    --storage.tsdb.retention.size 1GB --web.listen-address "127.0.0.1:$prometheus_port"
wait_listening prometheus "$prometheus_port"

echo
echo "The cluster is up:"
for member in "${etcd_members[@]}"; do
    IFS=: read -r n client _ <<<"$member"
    line "etcd-$n" "http://127.0.0.1:$client"
done
line postgres "$database_url"
for port in "${registry_ports[@]}"; do line "registry-$port" "http://127.0.0.1:$port/services"; done
for port in "${log_ports[@]}"; do line "log-$port" "http://127.0.0.1:$port/log"; done
for port in "${grading_ports[@]}"; do line "grading-$port" "http://127.0.0.1:$port/students"; done
line "portal-$portal_port" "http://127.0.0.1:$portal_port/"
# Debian's Prometheus has only its classic UI.
line prometheus "http://127.0.0.1:$prometheus_port/classic/targets"
echo
echo "Open http://127.0.0.1:$portal_port/registry to watch it. Ask its DNS with"
echo "dig @127.0.0.1 -p ${dns_ports[0]} logservice.service.consul SRV. Kill any piece by its pid;"
echo "scripts/cluster.sh restart NAME starts it again. Ctrl-C stops everything."

# Say when a piece stops, once, until it runs again.
declare -A said=()
while true; do
    for file in "$run"/*.pid; do
        [ -e "$file" ] || continue
        name=$(basename "$file" .pid)
        if alive "$(cat "$file")"; then
            said[$name]=
        elif [ -z "${said[$name]:-}" ]; then
            say "$name stopped; start it again with: scripts/cluster.sh restart $name"
            said[$name]=1
        fi
    done
    sleep 1 &
    wait $! || true
done
