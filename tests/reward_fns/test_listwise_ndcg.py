"""listwise_ndcg: NDCG@K + 0.2 * Recall@5, ReasonRank-style penalties."""

from __future__ import annotations

import json
import math

import pytest

from reward_fns import listwise_ndcg

CANDS = [f"<|sid_begin|><s_a_{i}><s_b_3><s_c_3><s_d_3><|sid_end|>" for i in range(10)]
GT = json.dumps({"candidates": CANDS, "targets": [CANDS[2]]})  # target at input position 3


def answer(order: list[str]) -> str:
    return json.dumps({"reasoning": "r", "ranking": order})


@pytest.mark.parametrize(
    "text,score",
    [
        (answer(CANDS), 0.5 + 0.2),  # identity copy earns the input's NDCG, no bonus
        (answer([CANDS[2]] + CANDS[:2] + CANDS[3:]), 1.0 + 0.2),  # target to the top
        (answer(CANDS[3:9] + [CANDS[2]] + CANDS[:2] + CANDS[9:]), 1 / math.log2(8)),  # 7th: outside Recall@5
        (answer(CANDS[:9]), 0.0),  # parsed, but not a permutation
        ("no json here", -1.0),  # bad format
    ],
)
def test_cases(text, score):
    assert listwise_ndcg("gr2", text, GT)["score"] == pytest.approx(score)
