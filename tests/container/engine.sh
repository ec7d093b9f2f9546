# Sourced by tests/container/run.sh: a private Docker Engine for the container test, started and stopped by
# the test itself (the machines have no systemd, and a test must never use or disturb an engine it did not
# start: a `docker` on PATH may talk to another one). Everything it makes is under two directories:
#   $ENGINE_RUN   socket, pid file, exec root (containerd state), logs: one per run, removed at the end
#   $ENGINE_DATA  images and build cache: kept between runs (~/.cache/llmgw/container/docker), so the second
#                 run reuses the base and stand-in images; containers, networks and volumes never outlive a run
# Network: no default bridge (--bridge none), no iptables rules (--iptables=false), no IP forwarding or
# masquerading. Builds use --network host (they fetch Debian packages from the host's mirror); the stack's
# containers get the one bridge Compose makes for the project, reach each other on it and nothing else, and
# are reached from the host through docker-proxy on 127.0.0.1 only. So the engine adds no iptables chain
# and its only link is that bridge (and its veths), which `docker-compose down` removes; engine_stop
# asserts the host's links and iptables rules are as they were.

ENGINE_DOCKERD=${ENGINE_DOCKERD:-/usr/sbin/dockerd}
# Debian's docker.io client, by full path: /usr/local/bin/docker may be another build.
ENGINE_DOCKER=${ENGINE_DOCKER:-/usr/bin/docker}
# Addresses of the networks Compose creates: a private range the machine does not route elsewhere.
ENGINE_POOL=${ENGINE_POOL:-10.213.0.0/16}

engine_snapshot() { # DIR: what engine_stop compares against
  ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort >"$1/links"
  { iptables -S; iptables -t nat -S; } 2>/dev/null | sort >"$1/iptables"
}

# engine_start RUN_DIR DATA_DIR: starts dockerd; sets DOCKER_HOST for every docker and docker-compose call.
engine_start() {
  ENGINE_RUN=$1 ENGINE_DATA=$2
  mkdir -p "$ENGINE_RUN/exec" "$ENGINE_DATA"
  engine_snapshot "$ENGINE_RUN" && mkdir -p "$ENGINE_RUN/before" && mv "$ENGINE_RUN/links" "$ENGINE_RUN/iptables" "$ENGINE_RUN/before/"
  local driver
  for driver in ${ENGINE_STORAGE_DRIVERS:-overlay2 fuse-overlayfs vfs}; do
    [ "$driver" != fuse-overlayfs ] || command -v fuse-overlayfs >/dev/null || continue
    export DOCKER_HOST="unix://$ENGINE_RUN/docker.sock"
    "$ENGINE_DOCKERD" --host "$DOCKER_HOST" --pidfile "$ENGINE_RUN/dockerd.pid" --exec-root "$ENGINE_RUN/exec" \
      --data-root "$ENGINE_DATA" --storage-driver "$driver" --bridge none --iptables=false --ip-forward=false \
      --ip-masq=false --default-address-pool "base=$ENGINE_POOL,size=24" --log-level warn \
      >"$ENGINE_RUN/dockerd.log" 2>&1 &
    ENGINE_PID=$!
    local deadline=$((SECONDS + 60))
    until "$ENGINE_DOCKER" version >/dev/null 2>&1; do
      if ! kill -0 "$ENGINE_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
        echo "engine: dockerd with storage driver $driver did not start:" >&2
        tail -5 "$ENGINE_RUN/dockerd.log" >&2
        engine_kill
        continue 2
      fi
      sleep 0.3
    done
    ENGINE_DRIVER=$driver
    echo "engine: dockerd pid $ENGINE_PID, storage driver $driver, socket $ENGINE_RUN/docker.sock, data $ENGINE_DATA"
    return 0
  done
  return 1
}

engine_kill() { # stop dockerd (and with it its containerd) by pid
  [ -n "${ENGINE_PID:-}" ] || return 0
  kill -TERM "$ENGINE_PID" 2>/dev/null || true
  local i
  for i in $(seq 1 100); do kill -0 "$ENGINE_PID" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$ENGINE_PID" 2>/dev/null || true
  wait "$ENGINE_PID" 2>/dev/null || true
  ENGINE_PID=
}

# engine_stop: removes every container, network and volume left (after a failure), stops dockerd, unmounts
# what it left mounted, and checks the host: no new link, no changed iptables rule, no dockerd of ours.
# Returns 1 (after saying what) when something is left behind.
engine_stop() {
  [ -n "${ENGINE_RUN:-}" ] || return 0
  local rc=0 d=$ENGINE_DOCKER
  if [ -n "${ENGINE_PID:-}" ] && kill -0 "$ENGINE_PID" 2>/dev/null; then
    local left
    left=$("$d" ps -aq 2>/dev/null)
    [ -z "$left" ] || "$d" rm -f -v $left >/dev/null 2>&1 || true
    "$d" network prune -f >/dev/null 2>&1 || true
    "$d" volume prune -f >/dev/null 2>&1 || true
  fi
  engine_kill
  # containerd-shim processes exit with their containers; a mount left by a killed engine is ours to undo.
  grep -F " $ENGINE_RUN/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  grep -F " $ENGINE_DATA/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  engine_snapshot "$ENGINE_RUN"
  if ! diff -u "$ENGINE_RUN/before/links" "$ENGINE_RUN/links" >"$ENGINE_RUN/links.diff"; then
    echo "engine: network links changed:" >&2; cat "$ENGINE_RUN/links.diff" >&2
    # Remove bridges and veths the engine left (Compose's br-<id>, veth*), never anything that was there.
    comm -13 "$ENGINE_RUN/before/links" "$ENGINE_RUN/links" | grep -E '^(br-|veth)' | xargs -r -n1 ip link delete 2>/dev/null || true
    rc=1
  fi
  if ! diff -u "$ENGINE_RUN/before/iptables" "$ENGINE_RUN/iptables" >"$ENGINE_RUN/iptables.diff"; then
    echo "engine: iptables rules changed:" >&2; cat "$ENGINE_RUN/iptables.diff" >&2
    rc=1
  fi
  if pgrep -f -- "--exec-root $ENGINE_RUN/exec" >/dev/null || pgrep -f -- "$ENGINE_RUN/exec" >/dev/null; then
    echo "engine: processes of this engine are still running:" >&2; pgrep -af -- "$ENGINE_RUN/exec" >&2; rc=1
  fi
  [ $rc -ne 0 ] || echo "engine: stopped; no container, network, link, iptables rule or process of its own left"
  return $rc
}
