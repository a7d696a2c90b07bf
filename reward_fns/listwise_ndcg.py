"""Listwise NDCG composite, in the style of ReasonRank, for reward ablations.

    R = NDCG@K + recall_weight * Recall@5      (valid answer; NDCG graded when grades exist)
    R = invalid_permutation_score              (JSON ranking found, but not a permutation)
    R = invalid_score                          (no JSON ranking at all)

Recall@5 is the share of in-list targets in the top 5. ReasonRank scores bad format -1 and an
invalid permutation 0; the defaults follow it. No format bonus: copying the input earns its NDCG.

Example: one target ranked 3rd of 10: R = 1/log2(4) + 0.2 * 1 = 0.5 + 0.2 = 0.7.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gr2_verl.metrics import graded_ndcg_at_k
from gr2_verl.outcome import judge

RECALL_K = 5  # half of a 10-candidate list: "made the first screen"


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str | Mapping[str, Any],
    extra_info: Mapping[str, Any] | None = None,
    recall_weight: float = 0.2,
    invalid_score: float = -1.0,
    invalid_permutation_score: float = 0.0,
    **kwargs: Any,
) -> dict[str, Any]:
    """veRL reward: NDCG@K plus a Recall@5 term; ReasonRank-style penalties for bad answers."""
    outcome = judge(solution_str, ground_truth)
    if not outcome.valid:
        unparsed = outcome.parsed.status in ("no_json", "bad_json")
        return outcome.reward_dict(invalid_score if unparsed else invalid_permutation_score)
    truth = outcome.truth
    label = dict(zip(truth.candidates, truth.relevance(), strict=True))
    order = outcome.parsed.order
    ndcg = graded_ndcg_at_k([label[item] for item in order], truth.k)
    in_list = [t for t in truth.targets if t in label]
    top = set(order[:RECALL_K])
    recall = sum(1 for t in in_list if t in top) / len(in_list) if in_list else 0.0
    return outcome.reward_dict(ndcg + recall_weight * recall)
