"""BuildAlerts: the alert records of the scored transactions that crossed the threshold.

A module of its own, not a function of ``pipelines.fraud``: run as ``python -m``, that module
is ``__main__``, whose functions Beam pickles by value without their imports, so a worker in
another process (Flink's process workers, the k8s worker pool) could not run them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.counters import ALERTS_BY_RULE_PREFIX, NAMESPACE
from transforms.domain.outputs import alert_from_scored


def _is_alert(record: dict[str, Any]) -> bool:
    return bool(record["is_alert"])


def rule_counter_name(rule_id: str) -> str:
    """``FR-001`` -> ``alerts_rule_fr_001``: a name Prometheus keeps as it is."""
    return ALERTS_BY_RULE_PREFIX + re.sub(r"[^a-z0-9]", "_", rule_id.lower())


class _BuildAlertFn(beam.DoFn):  # type: ignore[misc]
    """The alert of a scored record, counted under each rule among its reasons."""

    def setup(self) -> None:
        self._by_rule: dict[str, Any] = {}

    def process(self, scored: dict[str, Any]) -> Iterator[dict[str, Any]]:
        for rule_id in scored["rules_triggered"]:
            counter = self._by_rule.get(rule_id)
            if counter is None:
                counter = self._by_rule[rule_id] = Metrics.counter(
                    NAMESPACE, rule_counter_name(rule_id)
                )
            counter.inc()
        yield alert_from_scored(scored, detected_at=datetime.now(UTC).isoformat())


class BuildAlerts(beam.PTransform):  # type: ignore[misc]
    def expand(self, scored: Any) -> Any:
        return (
            scored
            | "OnlyAlerts" >> beam.Filter(_is_alert)
            | "BuildAlerts" >> beam.ParDo(_BuildAlertFn())
        )
