"""What ``python -m pipelines.fraud`` does around the pipeline graph, on the launching machine.

Before the job: every option that can be checked here is checked, so a mistake ends the run at
once with one line naming it, never a traceback or a failure after the job started. The
embedded default generates its data and, the first time, trains the default anomaly model.
The reference data the workers need (rules, blacklist, model) is read here from any Beam file
system and travels inside the pipeline. The previous run's outputs are cleared.

After the job: the summary the pipeline wrote is read back, with Beam's counters and the
conservation law checked on them (``read + <control>_read = scored + <control>_accepted +
dlq_*``, the controls being feedback and blacklist changes).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import StandardOptions

from pipelines.flink import is_flink
from pipelines.kafka import (
    KafkaOptions,
    anchor_control_topics,
    check_broker,
    check_live_options,
    expansion_service,
    is_live,
)
from pipelines.options import DEFAULT_MODEL_DIR, FraudOptions, LaunchError, detector_path
from transforms.counters import (
    BLACKLIST_CHANGES_ACCEPTED,
    BLACKLIST_CHANGES_READ,
    CONTROL_DLQ_PREFIX,
    DLQ_PREFIX,
    FEEDBACK_ACCEPTED,
    FEEDBACK_READ,
    NAMESPACE,
    READ,
    RULES_CHANGES_ACCEPTED,
    RULES_CHANGES_READ,
    SCORED,
)
from transforms.domain.blacklist import Blacklist
from transforms.domain.config import RulesConfig
from transforms.domain.event_time import business_timezone, parse_timestamp
from transforms.domain.model_registry import ModelChange
from transforms.domain.rules_registry import RulesChange
from transforms.domain.scoring_registry import RegisteredChange, ScoringRegistry
from transforms.read import read_blacklist, read_bytes, read_rules, read_rules_changes
from transforms.sinks import read_json_file, temp_directory
from transforms.summary import SummarizeFn
from transforms.version import PIPELINE_VERSION

if TYPE_CHECKING:
    from ml.artifact import ArtifactFiles

OUTPUT_NAMES = ("scored", "alerts", "dlq")
SUMMARY_FILE = "summary.json"
# Not the generated input's seed: the default model must not have seen the run's data.
DEFAULT_MODEL_SEED = 7
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReferenceData:
    """What the workers need besides the events, read once here and shipped with the job."""

    rules: RulesConfig
    blacklist: Blacklist
    model: ArtifactFiles | None
    model_version: str | None
    # The live path's Java expansion service (pipelines.kafka); None for file input.
    kafka_expansion_service: str | None = None
    # The files --warmup_input matched, as the read names them: their dead letters are dropped.
    warmup_files: frozenset[str] = frozenset()
    # Registered rules and model versions (--rules_changes), each from its effective time.
    rules_changes: tuple[RegisteredChange, ...] = ()
    # The artifacts of the model versions among them, by ModelChange.reference().
    registered_models: dict[tuple[str, str, str], ArtifactFiles] = field(default_factory=dict)

    def rules_registry(self) -> ScoringRegistry:
        return ScoringRegistry.of(self.rules, self.rules_changes)


def prepare_run(options: FraudOptions) -> ReferenceData:
    """Everything before the job: checks, generated data, reference data, cleared outputs.
    The quick checks come first. ``options`` is completed in place where the embedded
    default fills something in.
    """
    check_business_timezone(options.business_timezone)
    emit_from_ms(options)
    rules = checked_rules(options)
    rules_changes = checked_rules_changes(options, rules)
    if options.postgres_dsn:
        check_no_password_in_options(options)
        # An executable jar is built where the warehouse is not reachable (an image build):
        # the running job's sink meets it instead, and says what is wrong in its log.
        if not options.get_all_options().get("output_executable_path"):
            check_warehouse(options.postgres_dsn)
    expansion_service = None
    live = is_live(options)
    if live:
        expansion_service = check_live_input(options)
    embedded_default = not options.input and not live
    warmup_files: frozenset[str] = frozenset()
    if embedded_default:
        use_generated_data(options)
    elif not live:
        check_inputs(options.input)
        warmup_files = matched_files(options.warmup_input or [], "--warmup_input")
    if options.feedback:
        check_inputs(options.feedback, "--feedback")
    if options.blacklist_changes:
        check_inputs(options.blacklist_changes, "--blacklist_changes")
    model, version = choose_model(options, train_if_missing=embedded_default)
    registered_models = registered_model_files(rules_changes)
    clear_previous_outputs(options.output_dir)
    blacklist = checked_blacklist(options)
    return ReferenceData(
        rules,
        blacklist,
        model,
        version,
        expansion_service,
        warmup_files,
        rules_changes,
        registered_models,
    )


def emit_from_ms(options: FraudOptions) -> int | None:
    """``--emit_from`` as epoch milliseconds, or ``None``; :class:`LaunchError` if unusable."""
    if not options.emit_from:
        return None
    try:
        return parse_timestamp(options.emit_from, None)
    except ValueError as error:
        raise LaunchError(f"--emit_from {options.emit_from}: {error}") from None


def check_live_input(options: FraudOptions) -> str:
    """The Kafka input can be used: the runner, the broker and its topics, the expansion
    service. Returns the expansion service's address."""
    if options.input:
        raise LaunchError("--input and --kafka_bootstrap_servers: give one input, not both")
    for files, topic in (
        ("feedback", "feedback_topic"),
        ("blacklist_changes", "blacklist_changes_topic"),
    ):
        if getattr(options, files):
            raise LaunchError(
                f"--{files} and --kafka_bootstrap_servers: the live path reads --{topic}"
            )
    check_live_options(options)
    kafka = options.view_as(KafkaOptions)
    check_broker(kafka)
    address = expansion_service(kafka)
    # Last, once everything else is known to work: it writes to the control topics.
    anchor_control_topics(kafka)
    return address


