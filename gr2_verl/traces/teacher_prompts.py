"""The teacher's prompt: the student's RL prompt plus the GR2 trace-writing principles.

The student sees exactly the RL row's ``prompt`` (system + user). The teacher sees the same two messages
with a teacher note added to the system message and a how-to-reason block appended to the user message,
so history and all candidates stay together and the answer format stays the one ``gr2_verl.parsing`` reads.

Two modes (GR2, arXiv 2602.07774, section 3):

- ``rejection`` (default): the answer is hidden; right answers are kept by rejection sampling.
- ``targeted``: the target's SID is revealed and the teacher rationalises it. Every sample gets a trace,
  but GR2 found these traces worse (kept for the ablation).

Principles in the block: expert persona, optional domain-knowledge hints, every item cited by SID,
structured multi-step reasoning written as plain text, then one JSON object and nothing after it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gr2_verl.types import GroundTruth

MODES = ("rejection", "targeted")

TEACHER_NOTE = (
    "You are also a teacher: your answer will be used, unchanged, to teach a smaller model to reason like "
    "an expert recommender. Write reasoning a student can follow and check."
)

REASONING_STEPS = (
    "How to answer (write the steps as plain text, then the JSON):\n"
    "1. Interests: what the history says about the user's current interests and how they shift; recent "
    "items matter most. Cite the items you use by SID.\n"
    "2. Candidates: one line per candidate, cited by SID, on how well it fits those interests.\n"
    "3. Decision: which candidate is most likely next and why it beats the runner-up, cited by SID.\n"
    'Then write one JSON object and nothing after it: {"reasoning": "<two or three sentences summing up '
    'steps 1-3>", "ranking": [<every candidate SID exactly once, copied exactly as shown, most likely '
    "next item first>]}"
)

TARGETED_REVEAL = (
    "The item this user actually interacted with next is {target}. Write the reasoning an expert would give "
    "that arrives at it from the evidence in the history, without saying that you were told, and rank it first."
)


def teacher_messages(
    prompt: Sequence[Mapping[str, str]],
    truth: GroundTruth,
    *,
    mode: str = "rejection",
    hints: str | None = None,
) -> list[dict[str, str]]:
    """The teacher's chat messages for one RL row: ``prompt`` (system + user) plus the teacher blocks.

    ``truth`` is only read in ``targeted`` mode (to reveal ``truth.targets[0]``). Raises ValueError for an
    unknown mode or a prompt that is not system + user messages.
    """
    if mode not in MODES:
        raise ValueError(f"unknown teacher mode '{mode}', expected one of {MODES}")
    roles = [m.get("role") for m in prompt]
    if roles != ["system", "user"]:
        raise ValueError(f"the student prompt must be [system, user] messages, got roles {roles}")
    system, user = (str(m["content"]) for m in prompt)
    blocks = [user]
    if hints:
        blocks.append("Domain knowledge that may help (use it only where the history supports it):\n" + hints.strip())
    if mode == "targeted":
        blocks.append(TARGETED_REVEAL.format(target=truth.targets[0]))
    blocks.append(REASONING_STEPS)
    return [
        {"role": "system", "content": f"{system}\n\n{TEACHER_NOTE}"},
        {"role": "user", "content": "\n\n".join(blocks)},
    ]
