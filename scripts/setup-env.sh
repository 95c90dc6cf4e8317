#!/usr/bin/env bash
# Creates (or updates) the project virtualenv .venv with StreamFlow installed in editable mode.
#   scripts/setup-env.sh            runtime only
#   scripts/setup-env.sh test       plus the test and lint tools
#   scripts/setup-env.sh test,ml    several extras
# Versions are pinned by requirements/constraints.txt (refresh it with scripts/lock.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
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
