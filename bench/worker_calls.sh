#!/usr/bin/env bash
# One worker process holding many concurrent streamed provider calls (bench/worker_calls.py): its RSS while
# 1,000 and 10,000 streamed calls to the fake provider are open at once, its peak RSS, its CPU per call, and
# how many calls completed, for one or two llmgw binaries side by side (e.g. before and after a change).
#   bash bench/worker_calls.sh
#   LLMGW_BENCH_BEFORE=build bash bench/worker_calls.sh     (before: 3ea3c05, built here; after: the working tree)
# Environment:
#   LLMGW_BENCH_BUILD=build-bench   build tree of the working tree ("after"): llmgw and bench_fakeprov
#   LLMGW_BENCH_AFTER=<llmgw>       the "after" binary instead of $LLMGW_BENCH_BUILD/llmgw (none: skip it)
#   LLMGW_BENCH_BEFORE=<llmgw>      a "before" binary; "build" builds commit $LLMGW_BENCH_BEFORE_COMMIT
#                                   (3ea3c05, the last thread-per-call worker) in a temporary git worktree
#                                   (removed at the end); empty or none: only "after"
#   LLMGW_BENCH_CALLS="1000 10000"  numbers of concurrent calls
#   LLMGW_BENCH_CHUNKS=20 LLMGW_BENCH_GAP_MS=1000   each stream: 20 chunks 1 s apart (~21 s)
#   LLMGW_BENCH_WAIT_S=300          longest wait for one batch; LLMGW_BENCH_WORKER_ENV="K=V,K=V" more settings
#   LLMGW_BENCH_REPEAT=1            the whole set of batches this many times (the table shows each, " · ")
#   LLMGW_BENCH_LOGS=<dir>          where the worker and fake logs stay (default /tmp/llmgw-worker-calls-<date>)
# Raises the open-file limit as far as the hard limit allows (an open call holds a socket in the worker and one
# in the fake; the thread-per-call worker holds three files per call). Writes
# bench/results/worker-calls-<date>.json and prints the table (again, from a results file:
# .venv/bin/python bench/worker_calls.py --table FILE).
# Not a test: nothing here asserts a timing. About 2 minutes per repeat for 1,000 and 10,000 calls, before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bash scripts/install-deps.sh >/dev/null
build=${LLMGW_BENCH_BUILD:-build-bench}
bash scripts/build.sh "$build" >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_fakeprov >/dev/null
build=$(cd "$build" && pwd)
py="$root/.venv/bin/python"
if ! "$py" -c 'import confluent_kafka' 2>/dev/null; then
  python3 -m venv "$root/.venv"
  "$py" -m pip install -q -r tests/requirements.txt
fi

work=$(mktemp -d)
before_tree= pypid=
cleanup() {
  if [ -n "$pypid" ]; then kill -TERM "$pypid" 2>/dev/null || true; wait "$pypid" 2>/dev/null || true; fi
  bash scripts/kafka.sh stop "$work/kafka" >/dev/null 2>&1 || true
  if [ -n "$before_tree" ]; then
    git -C "$root" worktree remove --force "$before_tree" >/dev/null 2>&1 || rm -rf "$before_tree"
    git -C "$root" worktree prune >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

binaries=()
before=${LLMGW_BENCH_BEFORE:-}
if [ "$before" = build ]; then
  # The thread-per-call worker: LLMGW_WORKER_CONCURRENCY threads, one blocking provider call each.
  commit=${LLMGW_BENCH_BEFORE_COMMIT:-3ea3c05}
  before_tree="$work/before-$commit"
  git -C "$root" worktree add --detach "$before_tree" "$commit" >/dev/null 2>&1
  echo "worker_calls: building $commit in $before_tree (a few minutes)" >&2
  bash "$before_tree/scripts/build.sh" "$before_tree/build" >/dev/null
  before="$before_tree/build/llmgw"
fi
if [ -n "$before" ] && [ "$before" != none ]; then
  [ -x "$before" ] || { echo "worker_calls: $before is not an executable" >&2; exit 2; }
  binaries+=("before=$before")
fi
after=${LLMGW_BENCH_AFTER:-$build/llmgw}
[ "$after" = none ] || binaries+=("after=$after")
# What the "after" build was made from: the commit, and the uncommitted changes (files, digest of the diff).
source_desc=$(git -C "$root" rev-parse --short HEAD)
if ! git -C "$root" diff --quiet HEAD; then
  source_desc+=" + uncommitted changes to $(git -C "$root" diff --name-only HEAD | paste -sd' ')"
  source_desc+=" (diff sha1 $(git -C "$root" diff HEAD | sha1sum | cut -c1-12))"
fi
[ -z "${LLMGW_BENCH_AFTER:-}" ] || source_desc="$after (given)"
[ ${#binaries[@]} -gt 0 ] || { echo "worker_calls: no binary to measure" >&2; exit 2; }

# Each open call holds a socket in the worker and one in the fake: raise the open-file limit as far as allowed.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "worker_calls: open files limit $(ulimit -n)" >&2

# A port P with P+1 free too (the broker's controller). Each batch leaves thousands of loopback connections in
# TIME_WAIT on ports of the ephemeral range, where free ports come from, so P+1 is checked and the start retried.
free_port_pair() {
  python3 -c '
import socket
while True:
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]; b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1)); break
    except OSError:
        pass
    finally:
        a.close(); b.close()
print(p)'
}
for attempt in 1 2 3; do
  kport=$(free_port_pair)
  bash scripts/kafka.sh start "$work/kafka-$attempt" "$kport" >/dev/null 2>"$work/kafka-start.err" && break
  bash scripts/kafka.sh stop "$work/kafka-$attempt" >/dev/null 2>&1 || true
  [ "$attempt" = 3 ] && { tail -n 5 "$work/kafka-start.err" >&2; exit 1; }
done
ln -s "$work/kafka-$attempt" "$work/kafka"
logs=${LLMGW_BENCH_LOGS:-/tmp/llmgw-worker-calls-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$logs"
LLMGW_BENCH_AFTER_SOURCE=$source_desc LLMGW_BENCH_KAFKA=127.0.0.1:$kport LLMGW_BENCH_WORK=$work \
  LLMGW_BENCH_LOGS=$logs LLMGW_BENCH_FAKEPROV="$build/bench_fakeprov" \
  LLMGW_BENCH_BINARIES="$(IFS=,; echo "${binaries[*]}")" LLMGW_BENCH_CALLS="${LLMGW_BENCH_CALLS:-1000 10000}" \
  "$py" bench/worker_calls.py &
pypid=$!
wait "$pypid"  # in the background so a SIGTERM to this script reaches the trap (which stops the helper) at once
pypid=
