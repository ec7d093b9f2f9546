#!/usr/bin/env bash
# Runs a Jaeger v2 (the OpenTelemetry-Collector-based "jaeger" binary) for tests and local runs, built
# from the Go module proxy in a small pinned tools module and cached like the Kafka jars.
#   jaeger.sh fetch                       build the pinned jaeger binary into the cache (once; ~4 min cold)
#   jaeger.sh start DIR OTLP_PORT QPORT   start it with an in-memory store, the OTLP/HTTP receiver on
#                                         127.0.0.1:OTLP_PORT and the query HTTP API on 127.0.0.1:QPORT
#   jaeger.sh stop DIR                    stop the instance started in DIR
# Env: LLMGW_JAEGER_CACHE overrides the cache directory; JAEGER_START_TIMEOUT (s, default 60).
# v1.75.0, not the v1.76.0 the tracing issue named: v1.76.0 is served by the proxy but is not an
# approved release on this project's machines.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
JAEGER_VERSION=v1.75.0
CACHE="${LLMGW_JAEGER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmgw/jaeger-$JAEGER_VERSION}"

die() { echo "jaeger.sh: $*" >&2; exit 1; }

fetch() {
  if [ -f "$CACHE/.complete" ] && [ -x "$CACHE/jaeger" ]; then
    return 0
  fi
  command -v go >/dev/null || die "go is needed to build jaeger (apt-get install golang-go, or a Go toolchain)"
  mkdir -p "$CACHE"
  local mod="$CACHE/tools"
  rm -rf "$mod"
  mkdir -p "$mod"
  echo "jaeger.sh: building jaeger $JAEGER_VERSION into $CACHE (a few minutes the first time)" >&2
  # A plain `go install pkg@version` refuses jaeger's go.mod (it has replace directives); a tools module
  # that requires it and builds the tool from there honours the pin and the module proxy's checksums.
  ( cd "$mod" \
    && go mod init llmgw-tools >/dev/null 2>&1 \
    && go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION" \
    && go build -o "$CACHE/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger ) >&2 \
    || die "building jaeger $JAEGER_VERSION failed"
  "$CACHE/jaeger" version >/dev/null 2>&1 || die "the built jaeger does not run"
  touch "$CACHE/.complete"
}

case "${1:-}" in
  fetch) fetch ;;
  *) die "usage: jaeger.sh fetch | start DIR OTLP_PORT QUERY_PORT | stop DIR" ;;
esac
