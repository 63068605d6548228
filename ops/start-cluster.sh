#!/usr/bin/env bash
# Starts (or stops) a 3-node nats-server JetStream cluster on this machine, on
# loopback ports, with the accounts and users of ops/nats/accounts.conf.
#
#   ops/start-cluster.sh          start the three nodes in the background, wait
#                                 until JetStream has a meta leader, print URLs
#   ops/start-cluster.sh stop     stop the nodes started from the same directory
#   ops/start-cluster.sh status   say which nodes run
#
# Environment (all optional):
#   FUNDLEDGER_CLUSTER_DIR        run directory: data, logs, pid files
#                                 (default: ./.fundledger-cluster)
#   FUNDLEDGER_CLUSTER_PORT       first client port; nodes use PORT, PORT+1, PORT+2
#                                 (default 14220, as in ops/nats/cluster/n*.conf)
#   FUNDLEDGER_CLUSTER_ROUTE_PORT first route port (default 16220)
#   FUNDLEDGER_CLUSTER_HTTP_PORT  first monitoring port (default 18220)
#   FUNDLEDGER_NATS_SERVER        nats-server executable (default: the pinned release that
#                                 scripts/setup installs in .tools/, else nats-server on PATH,
#                                 else /usr/sbin/nats-server). A 3-replica writer needs 2.9.21
#                                 or later (docs/OPERATIONS.md, "Supported nats-server versions")
#   FUNDLEDGER_CLUSTER_TIMEOUT    seconds to wait for readiness (default 30)
set -euo pipefail

OPS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN_DIR="${FUNDLEDGER_CLUSTER_DIR:-$PWD/.fundledger-cluster}"
PORT="${FUNDLEDGER_CLUSTER_PORT:-14220}"
ROUTE_PORT="${FUNDLEDGER_CLUSTER_ROUTE_PORT:-16220}"
HTTP_PORT="${FUNDLEDGER_CLUSTER_HTTP_PORT:-18220}"
TIMEOUT="${FUNDLEDGER_CLUSTER_TIMEOUT:-30}"
# Keep in step with NATS_SERVER_VERSION in scripts/setup.
PINNED_SERVER="$OPS_DIR/../.tools/nats-server-2.15.1/nats-server"
if [[ -n "${FUNDLEDGER_NATS_SERVER:-}" ]]; then
    SERVER="$FUNDLEDGER_NATS_SERVER"
elif [[ -x "$PINNED_SERVER" ]]; then
    SERVER="$(cd "$(dirname "$PINNED_SERVER")" && pwd)/nats-server"
else
    SERVER="$(command -v nats-server || echo /usr/sbin/nats-server)"
fi
NODES=(1 2 3)

die() { echo "start-cluster: $*" >&2; exit 1; }

