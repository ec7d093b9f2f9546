#!/usr/bin/env bash
# Batches: throughput (lines per second from `llmgw batch submit` to `completed`, against the echo provider and
# against a 20 ms fake) and what a batch backlog does to interactive latency (p50/p90/p99, sequential and from 8
# client threads, against the 20 ms fake, without a batch, while one is being worked, and without again), in one
# run of bench/batch.py on one real Kafka broker and a throwaway PostgreSQL, with the real roles: ingress, one
# worker, ledger, the batch role (`llmgw batch serve`), the fake `bench_fakeprov --latency-ms 20`.
#   bash bench/batch.sh
# Environment (defaults):
#   LLMGW_BENCH_ECHO_LINES=20000 LLMGW_BENCH_FAKE_LINES=5000   the throughput batches
#   LLMGW_BENCH_BACKLOG_LINES=100000                           the batch worked during the interactive requests
#   LLMGW_BENCH_SEQ=500 LLMGW_BENCH_CONC=8 LLMGW_BENCH_CONC_REQUESTS=2000   the interactive requests per phase
#   LLMGW_WORKER_CONCURRENCY=1024 LLMGW_WORKER_BATCH_SHARE_PCT=50           the worker (the gateway's defaults)
#   LLMGW_BENCH_BUILD=build
# Prints the JSON line and writes bench/results/batch-<date>.json. Not a test: nothing asserts a timing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${LLMGW_BENCH_BUILD:-build}
bash scripts/build.sh "$build" >/dev/null
build=$(cd "$build" && pwd)
py="$root/.venv/bin/python"
[ -x "$py" ] || py=python3
work=$(mktemp -d)
chmod 711 "$work" # PostgreSQL runs as the postgres user and must reach its directory inside
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=() pypid=
cleanup() {
  if [ -n "$pypid" ]; then kill -TERM "$pypid" 2>/dev/null || true; wait "$pypid" 2>/dev/null || true; fi
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash scripts/kafka.sh stop "$work/kafka" >/dev/null 2>&1 || true
  bash scripts/postgres.sh stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

kport=$(free_port)
while [ "$(python3 -c "import socket; s=socket.socket(); print(s.connect_ex(('127.0.0.1',$kport+1)))")" = 0 ]; do
  kport=$(free_port)
done
bash scripts/kafka.sh start "$work/kafka" "$kport" >/dev/null
# PostgreSQL, not SQLite: the ledger, the batch role and the ingress's batch API write the same database at
# once, and the batch role's per-line writes are what a deployment runs on PostgreSQL.
pg_url=$(bash scripts/postgres.sh start "$work/pg" "$(free_port)")
pg_pid=$(head -n 1 "$work/pg/data/postmaster.pid")
fport=$(free_port)
"$build/bench_fakeprov" --port "$fport" --latency-ms 20 >"$work/fake.log" 2>&1 & pids+=($!)

concurrency=${LLMGW_WORKER_CONCURRENCY:-1024}
share=${LLMGW_WORKER_BATCH_SHARE_PCT:-50}
export LLMGW_KAFKA_BROKERS=127.0.0.1:$kport LLMGW_LOG_LEVEL=warn LLMGW_TOPIC_PREFIX=bbatch
export LLMGW_DATABASE_URL=$pg_url
export LLMGW_OPENAI_BASE_URL=http://127.0.0.1:$fport/v1 LLMGW_OPENAI_API_KEY=sk-bench
export LLMGW_WORKER_CONCURRENCY=$concurrency LLMGW_WORKER_BATCH_SHARE_PCT=$share
# The backlog is one batch larger than OpenAI's 50,000 lines, so that it outlasts the interactive requests.
export LLMGW_BATCH_MAX_LINES=1000000
key_line=$("$build/llmgw" keys new --tenant bench 2>/dev/null)
export LLMGW_TENANT_KEYS="bench:$(echo "$key_line" | awk '/^sha256:/{print $2}')"
key=$(echo "$key_line" | awk '/^key:/{print $2}')

wait_ready() { # port pid name
  for _ in $(seq 1 150); do
    curl -sf "127.0.0.1:$1/readyz" >/dev/null && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.2
  done
  echo "batch bench: $3 did not become ready; its log:" >&2
  tail -n 20 "$work/$3.log" >&2
  exit 1
}
port=$(free_port) lops=$(free_port) wops=$(free_port) bops=$(free_port)
# The ingress first: it creates the tenants topic the worker's limits and budgets read.
LLMGW_INGRESS_ID=in LLMGW_PORT=$port "$build/llmgw" ingress 2>"$work/ingress.log" & i_pid=$!; pids+=($i_pid)
wait_ready "$port" "$i_pid" ingress
LLMGW_OPS_PORT=$lops "$build/llmgw" ledger 2>"$work/ledger.log" & l_pid=$!; pids+=($l_pid)
LLMGW_OPS_PORT=$wops LLMGW_WORKER_ID=w0 "$build/llmgw" worker 2>"$work/worker.log" & w_pid=$!; pids+=($w_pid)
LLMGW_OPS_PORT=$bops "$build/llmgw" batch serve 2>"$work/batch.log" & b_pid=$!; pids+=($b_pid)
wait_ready "$lops" "$l_pid" ledger
wait_ready "$wops" "$w_pid" worker
wait_ready "$bops" "$b_pid" batch

config=$(printf '{"worker_concurrency":%s,"worker_batch_share_pct":%s,"workers":1,"kafka_partitions":%s,"database":"postgresql","provider_latency_ms":20,"cores":%s}' \
  "$concurrency" "$share" "${LLMGW_KAFKA_PARTITIONS:-4}" "$(nproc)")
"$py" bench/batch.py --key "$key" --llmgw "$build/llmgw" --work "$work" --tenant bench --port "$port" \
  --worker-ops "$wops" --batch-ops "$bops" --pg-pid "$pg_pid" --config "$config" \
  --pids "ingress=$i_pid,worker=$w_pid,ledger=$l_pid,batch=$b_pid,kafka=$(cat "$work/kafka/kafka.pid"),fake=${pids[0]}" \
  --echo-lines "${LLMGW_BENCH_ECHO_LINES:-20000}" --fake-lines "${LLMGW_BENCH_FAKE_LINES:-5000}" \
  --backlog-lines "${LLMGW_BENCH_BACKLOG_LINES:-100000}" --seq "${LLMGW_BENCH_SEQ:-500}" \
  --conc "${LLMGW_BENCH_CONC:-8}" --conc-requests "${LLMGW_BENCH_CONC_REQUESTS:-2000}" >"$work/result.json" &
pypid=$!
wait "$pypid" # in the background so a SIGTERM to this script reaches the trap at once
pypid=
result=$(cat "$work/result.json")
echo "$result"
mkdir -p bench/results
echo "$result" >"bench/results/batch-$(date -u +%Y%m%dT%H%M%SZ).json"
# Anything the gateway logged at warn or above, for the reader (a bench shows its errors, it does not hide them).
for f in ingress worker ledger batch; do
  n=$(grep -c '"level":"\(warn\|error\)"' "$work/$f.log" || true)
  [ "$n" = 0 ] || { echo "batch bench: $f logged $n warnings/errors, the last:" >&2; tail -n 3 "$work/$f.log" >&2; }
done
