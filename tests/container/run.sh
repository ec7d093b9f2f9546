#!/usr/bin/env bash
# The container test (scripts/test.sh stage "container"): the image and docker-compose.yml as a user runs them.
#   1. starts a private Docker Engine (tests/container/engine.sh) and imports the locally made base image
#      (scripts/container-base.sh: debootstrap, as no registry is reachable) as debian:bookworm-slim;
#   2. builds the llmgw image (deploy/Dockerfile) and the stand-ins for the official third-party images
#      (deploy/standins/; rebuilt only when their files change);
#   3. `docker run -p ... <image> dev` answers a chat request, healthy, SQLite in its volume;
#   4. brings docker-compose.yml up unchanged (images pointed at the stand-ins through their variables, two
#      workers), waits for every health check, and runs tests/container/stack_client.py: chat, streamed chat
#      and embeddings through nginx with the openai SDK, the ledger rows in the PostgreSQL container, both
#      ingress instances used, Prometheus scraping both workers, traces in Jaeger; then one worker container
#      restarted under load with nothing lost;
#   5. `docker-compose down -v`, and checks that no container, network, volume, link, iptables rule or engine
#      process of its own is left.
# Skips (loudly, exit 0) only where no container engine can run: not root, or dockerd cannot start.
#   tests/container/run.sh [JUNIT_XML]
# Env: LLMGW_PYTHON (python with the pinned openai SDK; default .venv/bin/python), LLMGW_CONTAINER_CACHE
# (default ~/.cache/llmgw/container), LLMGW_CONTAINER_KEEP=1 (leave the work directory for a post-mortem).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
xml=${1:-}
t0=$SECONDS
cache=${LLMGW_CONTAINER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmgw/container}
python=${LLMGW_PYTHON:-$root/.venv/bin/python}
[ -x "$python" ] || python=/work/main/.venv/bin/python
say() { printf '[container %3ds] %s\n' "$((SECONDS - t0))" "$*"; }
junit() { # STATUS (pass|fail|skip) MESSAGE
  [ -n "$xml" ] || return 0
  local inner=""
  case "$1" in
    fail) inner="<failure message=\"$2\"/>" ;;
    skip) inner="<skipped message=\"$2\"/>" ;;
  esac
  printf '<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="container" tests="1" failures="%d" skipped="%d"><testcase classname="container" name="image-and-compose-stack" time="%d">%s</testcase></testsuite>\n' \
    "$([ "$1" = fail ] && echo 1 || echo 0)" "$([ "$1" = skip ] && echo 1 || echo 0)" "$((SECONDS - t0))" "$inner" >"$xml"
}
skip_loudly() {
  printf '\n%s\n!! CONTAINER TEST SKIPPED: %s\n!! The image and docker-compose.yml were NOT tested on this machine.\n%s\n\n' \
    '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!' "$1" \
    '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'
  junit skip "$1"
  exit 0
}

[ "$(id -u)" -eq 0 ] || skip_loudly "not root: dockerd needs root here (no rootless setup)"
for tool in /usr/sbin/dockerd /usr/bin/docker /usr/bin/docker-compose debootstrap; do
  command -v "$tool" >/dev/null || { say "missing $tool: run scripts/install-deps.sh"; junit fail "missing $tool"; exit 1; }
done

mkdir -p "$cache"
# One run at a time uses the cached engine data.
exec 9>"$cache/lock"
flock -w 1800 9 || { say "another container test holds $cache/lock"; junit fail "lock"; exit 1; }