def read_reference_data(options: FraudOptions) -> ReferenceData:
    """What the workers need, checked as a run checks it, for building a pipeline without
    running it (a production image); :class:`LaunchError` if unusable."""
    check_business_timezone(options.business_timezone)
    rules, blacklist = checked_rules(options), checked_blacklist(options)
    rules_changes = checked_rules_changes(options, rules)
    model, version = choose_model(options, train_if_missing=False)
    return ReferenceData(
        rules,
        blacklist,
        model,
        version,
        rules_changes=rules_changes,
        registered_models=registered_model_files(rules_changes),
    )


def checked_rules(options: FraudOptions) -> RulesConfig:
    try:
        return read_rules(options.rules)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise LaunchError(f"--rules {options.rules}: {error}") from None


def checked_rules_changes(options: FraudOptions, base: RulesConfig) -> tuple[RegisteredChange, ...]:
    """The versions of every --rules_changes file, each checked as registration checks it: a
    model version's artifact must load and match its SHA-256 here, never fail on a worker."""
    changes: list[RegisteredChange] = []
    for path in options.rules_changes or []:
        try:
            changes += read_rules_changes(path, base)
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise LaunchError(f"--rules_changes {path}: {error}") from None
    return tuple(changes)


def registered_model_files(
    changes: tuple[RegisteredChange, ...],
) -> dict[tuple[str, str, str], ArtifactFiles]:
    """The artifact of every model version in ``changes``, read and verified here as the
    base model is: a bad one stops the launch with one line, never a worker; the bytes ship
    with the job, so workers need not reach the locations."""
    files = {}
    for change in changes:
        if isinstance(change, ModelChange) and change.reference() not in files:
            files[change.reference()] = checked_model_change(change)
    return files


def checked_model_change(change: ModelChange) -> ArtifactFiles:
    """The version's artifact, if it loads from its location and is the model registered."""
    named = f"--rules_changes: model version {change.model_version} at"
    files, version = read_model(change.location, named)
    from ml.artifact import sha256_hex

    if sha256_hex(files.model) != change.sha256 or version != change.model_version:
        raise LaunchError(
            f"{named} {change.location}: holds {version}, not the registered "
            f"{change.model_version} ({change.sha256[:12]}...): the artifact was replaced"
        )
    return files


def checked_blacklist(options: FraudOptions) -> Blacklist:
    try:
        return read_blacklist(options.blacklist)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise LaunchError(f"--blacklist {options.blacklist}: {error}") from None


def check_inputs(patterns: list[str], option: str = "--input") -> None:
    matched_files(patterns, option)


def matched_files(patterns: list[str], option: str = "--input") -> frozenset[str]:
    """The paths the patterns match, as the read reports them; :class:`LaunchError` if a
    pattern matches nothing."""
    paths: set[str] = set()
    for pattern in patterns:
        try:
            (matched,) = FileSystems.match([pattern])
        except (OSError, ValueError) as error:  # BeamIOError is an OSError
            raise LaunchError(f"{option} {pattern}: {error}") from None
        if not matched.metadata_list:
            raise LaunchError(f"{option} {pattern} matches no file")
        paths.update(metadata.path for metadata in matched.metadata_list)
    return frozenset(paths)


