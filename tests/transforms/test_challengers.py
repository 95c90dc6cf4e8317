"""Challengers in shadow, on Beam's runners.

A registry with a challenger (rules, model or both) from T gives the champion's records
unchanged, never an alert more; from T on, each record also carries the challenger's verdict,
which equals what the champion's record would be had the challenger been the champion.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ml.artifact import load_artifact
from tests.transforms.scoring_runs import BASE, event_time, registered, score_run
from transforms.domain.model_registry import encode_model_change
from transforms.domain.rules_registry import RulesChange, encode_rules_change, new_rules_change
from transforms.domain.scoring_registry import ScoringRegistry

LOOSER = "alert_threshold: 0.5\nrules:\n  FR-001:\n    multiplier: 1.5\n    min_transactions: 3\n"
VERDICT = ("rules_version", "model_version", "rule_score", "ml_score", "fraud_score")


def _as_verdict(record: dict[str, Any]) -> dict[str, Any]:
    verdict = {field: record[field] for field in VERDICT}
    return {**verdict, "rules_triggered": record["rules_triggered"], "is_alert": record["is_alert"]}


def _without_challenger(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "challenger"}


@pytest.mark.parametrize(
    ("challenging", "grouped", "shards"),
    [
        ("rules", True, 0),
        ("model", False, 4),
        ("rules+model", True, 0),
        ("rules+model", False, 4),
    ],
)
def test_a_challenger_shadows_the_champion_and_scores_as_it_would_as_champion(
    models: tuple[str, str],
    records: list[tuple[str, bytes]],
    challenging: str,
    grouped: bool,
    shards: int,
) -> None:
    own, newer = models
    champion_run, _ = score_run(records, own, ScoringRegistry.of(BASE), grouped, shards)
    at = sorted(event_time(r) for r in champion_run)[len(champion_run) // 2]
    rules: RulesChange | None = None
    challengers: list[Any] = []
    if "rules" in challenging:
        rules = new_rules_change(LOOSER, at, at - 3_600_000, "ana", "looser")
        challengers.append(replace(rules, role="challenger"))
    if "model" in challenging:
        challengers.append(replace(registered(newer, at), role="challenger"))

    shadowed, _ = score_run(
        records, own, ScoringRegistry.of(BASE, tuple(challengers)), grouped, shards
    )
    # As if the challengers were the champions, from the start: their records from T on are
    # what the shadow must say (the rules keep the same state, so the history is alike).
    as_champion = ScoringRegistry.of(rules.rules if rules else BASE)
    promoted, _ = score_run(
        records, newer if "model" in challenging else own, as_champion, grouped, shards
    )

    assert [_without_challenger(r) for r in shadowed] == champion_run
    by_id = {r["transaction_id"]: r for r in promoted}
    for record in shadowed:
        if event_time(record) < at:
            assert "challenger" not in record
        else:
            assert record["challenger"] == _as_verdict(by_id[record["transaction_id"]])
    after = [r for r in shadowed if event_time(r) >= at]
    differs = sum(r["challenger"]["fraud_score"] != r["fraud_score"] for r in after)
    assert differs > 0, "the challenger should judge otherwise"
    if "rules" in challenging:
        assert any(r["challenger"]["is_alert"] and not r["is_alert"] for r in after)
    own_version = load_artifact(own).model_version
    assert {r["model_version"] for r in shadowed} == {own_version}


def test_a_challengers_shadow_ends_at_its_effective_until(
    models: tuple[str, str], records: list[tuple[str, bytes]]
) -> None:
    own, _ = models
    run, _ = score_run(records[:400], own, ScoringRegistry.of(BASE), True)
    times = sorted(event_time(r) for r in run)
    start, end = times[100], times[300]
    challenger = replace(
        new_rules_change(LOOSER, start, start - 1, "ana", ""),
        role="challenger",
        effective_until_ms=end,
    )
    shadowed, _ = score_run(records[:400], own, ScoringRegistry.of(BASE, (challenger,)), True)
    for record in shadowed:
        assert ("challenger" in record) == (start <= event_time(record) < end)


@pytest.mark.parametrize("told", [False, True])
def test_a_rules_challenger_blends_in_the_champions_registered_model_of_its_time(
    models: tuple[str, str], records: list[tuple[str, bytes]], told: bool
) -> None:
    """The champion's model changes at T (a registered version); a rules challenger from T
    scores with it, given up front or told while the job runs."""
    own, newer = models
    first, _ = score_run(records, own, ScoringRegistry.of(BASE), False, 3)
    at = sorted(event_time(r) for r in first)[len(first) // 2]
    champion_model = registered(newer, at)
    challenger = replace(new_rules_change(LOOSER, at, at - 3_600_000, "ana", ""), role="challenger")
    if told:
        payloads = [encode_model_change(champion_model), encode_rules_change(challenger)]
        shadowed, _ = score_run(
            records, own, ScoringRegistry.of(BASE), False, 3,
            told=[("test:rules", payload) for payload in payloads],
        )  # fmt: skip
    else:
        registry = ScoringRegistry.of(BASE, (champion_model, challenger))
        shadowed, _ = score_run(records, own, registry, False, 3)
    promoted, _ = score_run(
        records, own, ScoringRegistry.of(challenger.rules, (champion_model,)), False, 3
    )
    by_id = {r["transaction_id"]: r for r in promoted}
    after = [r for r in shadowed if event_time(r) >= at]
    assert after
    for record in after:
        assert record["model_version"] == champion_model.model_version
        assert record["challenger"] == _as_verdict(by_id[record["transaction_id"]])


def test_a_failing_challenger_leaves_the_champion_as_it_is(
    models: tuple[str, str], records: list[tuple[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """FnApiRunner runs the step in this process: the challenger's judgement is made to fail."""
    from transforms.counters import CHALLENGER_FAILURES
    from transforms.customer_scoring import CustomerScorer

    own, _ = models
    champion, _ = score_run(records[:300], own, ScoringRegistry.of(BASE), True)
    challenger = replace(new_rules_change(LOOSER, 0, -1, "ana", ""), role="challenger")

    def broken(*_: Any) -> None:
        raise RuntimeError("a challenger's bug")

    monkeypatch.setattr(CustomerScorer, "_shadow", broken)
    shadowed, counters = score_run(
        records[:300], own, ScoringRegistry.of(BASE, (challenger,)), True
    )
    assert shadowed == champion
    assert counters[CHALLENGER_FAILURES] == len(champion)