work=$(mktemp -d /tmp/llmgw-container.XXXXXX)
source tests/container/engine.sh
D=$ENGINE_DOCKER
project=llmgwct
export LLMGW_ENV_FILE="$work/llmgw.env"
: >"$LLMGW_ENV_FILE"
compose=(/usr/bin/docker-compose --project-directory "$root" -f "$root/docker-compose.yml" -p "$project")
ok=0
finish() {
  local rc=$?
  set +e
  if [ "$ok" != 1 ] && [ -n "${ENGINE_PID:-}" ]; then
    say "failed: the stack's state and logs"
    "${compose[@]}" ps 2>&1 | tail -30
    "${compose[@]}" logs --no-color --tail 30 2>&1 | tail -150
  fi
  [ -z "${ENGINE_PID:-}" ] || "${compose[@]}" down -v --remove-orphans -t 20 >/dev/null 2>&1
  engine_stop || rc=1
  [ "${LLMGW_CONTAINER_KEEP:-0}" = 1 ] && say "work directory kept: $work" || rm -rf "$work"
  if [ "$rc" -eq 0 ] && [ "$ok" = 1 ]; then junit pass ""; say "passed"; else junit fail "see the stage log"; say "FAILED"; rc=1; fi
  exit $rc
}
trap finish EXIT

# --- 1. engine and base image ------------------------------------------------------------------------------
base=$(bash scripts/container-base.sh "$(dirname "$cache")")
bash scripts/kafka.sh fetch
bash scripts/jaeger.sh fetch
engine_start "$work/engine" "$cache/docker" || skip_loudly "dockerd does not start here (see above)"
base_id=$(sha256sum <"$base" | cut -c1-16)
if [ "$($D image inspect -f '{{index .Config.Labels "llmgw.base"}}' debian:bookworm-slim 2>/dev/null)" != "$base_id" ]; then
  say "importing $base as debian:bookworm-slim"
  $D import -c "LABEL llmgw.base=$base_id" -c 'CMD ["bash"]' "$base" debian:bookworm-slim >/dev/null
fi

