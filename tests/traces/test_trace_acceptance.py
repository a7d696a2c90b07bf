"""Acceptance rules as a case table, and the assistant message an accepted answer becomes."""

from __future__ import annotations

import json

import pytest

from gr2_verl.traces.acceptance import AcceptRule, judge_attempt, sft_answer
from gr2_verl.types import GroundTruth, sid_string

C = [sid_string([7, j, 0, 0]) for j in range(10)]


def truth(pos: int) -> str:
    """Ground truth with the target at 1-based pre-rank position ``pos``."""
    return GroundTruth(tuple(C), (C[pos - 1],)).to_json()


def answer(order, reasoning="Step 1: ...") -> str:
    return f"{reasoning}\n" + json.dumps({"reasoning": "short", "ranking": order})


def moved(pos_from: int, pos_to: int) -> list[str]:
    order = list(C)
    order.insert(pos_to - 1, order.pop(pos_from - 1))
    return order


FIRST, PROMOTED = AcceptRule(), AcceptRule(kind="promoted")
REWARD = AcceptRule(kind="reward", min_reward=0.3)  # conditional_format: R_rank + 0.2 when promoted or kept first

CASES = [
    # (answer, target input pos, rule, accepted, status)
    (answer(moved(3, 1)), 3, FIRST, True, "ok"),                   # target promoted to first
    (answer(list(C)), 1, FIRST, True, "ok"),                        # target already first, kept first
    (answer(list(C)), 3, FIRST, False, "ok"),                       # identity copy: target stays 3rd
    (answer(moved(4, 2)), 4, FIRST, False, "ok"),                   # promoted but not first
    (answer(moved(4, 2)), 4, PROMOTED, True, "ok"),                 # ... which the promoted rule keeps
    (answer(moved(2, 5)), 2, PROMOTED, False, "ok"),                # demoted
    (answer(list(C)), 3, PROMOTED, False, "ok"),                    # identity copy is not a promotion
    (answer(list(C)), 1, PROMOTED, True, "ok"),                     # kept first counts as promoted
    (answer([C[2], *C[:2], *C[3:]]), 3, REWARD, True, "ok"),        # 0.2 + 0.2 = 0.4 >= 0.3
    (answer(moved(2, 1)), 2, REWARD, True, "ok"),                   # 0.1 + 0.2 = 0.3 >= 0.3
    (answer(list(C)), 1, REWARD, False, "ok"),                      # kept first: 0 + 0.2 < 0.3
    (answer([C[0], *C]), 1, FIRST, False, "duplicate"),             # 11 items, one twice
    (answer(C[:9]), 1, FIRST, False, "missing"),                    # 9 items
    (answer([sid_string([9, 9, 9, 9]), *C[1:]]), 2, FIRST, False, "unknown_id"),  # foreign SID
    ("The first one, obviously.", 1, FIRST, False, "no_json"),      # no JSON
    ('{"ranking": "first"}', 1, REWARD, False, "bad_json"),         # ranking not a list; -1 < 0.3
    (answer(C[:9]), 1, AcceptRule(kind="reward", min_reward=-5.0), False, "missing"),  # any score, still invalid
    ("<think>" + answer(list(C)), 1, FIRST, False, "no_json"),      # thought never closed (truncated)
    (None, 1, FIRST, False, "error"),                               # the request failed
]


@pytest.mark.parametrize("text, pos, rule, accepted, status", CASES)
def test_acceptance_rules(text, pos, rule, accepted, status):
    verdict = judge_attempt(text, truth(pos), rule)
    assert (verdict.accepted, verdict.status) == (accepted, status)
    assert verdict.target_in_pos == (pos if text is not None else 0)


def test_reward_variant_is_scored_on_every_attempt():
    gt = truth(3)
    assert judge_attempt(answer(moved(3, 1)), gt, FIRST).reward == pytest.approx(0.4)  # conditional_format
    rank_only = AcceptRule(reward="rank_promotion")
    assert judge_attempt(answer(moved(3, 1)), gt, rank_only).reward == pytest.approx(0.2)
    assert judge_attempt("no json", gt, AcceptRule(reward_kwargs={"invalid_score": -2.0})).reward == -2.0


@pytest.mark.parametrize(
    "kwargs, message",
    [({"kind": "best"}, "unknown acceptance rule"), ({"reward": "nope"}, "unknown reward variant"),
     ({"kind": "reward"}, "needs min_reward")],
)
def test_bad_rules_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AcceptRule(**kwargs)


SFT_CASES = [
    # (teacher text, assistant message)
    ('Step 1: a\nStep 2: b\n{"reasoning": "r", "ranking": ["x", "y"]}',
     'Step 1: a\nStep 2: b\n\n{"reasoning": "r", "ranking": ["x", "y"]}'),
    # the teacher's think block is left out; a code fence and trailing text are dropped
    ('<think>\nlong private thought\n</think>\n\nStep 1: a\n```json\n'
     '{"ranking": [" x", "y"], "reasoning": "r"}\n```\nDone.',
     'Step 1: a\n\n{"reasoning": "r", "ranking": ["x", "y"]}'),
    # JSON only: its reasoning field carries the reasoning
    ('{"reasoning": "because", "ranking": ["x", "y"]}', '{"reasoning": "because", "ranking": ["x", "y"]}'),
    # an earlier draft JSON stays in the text; the last ranking object is the answer (as in the parser)
    ('Draft {"ranking": ["y", "x"]} then\n{"ranking": ["x", "y"]}',
     'Draft {"ranking": ["y", "x"]} then\n\n{"reasoning": "", "ranking": ["x", "y"]}'),
]


@pytest.mark.parametrize("text, expected", SFT_CASES)
def test_sft_answer(text, expected):
    assert sft_answer(text) == expected


def test_sft_answer_refuses_answers_without_a_ranking():
    with pytest.raises(ValueError, match="no JSON object"):
        sft_answer("no json at all")


@pytest.mark.parametrize(
    "text",
    [
        answer(moved(3, 1)),
        answer(C) + " then " + answer(moved(5, 1)),  # two rankings: the last counts
        answer(moved(5, 1)) + ' {"note": "no ranking here"}',  # a later object without a ranking
        '{"ranking": "not a list"} ' + answer(moved(2, 1)),  # an earlier malformed object
        "<think>" + answer(C) + "</think>" + answer(moved(4, 1)),  # the thought's ranking is not the answer
    ],
    ids=["plain", "two rankings", "trailing object", "malformed first", "ranking in thought"],
)
def test_trace_keeps_the_ranking_the_reward_reads(text):
    """The SFT trace is built on the parser's scan: retraining on it teaches the answer the reward scored."""
    from gr2_verl.parsing import parse_ranking

    assert parse_ranking(sft_answer(text), C) == parse_ranking(text, C)
