#!/usr/bin/env bash
# The chaos suite (issue #18, "Reliability under fire"): each fault under continuous load against real llmgw
# processes, a reconciliation per request id against the ledger, one table (and JSON). docs/ARCHITECTURE.md,
# "Chaos suite", says what each column means and holds the last full run.
#   bash tests/chaos/run.sh                  every fault at its full duration (about 10 minutes)
#   bash tests/chaos/run.sh --short          five faults, shortened (scripts/test.sh runs this, about 2 minutes)
#   bash tests/chaos/run.sh --only a,b       the named faults (full durations unless --short)
#   --json PATH (default build/chaos/chaos.json), --junit PATH (a JUnit report too)
# Kafka and PostgreSQL come from LLMGW_TEST_KAFKA and LLMGW_TEST_PG_URL when set (scripts/test.sh sets them);
# otherwise this starts a broker and PostgreSQL of its own on free loopback ports and stops them at the end. The
# faults that stop a broker, PostgreSQL or Redis always start their own. The llmgw binary is LLMGW_BIN (default
# build/llmgw: `bash scripts/build.sh build` first); Python is LLMGW_PYTHON (default .venv/bin/python, with
# tests/requirements.txt installed). Exits 1 when any fault broke a bound.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
die() { echo "chaos: $*" >&2; exit 2; }
py=${LLMGW_PYTHON:-$root/.venv/bin/python}
[ -x "$py" ] || die "no Python at $py: set LLMGW_PYTHON to one with tests/requirements.txt installed"
export LLMGW_BIN=${LLMGW_BIN:-$root/build/llmgw}
[ -x "$LLMGW_BIN" ] || die "no llmgw at $LLMGW_BIN: bash scripts/build.sh build"

work="$root/build/chaos"
rm -rf "$work"
mkdir -p "$work"
chmod 755 "$work" # PostgreSQL runs as its own user and must reach its directories here
svc=""
cleanup() {
  set +e
  if [ -n "$svc" ]; then
    bash "$root/scripts/kafka.sh" stop "$svc/kafka" >/dev/null 2>&1
    bash "$root/scripts/postgres.sh" stop "$svc/pg" >/dev/null 2>&1
  fi
}
trap cleanup EXIT
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
if [ -z "${LLMGW_TEST_KAFKA:-}" ] || [ -z "${LLMGW_TEST_PG_URL:-}" ]; then
  svc="$work/services"
  mkdir -p "$svc"
  chmod 755 "$svc"
  if [ -z "${LLMGW_TEST_KAFKA:-}" ]; then
    kport=$(free_port)
    while [ "$("$py" -c "import socket; s=socket.socket(); print(s.connect_ex(('127.0.0.1',$kport+1)))")" = 0 ]; do
      kport=$(free_port) # the controller listens on the next port up
    done
    LLMGW_TEST_KAFKA=$(bash "$root/scripts/kafka.sh" start "$svc/kafka" "$kport")
  fi
  if [ -z "${LLMGW_TEST_PG_URL:-}" ]; then
    LLMGW_TEST_PG_URL=$(bash "$root/scripts/postgres.sh" start "$svc/pg" "$(free_port)")
  fi
  export LLMGW_TEST_KAFKA LLMGW_TEST_PG_URL
fi
# In the background, so that Ctrl-C or a SIGTERM to this script reaches Python as SIGTERM (it then stops what
# each fault started) and the EXIT trap stops the services after it.
"$py" "$root/tests/chaos/chaos.py" --work "$work" "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 130' INT TERM
rc=0
wait "$pid" || rc=$?
exit "$rc"
