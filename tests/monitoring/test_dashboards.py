"""The Grafana dashboards of k8s/monitoring/dashboards/.

* Each is valid against Grafana's dashboard schema (tests/monitoring/grafana_schema.py: the
  Grafana Foundation SDK's types as JSON Schema), and a broken one is rejected.
* Stable uids and titles, the schema version of that schema, datasources as template variables.
* Every Prometheus expression parses (``promtool check rules``, each as a recording rule) and
  names only metrics that exist: the pipeline's counters on Flink's reporter, Flink's and the
  Kafka Exporter's, the console's /metrics, the recording rules of prometheus-rules.yaml.
* Every SQL panel runs on a migrated warehouse as the console's role, within the page's
  2,000 rows over every range the page offers.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg.conninfo import make_conninfo

from console import metrics as console_metrics
from console import panel_sql
from console.monitoring import Window, expanded
from console.monitoring_pages import RANGES
from pipelines.warehouse.scratch import scratch_database
from tests.console.seed import seed_store_minutes
from tests.monitoring import grafana_schema
from tests.services import service_script
from transforms import counters

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "k8s" / "monitoring" / "dashboards"
RULES = ROOT / "k8s" / "monitoring" / "prometheus-rules.yaml"
FILES = sorted(DASHBOARDS.glob("*.json"))
# The datasource plugins the dashboards use, each through its template variable.
VARIABLES = {"prometheus": "DS_PROMETHEUS", "grafana-postgresql-datasource": "DS_WAREHOUSE"}
BEAM_ON_FLINK = f"flink_taskmanager_job_task_operator_{counters.NAMESPACE}_"
# Metrics of others that the dashboards read: Flink's JobManager (job level) and Strimzi's Kafka
# Exporter (docs/monitoring.md).
FOREIGN = {
    "flink_jobmanager_numRunningJobs",
    "flink_jobmanager_job_uptime",
    "flink_jobmanager_job_downtime",
    "flink_jobmanager_job_numRestarts",
    "flink_jobmanager_job_numberOfFailedCheckpoints",
    "flink_jobmanager_job_numberOfCompletedCheckpoints",
    "flink_jobmanager_job_lastCheckpointDuration",
    "kafka_consumergroup_lag",
}
_PROMQL_KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
}


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return document


def all_panels(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in document.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def targets(document: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any], str]]:
    """Each query with its panel and the datasource plugin it goes to."""
    for panel in all_panels(document):
        for target in panel.get("targets", []):
            source = target.get("datasource") or panel.get("datasource") or {}
            yield panel, target, source.get("type", "")


def prometheus_expressions() -> list[tuple[str, str]]:
    return [
        (f"{path.name}: {panel['title']} {target['refId']}", target["expr"])
        for path in FILES
        for panel, target, plugin in targets(load(path))
        if plugin == "prometheus"
    ]


def sql_queries() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path.name}: {panel['title']} {target['refId']}", target)
        for path in FILES
        for panel, target, plugin in targets(load(path))
        if plugin == "grafana-postgresql-datasource"
    ]


def test_the_three_dashboards_are_there() -> None:
    assert {path.name for path in FILES} >= {"operations.json", "fraud.json", "retail.json"}


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_each_dashboard_is_valid_against_grafanas_schema(path: Path) -> None:
    errors = grafana_schema.schema_errors(grafana_schema.dashboard_validator(), load(path))
    assert errors == []


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_uids_titles_and_the_schema_version_are_stable(path: Path) -> None:
    document = load(path)
    assert document["uid"] == f"streamflow-{path.stem}"
    assert document["title"] == f"StreamFlow / {path.stem.capitalize()}"
    assert document["schemaVersion"] == grafana_schema.schema_version()
    panels = list(all_panels(document))
    assert len({panel["id"] for panel in panels}) == len(panels)
    titles = [panel["title"] for panel in panels]
    assert all(titles)
    assert len(set(titles)) == len(titles)


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_datasources_are_template_variables(path: Path) -> None:
    """No datasource uid of one Grafana: each reference is the variable of its plugin, which
    the dashboard declares, so an import asks which datasource to use."""
    document = load(path)
    declared = {
        item["name"]: item["query"]
        for item in document["templating"]["list"]
        if item["type"] == "datasource"
    }
    for panel in (p for p in all_panels(document) if p["type"] != "row"):
        references = [panel.get("datasource")] + [t.get("datasource") for t in panel["targets"]]
        for reference in filter(None, references):
            variable = VARIABLES[reference["type"]]
            assert reference["uid"] == f"${{{variable}}}", panel["title"]
            assert declared.get(variable) == reference["type"], panel["title"]


def _panel_of_type(kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda document: next(p for p in all_panels(document) if p["type"] == kind)


_TIMESERIES = _panel_of_type("timeseries")
BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "a grid width of text": (lambda d: _TIMESERIES(d)["gridPos"].update(w="12"), "gridPos.w"),
    "a grid wider than 24": (lambda d: _TIMESERIES(d)["gridPos"].update(w=25), "gridPos.w"),
    "an unknown panel field": (lambda d: _TIMESERIES(d).update(colour="red"), "colour"),
    "an unknown option of its panel type": (
        lambda d: _TIMESERIES(d)["options"].update(showLegendToo=True),
        "showLegendToo",
    ),
    "a legend option of the wrong type": (
        lambda d: _TIMESERIES(d)["options"]["legend"].update(showLegend="yes"),
        "legend.showLegend",
    ),
    "a misspelled query field": (
        lambda d: _TIMESERIES(d)["targets"][0].update(exprs="up"),
        "exprs",
    ),
    "a query without its expression": (
        lambda d: _TIMESERIES(d)["targets"][0].pop("expr"),
        "'expr' is a required property",
    ),
    "a panel without a type": (lambda d: _TIMESERIES(d).update(type=""), "type"),
    "a schema version of text": (lambda d: d.update(schemaVersion="42"), "schemaVersion"),
    "no templating": (lambda d: d.pop("templating"), "'templating' is a required property"),
    "an unknown variable type": (
        lambda d: d["templating"]["list"][0].update(type="datasources"),
        "templating.list[0].type",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_dashboard_is_rejected(case: str) -> None:
    document = load(DASHBOARDS / "operations.json")
    break_it, expected = BROKEN[case]
    break_it(document)
    errors = grafana_schema.schema_errors(grafana_schema.dashboard_validator(), document)
    assert any(expected in error for error in errors), errors


def promtool_errors(expressions: list[tuple[str, str]], directory: Path) -> str:
    """What ``promtool check rules`` says about the expressions, each a recording rule, with
    Grafana's interval variables filled in as the console fills them ('' when all parse)."""
    window = Window.ending(time.time(), 3600)
    rules = [
        {"record": f"dashboard:expression_{index}:check", "expr": expanded(expr, window)}
        for index, (_, expr) in enumerate(expressions)
    ]
    path = directory / "dashboard-expressions.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    # scripts/prometheus.sh installs Debian's prometheus package (promtool) if it is missing.
    promtool = service_script("prometheus", "promtool", timeout=900)
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    return "" if done.returncode == 0 else done.stdout + done.stderr


