#!/usr/bin/env bash
# Runs a throwaway Redis (Debian's redis-server) on loopback, no persistence.
#   redis.sh start DIR PORT   start on 127.0.0.1:PORT, pid and log in DIR; prints host:port
#   redis.sh stop DIR         stop it
set -euo pipefail
die() { echo "redis.sh: $*" >&2; exit 1; }

start() {
  local dir="${1:-}" port="${2:-}"
  [ -n "$dir" ] && [ -n "$port" ] || die "usage: redis.sh start DIR PORT"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --pidfile "$dir/redis.pid" \
    --logfile "$dir/redis.log" --dir "$dir" --save "" --appendonly no >/dev/null || die "redis-server failed"
  for _ in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG && { echo "127.0.0.1:$port"; return 0; }
    sleep 0.1
  done
  die "redis not answering on port $port"
}

stop() {
  local dir="${1:-}"
  [ -n "$dir" ] || die "usage: redis.sh stop DIR"
  [ -f "$dir/redis.pid" ] || return 0
  local pid
  pid=$(cat "$dir/redis.pid")
  # Only if that pid is still a redis-server: one killed -9 leaves its pid file behind, and the pid may belong
  # to any process since.
  if ! grep -q "^redis-server" "/proc/$pid/cmdline" 2>/dev/null; then
    rm -f "$dir/redis.pid"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do # wait up to 5 s, so the caller can remove DIR afterwards
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/redis.pid"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  start) start "$@" ;;
  stop) stop "$@" ;;
  *) die "usage: redis.sh start DIR PORT | stop DIR" ;;
esac
