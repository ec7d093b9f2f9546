#!/usr/bin/env bash
# llmgw against Portkey and LiteLLM, side by side on this machine: added latency, throughput frontier,
# streaming, memory, and the Kafka floor (see docs/PERFORMANCE.md). One command:
#   bash bench/peers.sh
# Environment: LLMGW_BENCH_QUICK=1 for short runs; LLMGW_BENCH_TARGETS=direct,llmgw (a subset);
# LLMGW_BENCH_SCENARIOS=latency,stream (a subset of kafka_floor,latency,stream,memory,frontier,cpu,waiting; waiting is
# not in the default set: LLMGW_BENCH_WAITING clients, 10,000 unless set; LLMGW_BENCH_WAITING_CLOSE=1 has them
# close each connection after its answer);
# LLMGW_BENCH_LLMGW_ENV=LLMGW_HTTP_CONNECTION_MEMORY=16384 (settings for llmgw's processes, comma-separated);
# LLMGW_BENCH_COLD=1 skips the broker's warm-up; LLMGW_BENCH_STREAM_RATE, LLMGW_BENCH_CPU_RATE change those loads;
# LLMGW_BENCH_LIMITS=0 runs llmgw without its rate limits (on a Redis of its own, on CPU 0) and budget;
# LLMGW_BENCH_BROKER_CPUS, LLMGW_BENCH_BROKER_SLICE_US and LLMGW_BENCH_REDIS_SLICE_US: what-ifs, below.
# Installs the peers on first use (bench/peers/start_*.sh: Portkey from npm, LiteLLM 1.74.9 pinned in a
# throwaway virtualenv without credentials). Writes bench/results/peers-<date>.json and prints the table.
# Not a test: nothing here asserts a timing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
command -v taskset >/dev/null || apt-get install -y -qq util-linux >/dev/null
bash scripts/build.sh build >/dev/null
cmake --build build -j2 --target bench_loadgen bench_fakeprov bench_kafka_pingpong >/dev/null
# Scenario 6 holds 10,000 client connections open at once (the load generator's, and the gateway's side).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
# The broker's port and the one after it (its controller's), both free.
free_port_pair() {
  python3 -c '
import socket
while True:
    a, b = socket.socket(), socket.socket()
    try:
        a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]; b.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError:
        pass
    finally:
        a.close(); b.close()'
}
kport=$(free_port_pair)
cleanup() {
  bash scripts/kafka.sh stop "$work/kafka" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
bash scripts/kafka.sh start "$work/kafka" "$kport" >/dev/null
# The broker belongs to the system under test: it shares CPU 0 with llmgw (all of its threads).
# What-ifs, the broker off the gateway's core: LLMGW_BENCH_BROKER_CPUS=1 moves it to CPU 1 (with the fake and the
# load generator), =0,1 lets it use both cores. The results' placement says which.
kpid=$(cat "$work/kafka/kafka.pid" 2>/dev/null || true)
[ -n "$kpid" ] && taskset -a -cp "${LLMGW_BENCH_BROKER_CPUS:-0}" "$kpid" >/dev/null
# What-if, the broker's threads with a short scheduling slice, as llmgw's have (scripts/sched_slice.py):
# LLMGW_BENCH_BROKER_SLICE_US=100. LLMGW_BENCH_REDIS_SLICE_US does the same for the limits' Redis (bench/peers.py).
# LLMGW_BENCH_BROKER_SLICE_EXCEPT=Shenandoah (name prefixes, comma-separated) leaves those threads on the kernel's.
if [ -n "$kpid" ] && [ -n "${LLMGW_BENCH_BROKER_SLICE_US:-}" ]; then
  except=()
  IFS=, read -ra names <<< "${LLMGW_BENCH_BROKER_SLICE_EXCEPT:-}"
  for n in "${names[@]}"; do except+=(--except "$n"); done
  python3 scripts/sched_slice.py "$LLMGW_BENCH_BROKER_SLICE_US" "${except[@]}" --pid "$kpid"
fi
LLMGW_BENCH_KAFKA=127.0.0.1:$kport LLMGW_BENCH_KAFKA_PID=$kpid LLMGW_BENCH_WORK=$work \
  python3 "bench/${LLMGW_BENCH_SCRIPT:-peers.py}"
