"""The options of ``python -m pipelines.fraud``, for people: its ``--help`` and docs/options.md.

Both are made from the option classes themselves, so they cannot drift from what the parser
accepts: ``python -m pipelines.option_help --write`` regenerates docs/options.md, and a test
fails when the committed file differs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.flink import FlinkTuningOptions
from pipelines.kafka import KafkaOptions
from pipelines.option_checks import NUMERIC_RANGES
from pipelines.options import FraudOptions
from pipelines.warehouse.options import DSN_VARIABLE

PROG = "python -m pipelines.fraud"
REGENERATE = "python -m pipelines.option_help --write"
OPTIONS_DOC = Path(__file__).resolve().parents[1] / "docs" / "options.md"

# Every options class of this project, in the order the help shows them, with its title.
OPTION_CLASSES: tuple[tuple[type[PipelineOptions], str], ...] = (
    (FraudOptions, "The pipeline (pipelines/options.py)"),
    (KafkaOptions, "The live path: Kafka in and out (pipelines/kafka.py)"),
    (FlinkTuningOptions, "Flink runner tuning (pipelines/flink.py)"),
)
# Defaults read from the environment are shown by their source: the value may be a secret,
# and the table must not depend on who generated it.
ENVIRONMENT_DEFAULTS = {"postgres_dsn": f"${DSN_VARIABLE}"}

DESCRIPTION = (
    "Score card transactions for fraud: read JSON lines (or Kafka), validate, score each "
    "customer's events in event-time order by the rules and the anomaly model, write scored "
    "records, alerts and dead letters, and print a summary. Without --input it generates a "
    "seeded synthetic data set and runs on Beam's in-process FnApiRunner."
)
BEAM_OPTIONS = (
    "Beam's standard options are accepted too: --runner (default: FnApiRunner; FlinkRunner "
    "with --flink_master), --streaming, --setup_file, --environment_type, --job_name, ... "
    "(see Beam's pipeline options documentation)."
)


def option_groups() -> list[tuple[str, list[argparse.Action]]]:
    """Each options class's title and its arguments, as its ``_add_argparse_args`` adds them."""
    groups = []
    for options_class, title in OPTION_CLASSES:
        parser = argparse.ArgumentParser(add_help=False)
        options_class._add_argparse_args(parser)
        groups.append((title, list(parser._actions)))
    return groups


def shown_default(action: argparse.Action) -> str | None:
    """The default as a person should read it; ``None`` when there is none to show."""
    if action.dest in ENVIRONMENT_DEFAULTS:
        return ENVIRONMENT_DEFAULTS[action.dest]
    default = action.default
    if default is None or default is False or default == [] or default is argparse.SUPPRESS:
        return None
    return str(default)


def meaning(action: argparse.Action) -> str:
    """The help text, with the choices and repeatability the parser knows."""
    text = (action.help or "").strip()
    if action.choices:
        text = f"One of {', '.join(map(str, action.choices))}. {text}".strip()
    if isinstance(action, argparse._AppendAction) and "repeatable" not in text:
        text = f"{text} Repeatable.".strip()
    accepted = NUMERIC_RANGES.get(action.dest)
    if accepted is not None:
        text = f"{text} Accepts {accepted.describe()}.".strip()
    return text


def _table_default(action: argparse.Action) -> str:
    if action.nargs == 0:  # a switch
        return "off"
    default = shown_default(action)
    return f"`{default}`" if default is not None else ""


class _HelpFormatter(argparse.HelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str:
        # The texts are shown as written: argparse would read a % in them as a format.
        text = meaning(action).replace("%", "%%")
        default = shown_default(action)
        return f"{text} (default: {default})" if default is not None else text


def help_parser() -> argparse.ArgumentParser:
    """A parser only for ``--help``: the run itself parses its options with Beam."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=f"{PROG} [options]",
        description=DESCRIPTION,
        epilog=BEAM_OPTIONS,
        formatter_class=_HelpFormatter,
    )
    for title, actions in option_groups():
        group = parser.add_argument_group(title)
        for action in actions:
            group._add_action(action)
    return parser


def wants_help(argv: Sequence[str]) -> bool:
    return any(argument in ("-h", "--help") for argument in argv)


def help_text() -> str:
    return help_parser().format_help()


def markdown() -> str:
    """docs/options.md: one table per options class."""
    lines = [
        "# Options of `python -m pipelines.fraud`",
        "",
        f"Generated from the argument parser by `{REGENERATE}`; do not edit by hand (a test "
        "fails when this file and the parser differ). `python -m pipelines.fraud --help` "
        "prints the same.",
        "",
        BEAM_OPTIONS,
    ]
    for title, actions in option_groups():
        lines += ["", f"## {title}", "", "| Option | Default | Meaning |", "| --- | --- | --- |"]
        for action in actions:
            flag = max(action.option_strings, key=len)
            cells = (f"`{flag}`", _table_default(action), meaning(action))
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.option_help", description="Print (or --write) docs/options.md."
    )
    parser.add_argument("--write", action="store_true", help=f"Write {OPTIONS_DOC}.")
    args = parser.parse_args(argv)
    text = markdown()
    if args.write:
        OPTIONS_DOC.write_text(text, encoding="utf-8")
        print(f"wrote {OPTIONS_DOC}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
