#!/usr/bin/env bash
# The soak: steady load for a long time through the whole production shape, watching every llmgw process's
# memory. Not a test and not in CI (it takes half an hour); run by hand before a release.
#
#   bash bench/soak.sh [--rate R] [--minutes M] [--warmup W] [--build DIR]
#     --rate     requests per second, open loop (default 50: modest, the machine is shared)
#     --minutes  how long the load runs (default 30)
#     --warmup   minutes of warm-up (default 5): caches, pools, connection buffers and the allocator's arenas
#                fill up in them; growth is measured from the end of minute W to the last minute
#     --build    build directory (default build; build-asan works for a leak hunt)
#
# What runs: its own Kafka, PostgreSQL and Redis (free ports, thrown away at the end), bench_fakeprov answering
# after 20 ms (streams: 8 chunks 2 ms apart), one ingress, two workers, the ledger on PostgreSQL. Tenant and user
# rate limits are on (on Redis, far above the load so nothing is refused), a daily and monthly USD budget on the
# tenant (far above the spend), and the response cache on Redis (TTL 300 s). The load (bench_loadgen): 20% of
# requests streamed; 90% of prompts unique, 10% drawn from 16 repeated ones (cache hits).
#
# Every minute it prints a table row: RSS (MiB, VmRSS of /proc/PID/status) of each llmgw process and of the
# broker for reference, and the requests answered so far. At the end: each llmgw process's growth from the end
# of the warm-up to the last minute. Exits non-zero if any llmgw process grew by 5% or more, if a process died,
# or if any request failed (transport error, non-2xx, a stream without its [DONE]) or is missing from the
# ledger (every answered request, cache hits included, is one request_id in cost_events). Stops everything it
# started, also on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rate=50 minutes=30 warmup=5 build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) rate=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "usage: bench/soak.sh [--rate R] [--minutes M] [--warmup W] [--build DIR]" >&2; exit 2 ;;
  esac
done
[ "$minutes" -gt "$warmup" ] || { echo "soak.sh: --minutes must be more than --warmup" >&2; exit 2; }
max_growth_pct=5

bash scripts/install-deps.sh >/dev/null
cmake --build "$build" -j2 --target llmgw bench_loadgen bench_fakeprov >/dev/null

work=$(mktemp -d)
chmod 755 "$work" # PostgreSQL runs as the postgres user and must reach its directory inside
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# The broker's controller takes the port after the broker's: find a pair.
free_pair() {
  python3 - <<'PY'
import socket
for _ in range(100):
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError:
        pass
    finally:
        a.close(); b.close()
PY
}
pport=$(free_port); rport=$(free_port); fport=$(free_port); hport=$(free_port)

