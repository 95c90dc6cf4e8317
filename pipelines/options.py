"""The command-line contract of ``python -m pipelines.fraud``.

Other tools (Airflow backfills, Flink submissions, benchmarks) rely on these names; change
them only by adding. Every standard Beam option (``--runner``, ``--setup_file``, ...) is
accepted alongside. Labels for quality metrics are ``--labels_file``: ``--labels`` already
means job labels to Beam and to Airflow's Beam operator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

from ml.defaults import DEFAULT_MODEL_DIR as DEFAULT_MODEL_DIR  # ml owns where models live
from pipelines.warehouse.options import DSN_VARIABLE, dsn_from_environment
from transforms.domain.event_time import DEFAULT_BUSINESS_TIMEZONE
from transforms.domain.events import DEFAULT_MAX_PAYLOAD_BYTES
from transforms.progress import DEFAULT_PROGRESS_INTERVAL_S
from transforms.sinks import DEFAULT_EMIT_INTERVAL_S

DEFAULT_OUTPUT_DIR = "out"
DEFAULT_CUSTOMER_SHARDS = 16
# Beam 2.62 knows its in-process portable runner only by module path; ``--runner=FnApiRunner``
# is accepted as a short name (pipelines.fraud.pipeline_options resolves it).
FN_API_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
_RUNNER_ALIASES = {"fnapirunner": FN_API_RUNNER, "fnapi": FN_API_RUNNER}


def resolve_runner(name: str | None) -> str | None:
    """The runner name Beam can create: short names of this project's docs resolved."""
    if name is None:
        return None
    return _RUNNER_ALIASES.get(name.lower(), name)


def has_option(argv: Sequence[str], flag: str) -> bool:
    """Whether the command line gives ``flag`` (``--flag value`` or ``--flag=value``)."""
    return any(arg == flag or arg.startswith(f"{flag}=") for arg in argv)


DETECTOR_MODES = ("auto", "stateful", "grouped")


class LaunchError(Exception):
    """An option cannot be used, so the run cannot start; the message says why in one line."""


