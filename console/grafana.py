"""The Grafana dashboards of k8s/monitoring/dashboards/, read as the /monitoring page needs them:
each panel's kind, unit, width and queries, each query with the datasource it goes to.

Only what the page draws is read; the files are Grafana's, checked against Grafana's schema by
tests/monitoring/test_dashboards.py. A file that cannot be read is reported, never fatal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Source = Literal["prometheus", "sql", "other"]
SOURCES: dict[str, Source] = {
    "prometheus": "prometheus",
    "grafana-postgresql-datasource": "sql",
    "postgres": "sql",
}
MAX_FILE = 1024 * 1024
DEFAULT_RANGE_S = 6 * 3600
_RELATIVE = re.compile(r"now-(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# A Grafana macro or variable ($__interval, $job, ${job}); not a regular expression's group ("$1").
VARIABLE = re.compile(r"\$(?:\{\w+\}|[A-Za-z_]\w*)")


@dataclass(frozen=True)
class Target:
    ref_id: str
    source: Source
    text: str  # the PromQL expression or the SQL
    legend: str | None
    instant: bool
    table: bool  # SQL in Grafana's table format rather than time series


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str  # Grafana's panel type: timeseries, stat, table, bargauge, piechart, row, ...
    description: str
    unit: str
    wide: bool
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    range_s: int  # the dashboard's own time range: "now-6h" is 21600


def load_dashboards(directory: Path) -> tuple[list[Dashboard], list[str]]:
    """The dashboards of ``directory`` by file name, and a line per file that could not be read."""
    found, problems = [], []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            if path.stat().st_size > MAX_FILE:
                raise ValueError("larger than 1 MB")
            found.append(dashboard(json.loads(path.read_text("utf-8"))))
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            problems.append(f"{path.name}: {type(error).__name__}: {error}"[:300])
    return found, problems


def dashboard(document: dict[str, Any]) -> Dashboard:
    return Dashboard(
        uid=str(document["uid"]),
        title=str(document.get("title") or document["uid"]),
        description=str(document.get("description") or ""),
        panels=tuple(_panel(item) for item in _ordered(document.get("panels") or [])),
        range_s=relative_seconds(str((document.get("time") or {}).get("from", ""))),
    )


def relative_seconds(text: str) -> int:
    """``now-6h`` as 21600; anything else as the default six hours."""
    found = _RELATIVE.fullmatch(text.strip())
    return int(found.group(1)) * _UNIT_SECONDS[found.group(2)] if found else DEFAULT_RANGE_S


def _ordered(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Top to bottom, left to right, as Grafana lays them out (a collapsed row's panels follow
    the row)."""
    flat = []
    for panel in sorted(panels, key=_position):
        flat.append(panel)
        flat.extend(sorted(panel.get("panels") or [], key=_position))
    return flat


def _position(panel: dict[str, Any]) -> tuple[int, int]:
    grid = panel.get("gridPos") or {}
    return int(grid.get("y", 0)), int(grid.get("x", 0))


def _panel(panel: dict[str, Any]) -> Panel:
    defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
    source = _source(panel.get("datasource"))
    return Panel(
        title=str(panel.get("title") or ""),
        kind=str(panel["type"]),
        description=str(panel.get("description") or ""),
        unit=str(defaults.get("unit") or ""),
        wide=int((panel.get("gridPos") or {}).get("w", 12)) > 12,
        targets=tuple(
            _target(target, _source(target.get("datasource")) or source or "other")
            for target in panel.get("targets") or []
            if not target.get("hide")
        ),
    )


def _target(target: dict[str, Any], source: Source) -> Target:
    text = target.get("expr") if source == "prometheus" else target.get("rawSql")
    legend = target.get("legendFormat")
    return Target(
        ref_id=str(target.get("refId") or ""),
        source=source,
        text=str(text or ""),
        legend=str(legend) if legend and legend != "__auto" else None,
        instant=bool(target.get("instant")) and not target.get("range"),
        table=target.get("format") == "table",
    )


def _source(datasource: Any) -> Source | None:
    if isinstance(datasource, dict) and datasource.get("type"):
        return SOURCES.get(str(datasource["type"]), "other")
    return None
