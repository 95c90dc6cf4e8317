"""The local services the monitoring tests use: the Flink cluster and the Kafka broker of the
live path (their fixtures, as tests/kafka and tests/flink define them)."""

from __future__ import annotations

from tests.flink.conftest import flink_master  # noqa: F401
from tests.kafka.conftest import bootstrap_servers, topics  # noqa: F401