class FraudOptions(PipelineOptions):  # type: ignore[misc]
    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        # Beam parses each options class's flags alone, and argparse takes a unique prefix for
        # the whole flag: Beam's job labels, --labels=k=v (Airflow's Beam operator always adds
        # one), would be read as --labels_file.
        parser.allow_abbrev = False
        parser.add_argument(
            "--input",
            action="append",
            help="JSONL input file or glob (any Beam filesystem); repeatable. "
            "Without it, a seeded synthetic data set is generated and used.",
        )
        parser.add_argument(
            "--warmup_input",
            action="append",
            help="JSONL file or glob (repeatable) read before --emit_from only to warm the "
            "per-customer state: its events are scored but not emitted, and its dead letters "
            "are dropped (the run that read it first wrote them).",
        )
        parser.add_argument(
            "--emit_from",
            help="ISO-8601 instant with a UTC offset: events before it only warm the "
            "per-customer state and are not emitted (backfills read the history before their "
            "range this way). Default: emit everything.",
        )
        parser.add_argument(
            "--feedback",
            action="append",
            help="JSONL file or glob (repeatable) of confirmed outcomes: {transaction_id, "
            "customer_id, store_id, label: fraud|genuine, reported_at}. Each counts from its "
            "reported_at on: a confirmed fraud raises its store's fraud rate (FR-007) and marks "
            "its card compromised (FR-008); malformed records go to the DLQ.",
        )
        parser.add_argument(
            "--output_dir",
            default=DEFAULT_OUTPUT_DIR,
            help="Where scored/alerts/dlq JSONL files and summary.json are written.",
        )
        parser.add_argument(
            "--labels_file",
            help="JSONL of {transaction_id, is_fraud, pattern}: adds precision/recall to the "
            "summary.",
        )
        parser.add_argument(
            "--rules",
            help="YAML file (any Beam filesystem) overriding the default rule settings.",
        )
        parser.add_argument(
            "--rules_changes",
            action="append",
            help="JSONL file (any Beam filesystem; repeatable) of registered rules and model "
            "versions, as python -m pipelines.rules export writes them: each scores the events "
            "from its effective_from on, so a replay scores as the live job did. Checked at "
            "launch (a model version's artifact must load).",
        )
        parser.add_argument(
            "--postgres_dsn",
            default=dsn_from_environment(),
            help="Also write to the PostgreSQL warehouse (bronze raw/alerts/DLQ, silver "
            f"scored); the default is ${DSN_VARIABLE}'s value, if set. Migrate it first: "
            "python -m pipelines.warehouse migrate. Give the password through PGPASSWORD or "
            "~/.pgpass, not in the DSN, on Flink.",
        )
        parser.add_argument(
            "--blacklist",
            help="CSV of 'customer,<id>' / 'store,<id>' rows (any Beam filesystem).",
        )
        parser.add_argument(
            "--blacklist_changes",
            action="append",
            help="JSONL file or glob (repeatable) of blacklist changes after --blacklist: "
            "{kind: customer|store, id, action: add|remove, effective_at}. Each applies to its "
            "customer's or store's state from effective_at on; malformed records go to the DLQ.",
        )
        parser.add_argument(
            "--business_timezone",
            default=DEFAULT_BUSINESS_TIMEZONE,
            help="IANA zone of v1 naive timestamps and of the usual-hour rule.",
        )
        parser.add_argument(
            "--max_payload_bytes",
            type=int,
            default=DEFAULT_MAX_PAYLOAD_BYTES,
            help="Larger records go to the DLQ as PAYLOAD_TOO_LARGE.",
        )
        parser.add_argument(
            "--exact_state_cache_sizing",
            action="store_true",
            help="Keep Beam's objsize weigher for the state cache (slow; see "
            "transforms/state_cache_sizing.py).",
        )
        parser.add_argument(
            "--detector_mode",
            choices=DETECTOR_MODES,
            default="auto",
            help="How each customer's events are put in event-time order: 'stateful' (Beam "
            "state and event-time timers; the streaming path) or 'grouped' (group by "
            "customer and sort; bounded runs only need this). Default 'auto': stateful with "
            "--streaming, grouped otherwise. Both give the same records.",
        )
        parser.add_argument(
            "--customer_shards",
            type=int,
            default=DEFAULT_CUSTOMER_SHARDS,
            help="Stateful path: customers share this many keys in the customer step, each "
            "shard's customers kept in one worker's state cache (transforms/sharded_step.py); "
            "0: one key per customer. Fewer keys, fewer round trips to the runner per event. "
            "A savepoint restores only into a job with the same value.",
        )
        parser.add_argument(
            "--model",
            help="Model artifact folder (any Beam filesystem): an Isolation Forest "
            "(pipelines.train_default, ml.train --events) or a supervised model "
            "(ml.train --supervised), blended into fraud_score as its metadata says; the "
            f"run fails if it is unusable. Default: {DEFAULT_MODEL_DIR} if present and usable "
            "(else rules only); the embedded default run trains it if missing.",
        )
        parser.add_argument(
            "--no_model", action="store_true", help="Rules only: no anomaly model (FR-006)."
        )
        parser.add_argument(
            "--emit_interval_s",
            type=int,
            default=DEFAULT_EMIT_INTERVAL_S,
            help="Streaming: seconds of processing time between writes of the output files "
            "and the running summary.",
        )
        parser.add_argument("--seed", type=int, default=42, help="Seed of the generated data.")
        parser.add_argument(
            "--customers", type=int, default=2000, help="Customers in the generated data."
        )
        parser.add_argument("--days", type=int, default=30, help="Days of generated data.")
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print the full summary (summary.json, with Beam's counters) as JSON on "
            "stdout instead of the readable summary.",
        )
        parser.add_argument(
            "--progress_interval_s",
            type=float,
            default=DEFAULT_PROGRESS_INTERVAL_S,
            help="Seconds between progress lines on stderr (events read and scored, rates, "
            "time elapsed) while events flow; 0: none.",
        )


def detector_path(detector_mode: str, streaming: bool) -> str:
    """``stateful`` or ``grouped``: what ``--detector_mode`` means for this run."""
    if detector_mode == "auto":
        return "stateful" if streaming else "grouped"
    return detector_mode
