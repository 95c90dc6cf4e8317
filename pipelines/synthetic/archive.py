"""Events archived as a data lake keeps a topic: one folder per UTC day, Hive-style.

    <archive>/date=2026-10-01/events.jsonl
    <feedback archive>/date=2026-10-08/feedback.jsonl   (by the day a fraud was reported)

A line goes to the day of its event time; a line with no readable event time (malformed) to
the day of the line before it, as an archiver that writes by arrival would (or of the first
readable line, when it comes first). The fraud_backfill
DAG reads such an archive a day at a time.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from transforms.domain.event_time import DEFAULT_BUSINESS_TIMEZONE, business_timezone, format_utc
from transforms.domain.events import Transaction, parse_event
from transforms.domain.feedback import Feedback, parse_feedback


def day_folder(archive_dir: str | Path, day: str) -> Path:
    return Path(archive_dir) / f"date={day}"


def write_daily_archive(lines: Iterable[bytes], archive_dir: str | Path) -> dict[str, int]:
    """Writes the lines into per-day files; returns the lines per day."""
    zone = business_timezone(DEFAULT_BUSINESS_TIMEZONE)
    by_day: dict[str, list[bytes]] = {}
    day = None
    waiting: list[bytes] = []  # malformed lines before the first readable one
    for line in lines:
        event = parse_event(line, zone)
        if isinstance(event, Transaction):
            day = format_utc(event.event_time_ms)[:10]
        if day is None:
            waiting.append(line)
            continue
        day_lines = by_day.setdefault(day, [])
        day_lines.extend(waiting)
        waiting = []
        day_lines.append(line)
    if waiting:
        raise ValueError("no line has a readable event time: no day to archive them under")
    for name, day_lines in by_day.items():
        folder = day_folder(archive_dir, name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "events.jsonl").write_bytes(b"".join(line + b"\n" for line in day_lines))
    return {name: len(day_lines) for name, day_lines in sorted(by_day.items())}


def write_feedback_archive(
    lines: Iterable[bytes], archive_dir: str | Path, file_name: str = "feedback.jsonl"
) -> dict[str, int]:
    """Writes confirmed outcomes into per-day files by the UTC day they were reported (a
    backfill reads the days its range and warm-up cover); returns the records per day. A
    day's ``file_name`` is replaced whole, by a rename: a reader never sees half of one, and
    other files of the day (another source's) stay."""
    by_day: dict[str, list[bytes]] = {}
    for line in lines:
        record = parse_feedback(line)
        if not isinstance(record, Feedback):
            raise ValueError(f"not a feedback record: {line[:80]!r}")
        by_day.setdefault(format_utc(record.reported_at_ms)[:10], []).append(line)
    for name, day_lines in by_day.items():
        folder = day_folder(archive_dir, name)
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{file_name}-", suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(b"".join(line + b"\n" for line in day_lines))
        os.replace(temporary, folder / file_name)
    return {name: len(day_lines) for name, day_lines in sorted(by_day.items())}


def archive_file(events_path: str | Path, archive_dir: str | Path) -> dict[str, int]:
    """Archives the lines of a JSONL file (``events.jsonl``) by day; the lines per day."""
    with open(events_path, "rb") as events:
        return write_daily_archive((line.rstrip(b"\n") for line in events), archive_dir)
