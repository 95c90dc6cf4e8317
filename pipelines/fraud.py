"""The fraud detection pipeline: ``python -m pipelines.fraud``.

Card transactions are read as raw JSON lines, validated (rejects go to a dead-letter output
with their reason), scored per customer in event-time order by the rules, and written as
scored transactions, alerts and DLQ records, with a summary of the run. With no arguments it
generates a seeded synthetic data set and runs locally on Beam's in-process FnApiRunner.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines.flink import FlinkSetupError, with_flink_defaults
from pipelines.options import DEFAULT_MODEL_DIR, FraudOptions
from transforms.anomaly import ScoreAnomalies
from transforms.counters import NAMESPACE
from transforms.detect import DLQ_TAG, SCORED_TAG, DetectFraud
from transforms.domain.config import RulesConfig, load_rules
from transforms.domain.outputs import alert_from_scored
from transforms.parse import EVENTS_TAG, RAW_TAG, ParseEvents
from transforms.postgres_sink import (
    CLEAN_TRANSACTIONS,
    DLQ_EVENTS,
    FRAUD_ALERTS,
    RAW_TRANSACTIONS,
    WriteToPostgres,
)
from transforms.read import ReadJsonLines, load_blacklist, read_bytes
from transforms.sinks import WriteJsonLines, read_json_file, temp_directory
from transforms.summary import Summarize, SummarizeFn
from transforms.version import PIPELINE_VERSION

if TYPE_CHECKING:
    from ml.artifact import ArtifactFiles

# Named explicitly: the default DirectRunner first tries to download the Prism binary.
DEFAULT_RUNNER = "FnApiRunner"
OUTPUT_NAMES = ("scored", "alerts", "dlq")
SUMMARY_FILE = "summary.json"
DEFAULT_MODEL_SEED = 7
_LOG = logging.getLogger(__name__)


def _alert(scored: dict[str, Any]) -> dict[str, Any]:
    return alert_from_scored(scored, detected_at=datetime.now(UTC).isoformat())


def build_pipeline(
    pipeline: beam.Pipeline,
    options: FraudOptions,
    rules: RulesConfig,
    model: ArtifactFiles | None = None,
) -> dict[str, Any]:
    """Wire the transforms; returns the named output PCollections. ``model``: the artifact
    already read (and checked) by the caller; by default ``--model`` is read here."""
    raw = pipeline | "ReadEvents" >> ReadJsonLines(options.input)
    parsed = raw | "ParseEvents" >> ParseEvents(
        options.business_timezone,
        options.max_payload_bytes,
        PIPELINE_VERSION,
        emit_raw=bool(options.postgres_dsn),
    )
    streaming = bool(options.view_as(StandardOptions).streaming)
    # Read here and shipped inside the pipeline, not a side input: the portable Flink runner
    # cannot checkpoint an operator with side inputs (README, "Running on Flink").
    blacklist = load_blacklist(options.blacklist)
    detected = parsed[EVENTS_TAG] | "DetectFraud" >> DetectFraud(
        rules,
        options.business_timezone,
        blacklist,
        PIPELINE_VERSION,
        cheap_state_cache_sizing=not options.exact_state_cache_sizing,
        streaming=streaming,
    )
    model = model or read_model(options.model)
    scored = detected[SCORED_TAG] | "ScoreAnomalies" >> ScoreAnomalies(model, rules)
    dlq = (parsed[DLQ_TAG], detected[DLQ_TAG]) | "AllDeadLetters" >> beam.Flatten()
    alerts = (
        scored
        | "OnlyAlerts" >> beam.Filter(lambda record: record["is_alert"])
        | ("BuildAlerts" >> beam.Map(_alert))
    )
    outputs = {"scored": scored, "alerts": alerts, "dlq": dlq}
    for name in OUTPUT_NAMES:
        outputs[name] | f"Write_{name}" >> WriteJsonLines(options.output_dir, name, streaming)
    if options.postgres_dsn:
        dsn = options.postgres_dsn
        parsed[RAW_TAG] | "BronzeRaw" >> WriteToPostgres(dsn, RAW_TRANSACTIONS)
        scored | "SilverScored" >> WriteToPostgres(dsn, CLEAN_TRANSACTIONS)
        alerts | "BronzeAlerts" >> WriteToPostgres(dsn, FRAUD_ALERTS)
        dlq | "BronzeDlq" >> WriteToPostgres(dsn, DLQ_EVENTS)
    run_info = _run_info(options, rules)
    outputs["summary"] = {"scored": scored, "dlq": dlq} | "Summarize" >> Summarize(
        FileSystems.join(options.output_dir, SUMMARY_FILE),
        run_info,
        rules.alert_threshold,
        options.labels_file,
        streaming=streaming,
    )
    return outputs


def _run_info(options: FraudOptions, rules: RulesConfig) -> dict[str, Any]:
    return {
        "rules_version": rules.rules_version,
        "pipeline_version": PIPELINE_VERSION,
        "model": options.model,
    }


def _empty_summary(options: FraudOptions, rules: RulesConfig) -> dict[str, Any]:
    """What the summary says about no input at all."""
    tally = SummarizeFn(bool(options.labels_file), rules.alert_threshold)
    return {**tally.extract_output(tally.create_accumulator()), **_run_info(options, rules)}


def read_model(location: str | None) -> ArtifactFiles | None:
    """The model artifact's files, read on the launcher (any Beam file system) and shipped
    inside the pipeline: workers on Flink or Kubernetes never see the launcher's paths."""
    if not location:
        return None
    try:
        from ml.artifact import ArtifactError, read_artifact_files
    except ImportError as error:  # the ml extra is not installed
        _LOG.warning("cannot read the anomaly model (%s): rules only", error)
        return None

    try:
        return read_artifact_files(location, read_bytes)
    except ArtifactError as error:
        _LOG.warning("anomaly model not read: %s; ml_score is null, rules only", error.message)
        return None


