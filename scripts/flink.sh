#!/usr/bin/env bash
# A local Apache Flink for running the fraud pipeline with Beam's FlinkRunner.
#   scripts/flink.sh provision     download the Beam Flink job server and the Flink distribution
#   scripts/flink.sh start         provision if needed, start a standalone cluster, wait until healthy
#   scripts/flink.sh stop | status
#   scripts/flink.sh job-server-jar | master | conf-dir | staging-detector
#                                  print what the pipeline needs (the last: the job server's
#                                  class that stages one 2 KB jar instead of its classpath, if
#                                  the running cluster carries its jars in its lib folder;
#                                  nothing otherwise)
#   scripts/flink.sh metrics-urls  the Prometheus endpoints of the running cluster, one per line
#   scripts/flink.sh taskmanager-pids | taskmanager-start
#                                  the TaskManager processes; start one more (e.g. after one
#                                  died: a standalone cluster does not replace it by itself)
# Everything lives under .cache/flink (git-ignored); nothing touches the project's virtualenv.
#
# Versions: Beam's shaded job server jar is not served on Maven Central here, so the job server is
# the runner's own jars (see scripts/flink/job-server.pom.xml) for the newest Beam release whose
# Flink runner resolves completely; the cluster is the same Flink minor from the apache-flink
# wheel, which pins an old apache-beam and therefore goes into its own --target folder.
set -euo pipefail
cd "$(dirname "$0")/.."

FLINK_MINOR="1.19"
FLINK_VERSION="${STREAMFLOW_FLINK_VERSION:-1.19.3}"
BEAM_RUNNER_VERSION="${STREAMFLOW_BEAM_RUNNER_VERSION:-2.62.0}"
REST_PORT="${STREAMFLOW_FLINK_REST_PORT:-58081}"
RPC_PORT="${STREAMFLOW_FLINK_RPC_PORT:-56123}"
# Prometheus reporters: the JobManager and the TaskManager each take one port of this range.
PROM_PORTS="${STREAMFLOW_FLINK_PROMETHEUS_PORTS:-59249-59251}"

ROOT="$PWD/.cache/flink"
# Named after the pom's and the detector's content too: a change to either is a new job server.
JOB_SERVER_HASH=$(cat scripts/flink/job-server.pom.xml scripts/java/streamflow/beam/MinimalStaging.java |
  sha256sum | cut -c1-8)
JOB_SERVER_DIR="$ROOT/job-server-$FLINK_MINOR-$BEAM_RUNNER_VERSION-$JOB_SERVER_HASH"
JOB_SERVER_JAR="$JOB_SERVER_DIR/beam-runners-flink-$FLINK_MINOR-job-server-$BEAM_RUNNER_VERSION.jar"
DIST_DIR="$ROOT/dist-$FLINK_VERSION"
FLINK_HOME="$DIST_DIR/pyflink"
CLUSTER_DIR="$ROOT/cluster"
CONF_DIR="$CLUSTER_DIR/conf"
CLUSTER_LIB="$CLUSTER_DIR/lib"
STAGING_DETECTOR="streamflow.beam.MinimalStaging"

python_bin() {
  if [ -x .venv/bin/python ]; then echo .venv/bin/python; else command -v python3; fi
}

