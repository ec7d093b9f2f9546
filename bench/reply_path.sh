#!/usr/bin/env bash
# What the reply's Kafka crossing costs: the Kafka floor's ping-pong with replies on Kafka against replies over a
# loopback socket, on one warm broker (bench/reply_path.py; docs/PERFORMANCE.md, "Twentieth pass"). Same set-up
# as bench/broker_settings.sh.
#   bash bench/reply_path.sh
# Env: LLMGW_SHAPE_ROUNDS (4), LLMGW_SHAPE_COUNT (2,000 round trips per step and round), LLMGW_REPLY_STREAMS
# (200 streams per stream step and round).
# Not a test: nothing here asserts a timing.
set -euo pipefail
cd "$(dirname "$0")/.."
LLMGW_BENCH_SCRIPT=reply_path.py exec bash bench/broker_settings.sh