def check_business_timezone(name: str) -> None:
    try:
        business_timezone(name)
    except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
        raise LaunchError(f"--business_timezone {name}: not an IANA time zone") from None


def check_no_password_in_options(options: FraudOptions) -> None:
    """A Flink job's options are shown in its web UI and baked into a production jar: the
    warehouse password must reach the workers another way (libpq's PGPASSWORD or .pgpass)."""
    if not is_flink(options.view_as(StandardOptions).runner):
        return
    try:
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        return  # check_warehouse says the extra is missing
    try:
        password = conninfo_to_dict(options.postgres_dsn).get("password")
    except ProgrammingError:  # an unparsable DSN: check_warehouse names the problem
        return
    if password:
        raise LaunchError(
            "--postgres_dsn holds a password, which Flink would show with the job's options: "
            "give it to the workers as PGPASSWORD or in ~/.pgpass instead"
        )


def check_warehouse(dsn: str) -> None:
    """The warehouse answers and has every migration of this release: else the sinks would
    fail inside the job, or refuse what an older schema cannot hold."""
    try:
        import psycopg

        from pipelines.warehouse.migrate import MigrationError, discover
        from pipelines.warehouse.options import InvalidDsnError, dsn_settings, redacted
    except ImportError:
        raise LaunchError("--postgres_dsn needs the postgres extra (psycopg)") from None
    try:
        needed = max(migration.version for migration in discover())
    except (MigrationError, OSError) as error:  # an installation without its SQL
        raise LaunchError(f"--postgres_dsn: {error}") from None
    try:
        dsn_settings(dsn)  # psycopg's own message would quote the DSN, password and all
    except InvalidDsnError:
        raise LaunchError("--postgres_dsn is not a valid PostgreSQL connection string") from None
    try:
        with psycopg.connect(dsn, connect_timeout=10) as connection:
            row = connection.execute("SELECT max(version) FROM public.schema_migrations").fetchone()
        applied = row[0] if row else None
    except psycopg.errors.UndefinedTable:
        applied = None
    except psycopg.Error as error:
        message = redacted(str(error), dsn)
        reason = message.splitlines()[0] if message else type(error).__name__
        raise LaunchError(f"--postgres_dsn: cannot use the warehouse: {reason}") from None
    if applied is None or applied < needed:
        at = "has no migrations" if applied is None else f"is at V{applied:03d}"
        raise LaunchError(
            f"--postgres_dsn: the warehouse {at}, this release needs V{needed:03d}: run "
            "python -m pipelines.warehouse migrate"
        )


def choose_model(
    options: FraudOptions, train_if_missing: bool
) -> tuple[ArtifactFiles | None, str | None]:
    """The model's files and version: ``--model`` (which must be usable), else the default
    location's (rules only if unusable), else, for the embedded run, a newly trained one."""
    if options.no_model:
        return None, None
    if options.model:
        return read_model(options.model, "--model")
    if os.path.exists(os.path.join(DEFAULT_MODEL_DIR, "metadata.json")):
        try:
            return read_model(DEFAULT_MODEL_DIR, "the default model at")
        except LaunchError as error:
            _LOG.warning("%s; ml_score is null, rules only", error)
            return None, None
    if not train_if_missing:
        _LOG.warning(
            "no anomaly model at %s: rules only (see python -m pipelines.train_default)",
            DEFAULT_MODEL_DIR,
        )
        return None, None
    try:
        from pipelines.train_default import train_model
    except ImportError as error:  # the ml extra is not installed
        _LOG.warning("cannot train the default anomaly model (%s): rules only", error)
        return None, None
    print(f"Training the default anomaly model into {DEFAULT_MODEL_DIR}", file=sys.stderr)
    train_model(DEFAULT_MODEL_DIR, seed=DEFAULT_MODEL_SEED)
    return read_model(DEFAULT_MODEL_DIR, "the default model at")


def read_model(location: str, named: str) -> tuple[ArtifactFiles, str]:
    """The artifact's files (any Beam file system), verified here as the workers will verify
    them: the bytes checked are the bytes shipped, read once. ``named``: how the message
    names where the location came from."""
    try:
        from ml.artifact import ArtifactError, load_artifact, read_artifact_files
    except ImportError as error:  # the ml extra is not installed
        raise LaunchError(f"{named} {location}: cannot load models ({error})") from None
    try:
        files = read_artifact_files(location, read_bytes)
        return files, load_artifact(files).model_version
    except ArtifactError as error:
        raise LaunchError(f"{named} {location}: {error.message}") from None


