"""Inputs, from any Beam filesystem: the events (``ReadJsonLines``) and the reference files the
launcher reads and ships inside the pipeline (rules, blacklist, model bytes).

Lines are read as bytes, not text: a line that is not UTF-8 must reach the dead-letter queue
with its position rather than fail the read (``ReadFromText`` would decode it). Each record is
``(source, payload)`` where source is ``file:<path>:<line>``; empty lines carry no record and
are only counted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.counters import BLANK_LINES, NAMESPACE
from transforms.domain.blacklist import EMPTY_BLACKLIST, Blacklist, parse_blacklist_lines
from transforms.domain.config import RulesConfig, default_rules, rules_from_text
from transforms.domain.json_fields import InvalidRecord
from transforms.domain.scoring_registry import RegisteredChange, parse_registered_change

RawRecord = tuple[str, bytes]


class _SplitLines(beam.DoFn):  # type: ignore[misc]
    def __init__(self) -> None:
        self._blank = Metrics.counter(NAMESPACE, BLANK_LINES)

    def process(self, readable: Any) -> Iterator[RawRecord]:
        path = readable.metadata.path
        with readable.open() as handle:
            for number, line in enumerate(handle, start=1):
                payload = line.rstrip(b"\r\n")
                # Only an empty line is no record; whitespace is a payload (and invalid JSON).
                if not payload:
                    self._blank.inc()
                    continue
                yield f"file:{path}:{number}", payload


class ReadJsonLines(beam.PTransform):  # type: ignore[misc]
    def __init__(self, patterns: Sequence[str]) -> None:
        super().__init__()
        self._patterns = list(patterns)

    def expand(self, pipeline: Any) -> Any:
        return (
            pipeline
            | "Patterns" >> beam.Create(self._patterns)
            | "Match" >> fileio.MatchAll()
            | "Open" >> fileio.ReadMatches()
            | "SplitLines" >> beam.ParDo(_SplitLines()).with_output_types(tuple[str, bytes])
        )


def read_rules(path: str | None) -> RulesConfig:
    """The rules YAML at ``path`` (any Beam filesystem) over the defaults, or the defaults."""
    if not path:
        return default_rules()
    return rules_from_text(read_bytes(path).decode("utf-8"))


def read_rules_changes(path: str, base: RulesConfig) -> list[RegisteredChange]:
    """The registered rules and model versions in the JSONL file at ``path`` (any Beam
    filesystem), as ``python -m pipelines.rules export`` writes them; ``ValueError`` names the
    first bad line."""
    changes = []
    for number, line in enumerate(read_bytes(path).decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        change = parse_registered_change(line, base)
        if isinstance(change, InvalidRecord):
            raise ValueError(f"line {number}: {change.message}")
        changes.append(change)
    return changes


def read_blacklist(path: str | None) -> Blacklist:
    """The blacklist file at ``path`` (any Beam filesystem), or an empty list without one."""
    if not path:
        return EMPTY_BLACKLIST
    return parse_blacklist_lines(read_bytes(path).decode("utf-8").splitlines())


def read_bytes(path: str) -> bytes:
    """A whole file from any Beam filesystem: the launcher reads reference data this way."""
    with FileSystems.open(path) as handle:
        return bytes(handle.read())
