"""Local sinks: JSON Lines files and the run summary, on any Beam filesystem."""

from __future__ import annotations

import json
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.value_provider import StaticValueProvider


def to_json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


class WriteJsonLines(beam.PTransform):  # type: ignore[misc]
    """Writes dict records as ``<output_dir>/<name>-SSSSS-of-NNNNN.jsonl``.

    Batch: ``WriteToText``, which finalises atomically and writes a shard even when empty.
    Streaming: ``fileio.WriteToFiles``, because ``WriteToText`` finalises through side inputs
    and the portable Flink runner cannot checkpoint an operator with side inputs
    (docs/runners.md, "Side inputs break checkpoints on the portable Flink runner"); its
    temporary files go to ``<output_dir>/.tmp-<name>``.
    """

    def __init__(self, output_dir: str, name: str, streaming: bool = False) -> None:
        super().__init__()
        self._output_dir = output_dir
        self._name = name
        self._streaming = streaming

    def expand(self, records: Any) -> Any:
        lines = records | "ToJson" >> beam.Map(to_json_line)
        if not self._streaming:
            prefix = FileSystems.join(self._output_dir, self._name)
            return lines | "Write" >> beam.io.WriteToText(prefix, file_name_suffix=".jsonl")
        return lines | "Write" >> fileio.WriteToFiles(
            self._output_dir,
            file_naming=fileio.default_file_naming(self._name, ".jsonl"),
            temp_directory=StaticValueProvider(str, temp_directory(self._output_dir, self._name)),
        )


def temp_directory(output_dir: str, name: str) -> str:
    return str(FileSystems.join(output_dir, f".tmp-{name}"))


def write_json_file(document: dict[str, Any], path: str) -> str:
    with FileSystems.create(path) as handle:
        handle.write(json.dumps(document, indent=2, sort_keys=True).encode("utf-8") + b"\n")
    return path


def read_json_file(path: str) -> dict[str, Any]:
    with FileSystems.open(path) as handle:
        document: dict[str, Any] = json.loads(handle.read().decode("utf-8"))
    return document
