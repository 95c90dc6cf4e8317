#!/usr/bin/env bash
# Creates (or updates) the project virtualenv .venv with StreamFlow installed in editable mode.
#   scripts/setup-env.sh            runtime only
#   scripts/setup-env.sh test       plus the test and lint tools
#   scripts/setup-env.sh test,ml    several extras
#   scripts/setup-env.sh airflow    Airflow's own virtualenv .venv-airflow (requirements/airflow.lock)
# Versions are pinned by requirements/constraints.txt and requirements/airflow.lock (refresh
# them with scripts/lock.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"

if [ "$extras" = "airflow" ]; then
  # Its own interpreter and lock: Airflow's Beam provider wants a newer Beam than the pipeline.
  [ -x .venv-airflow/bin/python ] || python3 -m venv .venv-airflow
  [ -x .venv-airflow/bin/uv ] || .venv-airflow/bin/python -m pip install --quiet \
    --disable-pip-version-check uv
  .venv-airflow/bin/uv pip install --quiet --python .venv-airflow/bin/python --compile-bytecode \
    --requirement requirements/airflow.lock
  exit 0
fi

spec="."
[ -n "$extras" ] && spec=".[${extras}]"

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  # A venv made by uv itself has no pip: bootstrap it first.
  .venv/bin/python -m pip --version >/dev/null 2>&1 || .venv/bin/python -m ensurepip --upgrade >/dev/null
  .venv/bin/python -m pip install --quiet --disable-pip-version-check uv
fi
# Bytecode is compiled at install time: with PYTHONDONTWRITEBYTECODE set (as on CI machines),
# Beam's imports would otherwise be recompiled on every start (~3 s instead of ~1 s).
.venv/bin/uv pip install --quiet --python .venv/bin/python --compile-bytecode \
  --constraint requirements/constraints.txt --editable "$spec"
