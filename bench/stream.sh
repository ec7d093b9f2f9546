#!/usr/bin/env bash
# Streaming benchmark: added time-to-first-chunk of a streamed request through llmgw (ingress → Kafka →
# worker → OpenAI adapter → fake OpenAI → back) versus the same request sent straight to the fake, 500
# sequential requests each, in one run on this machine. Prints a table and writes bench/results/stream-*.json.
# The fake is tests/fakes/fake_openai.py (Python): both paths pay its cost, the difference is ours.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-500}
bash scripts/install-deps.sh
bash scripts/build.sh build >/dev/null
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kport=$(free_port); hport=$(free_port); fport=$(free_port)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash scripts/kafka.sh stop "$work/kafka" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
bash scripts/kafka.sh start "$work/kafka" "$kport" >/dev/null
python3 tests/fakes/fake_openai.py "$fport" >/dev/null & pids+=($!)
key_line=$(./build/llmgw keys new --tenant bench 2>/dev/null)
export LLMGW_KAFKA_BROKERS=127.0.0.1:$kport LLMGW_DATABASE_URL=sqlite:$work/ledger.db LLMGW_LOG_LEVEL=warn
export LLMGW_TENANT_KEYS="bench:$(echo "$key_line" | awk '/^sha256:/{print $2}')"
export LLMGW_OPENAI_BASE_URL=http://127.0.0.1:$fport/v1 LLMGW_OPENAI_API_KEY=sk-fake-test-key
key=$(echo "$key_line" | awk '/^key:/{print $2}')
LLMGW_INGRESS_ID=bench LLMGW_PORT=$hport ./build/llmgw ingress 2>"$work/ingress.log" & pids+=($!)
./build/llmgw worker 2>"$work/worker.log" & pids+=($!)
./build/llmgw ledger 2>"$work/ledger.log" & pids+=($!)
for _ in $(seq 1 100); do curl -sf "127.0.0.1:$hport/readyz" >/dev/null && break; sleep 0.2; done
python3 bench/ttfc.py "127.0.0.1:$hport" /v1/chat/completions 30 "$key" >/dev/null # warm-up
direct=$(python3 bench/ttfc.py "127.0.0.1:$fport" /v1/chat/completions "$N" sk-fake-test-key)
gateway=$(python3 bench/ttfc.py "127.0.0.1:$hport" /v1/chat/completions "$N" "$key")
out="bench/results/stream-$(date -u +%Y%m%dT%H%M%SZ).json"
printf '{"date":"%s","machine":"%s cores","direct":%s,"gateway":%s}\n' "$(date -u +%FT%TZ)" "$(nproc)" \
  "$direct" "$gateway" > "$out"
python3 - "$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
d, g = r["direct"], r["gateway"]
print("| time to first chunk | direct to fake | through llmgw | added |\n|---|---|---|---|")
for p in ("p50", "p99"):
    print(f"| {p} | {d[p + '_ms']:.2f} ms | {g[p + '_ms']:.2f} ms | {g[p + '_ms'] - d[p + '_ms']:.2f} ms |")
print(f"written to {sys.argv[1]}")
PY
