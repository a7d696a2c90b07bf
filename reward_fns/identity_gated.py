"""Identity-gated ranking reward for multi-positive slates (GR2 Technical Report, arXiv 2606.31984).

    M(order)  = AUC over (positive, negative) pairs     (metric="auc")
              = NDCG@K with the graded labels           (metric="ndcg"; targets count 1 without grades)
    R_rank    = 0        if the answer copies the input order and M(input) < 1 (input not optimal)
              = M(answer) otherwise
    R         = R_rank + alpha                          (valid answer)
    R         = invalid_score                           (not a permutation of the candidates)

Copying a sub-optimal input earns only alpha, below what a random permutation's AUC (about 0.5)
earns, so the policy has no reason to "do nothing".

Example (metric="auc", alpha = 0.2): 10 candidates, positives at input positions 2 and 5.
Copy the input: 0 + 0.2 = 0.2. Move both to the top: 1.0 + 0.2 = 1.2. Input already
optimal (positives at 1 and 2) and copied: 1.0 + 0.2 = 1.2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gr2_verl.metrics import auc, graded_ndcg_at_k
from gr2_verl.outcome import judge
from gr2_verl.types import GroundTruth

_OPTIMAL = 1.0 - 1e-9  # metric values at or above this count as "already optimal" (float rounding)


def _ranking_metric(order: Sequence[str], truth: GroundTruth, metric: str) -> float:
    if metric == "auc":
        return auc(order, frozenset(truth.targets))
    label = dict(zip(truth.candidates, truth.relevance(), strict=True))
    return graded_ndcg_at_k([label[item] for item in order], truth.k)


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str | Mapping[str, Any],
    extra_info: Mapping[str, Any] | None = None,
    metric: str = "auc",
    alpha: float = 0.2,
    invalid_score: float = -1.0,
    **kwargs: Any,
) -> dict[str, Any]:
    """veRL reward: AUC or graded NDCG, zeroed for copying a sub-optimal input order."""
    if metric not in ("auc", "ndcg"):
        raise ValueError(f"identity_gated: reward_kwargs.metric must be 'auc' or 'ndcg', got {metric!r}")
    outcome = judge(solution_str, ground_truth)
    if not outcome.valid:
        return outcome.reward_dict(invalid_score)
    truth = outcome.truth
    if outcome.is_identity and _ranking_metric(truth.candidates, truth, metric) < _OPTIMAL:
        return outcome.reward_dict(alpha)
    return outcome.reward_dict(_ranking_metric(outcome.parsed.order, truth, metric) + alpha)
