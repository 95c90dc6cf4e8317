#!/usr/bin/env bash
# A local Apache Kafka broker for the fraud pipeline's live path: KRaft mode, one node that is
# both broker and controller, listening on loopback only.
#   scripts/kafka.sh provision     download the broker's jars (Maven Central)
#   scripts/kafka.sh start         provision if needed, format storage once, start, create topics,
#                                  then start the expansion service (below)
#   scripts/kafka.sh stop | status
#   scripts/kafka.sh broker-stop   stop the broker only (the expansion service and the Java
#                                  worker pool go on; start brings the broker back)
#   scripts/kafka.sh bootstrap     print the bootstrap servers (host:port)
#   scripts/kafka.sh expansion-start | expansion-stop | expansion-address | java-pool-address
#                                  Beam's Java expansion service for ReadFromKafka/WriteToKafka,
#                                  and the Java worker pool the expanded transforms run in
# Everything lives under .cache/kafka (git-ignored); the data survives stop/start.
#
# Topics (created idempotently at every start):
#   transactions.raw   3 partitions, 7 days     the events, keyed by customer_id
#   fraud.alerts       3 partitions, 30 days    alerts, keyed by customer_id
#   streamflow.dlq     1 partition,  30 days    dead letters
#   metrics.realtime   3 partitions, 7 days     store-minute panes, keyed store|minute: compacted
#                                               (the latest pane of a minute) and deleted after 7 days
set -euo pipefail
cd "$(dirname "$0")/.."

KAFKA_VERSION="${STREAMFLOW_KAFKA_VERSION:-4.4.0}"
PORT="${STREAMFLOW_KAFKA_PORT:-59092}"
CONTROLLER_PORT="${STREAMFLOW_KAFKA_CONTROLLER_PORT:-59093}"
BOOTSTRAP="127.0.0.1:$PORT"
BEAM_VERSION="${STREAMFLOW_BEAM_RUNNER_VERSION:-2.62.0}"
EXPANSION_PORT="${STREAMFLOW_KAFKA_EXPANSION_PORT:-58097}"
POOL_PORT="${STREAMFLOW_JAVA_POOL_PORT:-58098}"

ROOT="$PWD/.cache/kafka"
LIB_DIR="$ROOT/lib-$KAFKA_VERSION"
NODE_DIR="$ROOT/node"
DATA_DIR="$NODE_DIR/data"
CONFIG="$NODE_DIR/server.properties"
LOG4J="$NODE_DIR/log4j2.properties"
PID_FILE="$NODE_DIR/kafka.pid"
LOG_FILE="$NODE_DIR/kafka.log"
EXPANSION_LIB_DIR="$ROOT/expansion-service-$BEAM_VERSION"
EXPANSION_PID_FILE="$ROOT/expansion-service.pid"
EXPANSION_LOG="$ROOT/expansion-service.log"
POOL_PID_FILE="$ROOT/java-pool.pid"
POOL_LOG="$ROOT/java-pool.log"
POOL_SETTINGS="$ROOT/java-pool.settings"
BOOT_DIR="$EXPANSION_LIB_DIR/boot"
BOOT_JAR="$BOOT_DIR/java-harness-boot.jar"
EXPANSION_SETTINGS="$ROOT/expansion-service.settings"

DAY_MS=86400000
TOPICS=(
  "transactions.raw 3 $((7 * DAY_MS))"
  "fraud.feedback 3 $((90 * DAY_MS))"
  "reference.blacklist 1 -1 compact"
  "reference.rules 1 -1 compact"
  "fraud.alerts 3 $((30 * DAY_MS))"
  "streamflow.dlq 1 $((30 * DAY_MS))"
  "metrics.realtime 3 $((7 * DAY_MS)) compact,delete"
)

provision() {
  [ -d "$LIB_DIR" ] && return
  local tool
  for tool in java mvn; do
    command -v "$tool" >/dev/null || { echo "scripts/kafka.sh needs $tool (a JDK 17 and Maven)" >&2; exit 1; }
  done
  # Into a scratch folder, moved into place whole: an interrupted download is never trusted.
  rm -rf "$LIB_DIR.tmp"
  mvn -q -B -Dstyle.color=never -f scripts/kafka/broker.pom.xml -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$LIB_DIR.tmp" >&2
  mv "$LIB_DIR.tmp" "$LIB_DIR"
}

kafka_java() { java -Xms256m -Xmx512m -Dlog4j2.configurationFile="$LOG4J" -cp "$LIB_DIR/*" "$@"; }

write_config() {
  mkdir -p "$DATA_DIR"
  cat >"$CONFIG" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$BOOTSTRAP
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA_DIR
num.partitions=3
# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF
  cat >"$LOG4J" <<EOF
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$LOG_FILE
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=%d %p %c{1} %m%n
EOF
}

