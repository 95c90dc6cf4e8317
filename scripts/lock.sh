#!/usr/bin/env bash
# Re-resolves requirements/constraints.txt from setup.py (all extras) and Airflow's own lock,
# requirements/airflow.lock from requirements/airflow.in, for Python 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=.venv/bin/uv
[ -x "$uv" ] || uv=uv
"$uv" pip compile --quiet setup.py --extra test --extra ml --extra evaluate --extra postgres --extra kafka --extra console --python-version 3.11 \
  --output-file requirements/constraints.txt
"$uv" pip compile --quiet requirements/airflow.in --python-version 3.11 \
  --output-file requirements/airflow.lock
