#!/usr/bin/env bash
# Runs KRaft Apache Kafka from Maven Central jars, for tests and local runs: one node, or a cluster on loopback.
#   kafka.sh fetch            resolve the jars pinned in deploy/kafka/pom.xml into the cache (once)
#   kafka.sh start DIR PORT   format DIR (unless formatted before: a restart keeps the data) and start a broker
#                             on 127.0.0.1:PORT (controller on PORT+1)
#   kafka.sh stop DIR         stop the broker started in DIR
#   kafka.sh start-cluster DIR PORT [N]
#                             format and start N (default 3) nodes, each broker and controller (a quorum of N
#                             voters): node i in DIR/node-i, its broker on 127.0.0.1:PORT+2(i-1), its controller
#                             on the port after; replication 3 (N if fewer) and min.insync.replicas 2 (1 if
#                             N=1). Prints the bootstrap list.
#   kafka.sh stop-cluster DIR stop every node started in DIR
# Env: LLMGW_KAFKA_CACHE overrides the jar directory; KAFKA_START_TIMEOUT (s, default 60).
#   KAFKA_JAVA_OPTS_EXTRA    JVM options appended to the defaults (space-separated; a later one wins; another
#                            collector needs the default's turned off: -XX:-UseShenandoahGC -XX:+UseG1GC), and
#   KAFKA_PROPS_EXTRA        broker settings appended to server.properties (k=v,k=v; a later one wins): what
#                            bench/broker_settings.sh tries on a small machine
# `start` with a SASL_SSL listener instead of PLAINTEXT (docs/KAFKA.md, "Security"):
#   KAFKA_SASL_SSL=CERTDIR    CERTDIR holds ca.pem (the CA of the broker's and clients' certificates) and
#                             broker.pem (the broker's unencrypted PKCS#8 key, then its certificate, PEM)
#   KAFKA_SASL_USERS=u:p,...  users, each with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 credentials (the SCRAM
#                             ones written at format time); required with KAFKA_SASL_SSL
#   KAFKA_SSL_CLIENT_AUTH     none (default), requested or required: TLS client certificates (mTLS)
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

# A random KRaft cluster id. Kafka's own random-uuid costs a JVM start (~1 s); same format: URL-safe base64 of
# 16 random bytes, never starting with '-' (Uuid.randomUuid rejects those too, they read as CLI flags).
cluster_id() {
  python3 -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s); break' 2>/dev/null || java -cp "$CACHE/*" kafka.tools.StorageTool random-uuid
}

# The broker's collector: Shenandoah, which marks and compacts concurrently, where G1 stops the world for every
# young collection. With the broker on the gateway's core, G1's pauses (up to 55 ms) started most of llmgw's slow
# bursts at 400 to 800 req/s; Shenandoah's longest in 240 s at 600 req/s was 4 ms, and p99 fell by a quarter to a
# half (docs/PERFORMANCE.md, "Eighth pass"). Parallel GC was tried first and stopped the world for 336 ms in a full
# collection. A JVM built without Shenandoah (Oracle's) gets G1. Asked once per run of this script (the probe
# starts a JVM, 0.15 s): gc_probe runs in the script's shell, java_opts in a subshell that only reads GC_OPTS.
GC_OPTS=
gc_probe() {
  [ -z "$GC_OPTS" ] || return 0
  if java -XX:+UseShenandoahGC -version >/dev/null 2>&1; then
    GC_OPTS="-XX:+UseShenandoahGC"
  else
    GC_OPTS="-XX:+UseG1GC -XX:MaxGCPauseMillis=20"
  fi
}

# The JVM options of a node whose directory is $1, one per line (paths may hold spaces).
java_opts() {
  printf '%s\n' -Xms256m -Xmx1536m
  local o
  for o in $GC_OPTS; do printf '%s\n' "$o"; done
  printf '%s\n' -Djava.awt.headless=true "-Dkafka.logs.dir=$1" "-Dlog4j2.configurationFile=$1/log4j2.properties"
  for o in ${KAFKA_JAVA_OPTS_EXTRA:-}; do printf '%s\n' "$o"; done
}

write_log4j() {
  cat >"$1/log4j2.properties" <<EOF
status = warn
name = llmgw-test-kafka
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $1/kafka.log
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
}