provision_job_server() {
  [ -f "$JOB_SERVER_JAR" ] && return
  # Assembled in a scratch folder and moved into place whole: an interrupted download never
  # leaves a half-copied jar that a later run would trust.
  rm -rf "$JOB_SERVER_DIR.tmp"
  mkdir -p "$JOB_SERVER_DIR.tmp"
  mvn -q -B -Dstyle.color=never -f scripts/flink/job-server.pom.xml \
    -Dflink.minor="$FLINK_MINOR" -Dbeam.runner.version="$BEAM_RUNNER_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$JOB_SERVER_DIR.tmp/lib" >&2
  # The detector that stages only its own 2 KB jar (scripts/java), beside the runner's jars.
  mkdir -p "$JOB_SERVER_DIR.tmp/classes"
  javac -d "$JOB_SERVER_DIR.tmp/classes" -cp "$JOB_SERVER_DIR.tmp/lib/*" \
    scripts/java/streamflow/beam/MinimalStaging.java
  jar --create --file "$JOB_SERVER_DIR.tmp/lib/streamflow-beam.jar" -C "$JOB_SERVER_DIR.tmp/classes" .
  rm -rf "$JOB_SERVER_DIR.tmp/classes"
  # A launcher jar: `java -jar` (how Beam's Python FlinkRunner starts a job server) with the
  # dependencies on the manifest class path. Continuation lines start with one space, so each
  # entry is written with two: the continuation marker and the separator.
  local manifest="$JOB_SERVER_DIR.tmp/MANIFEST.MF"
  {
    echo "Main-Class: org.apache.beam.runners.flink.FlinkJobServerDriver"
    local prefix="Class-Path: "
    for jar in "$JOB_SERVER_DIR.tmp"/lib/*.jar; do
      echo "${prefix}lib/$(basename "$jar")"
      prefix="  "
    done
  } >"$manifest"
  jar --create --file "$JOB_SERVER_DIR.tmp/$(basename "$JOB_SERVER_JAR")" --manifest "$manifest"
  rm -rf "$JOB_SERVER_DIR"
  mv "$JOB_SERVER_DIR.tmp" "$JOB_SERVER_DIR"
}

provision_dist() {
  [ -x "$FLINK_HOME/bin/start-cluster.sh" ] && return
  rm -rf "$DIST_DIR.tmp"
  "$(python_bin)" -m pip install -q --disable-pip-version-check --no-deps --no-compile \
    --target "$DIST_DIR.tmp" "apache-flink==$FLINK_VERSION" "apache-flink-libraries==$FLINK_VERSION"
  rm -rf "$DIST_DIR"
  mv "$DIST_DIR.tmp" "$DIST_DIR"
  chmod +x "$FLINK_HOME"/bin/*.sh "$FLINK_HOME/bin/flink"
}

provision() {
  local tool
  for tool in java javac jar mvn curl unzip; do
    command -v "$tool" >/dev/null || { echo "scripts/flink.sh needs $tool (a JDK 17 and Maven)" >&2; exit 1; }
  done
  provision_job_server
  provision_dist
}

write_conf() {
  mkdir -p "$CONF_DIR" "$CLUSTER_DIR/log" "$CLUSTER_DIR/checkpoints" "$CLUSTER_DIR/savepoints"
  sed -e "s|@ROOT@|$CLUSTER_DIR|g" -e "s|@REST_PORT@|$REST_PORT|g" -e "s|@RPC_PORT@|$RPC_PORT|g" \
    -e "s|@PROM_PORTS@|$PROM_PORTS|g" \
    scripts/flink/config.yaml >"$CONF_DIR/config.yaml"
  cp "$FLINK_HOME"/conf/log4j*.properties "$CONF_DIR/"
  echo "localhost:$REST_PORT" >"$CONF_DIR/masters"
  echo "localhost" >"$CONF_DIR/workers"
}

# The cluster's lib folder: Flink's own jars plus those of the job server's jars that Flink's
# distribution does not already hold (judged by their first class: flink-dist bundles some
# libraries unshaded, and a second copy would come first on the classpath), so that a job need
# not ship them (scripts/java/streamflow/beam/MinimalStaging.java). It names the job server it
# was made from: the launcher ships nothing only to a cluster started on it (staging_detector).
write_lib() {
  local jar first dist_classes
  rm -rf "$CLUSTER_LIB"
  mkdir -p "$CLUSTER_LIB"
  ln -s "$FLINK_HOME"/lib/*.jar "$CLUSTER_LIB/"
  dist_classes=$(mktemp)
  unzip -Z1 "$FLINK_HOME"/lib/flink-dist-*.jar '*.class' >"$dist_classes"
  for jar in "$JOB_SERVER_DIR"/lib/*.jar; do
    case "$(basename "$jar")" in flink-* | slf4j-* | streamflow-*) continue ;; esac
    first=$(unzip -Z1 "$jar" '*.class' 2>/dev/null | head -n 1 || true)
    if [ -n "$first" ] && grep -qxF "$first" "$dist_classes"; then continue; fi
    ln -s "$jar" "$CLUSTER_LIB/"
  done
  rm -f "$dist_classes"
  echo "$JOB_SERVER_DIR" >"$CLUSTER_LIB/job-server"
}

# Whether every running process of the cluster was started on the lib folder (a cluster started
# by an older scripts/flink.sh was not).
lib_in_use() {
  local pid found=1 canonical
  canonical="$(readlink -f "$CLUSTER_LIB" || true)"
  for pid in $(our_pids); do
    kill -0 "$pid" 2>/dev/null || continue
    tr '\0' ' ' <"/proc/$pid/cmdline" |
      grep -qF -e "$CLUSTER_LIB/" -e "${canonical:-$CLUSTER_LIB}/" || return 1
    found=0
  done
  return "$found"
}

staging_detector() {
  # Canonical paths: a checkout whose .cache links to this one's (a git worktree measuring the
  # commit before) has the same job server; shipping its classpath anyway would load a second
  # copy of gRPC's native transport in the TaskManager, which then fails every later Beam job
  # with UnsatisfiedLinkError (Native.epollCreate) until it restarts.
  local recorded
  recorded="$(cat "$CLUSTER_LIB/job-server" 2>/dev/null || true)"
  if lib_in_use && [ -n "$recorded" ] &&
    [ "$(readlink -f "$recorded")" = "$(readlink -f "$JOB_SERVER_DIR")" ]; then
    echo "$STAGING_DETECTOR"
  fi
}

# Flink names its pid and log files after FLINK_IDENT_STRING (default: $USER, which may be
# unset or differ between shells): fixed, so that stop always finds what start started.
flink_env() {
  FLINK_CONF_DIR="$CONF_DIR" FLINK_LIB_DIR="$CLUSTER_LIB" FLINK_LOG_DIR="$CLUSTER_DIR/log" \
    FLINK_PID_DIR="$CLUSTER_DIR" FLINK_IDENT_STRING=streamflow "$@"
}

overview() { curl -fsS --max-time 2 "http://localhost:$REST_PORT/overview" 2>/dev/null; }

healthy() { overview | grep -q "\"slots-total\":[1-9]"; }

our_pids() { cat "$CLUSTER_DIR"/flink-streamflow-*.pid 2>/dev/null || true; }

ours_running() {
  local pid
  for pid in $(our_pids); do kill -0 "$pid" 2>/dev/null && return 0; done
  return 1
}

start() {
  provision
  write_conf
  if healthy && ours_running; then
    if [ -n "$(staging_detector)" ]; then echo "Flink ready: $(master)"; return; fi
    echo "restarting Flink: it runs without this job server's jars in its lib folder" >&2
  fi
  if overview >/dev/null && ! ours_running; then
    echo "port $REST_PORT answers but is not this checkout's Flink: stop it or set" \
      "STREAMFLOW_FLINK_REST_PORT" >&2
    exit 1
  fi
  stop  # whatever half of an earlier cluster is still up
  write_lib
  flink_env "$FLINK_HOME/bin/jobmanager.sh" start >/dev/null
  flink_env "$FLINK_HOME/bin/taskmanager.sh" start >/dev/null
  for _ in $(seq 1 120); do
    if healthy; then echo "Flink ready: $(master) ($(overview))"; return; fi
    sleep 1
  done
  echo "Flink did not become healthy; logs in $CLUSTER_DIR/log" >&2
  tail -n 40 "$CLUSTER_DIR"/log/*.log >&2 || true
  stop
  exit 1
}

stop() {
  [ -x "$FLINK_HOME/bin/taskmanager.sh" ] || return 0
  flink_env "$FLINK_HOME/bin/taskmanager.sh" stop-all >/dev/null 2>&1 || true
  flink_env "$FLINK_HOME/bin/jobmanager.sh" stop-all >/dev/null 2>&1 || true
  local pid
  for _ in $(seq 1 30); do ours_running || break; sleep 1; done
  for pid in $(our_pids); do kill -9 "$pid" 2>/dev/null || true; done
  rm -f "$CLUSTER_DIR"/flink-streamflow-*.pid "$CLUSTER_LIB/job-server"
}

status() {
  if healthy; then overview; echo; else echo "Flink is not running on port $REST_PORT"; exit 1; fi
}

master() { echo "localhost:$REST_PORT"; }

metrics_urls() {
  local port first="${PROM_PORTS%-*}" last="${PROM_PORTS#*-}"
  for port in $(seq "$first" "$last"); do
    if curl -fsS --max-time 2 "http://localhost:$port/metrics" -o /dev/null 2>/dev/null; then
      echo "http://localhost:$port/metrics"
    fi
  done
}

taskmanager_pids() {
  local pid
  for pid in $(cat "$CLUSTER_DIR"/flink-streamflow-taskexecutor.pid 2>/dev/null); do
    kill -0 "$pid" 2>/dev/null && echo "$pid"
  done
  return 0
}

taskmanager_start() {
  write_conf
  [ -f "$CLUSTER_LIB/job-server" ] || write_lib
  flink_env "$FLINK_HOME/bin/taskmanager.sh" start >/dev/null
  echo "TaskManager started: $(taskmanager_pids | tr '\n' ' ')"
}

case "${1:-}" in
  provision) provision ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  job-server-jar) echo "$JOB_SERVER_JAR" ;;
  staging-detector) staging_detector ;;
  master) master ;;
  conf-dir) echo "$CONF_DIR" ;;
  metrics-urls) metrics_urls ;;
  taskmanager-pids) taskmanager_pids ;;
  taskmanager-start) taskmanager_start ;;
  *) echo "usage: $0 provision|start|stop|status|job-server-jar|master|conf-dir|staging-detector|metrics-urls|taskmanager-pids|taskmanager-start" >&2; exit 2 ;;
esac
