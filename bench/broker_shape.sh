#!/usr/bin/env bash
# What each part of llmgw's Kafka traffic costs the broker: the Kafka floor's ping-pong with llmgw's message
# shape, partitions, idle topics, consumer group and cost events added one at a time, on one warm broker
# (bench/broker_shape.py; docs/PERFORMANCE.md, "What the broker does for llmgw"). Same set-up as
# bench/broker_settings.sh.
#   bash bench/broker_shape.sh
# Env: LLMGW_SHAPE_ROUNDS (4), LLMGW_SHAPE_COUNT (2,000 round trips per step and round).
# Not a test: nothing here asserts a timing.
set -euo pipefail
cd "$(dirname "$0")/.."
LLMGW_BENCH_SCRIPT=broker_shape.py exec bash bench/broker_settings.sh
