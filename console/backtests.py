"""The console's backtest worker: runs ``python -m pipelines.backtest`` for queued backtests.

A thread of the console process claims the oldest queued row (``FOR UPDATE SKIP LOCKED``, so
several console processes share the queue without running one twice), writes the candidate
and the champion's registry (the published rules and model versions, as ``python -m
pipelines.rules export`` writes them) into the backtest's folder, runs the backtest on the
archives the console was given, and keeps its report in the row. Nothing it runs writes to the
warehouse or to a topic (``pipelines.backtest``). While it runs, the worker renews the row's
heartbeat; a row whose heartbeat is stale (its console died) is claimed again. A console that
stops kills its backtest and queues it again. Any failure marks the row failed with one line.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from console.settings import Settings
from pipelines.rules.registry_file import registry_lines

POLL_S = 2.0
HEARTBEAT_S = 10.0
STALE_S = 60
BACKTEST_TIMEOUT_S = 3600
PICTURES = ("alerts_per_day", "firings_per_rule")
_LOG = logging.getLogger(__name__)


def claim(held: psycopg.Connection) -> dict[str, Any] | None:
    """The oldest queued backtest (or one whose worker stopped renewing it), now running."""
    with held.cursor(row_factory=dict_row) as rows:
        return rows.execute(
            "UPDATE console.backtests SET status = 'running', started_at = now(), "
            "heartbeat_at = now() WHERE backtest_id = (SELECT backtest_id "
            "FROM console.backtests WHERE status = 'queued' OR (status = 'running' AND "
            "heartbeat_at < now() - make_interval(secs => %s)) "
            "ORDER BY requested_at, backtest_id FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING *",
            (STALE_S,),
        ).fetchone()


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
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                with self._pool.connection() as held:
                    row = claim(held)
            except Exception:  # a database outage: the next poll tries again
                _LOG.exception("backtests: cannot claim; trying again")
                row = None
            if row is None:
                self._stopping.wait(POLL_S)
                continue
            try:
                self._run(row)
            except Exception as error:  # whatever it is, the row says so and the loop goes on
                _LOG.exception("backtest %s failed", row["backtest_id"])
                self._finish(row["backtest_id"], "failed", error=f"{type(error).__name__}: {error}")

    def _execute(self, statement: str, parameters: tuple[Any, ...]) -> None:
        # A connection per statement: none is held while a backtest runs for minutes.
        with self._pool.connection() as held:
            held.execute(statement, parameters)

    def _finish(self, backtest_id: int, status: str, **fields: Any) -> None:
        self._execute(
            "UPDATE console.backtests SET status = %s, finished_at = now(), error = %s, "
            "output_dir = %s, report = %s WHERE backtest_id = %s",
            (status, fields.get("error"), fields.get("output_dir"), fields.get("report"),
             backtest_id),
        )  # fmt: skip

    def _run(self, row: dict[str, Any]) -> None:
        """Run ``row``'s backtest and keep its outcome in the row."""
        backtest_id = row["backtest_id"]
        folder = Path(self._settings.backtest_dir).resolve() / str(backtest_id)
        folder.mkdir(parents=True, exist_ok=True)
        with self._pool.connection() as held:
            champion = b"".join(line + b"\n" for line in registry_lines(held))
        (folder / "champion.jsonl").write_bytes(champion)
        # No DSN reaches the pipeline: a backtest writes files only.
        environment = {k: v for k, v in os.environ.items() if not k.endswith("_PG_DSN")}
        log = folder / "backtest.log"
        with log.open("w", encoding="utf-8") as stderr:
            child = subprocess.Popen(
                command(self._settings, row, folder),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=environment,
            )
            outcome = self._wait(backtest_id, child)
        if outcome == "stopped":  # the console stops: another run picks it up
            self._execute(
                "UPDATE console.backtests SET status = 'queued', heartbeat_at = NULL "
                "WHERE backtest_id = %s",
                (backtest_id,),
            )
            return
        report = folder / "runs" / "report.json"
        if outcome == "done" and report.exists():
            text = report.read_text(encoding="utf-8")
            json.loads(text)  # a report that does not parse fails the row below
            self._finish(backtest_id, "done", output_dir=str(folder / "runs"), report=text)
            return
        error = outcome if outcome != "done" else "no report was written"
        if outcome == "exited":
            error = _last_line(log.read_text(encoding="utf-8"), child.returncode or 0)
        self._finish(backtest_id, "failed", error=error)

    def _wait(self, backtest_id: int, child: subprocess.Popen[bytes]) -> str:
        """``done``, ``exited`` (non-zero), ``stopped`` (the console stops) or a timeout's
        message; renews the heartbeat meanwhile."""
        started = renewed = time.monotonic()
        while child.poll() is None:
            if self._stopping.wait(1.0) or time.monotonic() - started > BACKTEST_TIMEOUT_S:
                child.kill()
                child.wait()
                if self._stopping.is_set():
                    return "stopped"
                return f"did not finish in {BACKTEST_TIMEOUT_S} s"
            if time.monotonic() - renewed >= HEARTBEAT_S:
                try:
                    self._execute(
                        "UPDATE console.backtests SET heartbeat_at = now() WHERE backtest_id = %s",
                        (backtest_id,),
                    )
                    renewed = time.monotonic()
                except psycopg.Error:  # an outage: the next renewal tries again
                    _LOG.warning("backtest %s: cannot renew its heartbeat", backtest_id)
        return "done" if child.returncode == 0 else "exited"


def picture(row: dict[str, Any], name: str) -> bytes | None:
    """One of a finished backtest's pictures (``PICTURES``), or None."""
    if name not in PICTURES or not row.get("output_dir"):
        return None
    path = Path(row["output_dir"]) / f"{name}.png"
    return path.read_bytes() if path.is_file() else None


def parsed_report(report: dict[str, Any] | str | None) -> dict[str, Any] | None:
    """The stored report.json as a dictionary (psycopg gives jsonb as one already)."""
    if report is None or isinstance(report, dict):
        return report
    parsed = json.loads(report)
    return parsed if isinstance(parsed, dict) else None
