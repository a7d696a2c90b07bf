"""identity_gated: AUC / graded NDCG ranking reward, zeroed for copying a sub-optimal input."""

from __future__ import annotations

import json

import pytest

from reward_fns import identity_gated

CANDS = [f"<|sid_begin|><s_a_{i}><s_b_2><s_c_2><s_d_2><|sid_end|>" for i in range(10)]


def gt(targets: list[int], grades: list[float] | None = None) -> str:
    data = {"candidates": CANDS, "targets": [CANDS[p - 1] for p in targets]}
    if grades is not None:
        data["grades"] = grades
    return json.dumps(data)


def answer(order: list[str]) -> str:
    return json.dumps({"reasoning": "r", "ranking": order})


def front(*positions: int) -> list[str]:
    head = [CANDS[p - 1] for p in positions]
    return head + [c for c in CANDS if c not in head]


@pytest.mark.parametrize(
    "truth,order,metric,score",
    [
        (gt([2, 5]), CANDS, "auc", 0.2),  # identity copy of a sub-optimal input: ranking reward zeroed
        (gt([2, 5]), front(2, 5), "auc", 1.2),  # both positives on top
        (gt([2, 5]), front(2), "auc", 1.0 - 3 / 16 + 0.2),  # one on top, the other left where it was
        (gt([1, 2]), CANDS, "auc", 1.2),  # input already optimal: copying is fine
        (gt([2, 5]), CANDS[:9], "auc", -1.0),  # omission
        (gt([3], grades=[0, 0, 1, 0, 0, 0, 0, 0, 0, 0]), CANDS, "ndcg", 0.2),  # copy, not optimal
        (gt([3], grades=[0, 0, 1, 0, 0, 0, 0, 0, 0, 0]), front(3), "ndcg", 1.2),
        (gt([1], grades=[3, 1, 0, 0, 0, 0, 0, 0, 0, 0]), CANDS, "ndcg", 1.2),  # graded input already ideal
    ],
)
def test_cases(truth, order, metric, score):
    assert identity_gated("gr2", answer(order), truth, metric=metric)["score"] == pytest.approx(score)


def test_copy_earns_less_than_a_shuffle():
    shuffled = CANDS[::-1]
    assert (
        identity_gated("gr2", answer(shuffled), gt([2, 5]))["score"]
        > identity_gated("gr2", answer(CANDS), gt([2, 5]))["score"]
    )


def test_unknown_metric_is_a_config_error():
    with pytest.raises(ValueError, match="metric"):
        identity_gated("gr2", answer(CANDS), gt([2]), metric="map")
