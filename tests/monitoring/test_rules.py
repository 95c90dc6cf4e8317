"""The alerting and recording rules (k8s/monitoring/prometheus-rules.yaml): promtool accepts
them, their unit tests (k8s/monitoring/tests) pass, and a broken rule or a wrong expectation
fails, so that these tests can fail. Also what a reader of an alert relies on: its severity,
summary, description and a runbook section that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.monitoring.rules import (
    DOCS,
    RULE_SOURCE,
    UNIT_TESTS,
    extract,
    prometheus_rule,
    rules,
    run_promtool,
    unit_test_folder,
)

pytestmark = pytest.mark.prometheus

RECORD_NAME = re.compile(r"^streamflow:[a-z0-9_]+:[a-z0-9_]+$")
SEVERITIES = {"critical", "warning"}


def alerts() -> list[dict[str, object]]:
    return [rule for rule in rules(prometheus_rule()) if "alert" in rule]


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    done = extract(RULE_SOURCE, tmp_path / "rules.yaml")
    assert done.returncode == 0, done.stderr
    checked = run_promtool("check", "rules", str(tmp_path / "rules.yaml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules(prometheus_rule()))} rules found" in checked.stdout


def test_the_unit_tests_pass(tmp_path: Path) -> None:
    done = run_promtool("test", "rules", str(unit_test_folder(tmp_path)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_a_syntax_error_in_an_expression_is_rejected(tmp_path: Path) -> None:
    text = RULE_SOURCE.read_text()
    broken = text.replace(
        "expr: streamflow:alert_latency_seconds:p99_5m > 5",
        "expr: streamflow:alert_latency_seconds:p99_5m > (5",
    )
    assert broken != text
    source = tmp_path / "broken.yaml"
    source.write_text(broken)
    done = extract(source, tmp_path / "rules.yaml")
    assert done.returncode == 0, done.stderr
    checked = run_promtool("check", "rules", str(tmp_path / "rules.yaml"))
    assert checked.returncode != 0
    assert "StreamFlowAlertLatencyHigh" in checked.stdout + checked.stderr


def test_a_changed_threshold_fails_the_unit_tests(tmp_path: Path) -> None:
    # A rule that still parses but no longer does what the tests say: p99 over 10 s.
    text = RULE_SOURCE.read_text()
    changed = text.replace(
        "expr: streamflow:alert_latency_seconds:p99_5m > 5",
        "expr: streamflow:alert_latency_seconds:p99_5m > 10",
    )
    assert changed != text
    source = tmp_path / "changed.yaml"
    source.write_text(changed)
    done = run_promtool("test", "rules", str(unit_test_folder(tmp_path, source=source)))
    assert done.returncode != 0
    assert "StreamFlowAlertLatencyHigh" in done.stdout + done.stderr


# Rules that still parse but count the wrong thing, each with what the failure names.
_SELECTOR = '{job_name=~"fraud_detection|streamflow_.*"}'
BROKEN_RULES = {
    # A dlq_ regex that also takes the control topics' control_dlq_ counters.
    "dead letters of the control topics in the share": (
        '__name__=~"flink_taskmanager_job_task_operator_streamflow_dlq_.+"',
        '__name__=~"flink_taskmanager_job_task_operator_streamflow_.*dlq_.+"',
        "dead_letters",
    ),
    # The newest event time read as if it were still a lag.
    "an event-time lag that does not grow": (
        "expr: time() - max by (job_name) (flink_taskmanager_job_task_operator_streamflow_"
        "newest_event_time_ms",
        "expr: 0 - max by (job_name) (flink_taskmanager_job_task_operator_streamflow_"
        "newest_event_time_ms",
        "event_time_lag_seconds",
    ),
    # The SLO's good counter without its 0 where le_5000 is missing.
    "an SLO without the fill of a missing bound": (
        "              or 0 * flink_taskmanager_job_task_operator_streamflow_alert_latency_ms"
        f"_le_inf{_SELECTOR},\n",
        "",
        "slo_latency",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_RULES))
def test_a_rule_that_counts_the_wrong_thing_fails_the_unit_tests(tmp_path: Path, case: str) -> None:
    old, new, named = BROKEN_RULES[case]
    text = RULE_SOURCE.read_text()
    assert text.count(old) == 1, case
    source = tmp_path / "broken.yaml"
    source.write_text(text.replace(old, new))
    done = run_promtool("test", "rules", str(unit_test_folder(tmp_path, source=source)))
    assert done.returncode != 0
    assert named in done.stdout + done.stderr


def test_a_wrong_expectation_fails_the_unit_tests(tmp_path: Path) -> None:
    text = UNIT_TESTS.read_text()
    # The p99 of fraud_detection is 9.5 s; expecting 9.4 s must fail.
    wrong = re.sub(
        r"(round\(streamflow:alert_latency_seconds:p99_5m, 0\.0001\)\n(?:.*\n){3}\s+value: )9\.5",
        r"\g<1>9.4",
        text,
    )
    assert wrong != text
    done = run_promtool("test", "rules", str(unit_test_folder(tmp_path, tests=wrong)))
    assert done.returncode != 0
    assert "p99_5m" in done.stdout + done.stderr


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    document = yaml.safe_load(UNIT_TESTS.read_text())
    firing: set[str] = set()
    quiet: set[str] = set()
    for group in document["tests"]:
        for case in group.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {str(rule["alert"]) for rule in alerts()}
    assert names - firing == set(), "alerts never seen firing"
    assert names - quiet == set(), "alerts never seen quiet"
    assert firing | quiet <= names, "tests of alerts that do not exist"


def test_the_unit_tests_evaluate_every_group_in_the_rules_order() -> None:
    # Recording rules before the alerts that read them, every group named (promtool's
    # group_eval_order): otherwise an alert may read a recording one step old, at random.
    order = yaml.safe_load(UNIT_TESTS.read_text())["group_eval_order"]
    assert order == [group["name"] for group in prometheus_rule()["spec"]["groups"]]


def test_the_main_recording_rules_have_unit_tests() -> None:
    tested = UNIT_TESTS.read_text()
    for name in (
        "streamflow:read:rate1m",
        "streamflow:alerts_by_rule:rate5m",
        "streamflow:dead_letters_by_type:rate5m",
        "streamflow:control_dead_letters_by_type:rate5m",
        "streamflow:dead_letters:ratio_rate5m",
        "streamflow:alert_latency_ms_bucket:rate5m",
        "streamflow:alert_latency_seconds:p99_5m",
        "streamflow:alert_latency_seconds:p50_5m",
        "streamflow:slo_latency_alerts:counter",
        "streamflow:slo_latency_errors:ratio_rate5m",
        "streamflow:slo_latency_errors:ratio_rate30m",
        "streamflow:slo_latency_errors:ratio_rate1h",
        "streamflow:slo_latency_errors:ratio_rate6h",
        "streamflow:event_time_lag_seconds:max",
    ):
        assert f"expr: {name}" in tested or f"expr: round({name}" in tested, name


def test_recording_rules_are_named_streamflow_what_aggregation() -> None:
    for rule in rules(prometheus_rule()):
        if "record" in rule:
            assert RECORD_NAME.match(str(rule["record"])), rule["record"]


def test_every_alert_says_how_bad_what_and_where_its_runbook_is() -> None:
    headings = set(re.findall(r"^### (\S+)$", DOCS.read_text(), flags=re.MULTILINE))
    for rule in alerts():
        name = str(rule["alert"])
        labels = rule["labels"]
        annotations = rule["annotations"]
        assert isinstance(labels, dict)
        assert isinstance(annotations, dict)
        assert labels["severity"] in SEVERITIES, name
        assert annotations["summary"], name
        assert annotations["description"], name
        # The runbook is the alert's own section of docs/monitoring.md.
        assert annotations["runbook_url"] == f"docs/monitoring.md#{name.lower()}", name
        assert name in headings, f"docs/monitoring.md has no section '### {name}'"


def test_the_prometheus_operator_finds_the_rule() -> None:
    document = prometheus_rule()
    assert document["apiVersion"] == "monitoring.coreos.com/v1"
    assert document["kind"] == "PrometheusRule"
    assert document["metadata"]["name"] == "streamflow"
    # kube-prometheus-stack's default ruleSelector (docs/monitoring.md, "Deployment").
    assert document["metadata"]["labels"]["release"] == "prometheus"
    assert "release: prometheus" in DOCS.read_text()


def test_max_for_caps_every_duration_in_the_copy_only(tmp_path: Path) -> None:
    before = RULE_SOURCE.read_text()
    done = extract(RULE_SOURCE, tmp_path / "rules.yaml", "--max-for", "10s")
    assert done.returncode == 0, done.stderr
    copied = yaml.safe_load((tmp_path / "rules.yaml").read_text())
    durations = [r["for"] for g in copied["groups"] for r in g["rules"] if "for" in r]
    assert durations
    assert set(durations) == {"10s"}
    # The same rules otherwise, and the PrometheusRule itself untouched.
    assert RULE_SOURCE.read_text() == before
    unchanged = extract(RULE_SOURCE, tmp_path / "as-is.yaml")
    assert unchanged.returncode == 0
    original = yaml.safe_load((tmp_path / "as-is.yaml").read_text())
    for group in original["groups"]:
        for rule in group["rules"]:
            rule.pop("for", None)
    for group in copied["groups"]:
        for rule in group["rules"]:
            rule.pop("for", None)
    assert copied == original
    assert "for: 5m" in before


@pytest.mark.parametrize("value", ["10", "ten seconds", "1h-5m", ""])
def test_max_for_refuses_what_is_not_a_duration(tmp_path: Path, value: str) -> None:
    done = extract(RULE_SOURCE, tmp_path / "rules.yaml", "--max-for", value)
    assert done.returncode == 2
    assert "not a Prometheus duration" in done.stderr
    assert not (tmp_path / "rules.yaml").exists()
