#!/usr/bin/env bash
# A local PostgreSQL for development and CI, from Debian's packages, in a project folder.
#   scripts/postgres.sh start    install if missing, init the cluster once, start, create db/role
#   scripts/postgres.sh stop | status | dsn
# Port: STREAMFLOW_PG_PORT (default 55432). Listens on 127.0.0.1 only, with trust auth: a
# throwaway development cluster, never a deployment (those take the DSN from the environment).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${STREAMFLOW_PG_PORT:-55432}"
ROOT="${STREAMFLOW_PG_ROOT:-$PWD/.cache/postgres}"
# As root the server runs as the postgres user, who may not be allowed into this checkout
# (a private home or CI folder): then the cluster lives under /var/tmp instead.
if [ -z "${STREAMFLOW_PG_ROOT:-}" ] && [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 \
  && ! runuser -u postgres -- test -x "$PWD" 2>/dev/null; then
  ROOT="/var/tmp/streamflow-postgres-$PORT"
fi
DATA="$ROOT/data"
LOG="$ROOT/server.log"
DB=streamflow
ROLE=streamflow

bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

ensure_installed() {
  if [ -z "$(bin_dir)" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
}

# PostgreSQL refuses to run as root: as root, run the server as the postgres user.
as_owner() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

psql_admin() { "$(bin_dir)/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres "$@"; }

start() {
  ensure_installed
  local bin; bin="$(bin_dir)"
  mkdir -p "$ROOT"
  [ "$(id -u)" = 0 ] && chown postgres "$ROOT"
  if [ ! -f "$DATA/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if ! as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start \
      -o "-p $PORT -c listen_addresses=127.0.0.1 -k $ROOT -c fsync=off" >/dev/null
  fi
  psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'" | grep -q 1 \
    || psql_admin -c "CREATE ROLE $ROLE LOGIN CREATEDB"
  # The warehouse migrations create the console's own role (V011): idempotent, for clusters
  # created before that.
  psql_admin -c "ALTER ROLE $ROLE CREATEROLE"
  psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
    || psql_admin -c "CREATE DATABASE $DB OWNER $ROLE"
  echo "PostgreSQL ready: $(dsn)"
}

stop() {
  local bin; bin="$(bin_dir)"
  [ -n "$bin" ] && [ -f "$DATA/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
}

status() { as_owner "$(bin_dir)/pg_ctl" -D "$DATA" status; }

dsn() { echo "postgresql://$ROLE@127.0.0.1:$PORT/$DB"; }

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  dsn) dsn ;;
  *) echo "usage: $0 start|stop|status|dsn" >&2; exit 2 ;;
esac
