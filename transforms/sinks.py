"""Local sinks: JSON Lines files and the run summary, on any Beam filesystem."""

from __future__ import annotations

import json
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems


def to_json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


class WriteJsonLines(beam.PTransform):  # type: ignore[misc]
    """Writes dict records as ``<output_dir>/<name>-SSSSS-of-NNNNN.jsonl``.

    ``fileio.WriteToFiles``, not ``WriteToText``: the latter finalises through side inputs,
    which the portable Flink runner cannot checkpoint in streaming mode (README, Flink). Each
    bundle writes its own shard, so nothing is shuffled on the way out.
    """

    def __init__(self, output_dir: str, name: str) -> None:
        super().__init__()
        self._output_dir = output_dir
        self._name = name

    def expand(self, records: Any) -> Any:
        return (
            records
            | "ToJson" >> beam.Map(to_json_line)
            | "Write"
            >> fileio.WriteToFiles(
                self._output_dir, file_naming=fileio.default_file_naming(self._name, ".jsonl")
            )
        )


def write_json_file(document: dict[str, Any], path: str) -> str:
    with FileSystems.create(path) as handle:
        handle.write(json.dumps(document, indent=2, sort_keys=True).encode("utf-8") + b"\n")
    return path


def read_json_file(path: str) -> dict[str, Any]:
    with FileSystems.open(path) as handle:
        document: dict[str, Any] = json.loads(handle.read().decode("utf-8"))
    return document
