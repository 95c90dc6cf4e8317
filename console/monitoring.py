"""The /monitoring page's panels: the Grafana dashboards' queries run from the server
(Prometheus over its HTTP API, the warehouse in SQL) and drawn the console's way
(:mod:`console.charts`), so the dashboards can be read without a Grafana.

A panel whose source fails says why in its place; the page itself never fails for it. The
Prometheus queries of a page run side by side, each with its own timeout.
"""

from __future__ import annotations

import http.client
import math
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from markupsafe import Markup

from console import charts, panel_sql, prometheus
from console.grafana import VARIABLE, Dashboard, Panel, Target

POINTS = 120  # per line: about one per five pixels
WIDE = 2 * charts.WIDTH  # a full-width panel's drawing, so that its text keeps its size
SCRAPE_INTERVAL_S = 15
# Grafana's units the panels use: (factor, suffix).
UNITS = {
    "percentunit": (100.0, "%"),
    "percent": (1.0, "%"),
    "s": (1.0, " s"),
    "ms": (1.0, " ms"),
    "reqps": (1.0, "/s"),
    "ops": (1.0, "/s"),
}
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")
# What a source may raise beyond its own error on an answer nobody foresaw: said in the panel
# too, never a 500 of the page.
UNFORESEEN = (
    prometheus.PrometheusError,
    panel_sql.PanelQueryError,
    http.client.HTTPException,
    OSError,
    LookupError,
    AttributeError,
    TypeError,
    ValueError,
)

Points = list[tuple[float, float]]
Series = list[tuple[str, Points]]
Table = tuple[list[str], list[tuple[Any, ...]]]


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    step: float

    @classmethod
    def ending(cls, end: float, seconds: int) -> Window:
        step = max(SCRAPE_INTERVAL_S, math.ceil(seconds / POINTS / 15) * 15)
        return cls(end - seconds, end, step)


@dataclass
class PanelView:
    title: str
    kind: str
    description: str = ""
    wide: bool = False
    picture: Markup | None = None
    figures: list[tuple[str, str]] = field(default_factory=list)
    table: tuple[list[str], list[list[str]]] | None = None
    numeric: list[bool] = field(default_factory=list)  # per column of the table: align right
    errors: list[str] = field(default_factory=list)


def views(
    dashboard: Dashboard,
    connection: psycopg.Connection,
    prometheus_url: str,
    window: Window,
    timeout: float = prometheus.TIMEOUT_S,
) -> list[PanelView]:
    """Every panel of ``dashboard`` over ``window``, queried and drawn."""
    asked = [t for panel in dashboard.panels for t in panel.targets if t.source == "prometheus"]
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(asked)))) as pool:
        answers = {
            id(target): pool.submit(_prometheus, prometheus_url, target, window, timeout)
            for target in asked
        }
        drawn = []
        for panel in dashboard.panels:
            series: Series = []
            tables: list[Table] = []
            view = PanelView(panel.title, panel.kind, panel.description, panel.wide)
            for target in panel.targets:
                try:
                    if target.source == "prometheus":
                        series += answers[id(target)].result()
                    elif target.source == "sql":
                        found = _warehouse(connection, target, window)
                        if isinstance(found, tuple):
                            tables.append(found)
                        else:
                            series += found
                    else:
                        view.errors.append(f"{target.ref_id}: a datasource this page does not read")
                except (prometheus.PrometheusError, panel_sql.PanelQueryError) as error:
                    view.errors.append(f"{target.ref_id}: {error}")
                except UNFORESEEN as error:
                    view.errors.append(f"{target.ref_id}: {_unforeseen(error)}")
            if panel.kind != "row":
                _draw(view, panel, window, series, tables)
            drawn.append(view)
    return drawn


def _unforeseen(error: BaseException) -> str:
    """An unexpected failure as a panel says it: its kind, and its message without a URL's
    ``user:password@``."""
    text = re.sub(r"(?<=//)[^/@\s]*@", "", str(error))
    return f"failed ({type(error).__name__}): {text}"[:300]


def _prometheus(url: str, target: Target, window: Window, timeout: float) -> Series:
    expr = expanded(target.text, window)
    if target.instant:
        found = prometheus.query(url, expr, window.end, timeout)
    else:
        found = prometheus.query_range(url, expr, window.start, window.end, window.step, timeout)
    return [(legend(target, item.labels), item.points) for item in found]


