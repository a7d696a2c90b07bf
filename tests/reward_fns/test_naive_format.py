"""naive_format: R_rank + alpha for any valid answer; the table shows the hack it invites."""

from __future__ import annotations

import json

import pytest

from reward_fns import naive_format

CANDS = [f"<|sid_begin|><s_a_{i}><s_b_0><s_c_0><s_d_0><|sid_end|>" for i in range(10)]


def gt(target_pos: int) -> str:
    return json.dumps({"candidates": CANDS, "targets": [CANDS[target_pos - 1]]})


def answer(order: list[str]) -> str:
    return json.dumps({"reasoning": "r", "ranking": order})


def moved(target_pos: int, to_pos: int) -> list[str]:
    target = CANDS[target_pos - 1]
    rest = [c for c in CANDS if c != target]
    return rest[: to_pos - 1] + [target] + rest[to_pos - 1 :]


@pytest.mark.parametrize(
    "target_pos,order,score",
    [
        (3, CANDS, 0.2),  # identity copy earns the full format bonus
        (3, moved(3, 2), 0.3),  # small promotion
        (3, moved(3, 5), 0.0),  # demotion by 2 still breaks even
        (1, CANDS, 0.2),  # target already first, kept first
    ],
)
def test_cases(target_pos, order, score):
    assert naive_format("gr2", answer(order), gt(target_pos))["score"] == pytest.approx(score)


@pytest.mark.parametrize("target_pos", range(2, 11))
def test_the_hack_copying_beats_any_demotion(target_pos):
    copy = naive_format("gr2", answer(CANDS), gt(target_pos))
    assert copy["score"] > 0 and copy["is_identity"] == 1.0  # "doing nothing" is paid
    for to_pos in range(target_pos + 1, 11):
        assert copy["score"] > naive_format("gr2", answer(moved(target_pos, to_pos)), gt(target_pos))["score"]


@pytest.mark.parametrize("target_pos", range(3, 11))
def test_the_hack_bonus_alone_pays_as_much_as_a_small_promotion(target_pos):
    copy = naive_format("gr2", answer(CANDS), gt(target_pos))["score"]
    for up in (1, 2):  # promotions by up to alpha * K = 2 slots earn no more ranking reward than the bonus
        promoted = naive_format("gr2", answer(moved(target_pos, target_pos - up)), gt(target_pos))
        assert copy >= promoted["r_rank"] - 1e-12


@pytest.mark.parametrize("target_pos", range(1, 6))
def test_the_hack_copying_beats_an_uninformed_reorder_when_targets_sit_high(target_pos):
    # pre-rankers put the target in the top half most of the time (GR2's input order: R@5 = 0.72)
    copy = naive_format("gr2", answer(CANDS), gt(target_pos))["score"]
    placements = [naive_format("gr2", answer(moved(target_pos, to)), gt(target_pos))["score"] for to in range(1, 11)]
    assert copy > sum(placements) / len(placements)


def test_alpha_kwarg():
    assert naive_format("gr2", answer(CANDS), gt(3), alpha=0.5)["score"] == pytest.approx(0.5)
