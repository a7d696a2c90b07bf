"""Which teacher answers become training traces, and the assistant message an accepted answer becomes.

Every attempt is judged by ``gr2_verl.outcome.judge`` (the parser the rewards use) and scored with one
``reward_fns.VARIANTS`` entry. Every rule needs a valid ranking (a permutation of the candidates: a
trace teaches its format too); then (GR2 keeps only right answers):

- ``first`` (default): the target is ranked first;
- ``promoted``: the target moved up from its pre-rank position (or stayed first);
- ``reward``: the reward variant's score is at least ``min_reward``.

The SFT assistant message (``sft_answer``) is the teacher's visible reasoning followed by the canonical
JSON ``{"reasoning": ..., "ranking": [...]}`` and nothing after it. It is plain text, not a
``<think>`` block: with Qwen3's chat template veRL's ``MultiTurnSFTDataset`` tokenises each turn alone,
which drops a ``<think>`` block from the last assistant turn, so reasoning inside one would never be
trained on. A teacher's own ``<think>`` block (thinking models) is therefore left out of the trace.
Even without one, Qwen3's stock template renders an empty think block into the whole conversation, so
veRL's per-turn sanity check fails; ``recipes/reasoning_sft.sh`` trains with a verbatim chat template
instead (see ``recipes/README.md``), under which every answer token is trained as written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gr2_verl.outcome import judge
from gr2_verl.parsing import MAX_ANSWER_CHARS, answer_text, ranking_object
from reward_fns import VARIANTS

RULES = ("first", "promoted", "reward")


@dataclass(frozen=True)
class AcceptRule:
    """The acceptance rule plus the reward variant scored (and logged) on every attempt."""

    kind: str = "first"
    reward: str = "conditional_format"
    min_reward: float | None = None
    reward_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in RULES:
            raise ValueError(f"unknown acceptance rule '{self.kind}', expected one of {RULES}")
        if self.reward not in VARIANTS:
            raise ValueError(f"unknown reward variant '{self.reward}', expected one of {sorted(VARIANTS)}")
        if self.kind == "reward" and self.min_reward is None:
            raise ValueError("the 'reward' acceptance rule needs min_reward")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "reward": self.reward, "min_reward": self.min_reward,
                "reward_kwargs": dict(self.reward_kwargs)}


@dataclass(frozen=True)
class Verdict:
    """One judged attempt: parser status, target positions (1-based, 0 = absent/invalid), reward, decision."""

    accepted: bool
    status: str
    target_in_pos: int
    target_out_pos: int
    reward: float


def judge_attempt(
    text: str | None,
    ground_truth: str,
    rule: AcceptRule,
    *,
    data_source: str = "",
    extra_info: Mapping[str, Any] | None = None,
) -> Verdict:
    """Judge one teacher answer (None: the request failed) against the row's ground truth."""
    if text is None:
        return Verdict(False, "error", 0, 0, 0.0)
    outcome = judge(text, ground_truth)
    score = float(VARIANTS[rule.reward](data_source, text, ground_truth, extra_info, **rule.reward_kwargs)["score"])
    valid, t_in, t_out = outcome.valid, outcome.target_in_pos, outcome.target_out_pos
    if rule.kind == "first":
        accepted = valid and t_out == 1
    elif rule.kind == "promoted":
        accepted = valid and t_in > 0 and (t_out < t_in or t_out == 1)
    else:
        accepted = valid and score >= rule.min_reward
    return Verdict(bool(accepted), outcome.parsed.status, t_in, t_out, score)


def sft_answer(text: str) -> str:
    """The assistant message for an accepted answer: visible reasoning, a blank line, the canonical JSON.

    >>> sft_answer('<think>long</think>Step 1: ...\\n```json\\n{"ranking": ["b", "a"], "reasoning": "r"}\\n``` bye')
    'Step 1: ...\\n\\n{"reasoning": "r", "ranking": ["b", "a"]}'
    """
    visible = answer_text(text[-MAX_ANSWER_CHARS:]) or ""
    found = ranking_object(visible)
    if found is None:
        raise ValueError("no JSON object with a 'ranking' in the answer: only accepted answers become traces")
    start, answer = found
    before = visible[:start].strip()
    if before.endswith("```json") or before.endswith("```"):
        before = before.rsplit("```", 1)[0].strip()
    reasoning = answer.get("reasoning")
    ranking = [str(r).strip() for r in answer["ranking"]]
    canonical = json.dumps({"reasoning": reasoning if isinstance(reasoning, str) else "", "ranking": ranking},
                           ensure_ascii=False)
    return f"{before}\n\n{canonical}" if before else canonical
