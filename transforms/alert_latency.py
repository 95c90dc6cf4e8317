"""MeasureAlertLatency: the live job's end-to-end latency, as Prometheus-style bucket counters.

Measured on each alert as it is handed to the Kafka producer: the wall clock minus the
transaction's event time, which the producer stamps as the Kafka record's create time (a store
sends a transaction as it happens). Not Kafka's append time, which the stateful steps do not
carry: a store's clock skew counts as latency (docs/monitoring.md). Beam distributions reach
Flink's Prometheus reporter as no number at all, so the histogram is made of counters:
``alert_latency_ms_le_<bound>`` counts the alerts that took at most ``bound`` ms (``le_inf``:
all of them), and ``alert_latency_ms_sum`` their total; the recording rules of k8s/monitoring
turn them into quantiles (docs/monitoring.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.counters import ALERT_LATENCY_BOUNDS_MS, ALERT_LATENCY_PREFIX, NAMESPACE
from transforms.domain.event_time import parse_timestamp


def bucket_names() -> list[str]:
    bounds = [str(bound) for bound in ALERT_LATENCY_BOUNDS_MS] + ["inf"]
    return [f"{ALERT_LATENCY_PREFIX}le_{bound}" for bound in bounds]


class _MeasureAlertLatencyFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self) -> None:
        self._buckets = [Metrics.counter(NAMESPACE, name) for name in bucket_names()]
        self._sum = Metrics.counter(NAMESPACE, ALERT_LATENCY_PREFIX + "sum")
        self._announced = False

    def start_bundle(self) -> None:
        # A Beam counter reaches Flink's reporter only once incremented: announce every bucket
        # at 0, so that a quantile over them has all its series from the first alert on.
        if not self._announced:
            for counter in (*self._buckets, self._sum):
                counter.inc(0)
            self._announced = True

    def process(self, alert: dict[str, Any]) -> Iterator[dict[str, Any]]:
        # A producer clock ahead of ours must not count as negative latency.
        latency_ms = max(0, int(time.time() * 1000) - parse_timestamp(alert["event_time"], None))
        for bound, counter in zip(ALERT_LATENCY_BOUNDS_MS, self._buckets, strict=False):
            if latency_ms <= bound:
                counter.inc()
        self._buckets[-1].inc()
        self._sum.inc(latency_ms)
        yield alert


class MeasureAlertLatency(beam.PTransform):  # type: ignore[misc]
    """Passes the alerts through, measured."""

    def expand(self, alerts: Any) -> Any:
        return alerts | "Measure" >> beam.ParDo(_MeasureAlertLatencyFn())