@pytest.mark.prometheus
def test_every_prometheus_expression_parses(tmp_path: Path) -> None:
    expressions = prometheus_expressions()
    assert len(expressions) >= 20
    assert promtool_errors(expressions, tmp_path) == ""
    broken = [("broken", "sum by (rule (streamflow:alerts_by_rule:rate5m)")]
    assert "parse error" in promtool_errors(broken, tmp_path)


def metric_names(expr: str) -> set[str]:
    """The metric and recording-rule names a PromQL expression reads."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', "", expr)  # strings
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)  # label matchers, ranges
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for found in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        name, call = found.group(1), found.group(2)
        if not call and name.lower() not in _PROMQL_KEYWORDS:
            names.add(name)
    return names


def known_metrics() -> set[str]:
    pipeline = {
        BEAM_ON_FLINK + value
        for name, value in vars(counters).items()
        if name.isupper() and isinstance(value, str) and name != "NAMESPACE"
    }
    rules = yaml.safe_load(RULES.read_text("utf-8"))
    recorded = {
        rule["record"]
        for group in rules["spec"]["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    return pipeline | FOREIGN | set(console_metrics.FAMILIES) | recorded


def test_metric_names_are_found_in_an_expression() -> None:
    expr = (
        'sum by (rule) (rate(a_total{job_name=~"x|y"}[5m])) / on (job_name) group_left b:c:d '
        '- time() > bool 2 unless max(c offset 5m) or label_replace(d, "x", "$1", "y", "(.*)")'
    )
    assert metric_names(expr) == {"a_total", "b:c:d", "c", "d"}


def test_every_prometheus_expression_names_only_known_metrics() -> None:
    known = known_metrics()
    assert BEAM_ON_FLINK + "read" in known
    assert "streamflow:read:rate1m" in known
    unknown = {
        where: sorted(metric_names(expr) - known)
        for where, expr in prometheus_expressions()
        if metric_names(expr) - known
    }
    assert unknown == {}


@pytest.fixture(scope="module")
def warehouse(server_dsn: str) -> Iterator[str]:
    """A migrated warehouse with six hours of sales of twelve stores (the owner's DSN): a row
    per store and minute would be more than the page's 2,000."""
    with scratch_database(server_dsn) as dsn:
        with psycopg.connect(dsn, autocommit=True) as connection:
            exists = connection.execute(
                "SELECT to_regclass('silver.store_minute_metrics') IS NOT NULL"
            ).fetchone()
            if not exists or not exists[0]:
                pytest.skip("silver.store_minute_metrics does not exist yet (migration V018)")
        stores = tuple(f"store-{number:04d}" for number in range(12))
        seed_store_minutes(dsn, stores, minutes=6 * 60)
        yield dsn


@pytest.mark.parametrize("where", [where for where, _ in sql_queries()])
def test_every_sql_panel_runs_on_a_migrated_warehouse(warehouse: str, where: str) -> None:
    """Over each range of the page with its step, as /monitoring runs it (panel_sql.run
    refuses more than MAX_ROWS rows)."""
    target = dict(sql_queries())[where]
    console_role = make_conninfo(warehouse, user="streamflow_console")
    with psycopg.connect(console_role, autocommit=True) as connection:
        for seconds in RANGES.values():
            window = Window.ending(time.time(), seconds)
            start, end = (datetime.fromtimestamp(t, UTC) for t in (window.start, window.end))
            step = timedelta(seconds=window.step)
            columns, rows = panel_sql.run(connection, target["rawSql"], start, end, step)
            assert rows, where
            if target["format"] == "time_series":
                assert columns[0] == "time"
                assert all(isinstance(row[0], datetime) for row in rows)
                assert len({row[0] for row in rows}) <= seconds / window.step + 1


def test_time_groups_are_the_steps_of_the_page(warehouse: str) -> None:
    sql = (
        "SELECT $__timeGroupAlias(window_start, $__interval), count(*) AS n "
        "FROM silver.store_minute_metrics WHERE $__timeFilter(window_start) GROUP BY 1 ORDER BY 1"
    )
    end = datetime.now(UTC)
    with psycopg.connect(warehouse, autocommit=True) as connection:
        columns, rows = panel_sql.run(
            connection, sql, end - timedelta(hours=6), end, timedelta(minutes=30)
        )
    assert columns == ["time", "n"]
    assert 12 <= len(rows) <= 13
    assert all(row[0].timestamp() % 1800 == 0 for row in rows)  # from the epoch, as Grafana
    assert sum(row[1] for row in rows) == 12 * 6 * 60


def test_a_sql_panel_with_an_unknown_macro_is_refused() -> None:
    for unknown in (
        "SELECT $__timeGroup(window_start, '1m') FROM x",
        "SELECT $__timeGroupAlias(window_start, '1m') FROM x",  # only the page's step
        "SELECT $__timeGroupAlias(window_start, $__interval, 0) FROM x",  # no filling
        "SELECT $__interval",
    ):
        with pytest.raises(panel_sql.PanelQueryError, match=r"\$__(timeGroup|interval)"):
            panel_sql.parameterised(unknown)
    assert panel_sql.parameterised("SELECT $__timeGroupAlias( m.t ,$__interval ), 1") == (
        "SELECT date_bin(%(interval)s::interval, m.t, 'epoch') AS \"time\", 1"
    )
    assert panel_sql.parameterised("SELECT 1 WHERE $__timeFilter(t) AND x LIKE 'a%'") == (
        "SELECT 1 WHERE t BETWEEN %(start)s AND %(end)s AND x LIKE 'a%%'"
    )


def test_the_schema_is_strict_where_grafana_is() -> None:
    """Not vacuous: the converted schema closes objects and keeps Grafana's bounds."""
    schema = grafana_schema.dashboard_schema()["$defs"]
    assert schema["dashboard.Panel"]["additionalProperties"] is False
    assert schema["dashboard.GridPos"]["properties"]["w"]["maximum"] == 24
    assert schema["dashboard.Dashboard"]["required"] == [
        "schemaVersion",
        "templating",
        "annotations",
    ]
