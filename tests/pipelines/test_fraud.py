"""The whole pipeline (`python -m pipelines.fraud`) on FnApiRunner over generated data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipelines.fraud import main, run
from pipelines.launcher import conservation
from pipelines.synthetic import generate_dataset
from tests.output_files import read_records


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_dataset(
        str(tmp_path_factory.mktemp("data")), seed=11, customers=120, days=12, malformed_rate=0.02
    )


@pytest.fixture(scope="module")
def first_run(
    dataset: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("out")
    stale = out / "scored-00007-of-00009.jsonl"
    stale.write_text('{"transaction_id": "from-an-earlier-run"}\n')
    summary = run(
        [
            f"--input={dataset.events}",
            f"--labels_file={dataset.labels}",
            f"--blacklist={dataset.blacklist}",
            f"--output_dir={out}",
            "--no_model",
        ]
    )
    return summary, out


def test_every_input_line_is_scored_or_dead_lettered(dataset: Any, first_run: Any) -> None:
    summary, out = first_run
    scored_ids = {r["transaction_id"] for r in read_records(out, "scored")}
    dlq_lines = {int(r["source"].rsplit(":", 1)[1]) for r in read_records(out, "dlq")}
    with open(dataset.events, "rb") as handle:
        lines = list(handle)
    unaccounted = []
    for number, line in enumerate(lines, start=1):
        if number in dlq_lines or not line.rstrip(b"\r\n"):
            continue
        transaction_id = json.loads(line)["transaction_id"]
        if transaction_id not in scored_ids:
            unaccounted.append(number)
    assert unaccounted == []
    scored, dead_letters = read_records(out, "scored"), read_records(out, "dlq")
    assert len(scored) + len(dead_letters) == _input_records(dataset.events)
    assert len(scored_ids) == len(scored) == summary["scored"]
    assert len(dead_letters) == summary["dlq"]


def _input_records(path: str) -> int:
    """Lines of the input file that carry a record: all but the empty ones."""
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.rstrip(b"\r\n"))


def test_counters_prove_the_conservation_law_against_the_input(
    dataset: Any, first_run: Any
) -> None:
    summary, _ = first_run
    counters = summary["counters"]
    records = _input_records(dataset.events)
    dead = sum(value for name, value in counters.items() if name.startswith("dlq_"))
    assert counters["read"] == records
    assert counters["scored"] + dead == records
    assert (counters["scored"], dead) == (summary["scored"], summary["dlq"])
    assert dead == sum(summary["dlq_by_error_type"].values()) > 0
    assert summary["conservation_ok"] is True
    assert "conservation_note" not in summary


def test_conservation_says_when_it_could_not_be_checked() -> None:
    assert conservation({}) == (
        None,
        "not checked: no counters were reported (none for an empty input)",
    )
    assert conservation({"read": 5, "scored": 3, "dlq_INVALID_JSON": 2}) == (True, None)
    assert conservation({"read": 5, "scored": 3, "dlq_INVALID_JSON": 1}) == (
        False,
        "violated: read 5, scored 3, dead-lettered 1",
    )


def test_dlq_records_carry_type_message_and_original_payload(dataset: Any, first_run: Any) -> None:
    _, out = first_run
    records = read_records(out, "dlq")
    assert records
    with open(dataset.events, "rb") as handle:
        lines = [line.rstrip(b"\n") for line in handle]
    for record in records:
        number = int(record["source"].rsplit(":", 1)[1])
        assert record["error_type"] in {
            "INVALID_JSON",
            "NOT_AN_OBJECT",
            "MISSING_FIELD",
            "INVALID_FIELD",
            "UNSUPPORTED_SCHEMA",
            "PAYLOAD_TOO_LARGE",
        }
        assert record["error_message"]
        assert record["raw_payload"] == lines[number - 1].decode("utf-8", "backslashreplace")
        assert record["raw_size_bytes"] == len(lines[number - 1])


def test_alerts_are_the_scored_transactions_over_the_threshold(first_run: Any) -> None:
    summary, out = first_run
    scored = {r["transaction_id"]: r for r in read_records(out, "scored")}
    alerts = read_records(out, "alerts")
    expected = {tid for tid, r in scored.items() if r["fraud_score"] >= 0.7}
    assert {a["transaction_id"] for a in alerts} == expected
    assert len(alerts) == summary["alerts"] > 0
    assert len({a["alert_id"] for a in alerts}) == len(alerts)
    for alert in alerts:
        assert alert["rules_triggered"]
        assert alert["rules_version"] == summary["rules_version"]


def test_summary_reports_quality_against_labels(first_run: Any) -> None:
    summary, out = first_run
    quality = summary["quality"]
    assert quality["labelled"] == summary["scored"]
    assert quality["precision"] > 0.9
    assert quality["recall_by_pattern"]["blacklist"] == 1.0
    assert json.loads((out / "summary.json").read_text())["scored"] == summary["scored"]


def test_stale_output_shards_of_an_earlier_run_are_removed(first_run: Any) -> None:
    _, out = first_run
    assert not (out / "scored-00007-of-00009.jsonl").exists()


def test_a_bounded_run_scores_grouped_histories_without_state(first_run: Any) -> None:
    summary, _ = first_run
    assert summary["detector"] == "grouped"
    assert "customers_expired" not in summary["counters"]


def test_forced_stateful_path_gives_the_same_records_and_expires_every_customer(
    dataset: Any, first_run: Any, tmp_path: Path
) -> None:
    summary = run(
        [
            f"--input={dataset.events}",
            f"--blacklist={dataset.blacklist}",
            f"--output_dir={tmp_path}",
            "--no_model",
            "--detector_mode=stateful",
        ]
    )
    assert summary["detector"] == "stateful"
    _, grouped_out = first_run
    stateful = sorted(read_records(tmp_path, "scored"), key=lambda r: r["transaction_id"])
    grouped = sorted(read_records(grouped_out, "scored"), key=lambda r: r["transaction_id"])
    assert stateful == grouped
    # At the end of a bounded run the watermark passes every expiry timer.
    customers = {r["customer_id"] for r in stateful}
    assert summary["counters"]["customers_expired"] == len(customers)


def test_same_input_gives_identical_scores_on_rerun(
    dataset: Any, first_run: Any, tmp_path: Path
) -> None:
    _, out = first_run
    run(
        [
            f"--input={dataset.events}",
            f"--blacklist={dataset.blacklist}",
            f"--output_dir={tmp_path}",
            "--no_model",
        ]
    )

    def scores(folder: Path) -> dict[str, Any]:
        return {
            r["transaction_id"]: (r["fraud_score"], r["rule_details"])
            for r in read_records(folder, "scored")
        }

    assert scores(tmp_path) == scores(out)


def test_rules_file_overrides_thresholds_and_changes_the_version(
    dataset: Any, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("alert_threshold: 0.99\nrules:\n  FR-005:\n    enabled: false\n")
    out = tmp_path / "out"
    summary = run(
        [
            f"--input={dataset.events}",
            f"--blacklist={dataset.blacklist}",
            f"--rules={rules}",
            f"--output_dir={out}",
            "--no_model",
        ]
    )
    assert summary["rules_version"] != run_default_version()
    assert all("FR-005" not in r["rules_triggered"] for r in read_records(out, "scored"))
    assert all(r["fraud_score"] >= 0.99 for r in read_records(out, "alerts"))


def run_default_version() -> str:
    from transforms.domain.config import default_rules

    return default_rules().rules_version


def test_embedded_default_generates_data_and_prints_the_summary_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main([f"--output_dir={tmp_path}", "--customers=40", "--days=5", "--no_model", "--json"])
    printed = json.loads(capsys.readouterr().out)
    generated = _input_records(str(tmp_path / "input" / "events.jsonl"))
    assert printed["counters"]["read"] == generated > 0
    assert printed["scored"] + printed["dlq"] == generated
    assert printed["quality"] is not None
    assert printed["model"] is None
    written = json.loads((tmp_path / "summary.json").read_text())
    assert printed.items() >= written.items()  # the file, plus the counters read back


def test_whitespace_lines_are_dead_lettered_and_empty_lines_only_counted(tmp_path: Path) -> None:
    from tests.factories import event, payload

    source = tmp_path / "events.jsonl"
    source.write_bytes(payload(event("a")) + b"\n\n \t\n" + payload(event("b")) + b"\n")
    summary = run([f"--input={source}", f"--output_dir={tmp_path / 'out'}", "--no_model"])
    assert (summary["read"], summary["scored"], summary["dlq_by_error_type"]) == (
        3,
        2,
        {"INVALID_JSON": 1},
    )
    assert summary["counters"]["blank_lines_skipped"] == 1
    assert [r["source"].rsplit(":", 1)[1] for r in read_records(tmp_path / "out", "dlq")] == ["3"]


def test_a_streaming_run_over_empty_input_reports_an_empty_summary(tmp_path: Path) -> None:
    # Streaming tallies without a default (no side input, for Flink checkpoints), so nothing
    # is written for empty input; the run must still report, not fail looking for the file.
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    summary = run(
        [f"--input={empty}", f"--output_dir={tmp_path / 'out'}", "--no_model", "--streaming"]
    )
    assert summary["read"] == summary["scored"] == summary["dlq"] == 0
    assert summary["quality"] is None
    assert summary["rules_version"]


def test_streaming_mode_writes_the_same_records_as_batch(
    dataset: Any, first_run: Any, tmp_path: Path
) -> None:
    # --streaming swaps the file sink and the summary's combine for side-input-free ones
    # (they must checkpoint on Flink); the records written must not change.
    batch_summary, batch_out = first_run
    out = tmp_path / "streaming"
    summary = run(
        [
            f"--input={dataset.events}",
            f"--labels_file={dataset.labels}",
            f"--blacklist={dataset.blacklist}",
            f"--output_dir={out}",
            "--no_model",
            "--streaming",
        ]
    )
    for name, key in (("scored", "transaction_id"), ("dlq", "dlq_id")):
        streamed = {r[key]: r for r in read_records(out, name)}
        batch = {r[key]: r for r in read_records(batch_out, name)}
        for record in (*streamed.values(), *batch.values()):
            record.pop("received_at", None)
        assert streamed == batch, name
    assert not list(out.glob(".tmp-*/*")), "temporary shards left behind"
    # The label join is a stateful step in streaming: the quality must not move.
    for field in ("read", "scored", "alerts", "dlq_by_error_type", "quality"):
        assert summary[field] == batch_summary[field], field


def _stopped(argv: list[str]) -> str:
    """What ``main`` exits with: it must stop before any job runs, with one line."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    message = str(stopped.value.code)
    assert message.startswith("pipelines.fraud: ")
    assert "\n" not in message
    return message


