#!/usr/bin/env bash
# Runs a single-node KRaft Apache Kafka broker from Maven Central jars, for tests and local runs.
#   kafka.sh fetch            resolve the jars pinned in deploy/kafka/pom.xml into the cache (once)
#   kafka.sh start DIR PORT   format DIR and start a broker on 127.0.0.1:PORT (controller on PORT+1)
#   kafka.sh stop DIR         stop the broker started in DIR
# Env: LLMGW_KAFKA_CACHE overrides the jar directory; KAFKA_START_TIMEOUT (s, default 60).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
KAFKA_VERSION=4.1.1
CACHE="${LLMGW_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmgw/kafka-$KAFKA_VERSION}"

die() { echo "kafka.sh: $*" >&2; exit 1; }

fetch() {
  # A half-copied cache (interrupted mvn) lacks the marker, so it is fetched again.
  if [ -f "$CACHE/.complete" ] && ls "$CACHE"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1; then
    return 0
  fi
  mkdir -p "$CACHE"
  echo "kafka.sh: fetching Kafka $KAFKA_VERSION jars into $CACHE" >&2
  mvn -q -B -Dstyle.color=never -f "$ROOT/deploy/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$CACHE" >&2 \
    || die "mvn dependency:copy-dependencies failed"
  ls "$CACHE"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 || die "kafka_2.13-$KAFKA_VERSION.jar missing after fetch"
  touch "$CACHE/.complete"
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local dir="${1:-}" port="${2:-}"
  [ -n "$dir" ] && [ -n "$port" ] || die "usage: kafka.sh start DIR PORT"
  fetch
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local cport=$((port + 1)) cp="$CACHE/*" timeout="${KAFKA_START_TIMEOUT:-60}"
  if [ -f "$dir/kafka.pid" ] && kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; then
    die "a broker is already running from $dir (pid $(cat "$dir/kafka.pid"))"
  fi
  port_open "$port" && die "port $port is already in use"
  port_open "$cport" && die "controller port $cport is already in use"

  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.hours=1
EOF

  cat >"$dir/log4j2.properties" <<EOF
status = warn
name = llmgw-test-kafka
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $dir/kafka.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.network.name = kafka.network
logger.network.level = WARN
logger.controller.name = kafka.controller
logger.controller.level = WARN
logger.orgkafka.name = org.apache.kafka
logger.orgkafka.level = WARN
logger.zk.name = org.apache.zookeeper
logger.zk.level = WARN
EOF

  local java_opts=(-Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
                   "-Dkafka.logs.dir=$dir" "-Dlog4j2.configurationFile=$dir/log4j2.properties")
  local cid
  # Kafka's own random-uuid costs a JVM start (~1 s); same format: URL-safe base64 of 16 random bytes,
  # never starting with '-' (Uuid.randomUuid rejects those too, they read as CLI flags).
  cid="$(python3 -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s); break' 2>/dev/null)" || cid="$(java -cp "$cp" kafka.tools.StorageTool random-uuid)"
  java "${java_opts[@]}" -cp "$cp" kafka.tools.StorageTool format --standalone -t "$cid" \
       -c "$dir/server.properties" >"$dir/format.log" 2>&1 \
    || { cat "$dir/format.log" >&2; die "storage format failed"; }

  : >"$dir/kafka.log"
  # setsid: the broker must not get the caller's terminal signals (Ctrl-C in a test run is handled by stop).
  setsid java "${java_opts[@]}" -cp "$cp" kafka.Kafka "$dir/server.properties" \
      >"$dir/kafka.out" 2>&1 </dev/null &
  echo $! >"$dir/kafka.pid"
  local pid deadline
  pid="$(cat "$dir/kafka.pid")"
  deadline=$((SECONDS + timeout))
  until grep -q "Kafka Server started" "$dir/kafka.log" 2>/dev/null && port_open "$port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$dir/kafka.out" "$dir/kafka.log" >&2 || true
      rm -f "$dir/kafka.pid"
      die "broker exited during start-up"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 40 "$dir/kafka.out" "$dir/kafka.log" >&2 || true
      stop "$dir"
      die "broker not ready after ${timeout}s"
    fi
    sleep 0.2
  done
  echo "127.0.0.1:$port"
}

stop() {
  local dir="${1:-}"
  [ -n "$dir" ] || die "usage: kafka.sh stop DIR"
  local pidf="$dir/kafka.pid" pid i
  [ -f "$pidf" ] || return 0
  pid="$(cat "$pidf")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do   # 20 s
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "kafka.sh: broker $pid ignored SIGTERM for 20s, killing" >&2
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
  fi
  rm -f "$pidf"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  fetch) fetch ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  *) die "usage: kafka.sh fetch | start DIR PORT | stop DIR" ;;
esac
