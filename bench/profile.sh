#!/usr/bin/env bash
# Where llmgw's added latency goes at concurrency 1 (bench/profile.py): CPU per request of each process,
# librdkafka's latency statistics, a perf profile. Same set-up and CPU placement as bench/peers.sh.
#   bash bench/profile.sh        (LLMGW_PROFILE_REQUESTS=3000 by default)
#   LLMGW_PROFILE_LOAD=stream LLMGW_PROFILE_REQUESTS=300 bash bench/profile.sh   (300 streams at 20 a second)
#   LLMGW_PROFILE_CALLGRAPH=1 bash bench/profile.sh   (also: CPU per request inside JSON, libcurl, malloc, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
LLMGW_BENCH_SCRIPT=profile.py exec bash bench/peers.sh
