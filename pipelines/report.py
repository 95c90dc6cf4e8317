"""What ``python -m pipelines.fraud`` prints: the run's summary as a few readable lines.

The full summary (every count, quality by pattern, Beam's counters) is ``summary.json`` in the
output folder, and is printed instead with ``--json``; this is the part a person reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from apache_beam.io.filesystems import FileSystems


def summary_lines(
    summary: dict[str, Any],
    seconds: float | None,
    output_files: Sequence[tuple[str, str, int]],
    summary_path: str,
    also_written_to: Sequence[str] = (),
) -> list[str]:
    """The summary for a person. ``output_files``: (name, pattern, files) of each output;
    ``also_written_to``: where else the outputs went (the warehouse, Kafka topics)."""
    took = f" in {seconds:,.1f} s" if seconds is not None else ""
    lines = [f"StreamFlow run: {summary['read']:,} events read{took}"]
    lines.append(f"  scored         {summary['scored']:>10,}")
    lines.append(f"  alerts         {summary['alerts']:>10,}")
    lines.append(f"  dead-lettered  {summary['dlq']:>10,}{_by_type(summary)}")
    if summary.get("control_dlq"):
        lines.append(
            f"  control records dead-lettered: {summary['control_dlq']:,} "
            "(feedback, blacklist changes)"
        )
    lines += _quality_lines(summary)
    lines.append(f"Model: {_model(summary.get('model'))}")
    lines.append(
        f"Rules: {summary.get('rules_version')}; pipeline: {summary.get('pipeline_version')}; "
        f"detector: {summary.get('detector')} path"
    )
    if summary.get("conservation_ok") is False:
        lines.append(f"Conservation law {summary.get('conservation_note')}")
    lines.append(f"Outputs in {summary.get('output_dir')}:")
    for name, pattern, count in output_files:
        lines.append(f"  {name:<8} {pattern} ({count} file{'s' if count != 1 else ''})")
    lines.append(f"  summary  {summary_path} (everything; --json prints it)")
    lines += [f"  also     {where}" for where in also_written_to]
    return lines


def _by_type(summary: dict[str, Any]) -> str:
    by_type = summary.get("dlq_by_error_type") or {}
    if not by_type:
        return ""
    ranked = sorted(by_type.items(), key=lambda item: (-item[1], item[0]))
    return "  (" + ", ".join(f"{error} {count:,}" for error, count in ranked) + ")"


def _quality_lines(summary: dict[str, Any]) -> list[str]:
    """Precision, recall and average precision against the labels, if the run had any: for the
    fraud score, and for the rules alone when a model took part (else they are the same)."""
    quality = summary.get("quality")
    if not quality:
        return []
    rows = [("rules + model" if summary.get("model") else "rules", quality)]
    rules_only = summary.get("quality_rules_only")
    if summary.get("model") and rules_only:
        rows.append(("rules alone", rules_only))
    lines = [
        f"Quality against the labels ({quality['labelled_fraud']:,} fraud among "
        f"{quality['labelled']:,} labelled):",
        f"  {'':<14} {'precision':>9} {'recall':>7} {'avg precision':>15}",
    ]
    for name, numbers in rows:
        lines.append(
            f"  {name:<14} {numbers['precision']:>9.3f} {numbers['recall']:>7.3f} "
            f"{numbers['average_precision']:>15.3f}"
        )
    return lines


def _model(model: Any) -> str:
    if model is None:
        return "none (rules only)"
    if isinstance(model, list):  # workers disagreed (transforms/summary.py)
        return "several: " + ", ".join(str(one) if one else "none" for one in model)
    return str(model)


def output_files(output_dir: str, names: Sequence[str]) -> list[tuple[str, str, int]]:
    """Each output's file pattern and how many files match it now."""
    found = []
    for name in names:
        pattern = FileSystems.join(output_dir, f"{name}-*")
        (matched,) = FileSystems.match([pattern])
        found.append((name, pattern, len(matched.metadata_list)))
    return found


def generated_line(counts: dict[str, int], customers: int, days: int, data_dir: str) -> str:
    """The embedded default's data set in one line."""
    return (
        f"Generated {counts['events']:,} events ({counts['malformed']:,} malformed, "
        f"{counts['fraud']:,} fraud) of {customers:,} customers over {days} days into {data_dir}"
    )
