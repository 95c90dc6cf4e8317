"""Local sinks: JSON Lines files and the run summary, on any Beam filesystem."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.value_provider import StaticValueProvider
from apache_beam.transforms import trigger, window

# How often a streaming job writes what it has, unless told otherwise.
DEFAULT_EMIT_INTERVAL_S = 10


def to_json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


class WriteJsonLines(beam.PTransform):  # type: ignore[misc]
    """Writes dict records as ``<output_dir>/<name>-SSSSS-of-NNNNN.jsonl``.

    Batch: ``WriteToText``, which finalises atomically and writes a shard even when empty.
    Streaming: ``fileio.WriteToFiles``, because ``WriteToText`` finalises through side inputs
    and the portable Flink runner cannot checkpoint an operator with side inputs
    (docs/runners/flink.md, "Side inputs break checkpoints on the portable Flink runner"); its
    temporary files go to ``<output_dir>/.tmp-<name>``. An unbounded input (Kafka) is written
    every ``emit_interval_s`` of processing time, new files each time, so that its outputs show
    while the job runs; a bounded one once, at its end, as in batch.
    """

    def __init__(
        self,
        output_dir: str,
        name: str,
        streaming: bool = False,
        emit_interval_s: int = DEFAULT_EMIT_INTERVAL_S,
    ) -> None:
        super().__init__()
        self._output_dir = output_dir
        self._name = name
        self._streaming = streaming
        self._emit_interval_s = emit_interval_s

    def expand(self, records: Any) -> Any:
        lines = records | "ToJson" >> beam.Map(to_json_line)
        if not self._streaming:
            prefix = FileSystems.join(self._output_dir, self._name)
            return lines | "Write" >> beam.io.WriteToText(prefix, file_name_suffix=".jsonl")
        naming = fileio.default_file_naming(self._name, ".jsonl")
        if not records.is_bounded:
            lines = lines | "EveryInterval" >> every_interval(
                self._emit_interval_s, accumulate=False
            )
            naming = firing_file_naming(self._name)
        return lines | "Write" >> fileio.WriteToFiles(
            self._output_dir,
            file_naming=naming,
            temp_directory=StaticValueProvider(str, temp_directory(self._output_dir, self._name)),
        )


def firing_file_naming(name: str) -> Any:
    """``<name>-<UTC time of the firing>-SSSSS-of-NNNNN.jsonl``: every firing of the global
    window writes new files (Beam's default naming would reuse the names, since it leaves the
    pane out), and the names sort in the order they were written. A retried move computes new
    names for files already moved, and Beam ignores the failed rename."""

    def file_name(
        window: Any, pane: Any, shard: int, total: int, compression: Any, destination: Any
    ) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        return f"{name}-{stamp}-{shard:05d}-of-{total:05d}.jsonl"

    return file_name


def every_interval(seconds: int, accumulate: bool) -> beam.WindowInto:
    """One global window that fires every ``seconds`` of processing time while elements
    arrive, and once more at the end of a bounded input. ``accumulate``: each firing holds
    everything so far (a running total) instead of what is new since the last one."""
    return beam.WindowInto(
        window.GlobalWindows(),
        trigger=trigger.Repeatedly(trigger.AfterProcessingTime(seconds)),
        accumulation_mode=(
            trigger.AccumulationMode.ACCUMULATING
            if accumulate
            else trigger.AccumulationMode.DISCARDING
        ),
    )


def temp_directory(output_dir: str, name: str) -> str:
    return str(FileSystems.join(output_dir, f".tmp-{name}"))


def write_json_file(document: dict[str, Any], path: str) -> str:
    with FileSystems.create(path) as handle:
        handle.write(json.dumps(document, indent=2, sort_keys=True).encode("utf-8") + b"\n")
    return path


def write_text(path: str, text: str) -> None:
    """A whole text file on any Beam filesystem."""
    with FileSystems.create(path) as handle:
        handle.write(text.encode("utf-8"))


def read_json_file(path: str) -> dict[str, Any]:
    with FileSystems.open(path) as handle:
        document: dict[str, Any] = json.loads(handle.read().decode("utf-8"))
    return document