format_storage() {
  # Once per data folder: KRaft refuses to start on unformatted storage.
  [ -f "$DATA_DIR/meta.properties" ] && return
  local cluster_id
  cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
  kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$CONFIG" >/dev/null
}

running() { pid_alive "$PID_FILE"; }

topics() { kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" "$@"; }

ready() { topics --list >/dev/null 2>&1; }

create_topics() {
  local topic partitions retention cleanup
  for spec in "${TOPICS[@]}"; do
    read -r topic partitions retention cleanup <<<"$spec"
    # A compacted topic keeps the latest record of each key for ever (reference data).
    topics --create --if-not-exists --topic "$topic" --partitions "$partitions" \
      --replication-factor 1 --config "retention.ms=$retention" \
      --config "cleanup.policy=${cleanup:-delete}" >/dev/null
  done
}

start() {
  provision
  write_config
  if running && ready; then create_topics; echo "Kafka ready: $BOOTSTRAP"; expansion_start; return; fi
  if ! running && port_answers "$PORT"; then
    echo "port $PORT answers but is not this checkout's Kafka: stop it or set STREAMFLOW_KAFKA_PORT" >&2
    exit 1
  fi
  broker_stop
  format_storage
  nohup java -Xms256m -Xmx1g -Dlog4j2.configurationFile="$LOG4J" -cp "$LIB_DIR/*" \
    kafka.Kafka "$CONFIG" >>"$NODE_DIR/stdout.log" 2>&1 &
  echo $! >"$PID_FILE"
  for _ in $(seq 1 60); do
    if ready; then
      create_topics
      echo "Kafka ready: $BOOTSTRAP ($(topics --list | tr '\n' ' '))"
      expansion_start
      return
    fi
    running || break
    sleep 1
  done
  echo "Kafka did not become ready; its log is $LOG_FILE" >&2
  tail -n 30 "$LOG_FILE" "$NODE_DIR/stdout.log" >&2 2>/dev/null || true
  stop
  exit 1
}

stop() {
  expansion_stop
  broker_stop
}

# The broker alone: an outage as running jobs see one (the drills), whose Java steps go on in
# the worker pool.
broker_stop() { stop_pid "$PID_FILE" 30; }

# Whether the process a pid file names runs.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Whether something answers on a port of this machine.
port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Stop the process a pid file names: TERM, then KILL if it still runs after $2 seconds.
stop_pid() {
  local file=$1 seconds=$2 pid
  if ! pid_alive "$file"; then
    rm -f "$file"
    return 0
  fi
  pid=$(cat "$file")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 "$seconds"); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$file"
}

status() {
  if running && ready; then
    echo "Kafka running: $BOOTSTRAP"
    topics --describe | grep -v "^\s*Topic:.*Partition:" || true
    if pid_alive "$EXPANSION_PID_FILE"; then echo "expansion service: localhost:$EXPANSION_PORT"; fi
    if pid_alive "$POOL_PID_FILE"; then echo "Java worker pool: localhost:$POOL_PORT"; fi
  else
    echo "Kafka is not running on $BOOTSTRAP"
    exit 1
  fi
}

provision_expansion() {
  if [ ! -d "$EXPANSION_LIB_DIR" ]; then
    rm -rf "$EXPANSION_LIB_DIR.tmp"
    mvn -q -B -Dstyle.color=never -f scripts/kafka/expansion-service.pom.xml \
      -Dbeam.version="$BEAM_VERSION" dependency:copy-dependencies \
      -DoutputDirectory="$EXPANSION_LIB_DIR.tmp" >&2
    mv "$EXPANSION_LIB_DIR.tmp" "$EXPANSION_LIB_DIR"
  fi
  provision_java_harness
}