node_pid() {
    local file="$RUN_DIR/n$1/nats-server.pid"
    [[ -f "$file" ]] || return 1
    local pid
    pid="$(cat "$file")"
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

stop() {
    local stopped=0
    for n in "${NODES[@]}"; do
        if pid="$(node_pid "$n")"; then
            kill -TERM "$pid"
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
            echo "stopped node n$n (pid $pid)"
            stopped=$((stopped + 1))
        fi
        rm -f "$RUN_DIR/n$n/nats-server.pid"
    done
    [[ $stopped -gt 0 ]] || echo "no node was running (run dir $RUN_DIR)"
}

status() {
    local running=0
    for n in "${NODES[@]}"; do
        if pid="$(node_pid "$n")"; then
            echo "n$n: running (pid $pid), nats://127.0.0.1:$((PORT + n - 1))"
            running=$((running + 1))
        else
            echo "n$n: stopped"
        fi
    done
    [[ $running -eq ${#NODES[@]} ]]
}

# JetStream is ready when the meta leader is known: /jsz on any node names it.
meta_leader() {
    local jsz
    for n in "${NODES[@]}"; do
        jsz="$(curl -fsS "http://127.0.0.1:$((HTTP_PORT + n - 1))/jsz" 2>/dev/null || true)"
        if [[ "$jsz" =~ \"leader\":[[:space:]]*\"([^\"]+)\" ]]; then
            echo "${BASH_REMATCH[1]}"
            return 0
        fi
    done
    return 1
}

start() {
    [[ -x "$SERVER" ]] || die "nats-server not found at $SERVER (run scripts/setup, or apt-get install nats-server, or set FUNDLEDGER_NATS_SERVER)"
    command -v curl >/dev/null || die "curl is needed to wait for readiness (apt-get install curl)"
    for n in "${NODES[@]}"; do
        if pid="$(node_pid "$n")"; then die "node n$n already runs (pid $pid); '$0 stop' first"; fi
    done
    mkdir -p "$RUN_DIR"
    local routes=() pids=()
    for n in "${NODES[@]}"; do routes+=("nats-route://127.0.0.1:$((ROUTE_PORT + n - 1))"); done
    for n in "${NODES[@]}"; do
        local dir="$RUN_DIR/n$n" others=()
        for m in "${NODES[@]}"; do [[ $m == "$n" ]] || others+=("${routes[$((m - 1))]}"); done
        mkdir -p "$dir"
        # The config file holds the defaults; flags override the ports. The
        # store (store_dir "jetstream") is relative to the node's directory.
        (
            cd "$dir"
            exec nohup "$SERVER" -c "$OPS_DIR/nats/cluster/n$n.conf" \
                -a 127.0.0.1 -p "$((PORT + n - 1))" -m "$((HTTP_PORT + n - 1))" \
                --cluster "nats://127.0.0.1:$((ROUTE_PORT + n - 1))" \
                --routes "$(IFS=,; echo "${others[*]}")" \
                -P "$dir/nats-server.pid" \
                >>"$dir/nats-server.log" 2>&1 </dev/null
        ) &
        pids[n]=$!
    done
    local deadline=$((SECONDS + TIMEOUT)) leader=""
    until leader="$(meta_leader)"; do
        if [[ $SECONDS -ge $deadline ]]; then
            echo "start-cluster: no JetStream meta leader within ${TIMEOUT}s; log tails:" >&2
            for n in "${NODES[@]}"; do echo "--- n$n" >&2; tail -n 15 "$RUN_DIR/n$n/nats-server.log" >&2 || true; done
            stop >&2
            for n in "${NODES[@]}"; do kill -KILL "${pids[n]}" 2>/dev/null || true; done
            exit 1
        fi
        for n in "${NODES[@]}"; do
            if ! kill -0 "${pids[n]}" 2>/dev/null; then
                echo "start-cluster: node n$n exited; log tail:" >&2
                tail -n 20 "$RUN_DIR/n$n/nats-server.log" >&2 || true
                stop >&2
                for m in "${NODES[@]}"; do kill -KILL "${pids[m]}" 2>/dev/null || true; done
                exit 1
            fi
        done
        sleep 0.25
    done
    local urls=()
    for n in "${NODES[@]}"; do urls+=("nats://127.0.0.1:$((PORT + n - 1))"); done
    echo "3-node JetStream cluster ready (meta leader $leader), run dir $RUN_DIR"
    echo "  server      : $SERVER ($("$SERVER" --version 2>&1 || true))"
    echo "  client URLs : $(IFS=,; echo "${urls[*]}")"
    echo "  monitoring  : http://127.0.0.1:$HTTP_PORT/jsz (and +1, +2)"
    echo "  users       : ops/nats/accounts.conf (example passwords: replace before real use)"
    echo "  writer      : fundledger serve --replicas 3 --nats 'nats://writer:example-writer-password@127.0.0.1:$PORT,nats://writer:example-writer-password@127.0.0.1:$((PORT + 1)),nats://writer:example-writer-password@127.0.0.1:$((PORT + 2))'"
    echo "  stop        : $0 stop"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    -h|--help|help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$1' (start, stop, status)" ;;
esac
