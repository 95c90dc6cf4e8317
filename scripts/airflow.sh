#!/usr/bin/env bash
# A local Apache Airflow 3 for the project's DAGs (airflow/dags), in its own virtualenv.
#   scripts/airflow.sh start     set up .venv-airflow if needed, migrate, start the four services
#   scripts/airflow.sh stop | status
#   scripts/airflow.sh url       the UI and REST API (http://localhost:58080)
#   scripts/airflow.sh run ARGS  the airflow command line with this environment
#   scripts/airflow.sh python ARGS  Airflow's interpreter with this environment (tests, dag.test())
# The api-server, scheduler, dag-processor and triggerer run with the LocalExecutor. The
# metadata database is "airflow" in the project's PostgreSQL (scripts/postgres.sh); the DAGs'
# warehouse connection, streamflow_warehouse, comes from AIRFLOW_CONN_STREAMFLOW_WAREHOUSE
# (default: the project's warehouse). Everything else lives under .cache/airflow (git-ignored).
# Logging in: every user is an admin on this local instance (simple auth manager), so the UI
# opens without a password; never expose the port.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${STREAMFLOW_AIRFLOW_PORT:-58080}"
ROOT="$PWD/.cache/airflow"
VENV="$PWD/.venv-airflow"
SERVICES=(api-server scheduler dag-processor triggerer)

airflow_env() {
  local server_dsn db_dsn
  server_dsn=$(scripts/postgres.sh dsn)
  db_dsn="${server_dsn%/*}/airflow"
  mkdir -p "$ROOT"
  # One secret shared by the services that sign and check task tokens; made once, kept local.
  [ -f "$ROOT/jwt-secret" ] || (umask 077 && head -c 64 /dev/urandom | base64 -w0 >"$ROOT/jwt-secret")
  export AIRFLOW_HOME="$ROOT"
  export AIRFLOW__CORE__DAGS_FOLDER="$PWD/airflow/dags"
  # Code the DAGs share (notifier, task helpers): on every component's import path, the
  # triggerer's included, which runs Deadline Alert callbacks.
  export AIRFLOW__CORE__PLUGINS_FOLDER="$PWD/airflow/plugins"
  export AIRFLOW__CORE__LOAD_EXAMPLES=False
  export AIRFLOW__CORE__EXECUTOR=LocalExecutor
  export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://localhost:$PORT/execution/"
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${db_dsn/postgresql:/postgresql+psycopg2:}"
  export AIRFLOW__API__HOST=127.0.0.1
  export AIRFLOW__API__PORT="$PORT"
  export AIRFLOW__API_AUTH__JWT_SECRET
  AIRFLOW__API_AUTH__JWT_SECRET=$(cat "$ROOT/jwt-secret")
  export AIRFLOW_CONN_STREAMFLOW_WAREHOUSE="${AIRFLOW_CONN_STREAMFLOW_WAREHOUSE:-$server_dsn}"
  # data_quality's Deadline Alert, in seconds (an Airflow Variable: tunable without a deploy).
  export AIRFLOW_VAR_STREAMFLOW_DATA_QUALITY_DEADLINE_SECONDS="${AIRFLOW_VAR_STREAMFLOW_DATA_QUALITY_DEADLINE_SECONDS:-600}"
  # The Beam operator runs the pipeline with the pipeline's own interpreter.
  export STREAMFLOW_PIPELINE_PYTHON="${STREAMFLOW_PIPELINE_PYTHON:-$PWD/.venv/bin/python}"
}

airflow_cli() { "$VENV/bin/airflow" "$@"; }

create_database() {
  local server_dsn
  server_dsn=$(scripts/postgres.sh dsn)
  "$VENV/bin/python" - "$server_dsn" <<'EOF'
import sys

import psycopg

with psycopg.connect(sys.argv[1], autocommit=True) as connection:
    exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'").fetchone()
    if not exists:
        connection.execute("CREATE DATABASE airflow")
EOF
}

pid_file() { echo "$ROOT/$1.pid"; }

service_running() { [ -f "$(pid_file "$1")" ] && kill -0 "$(cat "$(pid_file "$1")")" 2>/dev/null; }

healthy() { curl -fsS --max-time 3 "http://localhost:$PORT/api/v2/monitor/health" 2>/dev/null; }

start() {
  [ -x "$VENV/bin/airflow" ] || scripts/setup-env.sh airflow
  scripts/postgres.sh start >/dev/null
  airflow_env
  create_database
  airflow_cli db migrate >"$ROOT/migrate.log" 2>&1 || { tail -n 20 "$ROOT/migrate.log" >&2; exit 1; }
  local service
  for service in "${SERVICES[@]}"; do
    service_running "$service" && continue
    # Its own process group, so stop reaches the LocalExecutor's workers and serve-logs too:
    # a worker left behind keeps the log port and the next scheduler never becomes healthy.
    nohup setsid "$VENV/bin/airflow" "$service" >"$ROOT/$service.log" 2>&1 &
    echo $! >"$(pid_file "$service")"
  done
  for _ in $(seq 1 240); do
    if healthy | grep -q '"scheduler": *{"status": *"healthy"'; then
      echo "Airflow ready: http://localhost:$PORT"
      return
    fi
    sleep 1
  done
  echo "Airflow did not become healthy in 240 s; logs in $ROOT" >&2
  healthy >&2 || true
  for service in "${SERVICES[@]}"; do
    echo "--- $service.log" >&2
    tail -n 15 "$ROOT/$service.log" >&2 || true
  done
  exit 1
}

group_alive() { kill -0 -- "-$1" 2>/dev/null || kill -0 "$1" 2>/dev/null; }

# Whether the session (setsid: one per service) a pid file names is still Airflow's: a stale
# file's pid may have been reused by some other program, whose group stop must not touch.
airflow_group() { ps -o args= -s "$1" 2>/dev/null | grep -q airflow; }

stop() {
  local service pid pids=()
  for service in "${SERVICES[@]}"; do
    pid=$(cat "$(pid_file "$service")" 2>/dev/null || true)
    if [ -n "$pid" ] && airflow_group "$pid"; then pids+=("$pid"); fi
    rm -f "$(pid_file "$service")"
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  # Whole groups: each service and what it forked (executor workers, serve-logs).
  for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 30); do
    local alive=0
    for pid in "${pids[@]}"; do group_alive "$pid" && alive=1; done
    [ $alive = 1 ] || return 0
    sleep 1
  done
  for pid in "${pids[@]}"; do kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true; done
}

status() {
  if healthy; then echo; else echo "Airflow is not running on port $PORT"; exit 1; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) echo "http://localhost:$PORT" ;;
  run) shift; airflow_env; airflow_cli "$@" ;;
  python) shift; airflow_env; exec "$VENV/bin/python" "$@" ;;
  *) echo "usage: $0 start|stop|status|url|run ARGS|python ARGS" >&2; exit 2 ;;
esac
