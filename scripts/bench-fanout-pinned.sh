#!/usr/bin/env bash
# What Redis fan-out costs the collector per single-entry POST, measured steadily on a
# 2-core machine: the collector runs one tokio worker pinned to CPU 0, and `wrk`,
# `redis-server` (and the optional subscriber) are pinned to CPU 1, so the collector's own
# CPU per request is not moved by what else the scheduler puts beside it
# (docs/benchmarks/single-entry.md, "Back on a Xeon").
#
#   scripts/bench-fanout-pinned.sh target/release/estuary on      # fan-out on, nobody listening
#   SUBSCRIBE=1 scripts/bench-fanout-pinned.sh target/release/estuary on   # one logs:all subscriber
#   scripts/bench-fanout-pinned.sh target/release/estuary off
#
# Prints requests/s, the collector's and redis-server's CPU per request, and the
# collector's voluntary context switches per request. Needs wrk, redis-server, redis-cli,
# curl, taskset. Ports: $REDIS_PORT (16399) and $PORT (18005).
set -euo pipefail
bin=$1
fanout=$2
seconds=${SECONDS_OF_LOAD:-8}
redis_port=${REDIS_PORT:-16399}
port=${PORT:-18005}
work=$(mktemp -d)
trap 'kill "${collector:-}" "${subscriber:-}" 2>/dev/null || true; redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

cat > "$work/post.lua" <<'EOF'
local n = 0
local bodies = {}
for i = 0, 7 do
  bodies[i] = string.format('{"service":"svc-%d","level":"info","message":"user login succeeded for account 12345 from 10.0.0.%d","request_id":"9f1c2a7e-4b3d-4e8a-9c1f-2d3e4f5a6b7c","duration_ms":42,"path":"/api/v1/login"}', i, i)
end
request = function()
  n = n + 1
  return wrk.format("POST", "/logs", {["Content-Type"]="application/json"}, bodies[n % 8])
end
EOF

taskset -c 1 redis-server --port "$redis_port" --save "" --appendonly no --dir "$work" \
    --daemonize yes --logfile "$work/redis.log" >/dev/null
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.05; done
args=()
[ "$fanout" = on ] && args=(--redis-url "redis://127.0.0.1:$redis_port")
if [ -n "${SUBSCRIBE:-}" ]; then
    taskset -c 1 redis-cli -p "$redis_port" subscribe logs:all >/dev/null &
    subscriber=$!
fi
PORT=$port LOG_DIR=$work/logs TOKIO_WORKER_THREADS=1 taskset -c 0 "$bin" serve "${args[@]}" \
    >"$work/collector.log" 2>&1 &
collector=$!
until curl -sf "localhost:$port/health" >/dev/null; do sleep 0.05; done
load() { taskset -c 1 wrk -t2 -c64 -d"$1"s -s "$work/post.lua" "http://127.0.0.1:$port/"; }
load 2 >/dev/null

switches() { cat /proc/"$collector"/task/*/status | awk '/^voluntary_ctxt/ { s += $2 } END { print s }'; }
ticks() { awk '{ print $14 + $15 }' /proc/"$1"/stat; }
redis_pid=$(redis-cli -p "$redis_port" info server | awk -F: '/^process_id/ { print $2 }' | tr -d '\r')
s0=$(switches); c0=$(ticks "$collector"); r0=$(ticks "$redis_pid")
load "$seconds" >"$work/wrk.out"
s1=$(switches); c1=$(ticks "$collector"); r1=$(ticks "$redis_pid")
requests=$(awk '/requests in/ { print $1 }' "$work/wrk.out")
hz=$(getconf CLK_TCK)
awk -v f="$fanout" -v n="$requests" -v hz="$hz" -v c="$((c1 - c0))" -v r="$((r1 - r0))" \
    -v s="$((s1 - s0))" -v rate="$(awk '/Requests\/sec/ { print $2 }' "$work/wrk.out")" \
    'BEGIN { printf "fan-out %s: %s req/s; collector %.2f µs CPU per request, redis-server %.2f µs; %.4f voluntary switches per request\n", f, rate, c / hz * 1e6 / n, r / hz * 1e6 / n, s / n }'
