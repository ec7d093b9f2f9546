#!/usr/bin/env bash
# Start the pinned Portkey AI gateway (@portkey-ai/gateway 1.15.2, locked in portkey/package-lock.json)
# in the foreground on 127.0.0.1:PORT. The caller backgrounds it and kills it.
#
#   bench/peers/start_portkey.sh PORT
#
# Address it like this (UPSTREAM = an OpenAI-compatible base URL ending in /v1, e.g. http://127.0.0.1:18777/v1):
#   POST http://127.0.0.1:PORT/v1/chat/completions
#   Content-Type: application/json
#   x-portkey-provider: openai
#   x-portkey-custom-host: UPSTREAM
#   Authorization: Bearer <upstream key>      (forwarded to the upstream as is)
# Portkey refuses custom hosts on loopback/private addresses unless they are in TRUSTED_CUSTOM_HOSTS
# (its default list is localhost,127.0.0.1,::1,host.docker.internal); this script sets it to
# 127.0.0.1,localhost so a local fake upstream is allowed and nothing else private is.
#
# Install: `npm ci --ignore-scripts` from the lockfile, only when node_modules is missing. The only
# install script in the tree is the gateway's own `postinstall: patch-package`, a no-op for the published
# package (it ships no patches/ directory), so no install script is needed or run.
# portkey/package.json overrides @hono/node-server to 1.13.5 (the version Portkey's own lockfile uses):
# with the 1.14.2+/1.19.x that npm would pick, every streamed reply fails with 500 "Something went wrong"
# (TypeError: immutable in updateHeaders; Portkey-AI/gateway issue #1389).
# Runs under `env -i` so no credential in the caller's environment (Portkey reads AWS_*, etc.) reaches it.
# portkey/loopback.cjs makes it listen on 127.0.0.1 only (it would otherwise listen on every interface).
# Note: for every provider but Bedrock, Portkey 1.15.2 sleeps 25 ms before relaying the first SSE event
# of a stream (build/start-server.js, its stream reader), so its streamed first-token time includes 25 ms.
set -euo pipefail
if [ $# -ne 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 PORT" >&2
  exit 2
fi
PORT=$1
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/portkey" && pwd)"
cd "$DIR"
if [ ! -x node_modules/.bin/gateway ]; then
  env -i HOME="$HOME" PATH=/usr/local/bin:/usr/bin:/bin npm ci --ignore-scripts --no-audit --no-fund >&2
fi
# --port=N (with '=': `--port N` is ignored and it falls back to 8787); --headless drops the web UI
# and its log-streaming route.
exec env -i HOME="$HOME" PATH=/usr/local/bin:/usr/bin:/bin \
  TRUSTED_CUSTOM_HOSTS="127.0.0.1,localhost" \
  node --require "$DIR/loopback.cjs" node_modules/@portkey-ai/gateway/build/start-server.js \
  --port="$PORT" --headless
