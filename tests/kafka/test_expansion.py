"""Beam's Kafka IO from Python is cross-language: the Java expansion service that
scripts/kafka.sh assembles (Beam 2.62.0 modules, as the SDK) must expand ReadFromKafka and
WriteToKafka. Running them on Flink is the live path's job; this proves the pair expands."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.io.kafka import ReadFromKafka, WriteToKafka
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.typehints.schemas import named_fields_from_element_type

from tests.services import service_script

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def expansion_service() -> str:
    service_script("kafka", "expansion-start", timeout=600)
    return service_script("kafka", "expansion-address")


def test_the_expansion_service_expands_kafka_read_and_write(
    expansion_service: str, bootstrap_servers: str
) -> None:
    pipeline = beam.Pipeline(options=PipelineOptions([]))
    records = pipeline | ReadFromKafka(
        consumer_config={"bootstrap.servers": bootstrap_servers},
        topics=["transactions.raw"],
        with_metadata=True,
        expansion_service=expansion_service,
    )
    _ = (
        pipeline
        | beam.Create([(b"C1", b"{}")]).with_output_types(tuple[bytes, bytes])
        | WriteToKafka(
            producer_config={"bootstrap.servers": bootstrap_servers},
            topic="fraud.alerts",
            expansion_service=expansion_service,
        )
    )
    proto = pipeline.to_runner_api()
    # The Java transforms run in the service's own environment (PROCESS: the Java SDK harness
    # that scripts/kafka.sh provisions), not in the Python one.
    expanded_environments = {
        name: env.urn
        for name, env in proto.components.environments.items()
        if name.startswith("external")
    }
    assert expanded_environments, sorted(proto.components.environments)
    assert all(urn == "beam:env:process:v1" for urn in expanded_environments.values())
    # The read is Beam's unbounded-source read (use_deprecated_read), which Flink runs itself.
    urns = {t.spec.urn for t in proto.components.transforms.values()}
    assert "beam:transform:read:v1" in urns
    names = " ".join(t.unique_name for t in proto.components.transforms.values())
    assert "kafka_read" in names
    assert "kafka_write" in names
    # The read's records carry the Kafka metadata the DLQ source will need.
    fields = {name for name, _ in named_fields_from_element_type(records.element_type)}
    assert {"topic", "partition", "offset", "key", "value", "timestamp"} <= fields
