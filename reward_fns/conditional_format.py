"""Conditional format reward (GR2's choice): the format bonus is paid only for useful answers.

    R = R_rank + alpha   if R_rank > 0 or r_D = 1    (valid answer)
    R = R_rank           otherwise                   (valid answer)
    R = invalid_score    (not a permutation of the candidates)

with R_rank = (r_D - r_o) / K. Copying the input order earns 0 unless the target was already first,
so "do nothing" stops paying (GR2, arXiv 2602.07774, section 4). With several targets, "r_D = 1"
reads "the input order already puts every target first".

Example: K = 10, alpha = 0.2, target at input position 3. Copy the input: R = 0.
Promote it to 1st: 0.2 + 0.2 = 0.4. Demote it to 5th: -0.2. Target at input position 1, kept
first: 0 + 0.2 = 0.2.
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
    alpha: float = 0.2,
    invalid_score: float = -1.0,
    **kwargs: Any,
) -> dict[str, Any]:
    """veRL reward: rank promotion plus a format bonus only when the target moved up or was first."""
    outcome = judge(solution_str, ground_truth)
    if not outcome.valid:
        return outcome.reward_dict(invalid_score)
    bonus = alpha if outcome.r_rank > 0 or outcome.in_order_optimal else 0.0
    return outcome.reward_dict(outcome.r_rank + bonus)