pids=() loadgen_pid=
cleanup() {
  trap - EXIT INT TERM
  [ -n "$loadgen_pid" ] && kill -TERM "$loadgen_pid" 2>/dev/null || true
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash scripts/kafka.sh stop "$work/kafka" >/dev/null 2>&1 || true
  bash scripts/postgres.sh stop "$work/pg" >/dev/null 2>&1 || true
  bash scripts/redis.sh stop "$work/redis" >/dev/null 2>&1 || true
  if [ "${SOAK_KEEP:-0}" = 1 ]; then echo "soak: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'echo "soak: interrupted" >&2; exit 130' INT TERM

# A port found free can be taken before the broker binds it (other work runs here): try three pairs.
for attempt in 1 2 3; do
  kport=$(free_pair)
  bash scripts/kafka.sh start "$work/kafka" "$kport" >/dev/null 2>"$work/kafka-start.err" && break
  [ "$attempt" = 3 ] && { cat "$work/kafka-start.err" >&2; exit 1; }
  rm -rf "$work/kafka"
done
pg_url=$(bash scripts/postgres.sh start "$work/pg" "$pport")
bash scripts/redis.sh start "$work/redis" "$rport" >/dev/null
"$build/bench_fakeprov" --port "$fport" --latency-ms 20 --chunks 8 --gap-ms 2 >"$work/fake.log" 2>&1 & pids+=($!)

export LLMGW_KAFKA_BROKERS=127.0.0.1:$kport LLMGW_TOPIC_PREFIX=soak LLMGW_LOG_LEVEL=warn
export LLMGW_DATABASE_URL=$pg_url LLMGW_REDIS_URL=redis://127.0.0.1:$rport
export LLMGW_OPENAI_BASE_URL=http://127.0.0.1:$fport/v1 LLMGW_OPENAI_API_KEY=sk-soak
export LLMGW_CACHE_TTL_S=300
# The Redis command budget: 50 ms, not the default 5. On this shared 2-core machine (load average above 10 while
# others build and test) a loopback round trip passes 5 ms hundreds of times a minute; each time that worker's
# limits and cache go to its own memory until the reconnect, and the cache entries stored meanwhile stay there
# for their TTL, so RSS would follow the machine's load rather than llmgw's. Override with SOAK_REDIS_TIMEOUT_MS
# (the fallbacks are counted at the end either way).
export LLMGW_REDIS_TIMEOUT_MS=${SOAK_REDIS_TIMEOUT_MS:-50}
# Limits on, about four times the load: every request goes through them, none is refused.
export LLMGW_LIMIT_TENANT_RPM=$((rate * 60 * 4)) LLMGW_LIMIT_TENANT_TPM=$((rate * 60 * 4 * 100))
export LLMGW_LIMIT_USER_RPM=$((rate * 60 * 4))
export LLMGW_TENANT_KEYS=
key_line=$("$build/llmgw" keys new --tenant soak 2>/dev/null)
export LLMGW_TENANT_KEYS="soak:$(echo "$key_line" | awk '/^sha256:/{print $2}')"
key=$(echo "$key_line" | awk '/^key:/{print $2}')
# A budget the tenant never reaches (a request costs a few millionths of a dollar), checked on every request.
echo '{"tenants": {"soak": {"budget": {"day_usd": "1000", "month_usd": "10000"}}}}' >"$work/llmgw.json"
export LLMGW_CONFIG=$work/llmgw.json

names=(ingress worker-1 worker-2 ledger)
LLMGW_INGRESS_ID=soak LLMGW_PORT=$hport "$build/llmgw" ingress 2>"$work/ingress.log" & pids+=($!)
LLMGW_WORKER_ID=soak-1 "$build/llmgw" worker 2>"$work/worker-1.log" & pids+=($!)
LLMGW_WORKER_ID=soak-2 "$build/llmgw" worker 2>"$work/worker-2.log" & pids+=($!)
"$build/llmgw" ledger 2>"$work/ledger.log" & pids+=($!)
gw_pids=("${pids[@]:1}")
broker_pid=$(cat "$work/kafka/kafka.pid")
for _ in $(seq 1 300); do curl -sf "127.0.0.1:$hport/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "127.0.0.1:$hport/readyz" >/dev/null || { echo "soak: ingress not ready" >&2; tail "$work"/*.log >&2; exit 1; }

body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"soak prompt {n}: say something"}],"user":"soak-user"}'
stream_body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"soak prompt {n}: say something"}],"user":"soak-user","stream":true,"stream_options":{"include_usage":true}}'
"$build/bench_loadgen" --url "http://127.0.0.1:$hport/v1/chat/completions" --rate "$rate" \
  --duration $((minutes * 60)) --header "Authorization: Bearer $key" --body "$body" --vary \
  --repeat-pct 10 --repeat-pool 16 --stream-pct 20 --stream-body "$stream_body" \
  --count-header "x-llmgw-cache: hit" --progress-s 10 --label soak \
  >"$work/loadgen.json" 2>"$work/loadgen.progress" &
loadgen_pid=$!

