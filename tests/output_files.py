"""Reading a pipeline run's sharded JSONL outputs back, for assertions."""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Any


def read_records(out: Path, name: str) -> list[dict[str, Any]]:
    """All records of ``<out>/<name>-*.jsonl``, shard by shard."""
    rows: list[dict[str, Any]] = []
    for path in sorted(glob.glob(str(out / f"{name}-*.jsonl"))):
        with open(path, encoding="utf-8") as handle:
            rows.extend(json.loads(line) for line in handle)
    return rows
