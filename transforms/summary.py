"""Summarize: the run's counts and, with labels, its detection quality, as one document.

The summary is computed from the outputs themselves (not from metrics, which some runners do
not report), with a mergeable combiner so it scales with the workers. Labels are joined by
transaction id. The model it reports is the one the scored records carry: the model that
really scored them, not the one the job was given.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)

from transforms.domain.quality import QualityTally
from transforms.parse_controls import CONTROL_STAGES
from transforms.sinks import DEFAULT_EMIT_INTERVAL_S, every_interval, write_json_file

# (kind, transaction id or DLQ error type, fraud_score, is_alert, rule_score, model_version,
#  label or None)
Fact = tuple[str, str | None, float, bool, float, str | None, dict[str, Any] | None]


@dataclass(slots=True)
class SummaryTally:
    scored: int = 0
    alerts: int = 0
    model_versions: set[str | None] = field(default_factory=set)
    dlq_by_type: Counter[str] = field(default_factory=Counter)
    control_dlq: int = 0
    quality: QualityTally = field(default_factory=QualityTally)
    quality_rules_only: QualityTally = field(default_factory=QualityTally)


class SummarizeFn(beam.CombineFn):  # type: ignore[misc]
    def __init__(self, with_labels: bool, alert_threshold: float) -> None:
        self._with_labels = with_labels
        self._alert_threshold = alert_threshold

    def create_accumulator(self) -> SummaryTally:
        return SummaryTally()

    def add_input(self, tally: SummaryTally, fact: Fact) -> SummaryTally:
        kind, error_type, score, is_alert, rule_score, model_version, label = fact
        if kind == "dlq":
            tally.dlq_by_type[str(error_type)] += 1
            return tally
        if kind == "control_dlq":
            tally.control_dlq += 1
            tally.dlq_by_type[str(error_type)] += 1
            return tally
        tally.scored += 1
        tally.alerts += int(is_alert)
        tally.model_versions.add(model_version)
        if self._with_labels:
            tally.quality.add(score, is_alert, label)
            # What the rules alone would have decided, to show what the model adds.
            tally.quality_rules_only.add(rule_score, rule_score >= self._alert_threshold, label)
        return tally

    def merge_accumulators(self, tallies: Iterable[SummaryTally]) -> SummaryTally:
        merged = SummaryTally()
        for tally in tallies:
            merged.scored += tally.scored
            merged.alerts += tally.alerts
            merged.model_versions.update(tally.model_versions)
            merged.dlq_by_type.update(tally.dlq_by_type)
            merged.control_dlq += tally.control_dlq
            merged.quality.merge(tally.quality)
            merged.quality_rules_only.merge(tally.quality_rules_only)
        return merged

    def extract_output(self, tally: SummaryTally) -> dict[str, Any]:
        # Feedback and blacklist changes are not transactions: their dead letters are in the
        # DLQ, not in "read".
        dlq = sum(tally.dlq_by_type.values()) - tally.control_dlq
        # None sorts last: a record scored by rules only.
        versions = sorted(tally.model_versions, key=lambda version: (version is None, version))
        return {
            "read": tally.scored + dlq,
            "scored": tally.scored,
            "alerts": tally.alerts,
            "dlq": dlq,
            "dlq_by_error_type": dict(sorted(tally.dlq_by_type.items())),
            "control_dlq": tally.control_dlq,
            "quality": tally.quality.report() if self._with_labels else None,
            "quality_rules_only": (
                tally.quality_rules_only.report() if self._with_labels else None
            ),
            # The model that scored the records; null for rules only. A list only if workers
            # disagreed, e.g. one could not use the model it was given (null in the list).
            "model": versions[0] if len(versions) == 1 else (versions or None),
        }


def parse_label_line(line: str) -> tuple[str, dict[str, Any]]:
    label = json.loads(line)
    return str(label["transaction_id"]), label


def _scored_fact(record: dict[str, Any]) -> Fact:
    return (
        "scored",
        record["transaction_id"],
        record["fraud_score"],
        record["is_alert"],
        record["rule_score"],
        record["model_version"],
        None,
    )


def _with_label(joined: tuple[str, dict[str, list[Any]]]) -> Iterator[Fact]:
    _, groups = joined
    label = groups["labels"][0] if groups["labels"] else None
    for fact in groups["facts"]:
        yield _labelled(fact, label)


class _JoinLabelFn(beam.DoFn):  # type: ignore[misc]
    """The streaming label join, per transaction id: a fact waits for its label until the
    watermark passes it. The labels are read from a file, whose watermark jumps to the end
    of time once it is read, so by then every label that exists has arrived; a fact without
    one leaves unlabelled. A trigger cannot do this: a discarding pane may hold the label
    without the fact, and an accumulating one repeats the facts."""

    LABEL = ReadModifyWriteStateSpec("label", PickleCoder())
    WAITING = BagStateSpec("waiting", PickleCoder())
    FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)

    def process(
        self,
        element: tuple[str, tuple[str, Any]],
        timestamp: Any = beam.DoFn.TimestampParam,
        label_state: Any = beam.DoFn.StateParam(LABEL),
        waiting: Any = beam.DoFn.StateParam(WAITING),
        flush: Any = beam.DoFn.TimerParam(FLUSH),
    ) -> Iterator[Fact]:
        _, (kind, value) = element
        if kind == "label":
            label_state.write(value)
            for fact in waiting.read():
                yield _labelled(fact, value)
            waiting.clear()
            return
        label = label_state.read()
        if label is not None:
            yield _labelled(value, label)
            return
        waiting.add(value)
        flush.set(timestamp)

    @on_timer(FLUSH)  # type: ignore[untyped-decorator]
    def unlabelled(self, waiting: Any = beam.DoFn.StateParam(WAITING)) -> Iterator[Fact]:
        yield from waiting.read()
        waiting.clear()


def _labelled(fact: Fact, label: dict[str, Any] | None) -> Fact:
    return (*fact[:6], label)


def _dlq_fact(record: dict[str, Any]) -> Fact:
    kind = "control_dlq" if record["stage"] in CONTROL_STAGES else "dlq"
    return (kind, record["error_type"], 0.0, False, 0.0, None, None)


class Summarize(beam.PTransform):  # type: ignore[misc]
    """``{"scored": ..., "dlq": ...}`` in; one summary dict out, also written to a file."""

    def __init__(
        self,
        summary_path: str,
        extra: dict[str, Any],
        alert_threshold: float,
        labels_file: str | None = None,
        streaming: bool = False,
        emit_interval_s: int = DEFAULT_EMIT_INTERVAL_S,
    ) -> None:
        super().__init__()
        self._streaming = streaming
        self._emit_interval_s = emit_interval_s
        self._alert_threshold = alert_threshold
        self._summary_path = summary_path
        self._extra = extra
        self._labels_file = labels_file

    def expand(self, outputs: dict[str, Any]) -> Any:
        scored, dlq = outputs["scored"], outputs["dlq"]
        pipeline = scored.pipeline
        scored_facts = scored | "ScoredFacts" >> beam.Map(_scored_fact)
        if self._labels_file:
            # A join, not a side input: a dict side input of every label is re-read by each of
            # the many small bundles that timer output produces (measured: +2 s on 28k events).
            labels = (
                pipeline
                | "ReadLabels" >> beam.io.ReadFromText(self._labels_file)
                | "ParseLabels" >> beam.Map(parse_label_line)
            )
            keyed_facts = scored_facts | "ById" >> beam.Map(lambda fact: (fact[1], fact))
            if self._streaming:
                scored_facts = (
                    (
                        keyed_facts
                        | "TagFacts"
                        >> beam.Map(_tagged, "fact").with_output_types(tuple[str, Any]),
                        labels
                        | "TagLabels"
                        >> beam.Map(_tagged, "label").with_output_types(tuple[str, Any]),
                    )
                    | "FactsAndLabels" >> beam.Flatten()
                    | "JoinLabels" >> beam.ParDo(_JoinLabelFn())
                )
            else:
                scored_facts = (
                    {"facts": keyed_facts, "labels": labels}
                    | "JoinLabels" >> beam.CoGroupByKey()
                    | "Labelled" >> beam.FlatMap(_with_label)
                )
        dlq_facts = dlq | "DlqFacts" >> beam.Map(_dlq_fact)
        extra, path = self._extra, self._summary_path
        tally = beam.CombineGlobally(
            SummarizeFn(self._labels_file is not None, self._alert_threshold)
        )
        facts = (scored_facts, dlq_facts) | "AllFacts" >> beam.Flatten()
        if self._streaming:
            # The empty-input default is injected through a side input, which the portable
            # Flink runner cannot checkpoint; for empty input, the launcher reports the empty
            # summary itself (pipelines.launcher.read_back_summary). An unbounded input's
            # running total is rewritten every interval.
            tally = tally.without_defaults()
        if not facts.is_bounded:
            facts = facts | "EveryInterval" >> every_interval(
                self._emit_interval_s, accumulate=True
            )
        return (
            facts
            | "Tally" >> tally
            | "AddRunInfo" >> beam.Map(lambda summary: {**summary, **extra})
            | "WriteSummary" >> beam.Map(_write_and_pass, path)
        )


def _tagged(element: tuple[str, Any], kind: str) -> tuple[str, tuple[str, Any]]:
    key, value = element
    return key, (kind, value)


def _write_and_pass(summary: dict[str, Any], path: str) -> dict[str, Any]:
    write_json_file(summary, path)
    return summary
