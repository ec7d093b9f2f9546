#!/usr/bin/env bash
# Where llmgw's tail comes from at an open-loop rate (bench/tail.py): slow answers matched to who held CPU 0
# (perf sched) and to the broker's stop-the-world pauses (its safepoint log), on one clock.
#   LLMGW_TAIL_RATES=400,600 LLMGW_TAIL_SECONDS=10 bash bench/tail.sh
# Same set-up and CPU placement as bench/peers.sh. Not a test: nothing here asserts a timing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf >/dev/null || apt-get install -y -qq linux-perf >/dev/null
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT
chmod 755 "$logdir"
export LLMGW_TAIL_GC_LOG=$logdir/safepoints.log
export KAFKA_JAVA_OPTS_EXTRA="${KAFKA_JAVA_OPTS_EXTRA:-} -Xlog:safepoint=info:file=$LLMGW_TAIL_GC_LOG:timenanos,tags"
LLMGW_BENCH_SCRIPT=tail.py bash bench/peers.sh
