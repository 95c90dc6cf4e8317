#!/usr/bin/env bash
# Re-resolves requirements/constraints.txt from setup.py (all extras) for Python 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=.venv/bin/uv
[ -x "$uv" ] || uv=uv
"$uv" pip compile --quiet setup.py --extra test --extra ml --extra postgres --extra kafka --python-version 3.11 \
  --output-file requirements/constraints.txt
