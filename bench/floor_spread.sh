#!/usr/bin/env bash
# How steady the Kafka floor is from one run to the next on one settled broker, at several lengths
# (bench/floor_spread.py; docs/PERFORMANCE.md, "Twenty-second pass"). Same set-up as bench/peers.sh.
#   bash bench/floor_spread.sh
# Env: LLMGW_FLOOR_COUNTS (3000,10000), LLMGW_FLOOR_ROUNDS (6).
# Not a test: nothing here asserts a timing.
set -euo pipefail
cd "$(dirname "$0")/.."
LLMGW_BENCH_SCRIPT=floor_spread.py exec bash bench/peers.sh
