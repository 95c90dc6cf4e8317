#!/usr/bin/env python3
"""The rule groups of a PrometheusRule as a plain Prometheus rules file.

    scripts/prometheus_rules.py k8s/monitoring/prometheus-rules.yaml [-o FILE] [--max-for 10s]

The Prometheus Operator reads a PrometheusRule object; ``promtool`` and a Prometheus without the
operator read a rules file, which is the object's ``spec.groups`` under ``groups``. This writes
that file (to standard output without ``-o``; with it, through a temporary file, so a reader
never sees half of one).

``--max-for DURATION`` caps every alert's ``for:`` at DURATION (a Prometheus duration: 10s,
1m30s): the local Prometheus of the tests (scripts/prometheus.sh) lets an alert fire within
seconds, while the PrometheusRule keeps the durations that make sense in production.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

_UNITS_MS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 7 * 86_400_000,
    "y": 365 * 86_400_000,
}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def duration_ms(text: str) -> int:
    """A Prometheus duration (``1h30m``, ``10s``, ``0``) in milliseconds."""
    text = str(text).strip()
    if text == "0":
        return 0
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(number) * _UNITS_MS[unit] for number, unit in parts)


def rule_groups(document: dict[str, Any]) -> list[dict[str, Any]]:
    if document.get("kind") != "PrometheusRule":
        raise ValueError(f"expected a PrometheusRule, got kind {document.get('kind')!r}")
    groups = (document.get("spec") or {}).get("groups")
    if not isinstance(groups, list) or not groups:
        raise ValueError("the PrometheusRule has no spec.groups")
    return groups


def cap_for(groups: list[dict[str, Any]], max_for: str) -> None:
    """Lowers every alert's ``for:`` above ``max_for`` to it, in place."""
    limit = duration_ms(max_for)
    for group in groups:
        for rule in group.get("rules", []):
            if "alert" in rule and "for" in rule and duration_ms(rule["for"]) > limit:
                rule["for"] = max_for


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (the longer expressions) as literal blocks, as in the source."""


def _string(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _string)


def plain_rules(source: Path, max_for: str | None = None) -> str:
    documents = [doc for doc in yaml.safe_load_all(source.read_text()) if doc]
    rules = [doc for doc in documents if doc.get("kind") == "PrometheusRule"]
    if len(rules) != 1:
        raise ValueError(f"{source}: expected one PrometheusRule, found {len(rules)}")
    groups = rule_groups(rules[0])
    if max_for is not None:
        cap_for(groups, max_for)
    header = f"# Generated from {source.name} by scripts/prometheus_rules.py: edit that file.\n"
    if max_for is None:
        header += "# Alerts' for: as in the PrometheusRule.\n"
    else:
        header += f"# Alerts' for: capped at {max_for} (--max-for).\n"
    body = yaml.dump(
        {"groups": groups}, Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True
    )
    return header + body


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.chmod(scratch, 0o644)
    os.replace(scratch, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a YAML file holding one PrometheusRule")
    parser.add_argument("-o", "--output", type=Path, help="the rules file (default: stdout)")
    parser.add_argument(
        "--max-for", metavar="DURATION", help="cap every alert's for: at this duration"
    )
    args = parser.parse_args(argv)
    try:
        if args.max_for is not None:
            duration_ms(args.max_for)
        text = plain_rules(args.source, args.max_for)
    except (OSError, ValueError, yaml.YAMLError) as error:
        print(f"prometheus_rules: {error}", file=sys.stderr)
        return 2
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomically(args.output, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
