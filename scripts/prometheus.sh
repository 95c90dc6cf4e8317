#!/usr/bin/env bash
# A local Prometheus with StreamFlow's rules, scraping the local Flink cluster and the console.
#   scripts/prometheus.sh install   install Debian's prometheus package (prometheus, promtool)
#                                   if missing; the package's own service is never left running
#   scripts/prometheus.sh start     install if needed, write the configuration and the rules,
#                                   start Prometheus (or reload it if they changed), wait until
#                                   ready
#   scripts/prometheus.sh stop | status
#   scripts/prometheus.sh url       where it listens (http://127.0.0.1:59090)
#   scripts/prometheus.sh promtool  the path of promtool (installing it if missing)
# It scrapes every 5 s, evaluates the rules every 5 s:
#   flink               every port of scripts/flink.sh's Prometheus reporter range (JobManager
#                       and TaskManagers; a port nothing listens on is a target down, harmless)
#   streamflow-console  the console's /metrics (scripts/console.sh, port 58090), with the bearer
#                       token in STREAMFLOW_CONSOLE_METRICS_TOKEN_FILE (default
#                       .cache/console/metrics-token); without that file or console, its
#                       scrapes fail, harmlessly
# The rules are k8s/monitoring/prometheus-rules.yaml's groups (scripts/prometheus_rules.py),
# re-extracted at every start. STREAMFLOW_PROMETHEUS_MAX_FOR (e.g. 10s) caps every alert's
# `for:` in that copy, so that an alert fires within seconds (tests/monitoring does this);
# unset, the production durations apply. A start with other rules or settings reloads the
# running Prometheus (POST /-/reload) instead of restarting it.
# Port: STREAMFLOW_PROMETHEUS_PORT (default 59090), on 127.0.0.1 only. Everything (config,
# rules, TSDB, log, pid file) lives under .cache/prometheus (git-ignored); the data survives
# stop/start.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${STREAMFLOW_PROMETHEUS_PORT:-59090}"
URL="http://127.0.0.1:$PORT"
# The Flink reporter's port range: scripts/flink.sh's own default, read from it, unless set.
FLINK_PORTS="${STREAMFLOW_FLINK_PROMETHEUS_PORTS:-$(sed -n \
  's/^PROM_PORTS="\${STREAMFLOW_FLINK_PROMETHEUS_PORTS:-\([0-9]*-[0-9]*\)}"$/\1/p' scripts/flink.sh)}"
CONSOLE_PORT="${STREAMFLOW_CONSOLE_PORT:-58090}"
CONSOLE_TOKEN_FILE="${STREAMFLOW_CONSOLE_METRICS_TOKEN_FILE:-$PWD/.cache/console/metrics-token}"
MAX_FOR="${STREAMFLOW_PROMETHEUS_MAX_FOR:-}"
INTERVAL=5s

ROOT="$PWD/.cache/prometheus"
CONFIG="$ROOT/prometheus.yml"
RULES="$ROOT/streamflow-rules.yaml"
DATA_DIR="$ROOT/data"
PID_FILE="$ROOT/prometheus.pid"
LOG_FILE="$ROOT/prometheus.log"
SOURCE_RULES=k8s/monitoring/prometheus-rules.yaml

python_bin() {
  if [ -x .venv/bin/python ]; then echo .venv/bin/python; else command -v python3; fi
}

install() {
  if command -v prometheus >/dev/null && command -v promtool >/dev/null; then return; fi
  if [ "$(id -u)" != 0 ]; then
    echo "install Debian's prometheus package (sudo apt-get install prometheus)" >&2
    exit 1
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # The package enables and starts its own service on port 9090 where an init system lets it
  # (a container's policy-rc.d does not): this checkout runs its own process instead.
  if [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/prometheus ]; then
    /etc/init.d/prometheus stop >/dev/null 2>&1 || true
  fi
}

pid_alive() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

# Whether something answers on a port of this machine.
port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ready() { curl -fsS --max-time 2 "$URL/-/ready" >/dev/null 2>&1; }

