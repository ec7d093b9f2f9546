#!/usr/bin/env bash
# Start the pinned LiteLLM proxy (litellm[proxy]==1.74.9, every dependency locked by hash in
# litellm/requirements.lock) in the foreground on 127.0.0.1:PORT, with one uvicorn worker, proxying model
# "gpt-4o-mini" to the OpenAI-compatible upstream FAKE_BASE_URL. The caller backgrounds it and kills it.
#
#   [FAKE_API_KEY=key] bench/peers/start_litellm.sh PORT FAKE_BASE_URL
#     FAKE_BASE_URL  the upstream's base URL ending in /v1, e.g. http://127.0.0.1:18777/v1
#     FAKE_API_KEY   the key LiteLLM sends upstream as "Authorization: Bearer ..." (default sk-bench)
#
# Address it like this (no master key is configured, so no Authorization header is needed; one sent
# is ignored and not forwarded):
#   POST http://127.0.0.1:PORT/v1/chat/completions
#   Content-Type: application/json
#   {"model": "gpt-4o-mini", "messages": [...]}        (add "stream": true for SSE)
# It is ready when GET http://127.0.0.1:PORT/health/liveliness answers 200.
#
# Install, only when the venv is missing or a lock changed: a throwaway venv at
# ~/.cache/llmgw/peers/litellm-1.74.9/venv (outside the repo) from Debian's /usr/bin/python3; pip itself
# from litellm/pip.lock, then `pip install --require-hashes --only-binary=:all: -r litellm/requirements.lock`,
# all under `env -i HOME PATH`: no credential in pip's environment, wheels only (no package code runs at
# install time), and any file whose sha256 differs from the lock is refused. Never an unpinned litellm:
# LiteLLM 1.82.7, 1.82.8 and 1.107.0 were compromised on PyPI. (litellm/relock.sh regenerates the lock.)
# The proxy runs under `env -i` too, with only the variables below, so no credential reaches it.
set -euo pipefail
if [ $# -ne 2 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: [FAKE_API_KEY=key] $0 PORT FAKE_BASE_URL   (e.g. $0 4000 http://127.0.0.1:18777/v1)" >&2
  exit 2
fi
PORT=$1
FAKE_BASE_URL=$2
FAKE_API_KEY=${FAKE_API_KEY:-sk-bench}
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/litellm" && pwd)"
LOCK="$HERE/requirements.lock"
BASE="$HOME/.cache/llmgw/peers/litellm-1.74.9"
VENV="$BASE/venv"
CLEAN=(env -i HOME="$HOME" PATH=/usr/bin:/bin)

STAMP="$VENV/.llmgw-lock-sha256"
want=$(cat "$HERE/pip.lock" "$LOCK" | sha256sum | cut -d' ' -f1)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
  grep -qx 'litellm==1.74.9 \\' "$LOCK" || { echo "$LOCK does not pin litellm==1.74.9" >&2; exit 1; }
  rm -rf "$VENV"
  mkdir -p "$BASE"
  if ! {
    "${CLEAN[@]}" /usr/bin/python3 -m venv "$VENV" &&
    "${CLEAN[@]}" "$VENV/bin/pip" install --disable-pip-version-check --no-input \
      --require-hashes --only-binary=:all: -r "$HERE/pip.lock" &&
    "${CLEAN[@]}" "$VENV/bin/pip" install --disable-pip-version-check --no-input \
      --require-hashes --only-binary=:all: -r "$LOCK"
  } >&2; then
    rm -rf "$VENV"
    echo "litellm venv install failed" >&2
    exit 1
  fi
  echo "$want" > "$STAMP"
fi

cd "$HERE"
# LITELLM_MODE=PRODUCTION            skip load_dotenv(): no .env file is read from the working tree
# LITELLM_LOCAL_MODEL_COST_MAP=True  use the bundled model price map, don't fetch it from GitHub at startup
# LITELLM_TELEMETRY=False, --telemetry False   no usage telemetry (1.74.9 sends none anyway)
# LITELLM_LOG=ERROR, log_config.json  no per-request logging (uvicorn's access log is off)
# LITELLM_DONT_SHOW_FEEDBACK_BOX=true  no banner
exec env -i HOME="$HOME" PATH="$VENV/bin:/usr/bin:/bin" \
  FAKE_BASE_URL="$FAKE_BASE_URL" FAKE_API_KEY="$FAKE_API_KEY" \
  LITELLM_MODE=PRODUCTION LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False \
  LITELLM_LOG=ERROR LITELLM_DONT_SHOW_FEEDBACK_BOX=true \
  "$VENV/bin/litellm" --config "$HERE/config.yaml" --host 127.0.0.1 --port "$PORT" --num_workers 1 \
  --telemetry False --log_config "$HERE/log_config.json"
