"""Blacklist changes (``--blacklist_changes``) through the whole pipeline: applied from their
time over the ``--blacklist`` file, malformed ones dead-lettered, every record accounted for."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from pipelines.fraud import run
from tests.factories import T0, event
from tests.output_files import read_records


def test_changes_apply_from_their_time_and_bad_ones_are_dead_lettered(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    documents = [event(f"e{n}", "C1", at=timedelta(days=n), store_id="S-1") for n in range(5)]
    events.write_text("".join(json.dumps(d) + "\n" for d in documents))
    blacklist = tmp_path / "blacklist.csv"
    blacklist.write_text("kind,id\nstore,S-1\n")
    changes = tmp_path / "changes.jsonl"
    lifted = (T0 + timedelta(days=2)).isoformat()
    changes.write_text(
        json.dumps({"kind": "store", "id": "S-1", "action": "remove", "effective_at": lifted})
        + "\n"
        + '{"kind": "store", "id": "S-1", "action": "ban", "effective_at": "2026-10-01T00:00Z"}\n'
        + "not json\n"
    )

    summary = run(
        [
            f"--input={events}",
            f"--blacklist={blacklist}",
            f"--blacklist_changes={changes}",
            f"--output_dir={tmp_path / 'out'}",
            "--no_model",
        ]
    )

    scored = {r["transaction_id"]: r for r in read_records(tmp_path / "out", "scored")}
    flagged = sorted(t for t, r in scored.items() if "FR-005" in r["rules_triggered"])
    assert flagged == ["e0", "e1"]
    dead = read_records(tmp_path / "out", "dlq")
    assert sorted((d["stage"], d["error_type"]) for d in dead) == [
        ("parse_blacklist_change", "INVALID_FIELD"),
        ("parse_blacklist_change", "INVALID_JSON"),
    ]
    assert (summary["read"], summary["scored"], summary["dlq"], summary["control_dlq"]) == (
        5,
        5,
        0,
        2,
    )
    counters = summary["counters"]
    assert (counters["blacklist_changes_read"], counters["blacklist_changes_accepted"]) == (3, 1)
    assert summary["conservation_ok"] is True
