"""The local Prometheus (scripts/prometheus.sh): it loads the PrometheusRule's rules, scrapes every
port of the Flink reporter's range and the console, and a start with ``for:`` capped reloads it
with the capped copy, and a plain start with the production durations again."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.monitoring import local_prometheus
from tests.monitoring.local_prometheus import api
from tests.monitoring.rules import prometheus_rule, rules
from tests.services import SCRIPTS, service_script

pytestmark = pytest.mark.prometheus


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    yield local_prometheus.start()
    local_prometheus.start()


def _durations(url: str) -> dict[str, float]:
    return {
        rule["name"]: float(rule["duration"])
        for group in api(url, "rules", type="alert")["groups"]
        for rule in group["rules"]
    }


def _seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(duration[:-1]) * units[duration[-1]]


def test_it_answers_where_url_says_and_reports_running(prometheus: str) -> None:
    port = os.environ.get("STREAMFLOW_PROMETHEUS_PORT", "59090")
    assert prometheus == f"http://127.0.0.1:{port}"
    assert prometheus == service_script("prometheus", "url")
    assert "Prometheus running" in service_script("prometheus", "status")
    # A second start finds it running with the same rules: nothing to do.
    assert local_prometheus.start() == prometheus


def test_it_evaluates_the_prometheus_rules_own_rules(prometheus: str) -> None:
    source = rules(prometheus_rule())
    expected = {
        str(rule["alert"]): _seconds(str(rule.get("for", "0s")))
        for rule in source
        if "alert" in rule
    }
    assert _durations(prometheus) == expected
    recorded = {
        rule["name"]
        for group in api(prometheus, "rules", type="record")["groups"]
        for rule in group["rules"]
    }
    assert recorded == {str(rule["record"]) for rule in source if "record" in rule}


def test_it_scrapes_every_flink_reporter_port_and_the_console(prometheus: str) -> None:
    # scripts/flink.sh's range: PROM_PORTS="${STREAMFLOW_FLINK_PROMETHEUS_PORTS:-59249-59251}"
    default = next(
        line.split(":-", 1)[1].rstrip('}"')
        for line in (SCRIPTS / "flink.sh").read_text().splitlines()
        if line.startswith("PROM_PORTS=")
    )
    ports = os.environ.get("STREAMFLOW_FLINK_PROMETHEUS_PORTS", default)
    first, last = (int(port) for port in ports.split("-"))
    targets = api(prometheus, "targets")["activeTargets"]
    by_job: dict[str, set[str]] = {}
    for target in targets:
        by_job.setdefault(target["labels"]["job"], set()).add(target["scrapeUrl"])
    assert by_job["flink"] == {
        f"http://localhost:{port}/metrics" for port in range(first, last + 1)
    }
    assert by_job["streamflow-console"] == {"http://127.0.0.1:58090/metrics"}


def test_a_start_with_for_capped_reloads_it_and_a_plain_start_restores(prometheus: str) -> None:
    production = _durations(prometheus)
    assert production["StreamFlowJobDown"] == 300
    local_prometheus.start(max_for="10s")
    capped = _durations(prometheus)
    assert capped == {name: min(seconds, 10.0) for name, seconds in production.items()}
    assert "capped at 10s" in service_script("prometheus", "status")
    local_prometheus.start()
    assert _durations(prometheus) == production
