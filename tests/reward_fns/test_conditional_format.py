"""conditional_format (GR2): the format bonus only for a promotion or an already-first target."""

from __future__ import annotations

import json

import pytest

from reward_fns import compute_score, conditional_format, naive_format

CANDS = [f"<|sid_begin|><s_a_{i}><s_b_1><s_c_2><s_d_3><|sid_end|>" for i in range(10)]


def gt(*target_pos: int) -> str:
    return json.dumps({"candidates": CANDS, "targets": [CANDS[p - 1] for p in target_pos]})


def answer(order: list[str]) -> str:
    return "<think>history is sci-fi</think>\n" + json.dumps({"reasoning": "r", "ranking": order})


def moved(target_pos: int, to_pos: int) -> list[str]:
    target = CANDS[target_pos - 1]
    rest = [c for c in CANDS if c != target]
    return rest[: to_pos - 1] + [target] + rest[to_pos - 1 :]


@pytest.mark.parametrize(
    "target_pos,order,score",
    [
        (3, CANDS, 0.0),  # identity copy: no bonus
        (3, moved(3, 1), 0.4),  # promotion to first: 0.2 + alpha
        (3, moved(3, 2), 0.3),  # small promotion still earns the bonus
        (3, moved(3, 5), -0.2),  # demotion: no bonus
        (1, CANDS, 0.2),  # already first and kept: bonus
        (1, moved(1, 3), 0.0),  # already first, demoted: r_D = 1 keeps the bonus (paper's formula)
        (3, CANDS[:9], -1.0),  # omission
        (3, [CANDS[0]] * 10, -1.0),  # the same item ten times
        (3, CANDS[:9] + ["<|sid_begin|><s_a_99><s_b_1><s_c_2><s_d_3><|sid_end|>"], -1.0),  # foreign SID
    ],
)
def test_cases(target_pos, order, score):
    assert conditional_format("gr2", answer(order), gt(target_pos))["score"] == pytest.approx(score)


@pytest.mark.parametrize("target_pos", range(2, 11))
def test_copying_earns_no_bonus_unless_the_target_was_first(target_pos):
    copy = conditional_format("gr2", answer(CANDS), gt(target_pos))
    assert copy["score"] == 0.0 and copy["is_identity"] == 1.0
    assert naive_format("gr2", answer(CANDS), gt(target_pos))["score"] > copy["score"]
    promote = conditional_format("gr2", answer(moved(target_pos, target_pos - 1)), gt(target_pos))["score"]
    assert promote > copy["score"]


def test_is_the_default_compute_score():
    assert compute_score is conditional_format


def test_multi_target_bonus_when_input_already_optimal():
    # targets at input positions 1 and 2: the input is already optimal, copying keeps the bonus
    assert conditional_format("gr2", answer(CANDS), gt(1, 2))["score"] == pytest.approx(0.2)
    # targets at 1 and 4: not optimal, copying earns nothing
    assert conditional_format("gr2", answer(CANDS), gt(1, 4))["score"] == 0.0


def test_diagnostics_of_a_promotion():
    out = conditional_format("gr2", answer(moved(4, 1)), gt(4))
    assert out["target_in_pos"] == 4 and out["target_out_pos"] == 1 and out["acc"] == 1.0
    assert out["r_rank"] == pytest.approx(0.3) and out["is_identity"] == 0.0
    assert json.loads(out["pred"])[0] == CANDS[3]
    assert 0 < out["kendall_tau"] < 1
