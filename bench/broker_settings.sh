#!/usr/bin/env bash
# The Kafka broker on a small machine: the Kafka floor and the broker's CPU per round trip, cold and warm, for
# each JVM or broker setting in bench/broker_settings.py (docs/PERFORMANCE.md, "The broker on a small machine").
#   bash bench/broker_settings.sh
# Env: LLMGW_BENCH_BROKER_SETTINGS=0,3 (a subset, by index); LLMGW_BENCH_QUICK=1 for short runs.
# Not a test: nothing here asserts a timing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
command -v taskset >/dev/null || apt-get install -y -qq util-linux >/dev/null
bash scripts/build.sh build >/dev/null
cmake --build build -j2 --target bench_kafka_pingpong >/dev/null
bash scripts/kafka.sh fetch
# bench/broker_shape.sh runs its own script with the same set-up.
python3 "bench/${LLMGW_BENCH_SCRIPT:-broker_settings.py}"
