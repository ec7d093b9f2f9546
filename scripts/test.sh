#!/usr/bin/env bash
# The whole test suite, as CI runs it, on a fresh machine:
#   1. installs the Debian packages, the pinned Python test packages and the Kafka broker jars;
#   2. builds llmgw twice: build/ (RelWithDebInfo) and build-asan/ (AddressSanitizer + UBSan);
#   3. runs the C unit tests in both builds (any sanitizer report fails them);
#   4. starts a real Kafka broker, PostgreSQL and Redis on free loopback ports in a temp directory;
#   5. runs the end-to-end tests (pytest, tests/e2e) against them; stops everything on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
t0=$SECONDS
step() { printf '\n== %s (%ds)\n' "$*" "$((SECONDS - t0))"; }

step "dependencies"
bash scripts/install-deps.sh
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/requirements.txt
bash scripts/kafka.sh fetch

step "build"
bash scripts/build.sh build
bash scripts/build.sh build-asan -DLLMGW_SANITIZE=ON

step "unit tests"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
reports="$root/build/test-reports"
rm -rf "$reports" && mkdir -p "$reports"
(cd build && ctest --output-on-failure --output-junit "$reports/unit.xml")
(cd build-asan && ctest --output-on-failure --output-junit "$reports/unit-asan.xml")

step "services"
work=$(mktemp -d)
chmod 755 "$work" # PostgreSQL runs as its own user and must reach its directory
cleanup() {
  set +e
  pkill -TERM -f "$root/build/llmgw" 2>/dev/null
  pkill -TERM -f "$root/build-asan/llmgw" 2>/dev/null
  bash scripts/kafka.sh stop "$work/kafka" >/dev/null 2>&1
  bash scripts/postgres.sh stop "$work/pg" >/dev/null 2>&1
  bash scripts/redis.sh stop "$work/redis" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kport=$(free_port)
while [ "$(python3 -c "import socket; s=socket.socket(); print(s.connect_ex(('127.0.0.1',$kport+1)))")" = 0 ]; do
  kport=$(free_port) # the controller listens on the next port up
done
LLMGW_TEST_KAFKA=$(bash scripts/kafka.sh start "$work/kafka" "$kport")
LLMGW_TEST_PG_URL=$(bash scripts/postgres.sh start "$work/pg" "$(free_port)")
LLMGW_TEST_REDIS=$(bash scripts/redis.sh start "$work/redis" "$(free_port)")
export LLMGW_TEST_KAFKA LLMGW_TEST_PG_URL LLMGW_TEST_REDIS
export LLMGW_BIN="$root/build/llmgw" LLMGW_BIN_ASAN="$root/build-asan/llmgw"
echo "kafka $LLMGW_TEST_KAFKA, postgresql $LLMGW_TEST_PG_URL, redis $LLMGW_TEST_REDIS"

step "unit tests that need PostgreSQL"
(cd build && ctest --output-on-failure -R ledger_db --output-junit "$reports/unit-pg.xml")

step "end-to-end tests"
"$venv/bin/python" -m pytest -q -p no:cacheprovider --junitxml="$reports/e2e.xml" tests/e2e "$@"

step "end-to-end tests on the sanitizer build"
# The request path (HTTP, streaming, deadlines, drain) again, with every process built with ASan+UBSan;
# any report in a process's output fails the test.
LLMGW_BIN="$LLMGW_BIN_ASAN" "$venv/bin/python" -m pytest -q -p no:cacheprovider --junitxml="$reports/e2e-asan.xml" \
  tests/e2e/test_streaming.py tests/e2e/test_ops.py tests/e2e/test_deadline.py tests/e2e/test_bad_input.py \
  tests/e2e/test_load.py

step "done"
# One closing line over every suite (unit, unit under sanitizers, unit with PostgreSQL, end-to-end).
python3 - "$reports" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
passed = failed = skipped = 0
for path in glob.glob(sys.argv[1] + "/*.xml"):
    root = ET.parse(path).getroot()
    for suite in ([root] if root.tag == "testsuite" else root.iter("testsuite")):
        total = int(suite.get("tests", 0))
        bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skip = int(suite.get("skipped", 0) or suite.get("disabled", 0) or 0)
        passed += total - bad - skip
        failed += bad
        skipped += skip
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
