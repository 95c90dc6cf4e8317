"""The console's backtest worker: runs ``python -m pipelines.backtest`` for queued backtests.

A thread of the console process claims the oldest queued row (``FOR UPDATE SKIP LOCKED``, so
several console processes share the queue without running one twice), writes the candidate
and the champion's registry (the published rules and model versions, as ``python -m
pipelines.rules export`` writes them) into the backtest's folder, runs the backtest on the
archives the console was given, and keeps its report in the row. Nothing it runs writes to the
warehouse or to a topic (``pipelines.backtest``). A backtest that was running when its console
stopped is queued again at the next start.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from console.settings import Settings
from pipelines.models import store as model_store
from pipelines.rules import store as rules_store
from transforms.domain.model_registry import encode_model_change
from transforms.domain.rules_registry import encode_rules_change

POLL_S = 2.0
BACKTEST_TIMEOUT_S = 3600
PICTURES = ("alerts_per_day", "firings_per_rule")
_LOG = logging.getLogger(__name__)


def claim(held: psycopg.Connection) -> dict[str, Any] | None:
    """The oldest queued backtest, now running; None if none is queued."""
    with held.cursor(row_factory=dict_row) as rows:
        return rows.execute(
            "UPDATE console.backtests SET status = 'running', started_at = now() "
            "WHERE backtest_id = (SELECT backtest_id FROM console.backtests "
            "WHERE status = 'queued' ORDER BY requested_at, backtest_id "
            "FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING *"
        ).fetchone()


def requeue_interrupted(held: psycopg.Connection) -> int:
    """Backtests left running by a console that stopped: queued again."""
    return held.execute(
        "UPDATE console.backtests SET status = 'queued', started_at = NULL WHERE status = 'running'"
    ).rowcount


def champion_registry(held: psycopg.Connection) -> str:
    """The published rules and model versions, in the order they take effect (JSONL)."""
    rules = [
        (row.effective_from, encode_rules_change(row.change()))
        for row in rules_store.registrations(held, published_only=True)
    ]
    models = [
        (row.effective_from, encode_model_change(row.change()))
        for row in model_store.registrations(held, published_only=True)
    ]
    return "".join(f"{record.decode()}\n" for _, record in sorted(rules + models))


def command(settings: Settings, row: dict[str, Any], folder: Path) -> list[str]:
    """The backtest's command line, its files written into ``folder``."""
    candidate = folder / "candidate.yaml"
    candidate.write_text(row["candidate_rules"], encoding="utf-8")
    # The worker runs only with both archives (Settings.backtests).
    assert settings.archive is not None
    assert settings.feedback_archive is not None
    arguments = [
        sys.executable,
        "-m",
        "pipelines.backtest",
        f"--candidate_rules={candidate}",
        f"--from={row['from_day'].isoformat()}",
        f"--to={row['to_day'].isoformat()}",
        f"--archive={settings.archive}",
        f"--feedback_archive={settings.feedback_archive}",
        f"--rules_changes={folder / 'champion.jsonl'}",
        f"--output_dir={folder / 'runs'}",
    ]
    if settings.model:
        arguments.append(f"--model={settings.model}")
    return arguments


def run_one(settings: Settings, held: psycopg.Connection, row: dict[str, Any]) -> None:
    """Run ``row``'s backtest and keep its outcome in the row."""
    folder = Path(settings.backtest_dir).resolve() / str(row["backtest_id"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "champion.jsonl").write_text(champion_registry(held), encoding="utf-8")
    # The console's own DSN never reaches the pipeline: a backtest writes files only.
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_PG_DSN")}
    try:
        done = subprocess.run(
            command(settings, row, folder),
            capture_output=True,
            text=True,
            timeout=BACKTEST_TIMEOUT_S,
            env=environment,
        )
        failure = None if done.returncode == 0 else _last_line(done.stderr, done.returncode)
    except subprocess.TimeoutExpired:
        failure = f"did not finish in {BACKTEST_TIMEOUT_S} s"
    report_file = folder / "runs" / "report.json"
    if failure is None and report_file.exists():
        held.execute(
            "UPDATE console.backtests SET status = 'done', finished_at = now(), "
            "output_dir = %s, report = %s WHERE backtest_id = %s",
            (str(folder / "runs"), report_file.read_text(encoding="utf-8"), row["backtest_id"]),
        )
        return
    held.execute(
        "UPDATE console.backtests SET status = 'failed', finished_at = now(), error = %s "
        "WHERE backtest_id = %s",
        (failure or "no report was written", row["backtest_id"]),
    )


def _last_line(stderr: str, returncode: int) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return (lines[-1] if lines else f"exit status {returncode}")[:500]


class BacktestWorker:
    """The thread that runs queued backtests, one at a time, until ``stop``."""

    def __init__(self, settings: Settings, pool: ConnectionPool) -> None:
        self._settings = settings
        self._pool = pool
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="backtests", daemon=True)

    def start(self) -> None:
        with self._pool.connection() as held:
            requeued = requeue_interrupted(held)
        if requeued:
            _LOG.info("backtests: %d interrupted ones queued again", requeued)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                with self._pool.connection() as held:
                    row = claim(held)
                    if row is not None:
                        run_one(self._settings, held, row)
                        continue
            except Exception:  # a database outage: the next poll tries again
                _LOG.exception("backtests: the worker failed; trying again")
            self._stopping.wait(POLL_S)


def picture(row: dict[str, Any], name: str) -> bytes | None:
    """One of a finished backtest's pictures (``PICTURES``), or None."""
    if name not in PICTURES or not row.get("output_dir"):
        return None
    path = Path(row["output_dir"]) / f"{name}.png"
    return path.read_bytes() if path.is_file() else None


def summary(report: dict[str, Any] | str | None) -> dict[str, Any] | None:
    """What the page shows of a report: both versions' figures and the gained and lost."""
    if report is None:
        return None
    if isinstance(report, str):
        report = json.loads(report)
    assert isinstance(report, dict)
    return report
