#!/usr/bin/env bash
# The whole test suite, as CI runs it, on a fresh machine:
#   1. installs the Debian packages, the pinned Python test packages, the Kafka broker jars, Jaeger and Helm (built
#      once from the Go module proxy, in the background while steps 2 and 3 run, then cached: scripts/jaeger.sh,
#      scripts/helm.sh);
#   2. builds llmgw three times: build/ (RelWithDebInfo), build-asan/ (AddressSanitizer + UBSan) and
#      build-tsan/ (ThreadSanitizer), and proves the build's layer check fails a copy of the tree with a
#      wrong-way include planted in it;
#   3. runs the C unit tests in all three builds (any sanitizer report fails them);
#   4. starts a real Kafka broker, PostgreSQL, Redis and Jaeger on free loopback ports in a temp directory, and
#      runs the unit tests with cases on PostgreSQL or Redis, in all three builds;
#   5. runs the end-to-end tests (pytest, tests/e2e) in three lanes side by side: the request-path files on the
#      ASan+UBSan build, then a third of the release build's files; the same on the TSan build, a third, the
#      dashboard's tests in a real browser (tests/browser, Debian's chromium); the tests with brokers of their own,
#      the container stage (the image built and docker-compose.yml run on a private Docker Engine,
#      tests/container/run.sh), a third, the chaos suite's short form (tests/chaos/run.sh --short: faults under
#      load, reconciled); stops everything on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
t0=$SECONDS
step() { printf '\n== %s (%ds)\n' "$*" "$((SECONDS - t0))"; }
reports="$root/build/test-reports"
rm -rf "$reports" && mkdir -p "$reports"
# One closing line over every suite (unit, unit under sanitizers, unit with PostgreSQL, end-to-end), printed
# on every exit; a stage that failed without a test report (a build error, a service that did not start,
# pytest crashing) counts as one failure so the line never claims success for a failed run.
failed_stages=()
summary() {
  local rc=$1
  set +e
  [ $rc -eq 0 ] || [ ${#failed_stages[@]} -gt 0 ] || failed_stages+=("aborted")
  [ ${#failed_stages[@]} -eq 0 ] || echo "test.sh: failed: ${failed_stages[*]} (after $((SECONDS - t0))s)"
  python3 "$root/scripts/test_summary.py" "$reports" "${#failed_stages[@]}"
  exit $rc
}
on_exit() {
  local rc=$?
  if [ -n "${go_tools_pid:-}" ]; then kill -- "-$go_tools_pid" 2>/dev/null || true; fi
  if declare -F cleanup >/dev/null; then cleanup; fi
  summary "$rc"
}
trap on_exit EXIT
# A test stage that fails is recorded and the run goes on, so one failing suite does not hide the others.
run_stage() {
  local name=$1
  shift
  "$@" || failed_stages+=("$name")
}
# The same, in the background: the end-to-end stages wait on Kafka and providers far more than they compute, so
# two of them share the two cores (each test has its own topics, consumer groups and ports). Output goes to
# $reports/NAME.log and is printed, whole, by wait_stages in the order the stages were started.
bg_pids=()
bg_names=()
run_stage_bg() {
  local name=$1
  shift
  ("$@") >"$reports/$name.log" 2>&1 &
  bg_pids+=($!)
  bg_names+=("$name")
}
wait_stages() {
  local i
  for i in "${!bg_pids[@]}"; do
    if ! wait "${bg_pids[$i]}"; then failed_stages+=("${bg_names[$i]}"); fi
    echo "-- ${bg_names[$i]} --"
    cat "$reports/${bg_names[$i]}.log"
  done
  bg_pids=()
  bg_names=()
}

# Jaeger and Helm are built from Go sources the first time (about five minutes of both cores on a fresh machine,
# then cached in ~/.cache/llmgw) and first needed by the end-to-end stages. So they build in the background, beside
# the dependencies' downloads, the C builds and the unit tests, at the lowest CPU and I/O priority: they take only
# the CPU those leave idle, so a unit test's timing is not disturbed by them. They start first (the Go toolchain
# comes with the machine, not from install-deps.sh): on a fresh machine they end after the C side's stages and
# the end-to-end stages wait for them. In a session of their own, so a run that ends early stops them.
# A new session is also a new scheduling autogroup (kernel.sched_autogroup_enabled, on here and on most desktops
# and VMs), and the kernel shares the CPU fairly between autogroups, whatever the nice of their processes: nice 19
# alone left the Go builds half the CPU beside the C builds. So the session's autogroup is niced too (a kernel
# without autogroups has no such file).
mkdir -p "$root/build"
go_tools_log="$root/build/go-tools.log"
setsid nice -n 19 ionice -c 3 bash -c \
  'echo 19 >/proc/self/autogroup 2>/dev/null || true
   bash scripts/jaeger.sh fetch && bash scripts/helm.sh fetch && echo "Jaeger and Helm ready after ${SECONDS}s"' \
  >"$go_tools_log" 2>&1 &
go_tools_pid=$!

step "dependencies"
bash scripts/install-deps.sh
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/requirements.txt
# The official openai npm package, pinned by tests/e2e/node/package-lock.json, for the Node.js client test.
(cd tests/e2e/node && npm ci --no-audit --no-fund --silent)
bash scripts/kafka.sh fetch

step "build"
bash scripts/build.sh build
bash scripts/build.sh build-asan -DLLMGW_SANITIZE=ON
bash scripts/build.sh build-tsan -DLLMGW_TSAN=ON

step "layer check: planted includes fail the build"
# The build runs scripts/check_layers.py (target llmgw_layer_check) before compiling anything. This proves
# it bites: in a copy of the source tree (the files git tracks plus untracked, not ignored ones: the working
# tree as it is), each planted wrong-way include must make `cmake --build --target llmgw_layer_check` fail,
# naming the planted line. Writes $1 (JUnit XML, one test case per plant).
layer_plants() (
  local xml=$1 tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done |
    xargs -0 cp --parents -t "$tmp" -- || { echo "layer check: cannot copy the source tree"; return 1; }
  cmake -S "$tmp" -B "$tmp/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$tmp/configure.log" 2>&1 ||
    { cat "$tmp/configure.log"; echo "layer check: cannot configure the copied tree"; return 1; }
  # folder (the include goes at the end of its first .c file) | planted line | what is wrong with it
  local plants=(
    'ingress|#include "workers/worker.h"|sideways: two roles include each other'
    'common|#include "routing/router.h"|upward: common/ includes a higher layer'
  )
  local cases="" failures=0 plant folder file inc what line out
  for plant in "${plants[@]}"; do
    IFS='|' read -r folder inc what <<<"$plant"
    file=$(cd "$tmp" && find "$folder" -maxdepth 1 -name '*.c' | sort | head -n 1)
    [ -n "$file" ] || { echo "layer check: no .c file in $folder/"; return 1; }
    cp "$tmp/$file" "$tmp/$file.orig"
    printf '\n%s\n' "$inc" >>"$tmp/$file"
    line=$(wc -l <"$tmp/$file")
    local want="$file:$line: $inc"
    if out=$(cmake --build "$tmp/build" --target llmgw_layer_check 2>&1); then
      echo "layer check: FAILED to catch $what ($want): the build passed"
      cases+="<testcase classname=\"layer-check\" name=\"$file\"><failure message=\"the build passed\"/></testcase>"
      failures=$((failures + 1))
    elif ! grep -qF "$want" <<<"$out"; then
      printf '%s\n' "$out" | tail -20
      echo "layer check: the build failed, but its output does not name $want"
      cases+="<testcase classname=\"layer-check\" name=\"$file\"><failure message=\"the planted line is not named\"/></testcase>"
      failures=$((failures + 1))
    else
      echo "layer check: caught $what ($want)"
      cases+="<testcase classname=\"layer-check\" name=\"$file\"/>"
    fi
    mv "$tmp/$file.orig" "$tmp/$file"
  done
  printf '<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="layer-check" tests="%d" failures="%d">%s</testsuite>\n' \
    "${#plants[@]}" "$failures" "$cases" >"$xml"
  [ "$failures" -eq 0 ]
)
run_stage layer-check layer_plants "$reports/layer-check.xml"

step "unit tests"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# ThreadSanitizer, for every process of build-tsan/ (unit tests and the llmgw processes the e2e fixtures start,
# which inherit it): the reviewed suppressions (third-party libraries only, see the file), the first report
# ends the process with status 66, lock-order reports show both stacks, and a longer access history (4: 512K
# accesses per thread) so the earlier access of a race on a busy transfer-loop thread still has its stack.
export TSAN_OPTIONS="suppressions=$root/scripts/tsan.supp:halt_on_error=1:exitcode=66:second_deadlock_stack=1:history_size=4"
# The tests labelled "services" (cases on a real PostgreSQL or Redis) run after the services start, below.
# ctest in build dir $2, its JUnit report $reports/$1.xml, and each unit test's case counts in $reports/cases-$1
# (tests/support/skip_code.c), so the closing line counts cases, not executables (scripts/test_summary.py).
ctest_stage() {
  local name=$1 dir=$2
  shift 2
  mkdir -p "$reports/cases-$name"
  run_stage "$name" env LLMGW_TEST_CASES="$reports/cases-$name" bash -c \
    'cd "$1" && shift && ctest --output-on-failure "$@"' _ "$dir" "$@" --output-junit "$reports/$name.xml"
}
# Two at a time (LLMGW_CTEST_JOBS): the unit tests wait more than they compute (mock clusters' joins, timeouts),
# and one at a time the three builds' stages took 5.5 minutes of the suite's 30 (release: 104 s, 49 s with two).
ctest_stage unit build -LE services -j "${LLMGW_CTEST_JOBS:-2}"
ctest_stage unit-asan build-asan -LE services -j "${LLMGW_CTEST_JOBS:-2}"

step "unit tests on the ThreadSanitizer build"
ctest_stage unit-tsan build-tsan -LE services -j "${LLMGW_CTEST_JOBS:-2}"

step "services"
work=$(mktemp -d /tmp/llmgw-test.XXXXXX)
chmod 755 "$work" # PostgreSQL runs as its own user and must reach its directory
# The e2e fixtures write the pid of every llmgw they start here, so processes a killed pytest left behind
# are ended by pid (never by name: a developer's own llmgw processes on the same machine are not ours).
export LLMGW_TEST_PIDS="$work/llmgw.pids"
kill_leftovers() {
  [ -f "$LLMGW_TEST_PIDS" ] || return 0
  local pid exe
  while read -r pid; do
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
    case "$exe" in "$root"/build*/llmgw) kill -KILL "$pid" 2>/dev/null ;; esac
  done <"$LLMGW_TEST_PIDS"
}
cleanup() { # called by on_exit
  set +e
  kill_leftovers
  bash scripts/kafka.sh stop "$work/kafka" >/dev/null 2>&1
  bash scripts/postgres.sh stop "$work/pg" >/dev/null 2>&1
  bash scripts/redis.sh stop "$work/redis" >/dev/null 2>&1
  bash scripts/jaeger.sh stop "$work/jaeger" >/dev/null 2>&1
  rm -rf "$work"
}
# N adjacent free ports (the first printed), below the kernel's ephemeral range: a port picked there and let
# go can be taken by any client's outgoing connection before the server binds it (the broker's controller lost
# its port that way on a loaded run). The same rule as tests/e2e/conftest.py's free_port_run.
free_port() {
  python3 -c 'import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    p, held = random.randrange(20000, 32000 - n), []
    try:
        for q in range(p, p + n):
            held.append(socket.socket())
            held[-1].bind(("127.0.0.1", q))
        print(p)
        break
    except OSError:
        pass
    finally:
        for s in held:
            s.close()
else:
    sys.exit("no free ports")' "${1:-1}"
}
# The broker listens on its port and its controller on the next one up. A start that still loses a port is
# tried again on others (twice), from an empty directory.
for attempt in 1 2 3; do
  if LLMGW_TEST_KAFKA=$(bash scripts/kafka.sh start "$work/kafka" "$(free_port 2)"); then break; fi
  [ "$attempt" -lt 3 ] || exit 1
  rm -rf "$work/kafka"
done
LLMGW_TEST_PG_URL=$(bash scripts/postgres.sh start "$work/pg" "$(free_port)")
LLMGW_TEST_REDIS=$(bash scripts/redis.sh start "$work/redis" "$(free_port)")
export LLMGW_TEST_KAFKA LLMGW_TEST_PG_URL LLMGW_TEST_REDIS
export LLMGW_BIN="$root/build/llmgw" LLMGW_BIN_ASAN="$root/build-asan/llmgw"
echo "kafka $LLMGW_TEST_KAFKA, postgresql $LLMGW_TEST_PG_URL, redis $LLMGW_TEST_REDIS"

step "unit tests that need PostgreSQL or Redis, in all three builds"
# Every unit test with cases on a real server (label "services", tests/support/services.h). Required: a case
# that finds its server's variable unset fails rather than being skipped, and so counted as passed.
for b in build build-asan build-tsan; do
  LLMGW_TEST_SERVICES=required ctest_stage "unit-services-$b" "$b" -L services
done

step "Jaeger"
# The end-to-end stages need Jaeger (tracing) and Helm (the chart's checks): the background build must be done.
if ! wait "$go_tools_pid"; then
  cat "$go_tools_log"
  echo "test.sh: building Jaeger or Helm failed (log above)"
  exit 1
fi
go_tools_pid=""
tail -n 1 "$go_tools_log"
jport=$(free_port 2) # the query API's gRPC side listens on the next port up
bash scripts/jaeger.sh start "$work/jaeger" "$(free_port)" "$jport"
# The OTLP/HTTP receiver (the base URL OTEL_EXPORTER_OTLP_ENDPOINT takes) and the query API (tests/e2e/test_tracing.py).
LLMGW_TEST_JAEGER_OTLP="http://127.0.0.1:$(cat "$work/jaeger/otlp.port")"
LLMGW_TEST_JAEGER_QUERY="http://127.0.0.1:$jport"
export LLMGW_TEST_JAEGER_OTLP LLMGW_TEST_JAEGER_QUERY
echo "jaeger $LLMGW_TEST_JAEGER_QUERY"

step "end-to-end tests, in three lanes side by side"
# The tests wait on Kafka and providers far more than they compute, so three stages share the two cores at any
# moment, each lane running its stages one after another (run_stage_after). Each test has its own topics, consumer
# groups and ports. The release build's files run in three shards (LLMGW_TEST_SHARD, conftest.py: every third test
# each), one at the end of each lane, so the lanes end together: with two fixed phases (the release shards beside
# the own-broker tests and the container stage, then the sanitizer stages beside the browser and chaos stages), a
# fresh machine's run spent 568 s and 639 s on them, two of three slots idle for much of each, and took 1,939 s in
# all. Lane 1: the sanitizer build's files, then a shard. Lane 2: the ThreadSanitizer build's, a shard, the browser
# stage. Lane 3: the tests that run brokers of their own (a SASL_SSL broker, a three-broker cluster, a broker killed
# and restarted), the container stage, a shard, the chaos suite's short form.
own_brokers=(tests/e2e/test_kafka_security.py tests/e2e/test_kafka_cluster.py tests/e2e/test_broker_outage.py)
# NAME starts once the stage whose pid is AFTER has ended: a lane. (In the stage's subshell, so COMMAND can be a
# function of this script.)
run_stage_after() { # AFTER NAME COMMAND...
  local after=$1 name=$2
  shift 2
  run_stage_bg "$name" wait_then "$after" "$@"
}
wait_then() { # PID COMMAND...
  local pid=$1
  shift
  while kill -0 "$pid" 2>/dev/null; do sleep 2; done
  "$@"
}
release_shard() { # K: the K-th of three shards of tests/e2e on the release build
  env LLMGW_TEST_SHARD="$1/3" "$venv/bin/python" -m pytest -q -p no:cacheprovider --junitxml="$reports/e2e-$1.xml" \
    tests/e2e "${own_brokers[@]/#/--ignore=}" "${pytest_args[@]}"
}
pytest_args=("$@")

# Lane 1. The request path (HTTP, streaming, deadlines, drain) and the command line again, with every process built
# with ASan+UBSan; any report in a process's output fails the test.
run_stage_bg e2e-asan env LLMGW_BIN="$LLMGW_BIN_ASAN" "$venv/bin/python" -m pytest -q -p no:cacheprovider --junitxml="$reports/e2e-asan.xml" \
  tests/e2e/test_streaming.py tests/e2e/test_ops.py tests/e2e/test_deadline.py tests/e2e/test_bad_input.py \
  tests/e2e/test_load.py tests/e2e/test_openai_provider.py tests/e2e/test_anthropic_provider.py \
  tests/e2e/test_compat_provider.py tests/e2e/test_anthropic_inbound.py tests/e2e/test_gemini_provider.py \
  tests/e2e/test_routing.py tests/e2e/test_backpressure.py tests/e2e/test_worker_concurrency.py \
  tests/e2e/test_trace_context.py tests/e2e/test_cli.py tests/e2e/test_cache.py tests/e2e/test_limits.py \
  tests/e2e/test_budgets.py tests/e2e/test_analytics.py tests/e2e/test_admin.py tests/e2e/test_simulate.py tests/e2e/test_providers.py tests/e2e/test_dashboard_static.py \
  tests/e2e/test_tracing.py tests/e2e/test_kafka_contract.py tests/e2e/test_metrics.py tests/e2e/test_otlp_metrics.py \
  tests/e2e/test_batch.py tests/e2e/test_batch_worker.py \
  tests/e2e/test_batch_http.py tests/e2e/test_hostile_clients.py tests/e2e/test_secrets.py
run_stage_after "${bg_pids[-1]}" e2e-1 release_shard 1

# Lane 2. The same request-path files with every process built with TSan (TSAN_OPTIONS above), plus `llmgw dev`
# (every role's threads in one process; test_simulate.py runs it with --simulate, whose answers are loop tasks); any
# report in a process's output fails the test (conftest.py's SANITIZER_MARKERS; test_dev.py's exit status). Left
# out: test_dev's run of the ASan binary (lane 1 does it), and the test that asserts a worker holds all 2,000
# streams at the same moment: it checks capacity, not threads, and the two other tests of its file put the
# transfer loops under TSan with streams, cancels and a stop in flight. Also left out, to keep the suite inside its
# time: test_bad_input.py (request validation, on the HTTP threads every other file drives too) and
# test_openai_provider.py (one provider's wire format: the other provider files put the same threads under TSan);
# both run on the release and ASan builds.
run_stage_bg e2e-tsan env LLMGW_BIN="$root/build-tsan/llmgw" "$venv/bin/python" -m pytest -q -p no:cacheprovider --junitxml="$reports/e2e-tsan.xml" \
  --deselect tests/e2e/test_worker_concurrency.py::test_2000_concurrent_streams_in_one_worker \
  --deselect "tests/e2e/test_dev.py::test_dev_mode[LLMGW_BIN_ASAN]" \
  --deselect "tests/e2e/test_dev.py::test_dev_mode_response_cache_in_memory[LLMGW_BIN_ASAN]" tests/e2e/test_dev.py \
  --deselect "tests/e2e/test_metrics.py::test_dev_public_metrics_filtered[LLMGW_BIN_ASAN]" tests/e2e/test_metrics.py \
  tests/e2e/test_streaming.py tests/e2e/test_ops.py tests/e2e/test_deadline.py \
  tests/e2e/test_load.py tests/e2e/test_anthropic_provider.py \
  tests/e2e/test_compat_provider.py tests/e2e/test_anthropic_inbound.py tests/e2e/test_gemini_provider.py \
  tests/e2e/test_routing.py tests/e2e/test_backpressure.py tests/e2e/test_worker_concurrency.py \
  tests/e2e/test_trace_context.py tests/e2e/test_cache.py tests/e2e/test_limits.py tests/e2e/test_analytics.py \
  tests/e2e/test_admin.py tests/e2e/test_simulate.py tests/e2e/test_providers.py tests/e2e/test_dashboard_static.py \
  tests/e2e/test_tracing.py tests/e2e/test_otlp_metrics.py tests/e2e/test_batch.py tests/e2e/test_batch_worker.py \
  tests/e2e/test_batch_http.py tests/e2e/test_hostile_clients.py
run_stage_after "${bg_pids[-1]}" e2e-2 release_shard 2
# The dashboard (GET /) in Debian's chromium, driven by Playwright for Python with no browser download
# (tests/browser/conftest.py), against `llmgw dev` processes; screenshots at desktop and phone widths, light
# and dark, are kept under build/test-reports/screenshots.
run_stage_after "${bg_pids[-1]}" browser env LLMGW_SCREENSHOTS="$reports/screenshots" "$venv/bin/python" -m pytest -q \
  -p no:cacheprovider --junitxml="$reports/browser.xml" tests/browser

# Lane 3. The tests with brokers of their own; then the container image and Compose stack: deploy/Dockerfile and
# docker-compose.yml as a user runs them, on a Docker Engine the stage starts and stops itself (no registry: a
# debootstrap base and stand-ins for the official images, cached in ~/.cache/llmgw); tests/container/run.sh says
# what it checks. Skipped, loudly, only where no container engine can run.
run_stage_bg e2e-own-brokers "$venv/bin/python" -m pytest -q -p no:cacheprovider --junitxml="$reports/e2e-own-brokers.xml" \
  "${own_brokers[@]}"
run_stage_after "${bg_pids[-1]}" container env LLMGW_PYTHON="$venv/bin/python" bash tests/container/run.sh "$reports/container.xml"
run_stage_after "${bg_pids[-1]}" e2e-3 release_shard 3
# Then the chaos suite's short form (tests/chaos/run.sh --short): five faults (kill -9 of a worker and of the
# ledger, SIGTERM of a worker and of an ingress with requests in flight, the provider resetting connections) under
# continuous load, each reconciled per request id against the ledger; about two minutes, on this run's services. The
# broker faults are in the full run (and in e2e-own-brokers).
run_stage_after "${bg_pids[-1]}" chaos env LLMGW_PYTHON="$venv/bin/python" bash tests/chaos/run.sh --short \
  --json "$reports/chaos.json" --junit "$reports/chaos.xml"
wait_stages

step "done"
[ ${#failed_stages[@]} -eq 0 ] || exit 1
