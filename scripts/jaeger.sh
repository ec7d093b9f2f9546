#!/usr/bin/env bash
# Runs a Jaeger v2 (the OpenTelemetry-Collector-based "jaeger" binary) for tests and local runs, built
# from the Go module proxy in a small pinned tools module and cached like the Kafka jars.
#   jaeger.sh fetch                       build the pinned jaeger binary into the cache (once; ~4 min cold)
#   jaeger.sh start DIR OTLP_PORT QPORT   start it with an in-memory store, the OTLP/HTTP receiver on
#                                         127.0.0.1:OTLP_PORT and the query HTTP API on 127.0.0.1:QPORT
#   jaeger.sh stop DIR                    stop the instance started in DIR
#   jaeger.sh path                        print the binary's path (building it first if needed): for
#                                         `jaeger validate --config ...` (tests/e2e/test_deploy.py)
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
  # The Go toolchain: on PATH, or where the official tarball installs it. Jaeger v1.75 needs Go 1.24 or later
  # (Debian 12's golang-go is older).
  [ -x /usr/local/go/bin/go ] && PATH="$PATH:/usr/local/go/bin"
  command -v go >/dev/null || die "a Go toolchain (1.24 or later) is needed to build jaeger"
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

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local dir="${1:-}" otlp="${2:-}" query="${3:-}"
  [ -n "$dir" ] && [ -n "$otlp" ] && [ -n "$query" ] || die "usage: jaeger.sh start DIR OTLP_PORT QUERY_PORT"
  fetch
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local grpc=$((query + 1)) timeout="${JAEGER_START_TIMEOUT:-60}"
  if [ -f "$dir/jaeger.pid" ] && kill -0 "$(cat "$dir/jaeger.pid")" 2>/dev/null; then
    die "a jaeger is already running from $dir (pid $(cat "$dir/jaeger.pid"))"
  fi
  for p in "$otlp" "$query" "$grpc"; do
    port_open "$p" && die "port $p is already in use"
  done
  LLMGW_JAEGER_OTLP="127.0.0.1:$otlp" LLMGW_JAEGER_QUERY="127.0.0.1:$query" LLMGW_JAEGER_QUERY_GRPC="127.0.0.1:$grpc" \
    nohup "$CACHE/jaeger" --config "file:$ROOT/tests/jaeger/config.yaml" >"$dir/jaeger.log" 2>&1 &
  echo $! >"$dir/jaeger.pid"
  echo "$otlp" >"$dir/otlp.port"
  # Ready when the query API answers and the receiver accepts connections.
  local i
  for ((i = 0; i < timeout * 10; i++)); do
    if ! kill -0 "$(cat "$dir/jaeger.pid")" 2>/dev/null; then
      tail -20 "$dir/jaeger.log" >&2
      die "jaeger exited during start (log: $dir/jaeger.log)"
    fi
    if port_open "$otlp" && curl -fsS -o /dev/null "http://127.0.0.1:$query/api/services" 2>/dev/null; then
      echo "jaeger.sh: jaeger $JAEGER_VERSION ready: OTLP/HTTP on 127.0.0.1:$otlp, query on 127.0.0.1:$query" >&2
      return 0
    fi
    sleep 0.1
  done
  stop "$dir"
  die "jaeger did not become ready in ${timeout}s (log: $dir/jaeger.log)"
}

stop() {
  local dir="${1:-}"
  [ -n "$dir" ] || die "usage: jaeger.sh stop DIR"
  [ -f "$dir/jaeger.pid" ] || return 0
  local pid
  pid="$(cat "$dir/jaeger.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/jaeger.pid"
}

case "${1:-}" in
  fetch) fetch ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  path) fetch; echo "$CACHE/jaeger" ;;
  *) die "usage: jaeger.sh fetch | start DIR OTLP_PORT QUERY_PORT | stop DIR | path" ;;
esac