# The report (the table and the summary) also goes to bench/results/soak-<start>.txt.
mkdir -p bench/results
report="bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ).txt"
say() { echo "$@"; echo "$@" >>"$report"; }
rss_mib() { awk '/^VmRSS:/{printf "%.1f", $2 / 1024; found=1} END{if (!found) print "dead"}' "/proc/$1/status" 2>/dev/null || echo dead; }
say "soak: $(date -u +%FT%TZ), $rate req/s for $minutes min, warm-up $warmup min, $(nproc) cores, build $build"
say "| minute | ${names[0]} | ${names[1]} | ${names[2]} | ${names[3]} | kafka (ref.) | answered | failed | cache hits |"
say "|---|---|---|---|---|---|---|---|---|"
declare -A rss_at # rss_at[minute,index]
died=0
for m in $(seq 1 "$minutes"); do
  sleep 60 & wait $!
  row="| $m"
  for i in "${!gw_pids[@]}"; do
    v=$(rss_mib "${gw_pids[$i]}")
    [ "$v" = dead ] && died=1
    rss_at[$m,$i]=$v
    row+=" | $v"
  done
  row+=" | $(rss_mib "$broker_pid")"
  prog=$(tail -n 1 "$work/loadgen.progress" 2>/dev/null || true)
  if [ -n "$prog" ]; then
    row+=$(python3 -c 'import json,sys; p=json.loads(sys.argv[1]); print(" | %d | %d | %d |" % (p["ok"], p["non2xx"] + p["errors"] + p["incomplete"], p["header_hits"]))' "$prog")
  else
    row+=" | - | - | - |"
  fi
  say "$row"
  [ "$died" = 1 ] && { echo "soak: an llmgw process died" >&2; tail -n 20 "$work"/*.log >&2; exit 1; }
done
wait "$loadgen_pid" || true
loadgen_pid=
result=$(cat "$work/loadgen.json")
[ -n "$result" ] || { echo "soak: the load generator printed nothing" >&2; cat "$work/loadgen.progress" >&2; exit 1; }

# Every answered request must reach the ledger: one request_id in cost_events each (cache hits record their
# saving there). The ledger batches, so give it a little time.
ok=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ok"])' "$result")
ledgered=0
for _ in $(seq 1 60); do
  ledgered=$(psql "$pg_url" -tAc "SELECT count(DISTINCT request_id) FROM cost_events WHERE tenant = 'soak'" 2>/dev/null || echo 0)
  [ "$ledgered" -ge "$ok" ] && break
  sleep 1
done

say
say "load: $result"
say "ledger: $ledgered distinct requests in cost_events, $ok answered"
# Redis commands slower than redis_timeout_ms (5 ms) send the limits and the cache to the worker's memory until
# the reconnect; on a loaded machine that happens: count the switches (logged once each).
for w in worker-1 worker-2; do
  say "$w: the response cache fell back to memory $(grep -c 'falls back to this worker' "$work/$w.log" || true) times"
done
say
say "Growth from the end of minute $warmup (warm-up) to minute $minutes:"
say "| process | RSS after warm-up (MiB) | RSS at the end (MiB) | growth |"
say "|---|---|---|---|"
fail=0
for i in "${!gw_pids[@]}"; do
  a=${rss_at[$warmup,$i]} b=${rss_at[$minutes,$i]}
  g=$(python3 -c "print(f'{(float($b) - float($a)) / float($a) * 100:+.1f}%')")
  say "| ${names[$i]} | $a | $b | $g |"
  python3 -c "import sys; sys.exit(0 if (float($b) - float($a)) / float($a) * 100 < $max_growth_pct else 1)" || fail=1
done
[ "$fail" = 0 ] || say "soak: FAIL: an llmgw process grew by ${max_growth_pct}% or more after the warm-up" >&2
python3 - "$result" <<'PY' || fail=1
import json, sys
r = json.loads(sys.argv[1])
bad = r["non2xx"] + r["errors"] + r["incomplete"]
if bad or r["ok"] != r["sent"]:
    sys.exit(f"soak: FAIL: {r['sent']} sent, {r['ok']} answered, {r['non2xx']} non-2xx, {r['errors']} transport "
             f"errors, {r['incomplete']} incomplete streams")
PY
if [ "$ledgered" -ne "$ok" ]; then
  say "soak: FAIL: the ledger has $ledgered requests, $ok were answered" >&2
  fail=1
fi
[ "$fail" = 0 ] && say "soak: PASS"
echo "soak: report written to $report"
exit "$fail"