# What every node has: its data directory ($1), the replication factor of internal topics and the default of
# the others ($2), min.insync.replicas ($3).
common_props() {
  cat <<EOF
log.dirs=$1/data
num.partitions=1
default.replication.factor=$2
min.insync.replicas=$3
offsets.topic.replication.factor=$2
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$2
transaction.state.log.min.isr=$3
share.coordinator.state.topic.replication.factor=$2
share.coordinator.state.topic.min.isr=$3
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.hours=1
EOF
  [ -z "${KAFKA_PROPS_EXTRA:-}" ] || tr ',' '\n' <<<"$KAFKA_PROPS_EXTRA"
}

# Formats node directory $1 (server.properties written) with cluster id $2 and the extra StorageTool arguments.
format() {
  local dir="$1" cid="$2" opts
  shift 2
  gc_probe
  mapfile -t opts < <(java_opts "$dir")
  java "${opts[@]}" -cp "$CACHE/*" kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" "$@" \
       >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; die "storage format of $dir failed"; }
}

# Starts the formatted node of $1 in the background; its pid goes to $1/kafka.pid.
launch() {
  local dir="$1" opts
  gc_probe
  mapfile -t opts < <(java_opts "$dir")
  : >"$dir/kafka.log"
  # setsid: the broker must not get the caller's terminal signals (Ctrl-C in a test run is handled by stop).
  setsid java "${opts[@]}" -cp "$CACHE/*" kafka.Kafka "$dir/server.properties" >"$dir/kafka.out" 2>&1 </dev/null &
  echo $! >"$dir/kafka.pid"
}

# Waits until the node of $1 serves port $2; on failure shows its log, stops it and dies.
await() {
  local dir="$1" port="$2" timeout="${KAFKA_START_TIMEOUT:-60}" pid deadline
  pid="$(cat "$dir/kafka.pid")"
  deadline=$((SECONDS + timeout))
  until grep -q "Kafka Server started" "$dir/kafka.log" 2>/dev/null && port_open "$port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$dir/kafka.out" "$dir/kafka.log" >&2 || true
      rm -f "$dir/kafka.pid"
      die "broker exited during start-up ($dir)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 40 "$dir/kafka.out" "$dir/kafka.log" >&2 || true
      stop "$dir"
      die "broker not ready after ${timeout}s ($dir)"
    fi
    sleep 0.2
  done
}

not_running() {
  if [ -f "$1/kafka.pid" ] && kill -0 "$(cat "$1/kafka.pid")" 2>/dev/null; then
    die "a broker is already running from $1 (pid $(cat "$1/kafka.pid"))"
  fi
}

# KAFKA_SASL_USERS, checked: one name:password per line.
sasl_users() {
  local u list
  IFS=, read -r -a list <<<"$1"
  for u in "${list[@]}"; do
    [[ "$u" =~ ^[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+$ ]] \
      || die "KAFKA_SASL_USERS: an entry is not name:password (letters, digits, '.', '_', '-')"
    echo "$u"
  done
}

# The SASL_SSL listener's settings (broker port $1, controller port $2, certificates in $3, users $4). The
# broker talks to itself over the same listener with PLAIN as an internal user of its own; the controller
# listener stays plaintext on loopback.
sasl_ssl_props() {
  local port="$1" cport="$2" certs="$3" users="$4" auth="${KAFKA_SSL_CLIENT_AUTH:-none}" ipw plain="" u
  [ -f "$certs/ca.pem" ] && [ -f "$certs/broker.pem" ] || die "KAFKA_SASL_SSL=$certs needs ca.pem and broker.pem"
  case "$auth" in none|requested|required) ;; *) die "KAFKA_SSL_CLIENT_AUTH must be none, requested or required" ;; esac
  ipw="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  while read -r u; do plain+=" user_${u%%:*}=\"${u#*:}\""; done < <(sasl_users "$users")
  cat <<EOF
listeners=SASL_SSL://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=SASL_SSL://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="llmgw-broker" password="$ipw" user_llmgw-broker="$ipw"$plain;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$certs/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$certs/ca.pem
listener.name.sasl_ssl.ssl.client.auth=$auth
EOF
}

