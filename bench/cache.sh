#!/usr/bin/env bash
# The response cache's benchmark: a hit's latency against a miss's with a provider that takes 20 ms
# (bench_fakeprov --latency-ms 20), measured in one run by bench/cache_latency.py, through a real Kafka broker
# and a real Redis (one ingress, one worker; the cache on Redis, TTL 300 s).
#   bash bench/cache.sh              (LLMGW_BENCH_ROUNDS=500: rounds of bypass, miss and hit)
# Prints the JSON line and writes bench/results/cache-<date>.json. Not a test: nothing here asserts a timing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${LLMGW_BENCH_BUILD:-build}
bash scripts/build.sh "$build" >/dev/null
py="$root/.venv/bin/python"
[ -x "$py" ] || py=python3
rounds=${LLMGW_BENCH_ROUNDS:-500}
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kport=$(free_port); rport=$(free_port); fport=$(free_port); hport=$(free_port)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash scripts/kafka.sh stop "$work/kafka" >/dev/null 2>&1 || true
  bash scripts/redis.sh stop "$work/redis" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
bash scripts/kafka.sh start "$work/kafka" "$kport" >/dev/null
bash scripts/redis.sh start "$work/redis" "$rport" >/dev/null
"$build/bench_fakeprov" --port "$fport" --latency-ms 20 >"$work/fake.log" 2>&1 & pids+=($!)
export LLMGW_KAFKA_BROKERS=127.0.0.1:$kport LLMGW_LOG_LEVEL=warn LLMGW_TOPIC_PREFIX=bcache
export LLMGW_OPENAI_BASE_URL=http://127.0.0.1:$fport/v1 LLMGW_OPENAI_API_KEY=sk-bench
export LLMGW_REDIS_URL=redis://127.0.0.1:$rport LLMGW_CACHE_TTL_S=300
export LLMGW_TENANT_KEYS=
key_line=$("$build/llmgw" keys new --tenant bench 2>/dev/null)
export LLMGW_TENANT_KEYS="bench:$(echo "$key_line" | awk '/^sha256:/{print $2}')"
key=$(echo "$key_line" | awk '/^key:/{print $2}')
LLMGW_INGRESS_ID=bench LLMGW_PORT=$hport "$build/llmgw" ingress 2>"$work/ingress.log" & pids+=($!)
"$build/llmgw" worker 2>"$work/worker.log" & pids+=($!)
for _ in $(seq 1 150); do curl -sf "127.0.0.1:$hport/readyz" >/dev/null && break; sleep 0.2; done
result=$("$py" bench/cache_latency.py "$hport" "$rounds" "$key")
echo "$result"
mkdir -p bench/results
echo "$result" >"bench/results/cache-$(date -u +%Y%m%dT%H%M%SZ).json"