# --- 2. images ----------------------------------------------------------------------------------------------
# A stand-in is tagged with a hash of its build context, so it is built again only when that changes.
standin() { # NAME [FILE...]: extra files (jars, binaries) go into the context too
  local name=$1 ctx="$work/ctx-$1"
  shift
  mkdir -p "$ctx"
  cp -r deploy/standins/"$name"/. "$ctx/"
  local f
  for f in "$@"; do cp -r "$f" "$ctx/"; done
  local tag="llmgw-standin/$name:$( (cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum;
    echo "$base_id") | sha256sum | cut -c1-12)"
  if ! $D image inspect "$tag" >/dev/null 2>&1; then
    say "building stand-in $name" >&2 # stdout is the tag, which the caller captures
    $D build --network host -t "$tag" "$ctx" >"$work/build-$name.log" 2>&1 ||
      { tail -30 "$work/build-$name.log" >&2; echo "stand-in $name: build failed" >&2; return 1; }
  fi
  rm -rf "$ctx"
  echo "$tag"
}
mkdir -p "$work/libs"
cp "${LLMGW_KAFKA_CACHE:-$(dirname "$cache")/kafka-4.1.1}"/*.jar "$work/libs/"
jaeger_bin=$(bash scripts/jaeger.sh path)
cp "$jaeger_bin" "$work/jaeger"
export LLMGW_KAFKA_IMAGE LLMGW_POSTGRES_IMAGE LLMGW_REDIS_IMAGE LLMGW_NGINX_IMAGE LLMGW_PROMETHEUS_IMAGE \
  LLMGW_OTELCOL_IMAGE LLMGW_JAEGER_IMAGE LLMGW_IMAGE
LLMGW_KAFKA_IMAGE=$(standin kafka "$work/libs")
LLMGW_POSTGRES_IMAGE=$(standin postgres)
LLMGW_REDIS_IMAGE=$(standin redis)
LLMGW_NGINX_IMAGE=$(standin nginx)
LLMGW_PROMETHEUS_IMAGE=$(standin prometheus)
LLMGW_OTELCOL_IMAGE=$(standin otelcol "$work/jaeger")
LLMGW_JAEGER_IMAGE=$(standin jaeger "$work/jaeger")
rm -rf "$work/libs" "$work/jaeger"
say "stand-ins ready"
LLMGW_IMAGE=llmgw:test
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || true)
# The build stage is tagged too, so pruning dangling images keeps its layers (the Debian -dev packages) cached.
{ $D build --network host -f deploy/Dockerfile --target build -t llmgw:test-build . &&
  $D build --network host -f deploy/Dockerfile -t "$LLMGW_IMAGE" --build-arg "LLMGW_GIT_COMMIT=$commit" .; } >"$work/build-llmgw.log" 2>&1 ||
  { tail -40 "$work/build-llmgw.log" >&2; echo "llmgw image: build failed" >&2; exit 1; }
size=$($D image inspect -f '{{.Size}}' "$LLMGW_IMAGE")
say "llmgw image built: $((size / 1000000)) MB ($($D run --rm --network none "$LLMGW_IMAGE" version))"
# Leave no dangling build stages behind in the cache (their layers stay for the next build).
$D image prune -f >/dev/null

# --- 3. docker run <image> dev ------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
devport=$(free_port)
$D network create llmgwct-dev >/dev/null
t_run=$SECONDS
$D run -d --name llmgwct-dev --network llmgwct-dev -p "127.0.0.1:$devport:8080" "$LLMGW_IMAGE" dev >/dev/null
answer=""
for _ in $(seq 1 100); do
  answer=$(curl -fsS -m 2 "http://127.0.0.1:$devport/v1/chat/completions" -H 'content-type: application/json' \
    -d '{"model":"echo","messages":[{"role":"user","content":"dev in a container"}]}' 2>/dev/null) && break
  sleep 0.2
done
grep -q '"content":"dev in a container"' <<<"$answer" || { echo "llmgw dev did not answer: $answer" >&2; exit 1; }
say "docker run ... dev answered a chat request $((SECONDS - t_run))s after start"
for _ in $(seq 1 60); do
  [ "$($D inspect -f '{{.State.Health.Status}}' llmgwct-dev)" = healthy ] && break
  sleep 1
done
[ "$($D inspect -f '{{.State.Health.Status}}' llmgwct-dev)" = healthy ] || { echo "dev container not healthy" >&2; exit 1; }
$D exec llmgwct-dev sh -c 'test -s /var/lib/llmgw/llmgw-dev.db && id -u' | grep -qx 10001 ||
  { echo "no SQLite ledger in /var/lib/llmgw, or not running as uid 10001" >&2; exit 1; }
$D rm -f -v llmgwct-dev >/dev/null
$D network rm llmgwct-dev >/dev/null
say "dev container: healthy, uid 10001, SQLite ledger in the /var/lib/llmgw volume"

# --- 4. the Compose stack -----------------------------------------------------------------------------------
export LLMGW_HTTP_PORT LLMGW_PROMETHEUS_PORT LLMGW_JAEGER_UI_PORT
LLMGW_HTTP_PORT=$(free_port) LLMGW_PROMETHEUS_PORT=$(free_port) LLMGW_JAEGER_UI_PORT=$(free_port)
keyout=$($D run --rm --network none "$LLMGW_IMAGE" keys new --tenant acme 2>/dev/null)
key=$(sed -n 's/^key: //p' <<<"$keyout") hash=$(sed -n 's/^sha256: //p' <<<"$keyout")
[ -n "$key" ] && [ -n "$hash" ] || { echo "llmgw keys new printed no key" >&2; exit 1; }
# The user's env file, as .env.example has it, with the tenant key set.
sed -e "s/^LLMGW_TENANT_KEYS=.*/LLMGW_TENANT_KEYS=acme:$hash/" .env.example >"$LLMGW_ENV_FILE"
services=(kafka postgres redis ingress-1 ingress-2 lb worker ledger batch otel-collector jaeger prometheus)
expected=$((${#services[@]} + 1)) # two workers
"${compose[@]}" config -q
t_up=$SECONDS
"${compose[@]}" up -d --no-build --scale worker=2 "${services[@]}" >"$work/up.log" 2>&1 ||
  { cat "$work/up.log" >&2; echo "docker-compose up failed" >&2; exit 1; }
wait_healthy() {
  local deadline=$((SECONDS + 240)) ids states
  while :; do
    ids=$("${compose[@]}" ps -q)
    [ -n "$ids" ] || { echo "docker-compose ps shows no container" >&2; return 1; }
    states=$($D inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}}' $ids)
    if ! grep -v ' running \(healthy\|-\)$' <<<"$states" >/dev/null; then
      [ "$(wc -l <<<"$states")" -ge "$expected" ] && return 0
    fi
    if [ $SECONDS -ge $deadline ]; then echo "$states" >&2; return 1; fi
    sleep 1
  done
}
wait_healthy || { echo "the stack did not become healthy" >&2; exit 1; }
say "stack up and healthy in $((SECONDS - t_up))s:"
"${compose[@]}" ps 2>/dev/null | sed 's/^/    /'
cid() { "${compose[@]}" ps -q "$1" | head -n "${2:-1}" | tail -n 1; }
export DOCKER=$D PG_CONTAINER=$(cid postgres) INGRESS_CONTAINERS="$(cid ingress-1) $(cid ingress-2)"
api="http://127.0.0.1:$LLMGW_HTTP_PORT/v1"
"$python" tests/container/stack_client.py api "$api" "$key"

# Prometheus scrapes both workers (found through Docker's DNS) and the other roles.
for _ in $(seq 1 60); do
  up=$(curl -fsS "http://127.0.0.1:$LLMGW_PROMETHEUS_PORT/api/v1/query" --data-urlencode 'query=sum by (job) (up)' || true)
  python3 - "$up" <<'PY' && break
import json, sys
r = {x["metric"]["job"]: float(x["value"][1]) for x in json.loads(sys.argv[1] or "{}").get("data", {}).get("result", [])}
sys.exit(0 if r.get("llmgw-worker") == 2 and r.get("llmgw-ingress") == 2 and r.get("llmgw-ledger") == 1
         and r.get("llmgw-batch") == 1 else 1)
PY
  sleep 2
done
say "prometheus: targets up by job: $up"
grep -q '"llmgw-worker"},"value":\[[0-9.]*,"2"\]' <<<"$up" || { echo "prometheus does not see both workers up" >&2; exit 1; }
grep -q '"llmgw-batch"},"value":\[[0-9.]*,"1"\]' <<<"$up" || { echo "prometheus does not see the batch role up" >&2; exit 1; }
# Traces: the roles export to the collector, which sends them to Jaeger.
for _ in $(seq 1 60); do
  svcs=$(curl -fsS "http://127.0.0.1:$LLMGW_JAEGER_UI_PORT/api/services" || true)
  grep -q llmgw-ingress <<<"$svcs" && grep -q llmgw-worker <<<"$svcs" && break
  sleep 2
done
grep -q llmgw-ingress <<<"$svcs" && grep -q llmgw-worker <<<"$svcs" ||
  { echo "no llmgw traces reached Jaeger through the collector: $svcs" >&2; exit 1; }
say "jaeger: traces from $svcs through the collector"

"$python" tests/container/stack_client.py restart "$api" "$key" "$(cid worker 1)"
wait_healthy || { echo "the stack is not healthy after the worker restart" >&2; exit 1; }

# --- 5. down -v, nothing left ---------------------------------------------------------------------------------
"${compose[@]}" down -v --remove-orphans -t 20 2>&1 | grep -v '^Stopping\|^Removing' || true
left_c=$($D ps -aq) left_n=$($D network ls -q --filter type=custom) left_v=$($D volume ls -q)
[ -z "$left_c$left_n$left_v" ] || { echo "left after down -v: containers '$left_c' networks '$left_n' volumes '$left_v'" >&2; exit 1; }
say "down -v: no container, network or volume left"
ok=1
