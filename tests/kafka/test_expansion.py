"""Beam's Kafka IO from Python is cross-language: the Java expansion service that
scripts/kafka.sh assembles (Beam 2.62.0 modules, as the SDK) must expand ReadFromKafka and
WriteToKafka. Running them on Flink is the live path's job; this proves the pair expands."""

from __future__ import annotations

import apache_beam as beam
import grpc
import pytest
from apache_beam.io.kafka import ReadFromKafka, WriteToKafka
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc, beam_runner_api_pb2
from apache_beam.typehints.schemas import named_fields_from_element_type

from tests.services import service_script

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def expansion_service() -> str:
    service_script("kafka", "expansion-start", timeout=600)
    return service_script("kafka", "expansion-address")


@pytest.fixture(scope="module")
def java_worker_pool(expansion_service: str) -> str:
    return service_script("kafka", "java-pool-address")


def test_the_expansion_service_expands_kafka_read_and_write(
    expansion_service: str, java_worker_pool: str, bootstrap_servers: str
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
    # The Java transforms run in the service's own environment (EXTERNAL: the Java worker pool
    # that scripts/kafka.sh starts), not in the Python one.
    expanded_environments = [
        env for name, env in proto.components.environments.items() if name.startswith("external")
    ]
    assert expanded_environments, sorted(proto.components.environments)
    for env in expanded_environments:
        assert env.urn == "beam:env:external:v1"
        payload = beam_runner_api_pb2.ExternalPayload.FromString(env.payload)
        assert payload.endpoint.url == java_worker_pool
    # The read is Beam's unbounded-source read (use_deprecated_read), which Flink runs itself.
    urns = {t.spec.urn for t in proto.components.transforms.values()}
    assert "beam:transform:read:v1" in urns
    names = " ".join(t.unique_name for t in proto.components.transforms.values())
    assert "kafka_read" in names
    assert "kafka_write" in names
    # The read's records carry the Kafka metadata the DLQ source will need.
    fields = {name for name, _ in named_fields_from_element_type(records.element_type)}
    assert {"topic", "partition", "offset", "key", "value", "timestamp"} <= fields


def test_the_java_worker_pool_refuses_a_worker_it_cannot_provision(java_worker_pool: str) -> None:
    # Beam's StartWorker request as Flink sends it, less the provision endpoint the harness
    # learns its job's options and endpoints from: an error in the reply, and the pool lives on.
    with grpc.insecure_channel(java_worker_pool) as channel:
        pool = beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolStub(channel)
        reply = pool.StartWorker(beam_fn_api_pb2.StartWorkerRequest(worker_id="w1"), timeout=10)
        assert "provision endpoint" in reply.error
        stopped = pool.StopWorker(beam_fn_api_pb2.StopWorkerRequest(worker_id="w1"), timeout=10)
        assert not stopped.error