def use_generated_data(options: FraudOptions) -> None:
    # Imported here: only the embedded default needs the generator.
    from pipelines.report import generated_line
    from pipelines.synthetic import generate_dataset

    data_dir = os.path.join(options.output_dir, "input")
    dataset = generate_dataset(
        data_dir, seed=options.seed, customers=options.customers, days=options.days
    )
    line = generated_line(dataset.counts, options.customers, options.days, data_dir)
    print(line, file=sys.stderr)
    options.input = [dataset.events]
    options.labels_file = options.labels_file or dataset.labels
    options.blacklist = options.blacklist or dataset.blacklist


def clear_previous_outputs(output_dir: str) -> None:
    """Delete this pipeline's earlier output files, so no stale shard survives a rerun."""
    patterns = [FileSystems.join(output_dir, f"{name}-*") for name in OUTPUT_NAMES]
    patterns += [FileSystems.join(temp_directory(output_dir, name), "*") for name in OUTPUT_NAMES]
    patterns.append(FileSystems.join(output_dir, SUMMARY_FILE))
    stale = [meta.path for result in FileSystems.match(patterns) for meta in result.metadata_list]
    if stale:
        FileSystems.delete(stale)


def run_info(reference: ReferenceData, detector: str) -> dict[str, Any]:
    """What the summary says about the run besides its tally (which reports the model)."""
    return {
        "rules_version": reference.rules.rules_version,
        "rules_changes": [
            {
                "rules_version": change.rules_version,
                "effective_from_ms": change.effective_from_ms,
                "role": change.role,
            }
            for change in reference.rules_changes
            if isinstance(change, RulesChange)
        ],
        "model_changes": [
            {
                "model_version": change.model_version,
                "effective_from_ms": change.effective_from_ms,
                "role": change.role,
            }
            for change in reference.rules_changes
            if isinstance(change, ModelChange)
        ],
        "pipeline_version": PIPELINE_VERSION,
        "detector": detector,
    }


def read_back_summary(
    result: Any, options: FraudOptions, reference: ReferenceData
) -> dict[str, Any]:
    """The summary the job wrote, with its counters and the conservation check."""
    path = FileSystems.join(options.output_dir, SUMMARY_FILE)
    if FileSystems.exists(path):
        summary = read_json_file(path)
    else:  # a streaming run emits no tally for empty input (transforms/summary.py)
        tally = SummarizeFn(bool(options.labels_file), reference.rules.alert_threshold)
        streaming = bool(options.view_as(StandardOptions).streaming)
        detector = detector_path(options.detector_mode, streaming)
        summary = {
            **tally.extract_output(tally.create_accumulator()),
            **run_info(reference, detector),
        }
    counters = summary["counters"] = beam_counters(result)
    summary["conservation_ok"], note = conservation(counters)
    if note:
        summary["conservation_note"] = note
        _LOG.warning("conservation law %s", note)
    summary["output_dir"] = options.output_dir
    return summary


def beam_counters(result: Any) -> dict[str, int]:
    """The pipeline's counters as the runner reports them; empty if it reports none."""
    try:
        query = result.metrics().query(beam.metrics.MetricsFilter().with_namespace(NAMESPACE))
    except (NotImplementedError, AttributeError):
        return {}
    counters: dict[str, int] = {}
    for counter in query["counters"]:
        name = counter.key.metric.name
        counters[name] = counters.get(name, 0) + int(counter.committed or counter.attempted or 0)
    return dict(sorted(counters.items()))


def conservation(counters: dict[str, int]) -> tuple[bool | None, str | None]:
    """Whether every record read was scored (an event) or accepted (feedback, a blacklist
    change) or dead-lettered; ``None`` with the reason when the counters cannot tell."""
    if not counters:
        # Beam reports no counter that was never incremented: an empty input shows none too.
        return None, "not checked: no counters were reported (none for an empty input)"
    read, scored = counters.get(READ, 0), counters.get(SCORED, 0)
    controls_read = sum(
        counters.get(name, 0)
        for name in (FEEDBACK_READ, BLACKLIST_CHANGES_READ, RULES_CHANGES_READ)
    )
    accepted = sum(
        counters.get(name, 0)
        for name in (FEEDBACK_ACCEPTED, BLACKLIST_CHANGES_ACCEPTED, RULES_CHANGES_ACCEPTED)
    )
    dead = sum(
        value
        for name, value in counters.items()
        if name.startswith((DLQ_PREFIX, CONTROL_DLQ_PREFIX))
    )
    if read + controls_read == scored + accepted + dead:
        return True, None
    controls = f", controls read {controls_read}, accepted {accepted}" if controls_read else ""
    return False, f"violated: read {read}, scored {scored}{controls}, dead-lettered {dead}"
