#!/usr/bin/env bash
# Smoke test of the benchmark peers: start the local fake OpenAI provider, then each peer (installing it
# first if needed), check that a plain and a streamed chat completion for gpt-4o-mini come back from the
# fake ("fake: ..."), time N sequential curl requests of each kind, and stop everything it started.
#
#   bench/peers/smoke.sh [N]        (N defaults to 50; ports: FAKE_PORT, PORTKEY_PORT, LITELLM_PORT)
#
# Only loopback addresses are used. Times include curl's own start-up (see the "direct" rows).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
N=${1:-50}
FAKE_PORT=${FAKE_PORT:-18777}
PORTKEY_PORT=${PORTKEY_PORT:-18787}
LITELLM_PORT=${LITELLM_PORT:-18788}
KEY=sk-fake-test-key  # the key tests/fakes/fake_openai.py requires
UPSTREAM="http://127.0.0.1:$FAKE_PORT/v1"
LOGS="$(mktemp -d /tmp/llmgw-peers-smoke.XXXXXX)"
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

start() {  # start NAME CMD...: run in the background, logs in $LOGS/NAME.{out,err}
  local name=$1; shift
  "$@" > "$LOGS/$name.out" 2> "$LOGS/$name.err" &
  PIDS+=($!)
}

wait_http() {  # wait_http URL SECONDS
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    if curl -s -o /dev/null -m 1 "$1"; then return 0; fi
    sleep 0.1
  done
  echo "no answer from $1 after $2 s; logs in $LOGS" >&2
  return 1
}

ms() { echo $(( $(date +%s%N) / 1000000 )); }

check() {  # check LABEL URL BODY CURL-ARGS...: one request, whose answer must come from the fake
  local label=$1 url=$2 body=$3; shift 3
  local out text
  out=$(curl -sS -N -m 10 "$url" -H 'content-type: application/json' "$@" -d "$body") || true
  # the message text, or the streamed deltas joined
  text=$(grep -o '"content": *"[^"]*"' <<<"$out" | sed 's/^"content": *"//; s/"$//' | tr -d '\n') || true
  if [[ "$text" == "fake: "* ]]; then
    printf '  %-8s ok: "%s" (%d SSE data lines)\n' "$label" "$text" "$(grep -c '^data:' <<<"$out" || true)"
  else
    printf '  %-8s FAILED: %s\n' "$label" "${out:0:400}"
    FAILED=1
  fi
}

timeit() {  # timeit LABEL URL BODY CURL-ARGS...: N sequential requests
  local label=$1 url=$2 body=$3; shift 3
  local ok=0 i t0 t1 out
  t0=$(ms)
  for ((i = 0; i < N; i++)); do
    out=$(curl -sS -N -m 10 "$url" -H 'content-type: application/json' "$@" -d "$body") || true
    if grep -q 'fake:' <<<"$out"; then ok=$((ok + 1)); fi
  done
  t1=$(ms)
  printf '  %-8s %d/%d ok, %d ms total, %d.%02d ms/request\n' "$label" "$ok" "$N" $((t1 - t0)) \
    $(((t1 - t0) / N)) $(((t1 - t0) * 100 / N % 100))
  [ "$ok" = "$N" ] || FAILED=1
}

FAILED=0
PLAIN='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello from the smoke test"}]}'
STREAM='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hello from the smoke test"}]}'

start fake python3 "$ROOT/tests/fakes/fake_openai.py" "$FAKE_PORT"
wait_http "http://127.0.0.1:$FAKE_PORT/_requests" 10
echo "direct to the fake ($UPSTREAM)"
timeit "plain" "$UPSTREAM/chat/completions" "$PLAIN" -H "Authorization: Bearer $KEY"
timeit "stream" "$UPSTREAM/chat/completions" "$STREAM" -H "Authorization: Bearer $KEY"

echo "portkey (127.0.0.1:$PORTKEY_PORT)"
t0=$(ms)
start portkey "$HERE/start_portkey.sh" "$PORTKEY_PORT"
wait_http "http://127.0.0.1:$PORTKEY_PORT/" 180
echo "  ready in $(( $(ms) - t0 )) ms"
PK=(-H 'x-portkey-provider: openai' -H "x-portkey-custom-host: $UPSTREAM" -H "Authorization: Bearer $KEY")
check "plain" "http://127.0.0.1:$PORTKEY_PORT/v1/chat/completions" "$PLAIN" "${PK[@]}"
check "stream" "http://127.0.0.1:$PORTKEY_PORT/v1/chat/completions" "$STREAM" "${PK[@]}"
timeit "plain" "http://127.0.0.1:$PORTKEY_PORT/v1/chat/completions" "$PLAIN" "${PK[@]}"
timeit "stream" "http://127.0.0.1:$PORTKEY_PORT/v1/chat/completions" "$STREAM" "${PK[@]}"

echo "litellm (127.0.0.1:$LITELLM_PORT)"
t0=$(ms)
start litellm env FAKE_API_KEY="$KEY" "$HERE/start_litellm.sh" "$LITELLM_PORT" "$UPSTREAM"
wait_http "http://127.0.0.1:$LITELLM_PORT/health/liveliness" 600
echo "  ready in $(( $(ms) - t0 )) ms"
# No master key is configured: a client's Authorization header is ignored (and not forwarded).
LL=(-H "Authorization: Bearer sk-anything")
check "plain" "http://127.0.0.1:$LITELLM_PORT/v1/chat/completions" "$PLAIN" "${LL[@]}"
check "stream" "http://127.0.0.1:$LITELLM_PORT/v1/chat/completions" "$STREAM" "${LL[@]}"
timeit "plain" "http://127.0.0.1:$LITELLM_PORT/v1/chat/completions" "$PLAIN" "${LL[@]}"
timeit "stream" "http://127.0.0.1:$LITELLM_PORT/v1/chat/completions" "$STREAM" "${LL[@]}"

echo "logs: $LOGS"
if [ "$FAILED" = 0 ]; then echo "smoke: all passed"; else echo "smoke: FAILED"; exit 1; fi
