"""The summary's tally: counts, and the model that really scored the records."""

from __future__ import annotations

from typing import Any

from transforms.summary import SummarizeFn

SUMMARIZE = SummarizeFn(with_labels=False, alert_threshold=0.7)


def _tally(*model_versions_per_worker: list[str | None]) -> dict[str, Any]:
    """Each worker tallies its own scored records; the tallies are then merged."""
    tallies = []
    for versions in model_versions_per_worker:
        tally = SUMMARIZE.create_accumulator()
        for version in versions:
            tally = SUMMARIZE.add_input(tally, ("scored", "t", 0.1, False, 0.1, version, None))
        tallies.append(tally)
    output: dict[str, Any] = SUMMARIZE.extract_output(SUMMARIZE.merge_accumulators(tallies))
    return output


def test_the_model_is_the_one_the_scored_records_carry() -> None:
    assert _tally(["iforest-a", "iforest-a"], ["iforest-a"])["model"] == "iforest-a"


def test_rules_only_and_no_records_report_no_model() -> None:
    assert _tally([None, None])["model"] is None
    assert _tally([])["model"] is None


def test_workers_that_disagree_are_all_reported() -> None:
    # One worker could not use the model it was given and scored with the rules only.
    summary = _tally(["iforest-a"], [None])
    assert summary["model"] == ["iforest-a", None]
    assert summary["scored"] == summary["read"] == 2
