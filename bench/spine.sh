#!/usr/bin/env bash
# The spine benchmark: latency of 1,000 sequential echo requests, and throughput at 64 concurrent clients,
# through a real Kafka broker (one ingress, one worker, one ledger on SQLite), on this machine.
# Prints a table and writes bench/results/spine-<date>.json. Not a test: nothing here asserts a timing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
bash scripts/build.sh build >/dev/null
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kport=$(free_port); hport=$(free_port)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash scripts/kafka.sh stop "$work/kafka" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
bash scripts/kafka.sh start "$work/kafka" "$kport" >/dev/null
export LLMGW_KAFKA_BROKERS=127.0.0.1:$kport LLMGW_DATABASE_URL=sqlite:$work/ledger.db LLMGW_LOG_LEVEL=warn
export LLMGW_TENANT_KEYS= 
key_line=$(./build/llmgw keys new --tenant bench 2>/dev/null)
export LLMGW_TENANT_KEYS="bench:$(echo "$key_line" | awk '/^sha256:/{print $2}')"
key=$(echo "$key_line" | awk '/^key:/{print $2}')
LLMGW_INGRESS_ID=bench LLMGW_PORT=$hport ./build/llmgw ingress 2>"$work/ingress.log" & pids+=($!)
./build/llmgw worker 2>"$work/worker.log" & pids+=($!)
./build/llmgw ledger 2>"$work/ledger.log" & pids+=($!)
for _ in $(seq 1 100); do curl -sf "127.0.0.1:$hport/readyz" >/dev/null && break; sleep 0.2; done
# Warm-up: the worker's first group join, connection set-up.
for _ in $(seq 1 50); do curl -s -o /dev/null -H "authorization: Bearer $key" "127.0.0.1:$hport/v1/chat" \
  -d '{"model":"echo","messages":[{"role":"user","content":"warm"}]}'; done
seq_json=$(python3 bench/seq_latency.py "$hport" 1000 "$key")
wrk_json=$(wrk -t2 -c64 -d15s -H "authorization: Bearer $key" -s bench/post_echo.lua \
  "http://127.0.0.1:$hport/v1/chat/completions" | tail -n 1)
out="bench/results/spine-$(date -u +%Y%m%dT%H%M%SZ).json"
printf '{"date":"%s","machine":"%s cores, %s","sequential":%s,"concurrency_64":%s}\n' "$(date -u +%FT%TZ)" \
  "$(nproc)" "$(uname -m)" "$seq_json" "$wrk_json" > "$out"
python3 - "$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, c = r["sequential"], r["concurrency_64"]
print("| scenario | figure |\n|---|---|")
print(f"| 1,000 sequential echo requests, p50 | {s['p50_ms']:.2f} ms |")
print(f"| 1,000 sequential echo requests, p99 | {s['p99_ms']:.2f} ms |")
print(f"| 64 concurrent clients (wrk, 15 s), throughput | {c['rps']:.0f} req/s ({c['non2xx']} non-2xx, {c['errors']} socket errors) |")
print(f"| 64 concurrent clients, p50 / p99 | {c['p50_ms']:.2f} / {c['p99_ms']:.2f} ms |")
print(f"written to {sys.argv[1]}")
PY
