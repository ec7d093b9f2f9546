#!/usr/bin/env bash
# Runs a throwaway Prometheus (Debian's prometheus package, 2.42) on loopback, its data in DIR.
#   prometheus.sh start DIR PORT CONFIG   start on 127.0.0.1:PORT with CONFIG (rule files are read relative
#                                         to it); pid, log and TSDB in DIR; prints host:port once ready
#   prometheus.sh stop DIR                stop it (waits, so DIR can be removed afterwards)
# Env: PROMETHEUS_START_TIMEOUT (s, default 30).
set -euo pipefail
die() { echo "prometheus.sh: $*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local dir="${1:-}" port="${2:-}" config="${3:-}"
  [ -n "$dir" ] && [ -n "$port" ] && [ -n "$config" ] || die "usage: prometheus.sh start DIR PORT CONFIG"
  command -v prometheus >/dev/null || die "prometheus not found (apt-get install prometheus; scripts/install-deps.sh does)"
  [ -f "$config" ] || die "no config file $config"
  mkdir -p "$dir/data"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/prometheus.pid" ] && kill -0 "$(cat "$dir/prometheus.pid")" 2>/dev/null; then
    die "a prometheus is already running from $dir (pid $(cat "$dir/prometheus.pid"))"
  fi
  port_open "$port" && die "port $port is already in use"
  nohup prometheus --config.file="$config" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$port" --storage.tsdb.retention.time=1d \
    --log.level=warn >"$dir/prometheus.log" 2>&1 </dev/null &
  echo $! >"$dir/prometheus.pid"
  local i timeout="${PROMETHEUS_START_TIMEOUT:-30}"
  for ((i = 0; i < timeout * 10; i++)); do
    if ! kill -0 "$(cat "$dir/prometheus.pid")" 2>/dev/null; then
      tail -20 "$dir/prometheus.log" >&2
      die "prometheus exited during start (log: $dir/prometheus.log)"
    fi
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/-/ready" 2>/dev/null; then
      echo "127.0.0.1:$port"
      return 0
    fi
    sleep 0.1
  done
  stop "$dir"
  die "prometheus did not become ready in ${timeout}s (log: $dir/prometheus.log)"
}

stop() {
  local dir="${1:-}"
  [ -n "$dir" ] || die "usage: prometheus.sh stop DIR"
  [ -f "$dir/prometheus.pid" ] || return 0
  local pid i
  pid=$(cat "$dir/prometheus.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do # up to 10 s: it flushes its head block
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/prometheus.pid"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  start) start "$@" ;;
  stop) stop "$@" ;;
  *) die "usage: prometheus.sh start DIR PORT CONFIG | stop DIR" ;;
esac
