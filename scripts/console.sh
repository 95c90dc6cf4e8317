#!/usr/bin/env bash
# The analyst console (python -m console) and its relay, on this machine.
#   scripts/console.sh start     migrate the warehouse, start the console and the relay
#   scripts/console.sh stop | status
#   scripts/console.sh url       where it listens (http://127.0.0.1:58090)
#   scripts/console.sh dsn       the console role's DSN on the project's PostgreSQL
#   scripts/console.sh browser   install Debian's chromium and chromium-driver (browser tests)
# The console connects as its own role, streamflow_console (the migrations create it), to the
# project's warehouse (scripts/postgres.sh); the relay publishes to the project's broker
# (scripts/kafka.sh; it waits for one if none answers). There is no default account: add one
# with `STREAMFLOW_CONSOLE_PG_DSN=$(scripts/console.sh dsn) .venv/bin/python -m console users
# add NAME --role analyst`. Logs and pid files live under .cache/console (git-ignored), and so
# does the bearer token of its /metrics (metrics-token, made once, mode 600), which
# scripts/prometheus.sh's Prometheus scrapes with.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${STREAMFLOW_CONSOLE_PORT:-58090}"
ROOT="$PWD/.cache/console"
SERVICES=(serve relay)

dsn() {
  local server
  server=$(scripts/postgres.sh dsn)
  echo "${server/\/\/streamflow@/\/\/streamflow_console@}"
}

pid_file() { echo "$ROOT/$1.pid"; }

service_running() { [ -f "$(pid_file "$1")" ] && kill -0 "$(cat "$(pid_file "$1")")" 2>/dev/null; }

healthy() { curl -fsS --max-time 3 "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; }

browser() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then return; fi
  if [ "$(id -u)" != 0 ]; then
    echo "install chromium and chromium-driver (sudo apt-get install chromium chromium-driver)" >&2
    exit 1
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver >/dev/null
}

start() {
  .venv/bin/python -c "import fastapi" 2>/dev/null || scripts/setup-env.sh console
  scripts/postgres.sh start >/dev/null
  mkdir -p "$ROOT"
  STREAMFLOW_PG_DSN=$(scripts/postgres.sh dsn) .venv/bin/python -m pipelines.warehouse migrate \
    >"$ROOT/migrate.log" 2>&1 || { tail -n 5 "$ROOT/migrate.log" >&2; exit 1; }
  export STREAMFLOW_CONSOLE_PG_DSN
  STREAMFLOW_CONSOLE_PG_DSN=$(dsn)
  export STREAMFLOW_KAFKA_BOOTSTRAP="${STREAMFLOW_KAFKA_BOOTSTRAP:-$(scripts/kafka.sh bootstrap)}"
  # Backtests read the archives the DAGs use, when they exist (docs/console.md, "Versions").
  if [ -z "${STREAMFLOW_ARCHIVE:-}" ] && [ -d out/archive ]; then
    export STREAMFLOW_ARCHIVE="$PWD/out/archive"
  fi
  if [ -z "${STREAMFLOW_FEEDBACK_ARCHIVE:-}" ] && [ -d out/feedback ]; then
    export STREAMFLOW_FEEDBACK_ARCHIVE="$PWD/out/feedback"
  fi
  export STREAMFLOW_BACKTEST_DIR="${STREAMFLOW_BACKTEST_DIR:-$ROOT/backtests}"
  if [ ! -s "$ROOT/metrics-token" ]; then
    (umask 077 && .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(32))" \
      >"$ROOT/metrics-token")
  fi
  export STREAMFLOW_CONSOLE_METRICS_TOKEN="${STREAMFLOW_CONSOLE_METRICS_TOKEN:-$(cat "$ROOT/metrics-token")}"
  if ! service_running serve; then
    nohup setsid .venv/bin/python -m console serve --host 127.0.0.1 --port "$PORT" \
      >"$ROOT/serve.log" 2>&1 &
    echo $! >"$(pid_file serve)"
  fi
  if ! service_running relay; then
    nohup setsid .venv/bin/python -m console relay >"$ROOT/relay.log" 2>&1 &
    echo $! >"$(pid_file relay)"
  fi
  for _ in $(seq 1 60); do
    if healthy; then
      echo "console ready: http://127.0.0.1:$PORT"
      return
    fi
    sleep 0.5
  done
  echo "the console did not answer in 30 s; logs in $ROOT" >&2
  tail -n 15 "$ROOT/serve.log" >&2 || true
  exit 1
}

# Whether the session a pid file names is still the console's: a stale file's pid may have
# been reused by another program, whose group stop must not touch.
console_group() { ps -o args= -s "$1" 2>/dev/null | grep -q "console"; }

stop() {
  local service pid
  for service in "${SERVICES[@]}"; do
    pid=$(cat "$(pid_file "$service")" 2>/dev/null || true)
    rm -f "$(pid_file "$service")"
    [ -n "$pid" ] && console_group "$pid" || continue
    kill -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    kill -9 -- "-$pid" 2>/dev/null || true
  done
}

status() {
  local service
  for service in "${SERVICES[@]}"; do
    if service_running "$service"; then echo "$service: running"; else echo "$service: stopped"; fi
  done
  healthy
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) echo "http://127.0.0.1:$PORT" ;;
  dsn) dsn ;;
  browser) browser ;;
  *) echo "usage: $0 start|stop|status|url|dsn|browser" >&2; exit 2 ;;
esac