start() {
  local dir="${1:-}" port="${2:-}"
  [ -n "$dir" ] && [ -n "$port" ] || die "usage: kafka.sh start DIR PORT"
  fetch
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local cport=$((port + 1)) certs="${KAFKA_SASL_SSL:-}" users="${KAFKA_SASL_USERS:-}" scram=() u
  not_running "$dir"
  port_open "$port" && die "port $port is already in use"
  port_open "$cport" && die "controller port $cport is already in use"
  if [ -n "$certs" ]; then
    [ -n "$users" ] || die "KAFKA_SASL_SSL needs KAFKA_SASL_USERS (name:password,...)"
    certs="$(cd "$certs" && pwd)"
    sasl_ssl_props "$port" "$cport" "$certs" "$users" >"$dir/listeners.properties"
    while read -r u; do
      scram+=(--add-scram "SCRAM-SHA-256=[name=${u%%:*},password=${u#*:}]"
              --add-scram "SCRAM-SHA-512=[name=${u%%:*},password=${u#*:}]")
    done < <(sasl_users "$users")
  else
    cat >"$dir/listeners.properties" <<EOF
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
  fi
  {
    cat <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
controller.listener.names=CONTROLLER
EOF
    cat "$dir/listeners.properties"
    common_props "$dir" 1 1
  } >"$dir/server.properties"
  rm -f "$dir/listeners.properties"
  chmod 600 "$dir/server.properties" # it may hold passwords
  write_log4j "$dir"
  # A directory formatted before (a broker stopped or killed, started again on the same DIR and PORT) keeps
  # its data: only a fresh one is formatted.
  if [ ! -f "$dir/data/meta.properties" ]; then
    format "$dir" "$(cluster_id)" --standalone "${scram[@]}"
  fi
  launch "$dir"
  await "$dir" "$port"
  echo "127.0.0.1:$port"
}

start_cluster() {
  local dir="${1:-}" port="${2:-}" n="${3:-3}"
  [ -n "$dir" ] && [ -n "$port" ] || die "usage: kafka.sh start-cluster DIR PORT [N]"
  [[ "$n" =~ ^[1-9]$ ]] || die "start-cluster: N must be 1 to 9"
  fetch
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local i bp cp nd voters="" bootstrap="" rf=$((n < 3 ? n : 3)) isr cid
  isr=$((rf < 2 ? 1 : 2))
  for ((i = 1; i <= n; i++)); do
    bp=$((port + 2 * (i - 1)))
    cp=$((bp + 1))
    not_running "$dir/node-$i"
    port_open "$bp" && die "port $bp is already in use"
    port_open "$cp" && die "controller port $cp is already in use"
    voters+="${voters:+,}$i@127.0.0.1:$cp"
    bootstrap+="${bootstrap:+,}127.0.0.1:$bp"
  done
  cid="$(cluster_id)"
  for ((i = 1; i <= n; i++)); do
    nd="$dir/node-$i"
    bp=$((port + 2 * (i - 1)))
    cp=$((bp + 1))
    mkdir -p "$nd"
    {
      cat <<EOF
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$bp,CONTROLLER://127.0.0.1:$cp
advertised.listeners=PLAINTEXT://127.0.0.1:$bp,CONTROLLER://127.0.0.1:$cp
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
# A lost node is fenced (leadership of its partitions moves, it leaves their ISRs) within ~3 s, not 9.
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
replica.lag.time.max.ms=5000
EOF
      common_props "$nd" "$rf" "$isr"
    } >"$nd/server.properties"
    write_log4j "$nd"
    format "$nd" "$cid"
  done
  # All at once: a node waits for the quorum, which needs a majority of them.
  for ((i = 1; i <= n; i++)); do launch "$dir/node-$i"; done
  for ((i = 1; i <= n; i++)); do
    if ! (await "$dir/node-$i" $((port + 2 * (i - 1)))); then
      stop_cluster "$dir"
      die "cluster start failed"
    fi
  done
  echo "$bootstrap"
}

stop() {
  local dir="${1:-}"
  [ -n "$dir" ] || die "usage: kafka.sh stop DIR"
  local pidf="$dir/kafka.pid" pid i
  [ -f "$pidf" ] || return 0
  dir="$(cd "$dir" && pwd)" # as start wrote it into the broker's command line
  pid="$(cat "$pidf")"
  # Only if that pid is still this directory's broker: one killed -9 leaves its pid file behind, and the pid
  # may belong to any process since (pid numbers wrap quickly on a busy test machine).
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-Dkafka.logs.dir=$dir "; then
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

stop_cluster() {
  local dir="${1:-}" nd
  [ -n "$dir" ] || die "usage: kafka.sh stop-cluster DIR"
  # In parallel: a node's controlled shutdown needs the quorum, which the last one alone no longer has.
  for nd in "$dir"/node-*; do
    [ -d "$nd" ] && stop "$nd" &
  done
  wait
}

cmd="${1:-}"
shift || true
case "$cmd" in
  fetch) fetch ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  start-cluster) start_cluster "$@" ;;
  stop-cluster) stop_cluster "$@" ;;
  *) die "usage: kafka.sh fetch | start DIR PORT | stop DIR | start-cluster DIR PORT [N] | stop-cluster DIR" ;;
esac
