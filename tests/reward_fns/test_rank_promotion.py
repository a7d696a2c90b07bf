"""rank_promotion: (r_D - r_o) / K; rows are the moves a policy can make."""

from __future__ import annotations

import json

import pytest

from reward_fns import rank_promotion

CANDS = [f"<|sid_begin|><s_a_{i}><s_b_0><s_c_0><s_d_0><|sid_end|>" for i in range(10)]
GT = json.dumps({"candidates": CANDS, "targets": [CANDS[3]]})  # target at input position 4


def answer(order: list[str]) -> str:
    return "<think>reasons</think>" + json.dumps({"reasoning": "r", "ranking": order})


def moved(to_pos: int) -> list[str]:
    rest = [c for c in CANDS if c != CANDS[3]]
    return rest[: to_pos - 1] + [CANDS[3]] + rest[to_pos - 1 :]


@pytest.mark.parametrize(
    "text,score",
    [
        (answer(CANDS), 0.0),  # identity copy: no promotion, no bonus
        (answer(moved(1)), 0.3),  # target to the top
        (answer(moved(10)), -0.6),  # target to the bottom
        (answer(CANDS[:9]), -1.0),  # 9 items
        (answer(CANDS + [CANDS[0]]), -1.0),  # 11 items
        ("no answer", -1.0),
    ],
)
def test_cases(text, score):
    assert rank_promotion("gr2", text, GT)["score"] == pytest.approx(score)


def test_invalid_score_is_configurable():
    assert rank_promotion("gr2", "nothing", GT, invalid_score=-0.5)["score"] == -0.5
