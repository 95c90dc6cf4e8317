"""Quality checks on a real PostgreSQL: pass on clean data, fail on seeded bad data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from pipelines.warehouse.cli import main
from pipelines.warehouse.migrate import migrate
from pipelines.warehouse.quality import CHECK_FAILED, CHECKS, run_check, status_of
from tests.warehouse.rows import insert_clean_transaction, insert_dead_letters

UNTIL = datetime(2026, 10, 2, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=1)


def _insert(
    dsn: str,
    count: int,
    *,
    prefix: str,
    amount: str = "25.00",
    located: bool = True,
    same_moment: bool = False,
) -> None:
    with psycopg.connect(dsn) as connection:
        for i in range(count):
            moment = SINCE + timedelta(minutes=1 if same_moment else i)
            insert_clean_transaction(
                connection,
                f"{prefix}{i}",
                "same" if same_moment else f"c{i}",
                amount if same_moment else str(float(amount) + i),
                moment,
                UNTIL - timedelta(minutes=5),
                located=located,
            )


@pytest.fixture
def clean(empty_dsn: str) -> str:
    migrate(empty_dsn)
    _insert(empty_dsn, 200, prefix="ok")
    return empty_dsn


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_every_check_passes_on_clean_data(clean: str, name: str) -> None:
    result = run_check(clean, name, SINCE, UNTIL)
    assert result["status"] == "pass", result
    with psycopg.connect(clean) as connection:
        stored = connection.execute(
            "SELECT status FROM silver.quality_check_results WHERE check_name = %s", (name,)
        ).fetchall()
    assert stored == [("pass",)]


def test_missing_locations_fail_the_null_rate(clean: str) -> None:
    _insert(clean, 300, prefix="blind", located=False)
    assert run_check(clean, "null_rate", SINCE, UNTIL)["status"] == "fail"


def test_double_submissions_fail_the_duplicates_check(clean: str) -> None:
    _insert(clean, 150, prefix="dup", same_moment=True)
    result = run_check(clean, "duplicates", SINCE, UNTIL)
    assert (result["measured_value"], result["status"]) == (149.0, "fail")


def test_a_stale_silver_fails_freshness(clean: str) -> None:
    assert run_check(clean, "freshness", SINCE, UNTIL + timedelta(hours=4))["status"] == "fail"


def test_implausible_amounts_fail_the_amounts_check(clean: str) -> None:
    _insert(clean, 5, prefix="huge", amount="250000.00")
    assert run_check(clean, "amounts", SINCE, UNTIL)["status"] == "fail"


def _dead_letters(dsn: str, error_type: str, stage: str) -> None:
    with psycopg.connect(dsn) as connection:
        insert_dead_letters(connection, error_type, stage, SINCE + timedelta(hours=1))


def test_a_high_dlq_rate_fails(clean: str) -> None:
    _dead_letters(clean, "INVALID_JSON", "parse")
    result = run_check(clean, "dlq_rate", SINCE, UNTIL)
    assert (result["measured_value"], result["status"]) == (1.0, "fail")


def test_rows_the_warehouse_refused_are_not_input_records_of_the_dlq_rate(clean: str) -> None:
    # Their input is already counted as valid; counting them again would inflate the rate.
    _dead_letters(clean, "SINK_REJECTED", "postgres_sink")
    result = run_check(clean, "dlq_rate", SINCE, UNTIL)
    assert (result["measured_value"], result["status"]) == (0.0, "pass")


def test_cli_exits_non_zero_on_fail(clean: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["quality", "--dsn", clean, "--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
    assert main([*args, "--check", "null_rate"]) == 0
    assert (
        main([*args, "--check", "freshness", "--until", (UNTIL + timedelta(days=1)).isoformat()])
        == CHECK_FAILED
    )
    assert '"status": "fail"' in capsys.readouterr().out


def test_status_thresholds() -> None:
    assert [status_of(v, 1, 2) for v in (0.5, 1, 2)] == ["pass", "warn", "fail"]
