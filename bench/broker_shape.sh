#!/usr/bin/env bash
# What each part of llmgw's Kafka traffic costs the broker: the Kafka floor's ping-pong with llmgw's message
# shape, partitions, idle topics, consumer group and cost events added one at a time, on one warm broker
# (bench/broker_shape.py; docs/PERFORMANCE.md, "What the broker does for llmgw").
#   bash bench/broker_shape.sh
# Env: LLMGW_SHAPE_ROUNDS (4), LLMGW_SHAPE_COUNT (2,000 round trips per step and round).
# Not a test: nothing here asserts a timing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
command -v taskset >/dev/null || apt-get install -y -qq util-linux >/dev/null
bash scripts/build.sh build >/dev/null
cmake --build build -j2 --target bench_kafka_pingpong >/dev/null
bash scripts/kafka.sh fetch
python3 bench/broker_shape.py
