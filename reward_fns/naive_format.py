"""Naive format reward: rank promotion plus an unconditional bonus for a valid answer (hackable).

    R = (r_D - r_o) / K + alpha    (valid answer)
    R = invalid_score              (otherwise)

Kept to reproduce GR2's reward hack (arXiv 2602.07774, section 4): copying the input order is always
valid, so it earns alpha with R_rank = 0, more than any demotion and as much as a small promotion,
and the policy learns to "do nothing".

Example: K = 10, alpha = 0.2, target at input position 3. Copy the input: R = 0 + 0.2 = 0.2.
Promote it to 2nd: 0.1 + 0.2 = 0.3. Demote it to 5th: -0.2 + 0.2 = 0.0.
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
    """veRL reward: rank promotion plus an unconditional format bonus."""
    outcome = judge(solution_str, ground_truth)
    return outcome.reward_dict(outcome.r_rank + alpha if outcome.valid else invalid_score)
