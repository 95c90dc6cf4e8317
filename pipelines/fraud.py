"""The fraud detection pipeline: ``python -m pipelines.fraud``.

Card transactions are read as raw JSON lines, validated (rejects go to a dead-letter output
with their reason), scored per customer in event-time order by the rules and the anomaly
model, and written as scored transactions, alerts and DLQ records, with a summary of the run.
With no arguments it generates a seeded synthetic data set and runs locally on Beam's
in-process FnApiRunner.

This module is the options and the graph. What happens around the graph on the launching
machine (checks, generated data, reference data, reading the summary back) is
:mod:`pipelines.launcher`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines.flink import (
    cancel_submitted,
    is_flink,
    with_flink_defaults,
    worker_python_on_path,
)
from pipelines.kafka import (
    KafkaOptions,
    client_config,
    consumer_config,
    control_heartbeat,
    expansion_service,
    is_live,
)
from pipelines.launcher import (
    OUTPUT_NAMES,
    SUMMARY_FILE,
    ReferenceData,
    emit_from_ms,
    prepare_run,
    read_back_summary,
    run_info,
)
from pipelines.option_checks import check_command_line
from pipelines.option_help import help_text, wants_help
from pipelines.options import (
    FN_API_RUNNER,
    FraudOptions,
    LaunchError,
    detector_path,
    has_option,
    resolve_runner,
)
from pipelines.report import output_files, summary_lines
from transforms.alert_latency import MeasureAlertLatency
from transforms.alerts import BuildAlerts
from transforms.anomaly import ScoreAnomalies
from transforms.emit_from import DropWarmupDeadLetters, EmitFrom
from transforms.fraud_detection import DetectFraud
from transforms.kafka_io import ReadKafkaRecords, WriteKafkaRecords
from transforms.parse import ParseEvents
from transforms.parse_controls import (
    BLACKLIST_CHANGES_INPUT,
    FEEDBACK_INPUT,
    ParseControls,
    rules_changes_input,
)
from transforms.postgres_sink import (
    CLEAN_TRANSACTIONS,
    DLQ_EVENTS,
    FRAUD_ALERTS,
    RAW_TRANSACTIONS,
    STORE_MINUTES,
    WriteToPostgres,
)
from transforms.progress import ShowProgress
from transforms.read import ReadJsonLines
from transforms.realtime_metrics import StoreMinuteMetrics
from transforms.sinks import WriteJsonLines
from transforms.summary import Summarize
from transforms.tags import ACCEPTED_TAG, DLQ_TAG, EVENTS_TAG, RAW_TAG, SCORED_TAG
from transforms.version import PIPELINE_VERSION

_LOG = logging.getLogger(__name__)

# Named explicitly, so that a run never switches runner behind the user's back.
DEFAULT_RUNNER = FN_API_RUNNER


def build_pipeline(
    pipeline: beam.Pipeline, options: FraudOptions, reference: ReferenceData
) -> dict[str, Any]:
    """Wire the transforms; returns the named output PCollections. ``reference``: the rules,
    blacklist and model, read by the launcher and carried inside the pipeline."""
    kafka = options.view_as(KafkaOptions)
    live = is_live(options)
    if live:
        expansion = reference.kafka_expansion_service or expansion_service(kafka)
        raw = pipeline | "ReadEvents" >> ReadKafkaRecords(
            kafka.input_topic, consumer_config(kafka), expansion
        )
    else:
        raw = pipeline | "ReadEvents" >> ReadJsonLines(
            [*options.input, *(options.warmup_input or [])]
        )
    progress = (
        ShowProgress(options.progress_interval_s) if options.progress_interval_s > 0 else None
    )
    if progress:
        raw | "ProgressRead" >> progress.read()
    parsed = raw | "ParseEvents" >> ParseEvents(
        options.business_timezone,
        options.max_payload_bytes,
        PIPELINE_VERSION,
        emit_raw=bool(options.postgres_dsn),
        report_newest_event_time=live,
    )
    streaming = bool(options.view_as(StandardOptions).streaming)
    detector = detector_path(options.detector_mode, streaming)
    rules = reference.rules
    detector_inputs = {"events": parsed[EVENTS_TAG]}
    dead_letters = [parsed[DLQ_TAG]]
    control_inputs: list[tuple[str, Any, list[str] | None, str]] = [
        ("feedback", FEEDBACK_INPUT, options.feedback, kafka.feedback_topic),
        (
            "blacklist_changes",
            BLACKLIST_CHANGES_INPUT,
            options.blacklist_changes,
            kafka.blacklist_changes_topic,
        ),
    ]
    # Versions registered while the job runs are told to every customer shard: the live job
    # reads them when it has shards (files of versions are the launcher's: reference.rules_changes).
    if live and options.customer_shards > 0 and detector != "grouped":
        control_inputs.append(
            ("rules_changes", rules_changes_input(rules), None, kafka.rules_topic)
        )
    elif live:
        _LOG.warning(
            "--customer_shards=0: registered rules versions (--rules_topic) are not read; "
            "the job scores with --rules and --rules_changes only"
        )
    for name, kind, files, topic in control_inputs:
        step = "".join(part.title() for part in name.split("_"))
        if live:
            raw_controls = pipeline | f"Read{step}" >> ReadKafkaRecords(
                topic,
                consumer_config(kafka),
                expansion,
                control=True,
                # The registry is read whole at every fresh start: never committed.
                commit_offsets=name != "rules_changes",
            )
        elif files:
            raw_controls = pipeline | f"Read{step}" >> ReadJsonLines(files)
        else:
            continue
        controls = raw_controls | f"Parse{step}" >> ParseControls(
            kind, options.max_payload_bytes, PIPELINE_VERSION
        )
        detector_inputs[name] = controls[ACCEPTED_TAG]
        dead_letters.append(controls[DLQ_TAG])
    detected = detector_inputs | "DetectFraud" >> DetectFraud(
        reference.rules_registry(),
        options.business_timezone,
        reference.blacklist,
        PIPELINE_VERSION,
        cheap_state_cache_sizing=not options.exact_state_cache_sizing,
        streaming=streaming,
        grouped=detector == "grouped",
        break_fusion=not is_flink(options.view_as(StandardOptions).runner),
        customer_shards=options.customer_shards,
    )
    scored = detected[SCORED_TAG] | "ScoreAnomalies" >> ScoreAnomalies(
        reference.model, rules, registered_models=reference.registered_models
    )
    if progress:
        scored | "ProgressScored" >> progress.scored()
    raw_valid = parsed[RAW_TAG] if options.postgres_dsn else None
    emit_from = emit_from_ms(options)
    if emit_from is not None:  # a backfill's warm-up: scored for the state, never emitted
        scored = scored | "EmitFrom" >> EmitFrom(emit_from, counted=True)
        if raw_valid is not None:
            raw_valid = raw_valid | "EmitRawFrom" >> EmitFrom(emit_from)
    dlq = (*dead_letters, detected[DLQ_TAG]) | "AllDeadLetters" >> beam.Flatten()
    if reference.warmup_files or emit_from is not None:
        dlq = dlq | "DropWarmupDeadLetters" >> DropWarmupDeadLetters(
            reference.warmup_files, emit_from
        )
    alerts = scored | "Alerts" >> BuildAlerts()
    outputs = {"scored": scored, "alerts": alerts, "dlq": dlq}
    interval = options.emit_interval_s
    for name in OUTPUT_NAMES:
        outputs[name] | f"Write_{name}" >> WriteJsonLines(
            options.output_dir, name, streaming, interval
        )
    if live and kafka.metrics_topic:
        event_dead_letters = (parsed[DLQ_TAG], detected[DLQ_TAG]) | "EventDeadLetters" >> (
            beam.Flatten()
        )
        outputs["store_minutes"] = {
            "scored": scored,
            "dead_letters": event_dead_letters,
        } | "StoreMinutes" >> StoreMinuteMetrics(
            allowed_lateness_s=kafka.metrics_allowed_lateness_s
        )
    if live:
        producer = {**client_config(kafka), "enable.idempotence": "true", "acks": "all"}
        measured = alerts | "AlertLatency" >> MeasureAlertLatency()
        published = [
            ("alerts", measured, kafka.alerts_topic, "customer_id"),
            ("dlq", dlq, kafka.dlq_topic, "dlq_id"),
        ]
        if "store_minutes" in outputs:
            published.append(
                ("store_minutes", outputs["store_minutes"], kafka.metrics_topic, "window_key")
            )
        for name, records, topic, key in published:
            publish = WriteKafkaRecords(topic, key, producer, expansion)
            records | f"Publish_{name}" >> publish
    if options.postgres_dsn:
        dsn = options.postgres_dsn
        raw_valid | "BronzeRaw" >> WriteToPostgres(dsn, RAW_TRANSACTIONS)
        scored | "SilverScored" >> WriteToPostgres(dsn, CLEAN_TRANSACTIONS)
        alerts | "BronzeAlerts" >> WriteToPostgres(dsn, FRAUD_ALERTS)
        dlq | "BronzeDlq" >> WriteToPostgres(dsn, DLQ_EVENTS)
        if "store_minutes" in outputs:
            outputs["store_minutes"] | "SilverStoreMinutes" >> WriteToPostgres(dsn, STORE_MINUTES)
    outputs["summary"] = {"scored": scored, "dlq": dlq} | "Summarize" >> Summarize(
        FileSystems.join(options.output_dir, SUMMARY_FILE),
        run_info(reference, detector),
        rules.alert_threshold,
        options.labels_file,
        streaming=streaming,
        emit_interval_s=interval,
    )
    return outputs


# The live path's default bundle time on Flink: every SDK stage holds its output (and the
# watermark) until its bundle ends, and an alert waits for a bundle and a timer round in each
# ordered step (benchmarks/kafka_streaming.py at 200 events/s, p50 / p99: 7.9 s at 1 s; with
# the customer shards 1.2-1.3 / 1.5-1.7 s at 100 ms, 0.56-0.64 / 0.7-1.25 s at 30 ms for ~2%
# of the maximum; 10 ms gained nothing more and cost ~15% of it: docs/benchmarks.md).
LIVE_MAX_BUNDLE_TIME_MS = 30
# Python worker processes of a live job on this machine's cluster. Flink hands the job's ~12
# Python stages to them in turn; its three busy ones (the read and parse, the store step, the
# customer step with the model and the sinks) then rarely share one interpreter lock, as all
# did in one worker. At parallelism 1 and 900 events/s (half the maximum): p99 1.6-2.3 s
# against 3.5-5.9 s, maximum 1,800-2,240 against ~1,450. Each process also gets its own Java
# environment, which the Java worker pool makes a thread, not a JVM: first alert 13.8-15.0 s
# (docs/benchmarks.md, "Python worker processes" and "The Java worker pool").
LIVE_WORKER_PROCESSES = 3


def pipeline_options(argv: Sequence[str]) -> PipelineOptions:
    """The command line as Beam options, with this project's runner defaults filled in."""
    argv = list(argv)
    live = is_live(PipelineOptions(argv))
    if live and not has_option(argv, "--max_bundle_time_mills"):
        argv.append(f"--max_bundle_time_mills={LIVE_MAX_BUNDLE_TIME_MS}")
    options = PipelineOptions(with_flink_defaults(argv, LIVE_WORKER_PROCESSES if live else 1))
    worker_python_on_path(options)
    standard = options.view_as(StandardOptions)
    standard.runner = resolve_runner(standard.runner) or DEFAULT_RUNNER
    return options


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the pipeline to completion; returns the summary, with Beam's counters.
    :class:`~pipelines.options.LaunchError` if an option is unusable."""
    arguments = sys.argv[1:] if argv is None else argv
    check_command_line(arguments)  # before Beam drops an unknown option without a word
    options = pipeline_options(arguments)
    fraud = options.view_as(FraudOptions)
    reference = prepare_run(fraud)
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, fraud, reference)
    submitted_ms = time.time() * 1000 - 1000  # Flink stamps the job's start after this
    result = pipeline.run()
    if threading.current_thread() is threading.main_thread():
        # Beam's job server wrapper (StopOnExitJobServer) makes Ctrl-C call a method that takes
        # no arguments: a TypeError, no KeyboardInterrupt, and the job went on running.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    heartbeat: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if is_live(options):
        heartbeat = control_heartbeat(options.view_as(KafkaOptions))
    with heartbeat:
        return wait_for_summary(result, options, reference, submitted_ms)


def wait_for_summary(
    result: Any, options: PipelineOptions, reference: ReferenceData, submitted_ms: float
) -> dict[str, Any]:
    """Wait for the job to end and read its summary back. Ctrl-C cancels the job; a job
    cancelled elsewhere (Flink's web UI or REST API) ends the launcher with one line."""
    fraud = options.view_as(FraudOptions)
    try:
        result.wait_until_finish()
    except KeyboardInterrupt:
        # A live job runs until stopped.
        print("pipelines.fraud: stopping: cancelling the job", file=sys.stderr)
        cancel_submitted(result, options, submitted_ms)
        try:
            return read_back_summary(result, fraud, reference)
        except Exception:  # Ctrl-C in a terminal stopped the job server too: no counters
            raise LaunchError(
                f"the job was cancelled; its summary so far is in {fraud.output_dir}"
            ) from None
    except RuntimeError as error:
        # Beam reports a job cancelled in Flink as a failed one, with Flink's exception.
        if "JobCancellationException" not in str(error):
            raise
        raise LaunchError(
            f"the job was cancelled in Flink; its summary so far is in {fraud.output_dir}"
        ) from None
    return read_back_summary(result, fraud, reference)


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING)
    argv = sys.argv[1:] if argv is None else list(argv)
    if wants_help(argv):
        print(help_text(), end="")
        return
    started = time.monotonic()
    try:
        summary = run(argv)
    except LaunchError as error:
        sys.exit(f"pipelines.fraud: {error}")
    options = PipelineOptions(argv)
    if options.view_as(FraudOptions).json:
        print(json.dumps(summary, indent=2, sort_keys=True))
        return
    print("\n".join(readable_summary(summary, options, time.monotonic() - started)))


def readable_summary(
    summary: dict[str, Any], options: PipelineOptions, seconds: float
) -> list[str]:
    """The summary's lines for a person, with where this run's outputs are."""
    output_dir = summary["output_dir"]
    elsewhere = []
    if options.view_as(FraudOptions).postgres_dsn:
        elsewhere.append("the PostgreSQL warehouse (--postgres_dsn)")
    if is_live(options):
        kafka = options.view_as(KafkaOptions)
        elsewhere.append(f"Kafka topics {kafka.alerts_topic} (alerts), {kafka.dlq_topic} (DLQ)")
    return summary_lines(
        summary,
        seconds,
        output_files(output_dir, OUTPUT_NAMES),
        FileSystems.join(output_dir, SUMMARY_FILE),
        elsewhere,
    )


if __name__ == "__main__":
    main()