def _clear_previous_outputs(output_dir: str) -> None:
    """Delete this pipeline's earlier output files, so no stale shard survives a rerun."""
    patterns = [FileSystems.join(output_dir, f"{name}-*") for name in OUTPUT_NAMES]
    patterns += [FileSystems.join(temp_directory(output_dir, name), "*") for name in OUTPUT_NAMES]
    patterns.append(FileSystems.join(output_dir, SUMMARY_FILE))
    stale = [meta.path for result in FileSystems.match(patterns) for meta in result.metadata_list]
    if stale:
        FileSystems.delete(stale)


def _use_generated_data(options: FraudOptions) -> None:
    # Imported here: only the embedded default needs the generator.
    from pipelines.synthetic import generate_dataset

    data_dir = os.path.join(options.output_dir, "input")
    dataset = generate_dataset(
        data_dir, seed=options.seed, customers=options.customers, days=options.days
    )
    print(f"Generated {dataset.counts} into {data_dir}", file=sys.stderr)
    options.input = [dataset.events]
    options.labels_file = options.labels_file or dataset.labels
    options.blacklist = options.blacklist or dataset.blacklist


def _choose_model(options: FraudOptions, train_if_missing: bool) -> None:
    """``--model``, else the default artifact if present, else (embedded run) train it."""
    if options.no_model:
        options.model = None
        return
    if options.model:
        return
    if os.path.exists(os.path.join(DEFAULT_MODEL_DIR, "metadata.json")):
        options.model = DEFAULT_MODEL_DIR
        return
    if not train_if_missing:
        _LOG.warning(
            "no anomaly model at %s: rules only (see python -m ml.train)", DEFAULT_MODEL_DIR
        )
        return
    try:
        from ml.train import train_model
    except ImportError as error:  # the ml extra is not installed
        _LOG.warning("cannot train the default anomaly model (%s): rules only", error)
        return
    print(f"Training the default anomaly model into {DEFAULT_MODEL_DIR}", file=sys.stderr)
    # A different seed from the generated input: the model must not have seen the run's data.
    train_model(DEFAULT_MODEL_DIR, seed=DEFAULT_MODEL_SEED)
    options.model = DEFAULT_MODEL_DIR


def _counters(result: Any) -> dict[str, int]:
    try:
        query = result.metrics().query(beam.metrics.MetricsFilter().with_namespace(NAMESPACE))
    except (NotImplementedError, AttributeError):
        return {}
    counters: dict[str, int] = {}
    for counter in query["counters"]:
        name = counter.key.metric.name
        counters[name] = counters.get(name, 0) + int(counter.committed or counter.attempted or 0)
    return dict(sorted(counters.items()))


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the pipeline to completion; returns the summary (with Beam counters if reported)."""
    options = PipelineOptions(with_flink_defaults(sys.argv[1:] if argv is None else argv))
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = DEFAULT_RUNNER
    fraud = options.view_as(FraudOptions)
    rules = load_rules(fraud.rules)
    embedded_default = not fraud.input
    if embedded_default:
        _use_generated_data(fraud)
    _choose_model(fraud, train_if_missing=embedded_default)
    _clear_previous_outputs(fraud.output_dir)
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, fraud, rules)
    result = pipeline.run()
    result.wait_until_finish()
    summary_path = FileSystems.join(fraud.output_dir, SUMMARY_FILE)
    if FileSystems.exists(summary_path):
        summary = read_json_file(summary_path)
    else:  # a streaming run emits no tally for empty input (transforms/summary.py)
        summary = _empty_summary(fraud, rules)
    counters = summary["counters"] = _counters(result)
    if counters:
        dead = sum(value for name, value in counters.items() if name.startswith("dlq_"))
        summary["conservation_ok"] = counters.get("read", 0) == counters.get("scored", 0) + dead
    summary["output_dir"] = fraud.output_dir
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING)
    try:
        summary = run(argv)
    except FlinkSetupError as error:
        sys.exit(str(error))
    print(json.dumps(summary, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
