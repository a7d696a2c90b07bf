"""Teacher prompts: the student prompt stays inside unchanged; only targeted mode reveals the answer."""

from __future__ import annotations

import pytest

from gr2_verl.traces.teacher_prompts import REASONING_STEPS, TEACHER_NOTE, teacher_messages
from gr2_verl.types import GroundTruth, sid_string

CANDS = tuple(sid_string([1, j, 2, 3]) for j in range(10))
TRUTH = GroundTruth(CANDS, (CANDS[4],))
STUDENT = [
    {"role": "system", "content": "You are an expert recommender-systems analyst."},
    {"role": "user", "content": "History: ...\nCandidates:\n" + "\n".join(f"- {c} title" for c in CANDS)},
]


def test_rejection_hides_the_target_and_keeps_the_student_prompt():
    system, user = teacher_messages(STUDENT, TRUTH)
    assert system == {"role": "system", "content": f"{STUDENT[0]['content']}\n\n{TEACHER_NOTE}"}
    assert user["role"] == "user" and user["content"].startswith(STUDENT[1]["content"])
    assert user["content"].endswith(REASONING_STEPS)
    assert user["content"].count(TRUTH.targets[0]) == STUDENT[1]["content"].count(TRUTH.targets[0]) == 1
    assert REASONING_STEPS.count("by SID") == 3  # every step cites items by SID
    assert '"ranking"' in REASONING_STEPS and '"reasoning"' in REASONING_STEPS  # the parser's format


def test_targeted_reveals_the_first_target():
    _, user = teacher_messages(STUDENT, TRUTH, mode="targeted")
    assert user["content"].count(TRUTH.targets[0]) == 2
    assert f"actually interacted with next is {TRUTH.targets[0]}" in user["content"]


def test_hints_are_added_only_when_given():
    _, user = teacher_messages(STUDENT, TRUTH, hints="  shampoo -> conditioner\n")
    assert "Domain knowledge that may help" in user["content"] and "shampoo -> conditioner\n\n" in user["content"]
    _, plain = teacher_messages(STUDENT, TRUTH)
    assert "Domain knowledge" not in plain["content"]


@pytest.mark.parametrize(
    "prompt, mode, message",
    [
        (STUDENT, "oracle", "unknown teacher mode"),
        (STUDENT[1:], "rejection", "must be \\[system, user\\]"),  # no system message
        ([*STUDENT, {"role": "assistant", "content": "x"}], "rejection", "must be \\[system, user\\]"),
    ],
    ids=["unknown mode", "user only", "trailing assistant turn"],
)
def test_bad_input_raises(prompt, mode, message):
    with pytest.raises(ValueError, match=message):
        teacher_messages(prompt, TRUTH, mode=mode)