flink_targets() {
  local port first="${FLINK_PORTS%-*}" last="${FLINK_PORTS#*-}" separator=""
  for port in $(seq "$first" "$last"); do
    printf '%s"localhost:%s"' "$separator" "$port"
    separator=", "
  done
}

# The rules, extracted from the PrometheusRule into the given file.
extract_rules() {
  "$(python_bin)" scripts/prometheus_rules.py "$SOURCE_RULES" -o "$1" ${MAX_FOR:+--max-for "$MAX_FOR"}
}

# The configuration, into $1, reading the rules file $2.
write_config() {
  cat >"$1" <<EOF
# Written by scripts/prometheus.sh start: edit that script, not this file.
global:
  scrape_interval: $INTERVAL
  scrape_timeout: 4s
  evaluation_interval: $INTERVAL
rule_files:
  - $2
scrape_configs:
  # scripts/flink.sh's Prometheus reporter range: the JobManager takes the first free port, the
  # TaskManager(s) the next ones.
  - job_name: flink
    static_configs:
      - targets: [$(flink_targets)]
  # The console's warehouse freshness and analysts' work (console/metrics.py).
  - job_name: streamflow-console
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: $CONSOLE_TOKEN_FILE
    static_configs:
      - targets: ["127.0.0.1:$CONSOLE_PORT"]
EOF
}

# Reads the configuration and the rules again: synchronous, and a failure is an HTTP error.
reload() {
  if ! curl -fsS --max-time 30 -X POST "$URL/-/reload" >/dev/null 2>"$ROOT/reload.log"; then
    echo "Prometheus did not reload its configuration; its log is $LOG_FILE" >&2
    tail -n 10 "$LOG_FILE" >&2 || true
    exit 1
  fi
}

start() {
  install
  mkdir -p "$DATA_DIR"
  # Written beside the live files and checked before they replace them: a broken rule never
  # reaches a running Prometheus.
  # (--syntax-only: the console's token file need not exist.)
  extract_rules "$RULES.new"
  write_config "$CONFIG.new" "$RULES"
  if ! { promtool check rules "$RULES.new" && promtool check config --syntax-only "$CONFIG.new"; } \
    >"$ROOT/check.log" 2>&1; then
    cat "$ROOT/check.log" >&2
    rm -f "$RULES.new" "$CONFIG.new"
    exit 1
  fi
  local changed=0
  cmp -s "$CONFIG.new" "$CONFIG" && cmp -s "$RULES.new" "$RULES" || changed=1
  mv "$CONFIG.new" "$CONFIG"
  mv "$RULES.new" "$RULES"
  if pid_alive && ready; then
    [ "$changed" = 1 ] && reload
    echo "Prometheus ready: $URL"
    return
  fi
  if ! pid_alive && port_answers "$PORT"; then
    echo "port $PORT answers but is not this checkout's Prometheus: stop it or set" \
      "STREAMFLOW_PROMETHEUS_PORT" >&2
    exit 1
  fi
  stop
  nohup prometheus --config.file="$CONFIG" --storage.tsdb.path="$DATA_DIR" \
    --storage.tsdb.retention.time=7d --web.listen-address="127.0.0.1:$PORT" --web.enable-lifecycle \
    >>"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
  for _ in $(seq 1 60); do
    if ready; then
      echo "Prometheus ready: $URL"
      return
    fi
    pid_alive || break
    sleep 0.5
  done
  echo "Prometheus did not become ready; its log is $LOG_FILE" >&2
  tail -n 20 "$LOG_FILE" >&2 || true
  stop
  exit 1
}

stop() {
  local pid
  if ! pid_alive; then
    rm -f "$PID_FILE"
    return 0
  fi
  pid=$(cat "$PID_FILE")
  # Only our Prometheus: a stale pid file's pid may belong to another program by now.
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--config.file=$CONFIG"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
}

status() {
  if pid_alive && ready; then
    echo "Prometheus running: $URL; $(sed -n 's/^# Alerts/alerts/p' "$RULES")"
  else
    echo "Prometheus is not running on $URL"
    exit 1
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) echo "$URL" ;;
  promtool) install; command -v promtool ;;
  *) echo "usage: $0 install|start|stop|status|url|promtool" >&2; exit 2 ;;
esac
