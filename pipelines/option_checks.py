"""The command line of ``python -m pipelines.fraud`` checked before Beam reads it.

Beam drops an option no options class declares with a log warning, and its parser ends a bad
value with its whole usage text: a typo such as ``--feedbak FILE`` would run without feedback.
So the command line is parsed here as Beam parses it (every ``PipelineOptions`` subclass
imported: Beam's and the runners', this project's ``FraudOptions``, ``KafkaOptions``,
``FlinkTuningOptions``), and an option none of them knows, a value of the wrong type or a
number out of its range is a :class:`~pipelines.options.LaunchError`, one line.

The ranges of the numeric options (``NUMERIC_RANGES``) are what a run can use, not what the
type allows: ``--max_payload_bytes=-5`` would dead-letter every event and exit 0.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

# Imported for their options classes: Beam knows only the classes imported.
import pipelines.flink
import pipelines.kafka  # noqa: F401
from pipelines.cli import Range, unknown_argument_message
from pipelines.options import LaunchError

# Every numeric option of FraudOptions, KafkaOptions (none today), FlinkTuningOptions and
# Beam's FlinkRunnerOptions, plus the state cache the Flink runs get by default
# (tests/pipelines/test_command_errors.py fails when a numeric option is missing here).
NUMERIC_RANGES: dict[str, Range] = {
    # FraudOptions. A record above 64 MiB is no transaction, and a worker holds it whole.
    "max_payload_bytes": Range(int, low=1, high=64 * 1024 * 1024),
    "emit_interval_s": Range(int, low=1, high=86_400),
    "progress_interval_s": Range(float, low=0, high=3600),  # 0: no progress lines
    "seed": Range(int, low=0, high=2**32 - 1),
    "customers": Range(int, low=1, high=1_000_000),
    "days": Range(int, low=1, high=3660),
    "customer_shards": Range(int, low=0, high=65_536),  # 0: a key per customer
    # FlinkTuningOptions (Beam's Java FlinkPipelineOptions).
    "max_bundle_size": Range(int, low=1, high=10_000_000),
    "max_bundle_time_mills": Range(int, low=1, high=3_600_000),
    # KafkaOptions. A store minute's state is kept this long after its end: up to a year.
    "metrics_allowed_lateness_s": Range(int, low=0, high=366 * 86_400),
    # Flink refuses an interval under 10 ms; -1 is Beam's "off".
    "checkpointing_interval": Range(int, low=10, high=86_400_000, also=(-1,)),
    # FlinkRunnerOptions: -1 is "the cluster's default"; 32,768 is Flink's maximum.
    "parallelism": Range(int, low=1, high=32_768, also=(-1,)),
    "max_parallelism": Range(int, low=1, high=32_768, also=(-1,)),
    # Beam's SDK state cache per worker process (pipelines.flink sets it for Flink runs).
    "max_cache_memory_usage_mb": Range(int, low=0, high=1_048_576),
    # PortableOptions: Python worker processes per TaskManager; 0 lets the runner choose.
    "sdk_worker_parallelism": Range(int, low=0, high=1_024),
}


class _CheckingParser(_BeamArgumentParser):  # type: ignore[misc]
    """Beam's parser, whose mistakes are one-line :class:`LaunchError` s."""

    def error(self, message: str) -> NoReturn:
        raise LaunchError(message)


def options_parser() -> Any:
    """A parser of every option Beam would read from the command line: each imported
    ``PipelineOptions`` subclass's, as ``PipelineOptions.get_all_options`` collects them."""
    # No prefixes: Beam's own parser takes none either (--labels is not --labels_file). No
    # --help: pipelines.fraud answers it with its own text before any check.
    parser = _CheckingParser(allow_abbrev=False, add_help=False)
    classes = {str(cls): cls for cls in PipelineOptions.__subclasses__()}
    for cls in classes.values():
        cls._add_argparse_args(parser)
    return parser


def check_command_line(argv: Sequence[str]) -> None:
    """:class:`LaunchError` for an unknown option, a malformed value or a number out of its
    range in ``argv``; nothing if every option can be used."""
    parser = options_parser()
    parsed, unknown = parser.parse_known_args(list(argv))
    if unknown:
        known = [name for action in parser._actions for name in action.option_strings]
        raise LaunchError(unknown_argument_message(unknown, known))
    given = vars(parsed)
    for name, allowed in NUMERIC_RANGES.items():
        value = given.get(name)
        if value is None or value == parser.get_default(name):
            continue  # unset, or Beam's own default (-1 for parallelism)
        if isinstance(value, str):  # Beam declares some numbers without a type
            try:
                value = allowed(value)
            except argparse.ArgumentTypeError as error:
                raise LaunchError(f"--{name}: {error}") from None
        problem = allowed.problem(value)
        if problem:
            raise LaunchError(f"--{name}: {problem}")