# Beam's Java SDK harness for the expanded Kafka transforms (scripts/kafka/JavaHarnessBoot.java,
# built into a small jar that runs from the jars here). Rebuilt when the source's content
# differs from the one built (not its time: another checkout of the project shares this cache).
provision_java_harness() {
  local source=scripts/kafka/JavaHarnessBoot.java stamp
  stamp=$(sha256sum "$source" | cut -c1-16)
  if [ ! -f "$BOOT_JAR" ] || [ "$(cat "$BOOT_DIR/source.sha" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$BOOT_DIR"
    javac -d "$BOOT_DIR/classes" -cp "$EXPANSION_LIB_DIR/*" "$source"
    jar --create --file "$BOOT_JAR" -C "$BOOT_DIR/classes" .
    echo "$stamp" >"$BOOT_DIR/source.sha"
  fi
}

# Start one of the Java services on a free port (NAME PORT PORT_VARIABLE PID_FILE LOG, then
# its command) and wait until the port answers; one line and exit 1 if it is taken by another
# process or the service dies first.
java_service_start() {
  local name=$1 port=$2 variable=$3 pid_file=$4 log=$5
  shift 5
  if port_answers "$port"; then
    echo "port $port answers but is not this checkout's $name: stop it or set $variable" >&2
    exit 1
  fi
  nohup "$@" >"$log" 2>&1 &
  echo $! >"$pid_file"
  for _ in $(seq 1 60); do
    if port_answers "$port"; then return; fi
    pid_alive "$pid_file" || break
    sleep 1
  done
  echo "the $name did not start; its log is $log" >&2
  tail -n 20 "$log" >&2 || true
  stop_pid "$pid_file" 10
  exit 1
}

# The Java worker pool: one JVM that runs a harness thread for each Java environment a job
# asks for (EXTERNAL), where a PROCESS environment started a JVM per environment and job. Kept
# while its settings (the jars, the boot source, the JVM options) stay the same: restarting it
# would fail the Java steps of every running live job.
pool_ensure() {
  local settings="$EXPANSION_LIB_DIR $(cat "$BOOT_DIR/source.sha") ${STREAMFLOW_JAVA_HARNESS_OPTS:-}"
  if pid_alive "$POOL_PID_FILE" && port_answers "$POOL_PORT" \
    && [ "$(cat "$POOL_SETTINGS" 2>/dev/null)" = "$settings" ]; then
    return
  fi
  pool_stop
  echo "$settings" >"$POOL_SETTINGS"
  java_service_start "Java worker pool" "$POOL_PORT" STREAMFLOW_JAVA_POOL_PORT \
    "$POOL_PID_FILE" "$POOL_LOG" java ${STREAMFLOW_JAVA_HARNESS_OPTS:--Xmx768m} \
    -cp "$BOOT_JAR:$EXPANSION_LIB_DIR/*" JavaHarnessBoot --pool_port="$POOL_PORT"
}

pool_stop() { stop_pid "$POOL_PID_FILE" 10; }

expansion_ready() {
  echo "expansion service ready: localhost:$EXPANSION_PORT (Java worker pool: localhost:$POOL_PORT)"
}

expansion_start() {
  provision_expansion
  pool_ensure
  # A service started with other settings (an older checkout's) is replaced, not reused: it
  # only expands, so running jobs do not notice.
  local settings="$EXPANSION_LIB_DIR $(sha256sum "$0" | cut -c1-16) $(cat "$BOOT_DIR/source.sha")"
  if pid_alive "$EXPANSION_PID_FILE" && port_answers "$EXPANSION_PORT" \
    && [ "$(cat "$EXPANSION_SETTINGS" 2>/dev/null)" = "$settings" ]; then
    expansion_ready
    return
  fi
  expansion_service_stop
  echo "$settings" >"$EXPANSION_SETTINGS"
  # use_deprecated_read: ReadFromKafka expands to Beam's unbounded-source read, which Flink runs
  # natively (the Kafka classes are on the job server's class path, scripts/flink/) and which
  # commits offsets when a checkpoint completes. The splittable-DoFn read commits them through
  # @RequiresStableInput steps that fail on the portable Flink runner once a checkpoint
  # completes (docs/kafka.md). The Java steps around the read (record to row, the writer) name
  # an EXTERNAL environment (Beam's default, Docker, is absent here): the Java worker pool
  # above. --filesToStage: the Java environment's dependencies are the pool's boot jar (it runs
  # from the jars here). Without it the service scans its whole classpath (ClassGraph, ~1.5 s)
  # at every expansion and lists its 135 jars as artifacts for the job server to stage. No
  # --javaClassLookupAllowlistFile: the Kafka transforms are registered ones, and an allowlist
  # of '*' would let any client construct any class on the classpath.
  java_service_start "expansion service" "$EXPANSION_PORT" STREAMFLOW_KAFKA_EXPANSION_PORT \
    "$EXPANSION_PID_FILE" "$EXPANSION_LOG" java -Xmx512m -cp "$EXPANSION_LIB_DIR/*" \
    org.apache.beam.sdk.expansion.service.ExpansionService "$EXPANSION_PORT" \
    --experiments=use_deprecated_read --filesToStage="$BOOT_JAR" \
    --defaultEnvironmentType=EXTERNAL --defaultEnvironmentConfig="localhost:$POOL_PORT"
  expansion_ready
}

expansion_service_stop() { stop_pid "$EXPANSION_PID_FILE" 10; }

# The expansion service and the Java worker pool (scripts/kafka.sh stop does this too).
expansion_stop() {
  expansion_service_stop
  pool_stop
}

case "${1:-}" in
  provision) provision ;;
  start) start ;;
  stop) stop ;;
  broker-stop) broker_stop ;;
  status) status ;;
  bootstrap) echo "$BOOTSTRAP" ;;
  expansion-start) expansion_start ;;
  expansion-stop) expansion_stop ;;
  expansion-address) echo "localhost:$EXPANSION_PORT" ;;
  java-pool-address) echo "localhost:$POOL_PORT" ;;
  *) echo "usage: $0 provision|start|stop|broker-stop|status|bootstrap|expansion-start|expansion-stop|expansion-address|java-pool-address" >&2; exit 2 ;;
esac
