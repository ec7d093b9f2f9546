#!/usr/bin/env bash
# Runs a throwaway PostgreSQL 15 (Debian's binaries) on loopback, for tests and local runs.
#   postgres.sh start DIR PORT   initdb DIR, start on 127.0.0.1:PORT, create database llmgw; prints the URL
#                                (a DIR initialised before is started again with its data: an outage test's restart)
#   postgres.sh stop DIR         stop the server started in DIR
# Runs as the unprivileged `postgres` user when invoked as root (PostgreSQL refuses to run as root).
set -euo pipefail
die() { echo "postgres.sh: $*" >&2; exit 1; }
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || die "PostgreSQL server binaries not found (apt-get install postgresql)"

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    su postgres -s /bin/sh -c "cd / && $*" # cd: the caller's directory may be closed to postgres
  else
    sh -c "$*"
  fi
}

start() {
  local dir="${1:-}" port="${2:-}"
  [ -n "$dir" ] && [ -n "$port" ] || die "usage: postgres.sh start DIR PORT"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  local fresh=1
  [ -f "$dir/data/PG_VERSION" ] && fresh=0
  [ $fresh -eq 0 ] || as_pg "'$bin/initdb' -D '$dir/data' -A trust -U postgres -E UTF8 >'$dir/initdb.log' 2>&1" \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  # fsync off: a test database is thrown away; it must be fast, not durable.
  as_pg "'$bin/pg_ctl' -D '$dir/data' -l '$dir/postgres.log' -w -t 60 -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50\" start >/dev/null" \
    || { tail -n 30 "$dir/postgres.log" >&2; die "server did not start"; }
  [ $fresh -eq 0 ] || as_pg "'$bin/createdb' -h 127.0.0.1 -p $port -U postgres llmgw" || die "createdb failed"
  echo "postgresql://postgres@127.0.0.1:$port/llmgw"
}

stop() {
  local dir="${1:-}"
  [ -n "$dir" ] || die "usage: postgres.sh stop DIR"
  [ -f "$dir/data/postmaster.pid" ] || return 0
  as_pg "'$bin/pg_ctl' -D '$dir/data' -m fast -w -t 30 stop >/dev/null" || true
}

cmd="${1:-}"
shift || true
case "$cmd" in
  start) start "$@" ;;
  stop) stop "$@" ;;
  *) die "usage: postgres.sh start DIR PORT | stop DIR" ;;
esac
