#!/usr/bin/env bash
# What tracing costs: two identical gateways (ingress, worker, ledger on SQLite) on one real Kafka broker, one
# with tracing off and one exporting every request's spans (always_on, http/protobuf) to a real Jaeger
# (scripts/jaeger.sh), driven in one run by bench/trace_overhead.py so both see the same machine at the same
# moment: sequential latency (p50, p99) interleaved request by request, and CPU per request of each gateway's
# three processes under concurrent load, in alternating blocks. The provider is bench_fakeprov (no latency).
#   bash bench/trace_overhead.sh      (LLMGW_BENCH_ROUNDS=1000 latency rounds, LLMGW_BENCH_CPU_REQUESTS=20000 per gateway,
#                                      LLMGW_BENCH_RATE=auto: both gateways' CPU blocks at one rate, 85% of what
#                                      the slower one serves flat out (measured first); a number: that rate;
#                                      0: as fast as 8 clients go, as the bench did before 2026-12-03 09:00 UTC)
# Why one rate: on these two cores, shared with Jaeger, the traced gateway served 10-15% fewer requests per
# second than the other when both ran flat out, and at a lower rate the ingress and ledger batch less (Kafka
# fetches, SQLite transactions) and spend more CPU per request: the untraced gateway itself measured 10-12%
# more ingress and ledger CPU per request at 5 clients than at 8. Flat out, that was counted as tracing's cost.
# Prints the JSON line and writes bench/results/trace_overhead-<date>.json. Not a test: nothing asserts a timing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${LLMGW_BENCH_BUILD:-build}
bash scripts/build.sh "$build" >/dev/null
py="$root/.venv/bin/python"
[ -x "$py" ] || py=python3
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kport=$(free_port); fport=$(free_port); otlp=$(free_port); query=$(free_port)
while [ "$(python3 -c "import socket; s=socket.socket(); print(s.connect_ex(('127.0.0.1',$kport+1)))")" = 0 ]; do
  kport=$(free_port)
done
pids=()
cleanup() {
  # The gateways' pids are in a file: stack() runs in a subshell (process substitution), whose pids+= is lost.
  [ -f "$work/gateway.pids" ] && pids+=($(cat "$work/gateway.pids"))
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
  bash scripts/jaeger.sh stop "$work/jaeger" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
bash scripts/kafka.sh start "$work/kafka" "$kport" >/dev/null
bash scripts/jaeger.sh start "$work/jaeger" "$otlp" "$query" 2>/dev/null
"$build/bench_fakeprov" --port "$fport" >"$work/fake.log" 2>&1 & pids+=($!)
export LLMGW_KAFKA_BROKERS=127.0.0.1:$kport LLMGW_LOG_LEVEL=warn
export LLMGW_OPENAI_BASE_URL=http://127.0.0.1:$fport/v1 LLMGW_OPENAI_API_KEY=sk-bench
key_line=$("$build/llmgw" keys new --tenant bench 2>/dev/null)
export LLMGW_TENANT_KEYS="bench:$(echo "$key_line" | awk '/^sha256:/{print $2}')"
key=$(echo "$key_line" | awk '/^key:/{print $2}')

# One gateway: its three processes, with the environment given. Prints "port pid pid pid".
stack() {
  local name=$1 port
  shift
  port=$(free_port)
  env "$@" LLMGW_TOPIC_PREFIX="b$name" LLMGW_DATABASE_URL="sqlite:$work/$name.db" "$build/llmgw" ledger \
    2>"$work/$name-ledger.log" & local l=$!
  env "$@" LLMGW_TOPIC_PREFIX="b$name" "$build/llmgw" worker 2>"$work/$name-worker.log" & local w=$!
  env "$@" LLMGW_TOPIC_PREFIX="b$name" LLMGW_INGRESS_ID="$name" LLMGW_PORT="$port" "$build/llmgw" ingress \
    2>"$work/$name-ingress.log" & local i=$!
  echo "$l $w $i" >>"$work/gateway.pids"
  for _ in $(seq 1 150); do curl -sf "127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
  echo "$port $i $w $l"
}
read -r off_port off_i off_w off_l < <(stack off OTEL_SDK_DISABLED=true)
read -r on_port on_i on_w on_l < <(stack on OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp" \
  OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf OTEL_TRACES_SAMPLER=always_on)
result=$("$py" bench/trace_overhead.py --key "$key" --off "$off_port,$off_i,$off_w,$off_l" \
  --on "$on_port,$on_i,$on_w,$on_l" --jaeger "http://127.0.0.1:$query" --jaeger-pid "$(cat "$work/jaeger/jaeger.pid")" \
  --rounds "${LLMGW_BENCH_ROUNDS:-1000}" --cpu-requests "${LLMGW_BENCH_CPU_REQUESTS:-20000}" \
  --rate "${LLMGW_BENCH_RATE:-auto}")
echo "$result"
mkdir -p bench/results
echo "$result" >"bench/results/trace_overhead-$(date -u +%Y%m%dT%H%M%SZ).json"
