"""BuildAlerts: the alert records of the scored transactions that crossed the threshold.

A module of its own, not a function of ``pipelines.fraud``: run as ``python -m``, that module
is ``__main__``, whose functions Beam pickles by value without their imports, so a worker in
another process (Flink's process workers, the k8s worker pool) could not run them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import apache_beam as beam

from transforms.domain.outputs import alert_from_scored


def _is_alert(record: dict[str, Any]) -> bool:
    return bool(record["is_alert"])


def _alert(scored: dict[str, Any]) -> dict[str, Any]:
    return alert_from_scored(scored, detected_at=datetime.now(UTC).isoformat())


class BuildAlerts(beam.PTransform):  # type: ignore[misc]
    def expand(self, scored: Any) -> Any:
        return scored | "OnlyAlerts" >> beam.Filter(_is_alert) | "BuildAlerts" >> beam.Map(_alert)
