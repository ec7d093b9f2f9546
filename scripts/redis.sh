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
  # In the background rather than --daemonize, so that its pid is known at once: a redis-server that cannot bind
  # (another process took the port first) exits before it would write a pid file.
  local pid
  setsid redis-server --bind 127.0.0.1 --port "$port" --daemonize no --dir "$dir" --logfile "$dir/redis.log" \
    --save "" --appendonly no </dev/null >/dev/null 2>&1 &
  pid=$!
  echo "$pid" >"$dir/redis.pid"
  # Ours only when the server answering says it is that pid: a PONG from the port could be another Redis's.
  local answer
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$dir/redis.pid"
      die "redis-server exited: $(tail -n 2 "$dir/redis.log" 2>/dev/null | tr '\n' ' ')"
    fi
    answer=$(redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null | tr -d '\r' |
      sed -n 's/^process_id://p' || true)
    if [ -n "$answer" ]; then
      [ "$answer" = "$pid" ] && { echo "127.0.0.1:$port"; return 0; }
      kill "$pid" 2>/dev/null || true # it could not bind: on its way out already
      rm -f "$dir/redis.pid"
      die "port $port is served by another Redis (pid $answer), not by this one"
    fi
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