def expanded(expr: str, window: Window) -> str:
    """Grafana's interval variables filled in as Grafana would for this window."""
    rate = max(window.step + SCRAPE_INTERVAL_S, 4 * SCRAPE_INTERVAL_S)
    for name, seconds in (
        ("$__rate_interval", rate),
        ("$__interval", window.step),
        ("$__range", window.end - window.start),
    ):
        expr = expr.replace(name, f"{int(seconds)}s")
    left = VARIABLE.search(expr)
    if left:
        raise prometheus.PrometheusError(f"{left.group(0)}: a variable this page cannot fill")
    return expr


def legend(target: Target, labels: dict[str, str]) -> str:
    if target.legend:
        return _LEGEND.sub(lambda found: labels.get(found.group(1), ""), target.legend)
    shown = {key: value for key, value in labels.items() if key != "__name__"}
    if shown:
        return "{" + ", ".join(f'{key}="{value}"' for key, value in shown.items()) + "}"
    return labels.get("__name__") or target.text


def _warehouse(connection: psycopg.Connection, target: Target, window: Window) -> Series | Table:
    start = datetime.fromtimestamp(window.start, UTC)
    end = datetime.fromtimestamp(window.end, UTC)
    step = timedelta(seconds=window.step)
    columns, rows = panel_sql.run(connection, target.text, start, end, step)
    return (columns, rows) if target.table else _time_series(columns, rows)


def _time_series(columns: list[str], rows: Sequence[tuple[Any, ...]]) -> Series:
    """Grafana's time-series format: a ``time`` column, an optional ``metric`` column naming
    the series, and a series per other column."""
    if "time" not in columns:
        raise panel_sql.PanelQueryError("a time series needs a column named time")
    at = columns.index("time")
    named = columns.index("metric") if "metric" in columns else None
    values = [i for i in range(len(columns)) if i not in (at, named)]
    found: dict[str, Points] = {}
    for row in rows:
        when = row[at].timestamp() if isinstance(row[at], datetime) else _number(row[at], "time")
        for index in values:
            if row[index] is None:
                continue
            name = str(row[named]) if named is not None else columns[index]
            if named is not None and len(values) > 1:
                name = f"{name} {columns[index]}"
            value = _number(row[index], columns[index])
            if math.isfinite(value):  # NaN and infinities left out, as Prometheus' are
                found.setdefault(name, []).append((when, value))
    return list(found.items())


def _number(value: Any, column: str) -> float:
    """A value of a time series: a number (a time column also a timestamp, or unix seconds)."""
    if not _numeric(value):
        kind = type(value).__name__
        raise panel_sql.PanelQueryError(f"column {column}: a {kind}, not a number or a time")
    return float(value)


def _draw(
    view: PanelView, panel: Panel, window: Window, series: Series, tables: list[Table]
) -> None:
    factor, suffix = UNITS.get(panel.unit, (1.0, ""))
    scaled = [(name, [(t, v * factor) for t, v in points]) for name, points in series]
    latest = [(name, points[-1][1]) for name, points in scaled if points]
    latest += [(name, value * factor) for table in tables for name, value in _values(table)]
    width = WIDE if panel.wide else charts.WIDTH
    if panel.kind == "timeseries":
        span = (window.start, window.end)
        view.picture = charts.lines(scaled, panel.title, unit=suffix, span=span, width=width)
    elif panel.kind == "stat":
        view.figures = [(name, f"{charts.figure(value)}{suffix}") for name, value in latest]
    elif panel.kind == "bargauge":
        view.picture = charts.bars(latest, panel.title, unit=suffix, width=width)
    elif panel.kind == "piechart":
        view.picture = charts.shares(latest, panel.title)
    elif panel.kind == "table" and tables:
        columns, rows = tables[0]
        view.table = (columns, [[_cell(value) for value in row] for row in rows])
        view.numeric = [_numeric(value) for value in rows[0]] if rows else []
    elif panel.kind == "table":
        view.table = (["series", "value"], [[name, charts.figure(value)] for name, value in latest])
        view.numeric = [False, True]
    else:
        view.errors.append(f"a {panel.kind} panel is not drawn here")


def _values(table: Table) -> list[tuple[str, float]]:
    """A SQL table as named values: a row per name (its first column) with its value (the
    second), or the columns of a single row of numbers."""
    columns, rows = table
    if not rows:
        return []
    if len(columns) >= 2 and not _numeric(rows[0][0]):
        return [(str(row[0]), float(row[1])) for row in rows if _numeric(row[1])]
    first = zip(columns, rows[0], strict=True)
    return [(column, float(value)) for column, value in first if _numeric(value)]


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return f"{value:,.0f}"  # a sum of counts comes back as numeric
    if isinstance(value, float | Decimal):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
