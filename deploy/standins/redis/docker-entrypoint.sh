#!/bin/bash
# The official redis image's conventions: arguments that start with '-' (or a .conf file) are redis-server's;
# redis-server runs as redis in /data; protected mode is off unless asked for (the official build patches
# its default), since the container's port is reached from other containers.
set -euo pipefail
if [ "${1:0:1}" = '-' ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ]; then
  shift
  case " $* " in *" --protected-mode "*) ;; *) set -- --protected-mode no "$@" ;; esac
  set -- redis-server "$@"
  if [ "$(id -u)" = 0 ]; then
    chown -R redis:redis /data
    exec runuser -u redis -- "$@"
  fi
fi
exec "$@"
