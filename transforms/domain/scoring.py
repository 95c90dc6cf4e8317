"""How rule scores become one fraud score.

Rule combiner (noisy-OR over weighted rule scores)::

    rule_score = 1 - prod_i (1 - w_i * s_i)      over the triggered rules i

Each triggered rule is treated as independent evidence that "explains" a share ``w_i * s_i``
of the risk. The formula is monotonic: every factor is in [0, 1], so a further triggered rule
or a higher rule score can only raise ``rule_score`` (the earlier product's weighted average
over triggered rules could *lower* it). A rule with weight 1 and score 1 (the blacklist) is
decisive alone, and weak rules add up: two rules at 0.5 give 0.75.

Blend with the anomaly model (FR-006)::

    fraud_score = alpha * ml_score + (1 - alpha) * rule_score   if a model scored the event
    fraud_score = rule_score                                     otherwise
"""

from __future__ import annotations

from collections.abc import Iterable


def combine_rule_scores(weighted_scores: Iterable[tuple[float, float]]) -> float:
    """Noisy-OR of ``(weight, score)`` pairs, both in [0, 1]."""
    clear = 1.0
    for weight, score in weighted_scores:
        clear *= 1.0 - weight * score
    return 1.0 - clear


def blend(rule_score: float, ml_score: float | None, alpha: float) -> float:
    if ml_score is None:
        return rule_score
    return alpha * ml_score + (1.0 - alpha) * rule_score
