"""The skewed world of the hot-store benchmarks: which lines move, and where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.hot_store import concentrate_file, concentrate_on_one_store, hot_share
from pipelines.synthetic.dataset import GeneratorConfig, generate_events


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return list(generate_events(GeneratorConfig(seed=3, customers=300, days=10)).lines)


def _stores(lines: list[bytes]) -> list[str | None]:
    stores = []
    for line in lines:
        try:
            stores.append(json.loads(line).get("store_id"))
        except (ValueError, AttributeError):
            stores.append(None)
    return stores


def test_a_fifth_moves_to_the_busiest_store_and_nothing_else_changes(lines: list[bytes]) -> None:
    before = hot_share(lines)
    skewed = concentrate_on_one_store(lines, 0.2)

    assert len(skewed) == len(lines)
    assert 0.2 < hot_share(skewed) < 0.2 + before + 0.02
    moved = [(a, b) for a, b in zip(lines, skewed, strict=True) if a != b]
    assert len(moved) > 0.15 * len(lines)
    hot = {json.loads(b)["store_id"] for _, b in moved}
    assert len(hot) == 1
    for old, new in moved:
        assert {**json.loads(old), "store_id": None} == {**json.loads(new), "store_id": None}
        assert len(new) - len(old) == len(json.loads(new)["store_id"]) - len(
            json.loads(old)["store_id"]
        )


def test_the_same_transactions_move_every_run(lines: list[bytes]) -> None:
    assert concentrate_on_one_store(lines, 0.2) == concentrate_on_one_store(list(lines), 0.2)


def test_malformed_lines_and_a_zero_share_stay_as_they_are(lines: list[bytes]) -> None:
    broken = [b"{not json", b'["a list"]', b'{"store_id": 7, "transaction_id": "t"}']
    assert concentrate_on_one_store(broken + lines, 0.5)[:3] == broken
    assert concentrate_on_one_store(lines, 0.0) is lines
    assert concentrate_on_one_store(broken, 0.5) == broken
    assert hot_share(broken) == 0.0


def test_a_file_is_rewritten_in_place(lines: list[bytes], tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(line + b"\n" for line in lines))

    returned = concentrate_file(str(events), 0.2)

    assert events.read_bytes().splitlines() == concentrate_on_one_store(lines, 0.2) == returned
    assert _stores(events.read_bytes().splitlines()) != _stores(lines)