def test_an_input_pattern_matching_no_file_stops_the_run(tmp_path: Path) -> None:
    pattern = str(tmp_path / "event*.jsonl")
    message = _stopped([f"--input={pattern}", f"--output_dir={tmp_path / 'out'}", "--no_model"])
    assert message == f"pipelines.fraud: --input {pattern} matches no file"
    assert not (tmp_path / "out").exists()


def test_a_bad_rules_file_stops_the_run_naming_the_setting(dataset: Any, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  FR-002:\n    max_cont: 3\n")
    message = _stopped([f"--input={dataset.events}", f"--rules={rules}", "--no_model"])
    assert (
        message == f"pipelines.fraud: --rules {rules}: unknown rules setting: rules.FR-002.max_cont"
    )
    rules.write_text("rules: [unclosed")
    assert "not valid YAML" in _stopped([f"--input={dataset.events}", f"--rules={rules}"])
    absent = tmp_path / "absent.yaml"
    assert "No such file" in _stopped([f"--input={dataset.events}", f"--rules={absent}"])


def test_an_unknown_business_timezone_stops_the_run(dataset: Any) -> None:
    message = _stopped([f"--input={dataset.events}", "--business_timezone=America/Atlantis"])
    assert message == (
        "pipelines.fraud: --business_timezone America/Atlantis: not an IANA time zone"
    )


def test_an_unreachable_warehouse_stops_the_run(dataset: Any) -> None:
    dsn = "postgresql://nobody@127.0.0.1:1/nowhere?connect_timeout=2"
    message = _stopped([f"--input={dataset.events}", f"--postgres_dsn={dsn}", "--no_model"])
    assert message.startswith("pipelines.fraud: --postgres_dsn: cannot use the warehouse: ")


def test_a_bad_blacklist_file_stops_the_run_naming_the_line(dataset: Any, tmp_path: Path) -> None:
    blacklist = tmp_path / "blacklist.csv"
    blacklist.write_text("kind,id\ncustomer,C-1\nmerchant,M-9\n")
    message = _stopped([f"--input={dataset.events}", f"--blacklist={blacklist}", "--no_model"])
    assert message == (
        f"pipelines.fraud: --blacklist {blacklist}: blacklist line 3: expected 'customer,<id>' "
        "or 'store,<id>'"
    )


def test_beam_job_labels_are_not_read_as_the_labels_file() -> None:
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.options import FraudOptions

    options = PipelineOptions(["--labels=airflow-version=v3-3-2"]).view_as(FraudOptions)
    assert options.labels_file is None
