"""Rank promotion: how far the answer moved the target up, and nothing else.

    R = (r_D - r_o) / K            (valid answer)
    R = invalid_score              (anything that is not a permutation of the candidates)

r_D is the target's 1-based position in the input (pre-rank) order, r_o in the answer, K = |D|.
With several targets, R averages over those inside the list. GR2 (arXiv 2602.07774), section 4.

Example: K = 10, target at input position 4 ranked 1st: R = (4 - 1) / 10 = 0.3; ranked 6th: -0.2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gr2_verl.outcome import judge


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str | Mapping[str, Any],
    extra_info: Mapping[str, Any] | None = None,
    invalid_score: float = -1.0,
    **kwargs: Any,
) -> dict[str, Any]:
    """veRL reward: rank promotion only (no format bonus)."""
    outcome = judge(solution_str, ground_truth)
    return outcome.reward_dict(outcome.r_rank if outcome.valid else invalid_score)
