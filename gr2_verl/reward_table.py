"""Score canonical behaviours (copy the input, promote, demote, break the format) under every reward.

A one-glance check that a reward pays for useful reranking and not for order copying.
"""

from __future__ import annotations

import json
from typing import Any

from gr2_verl.types import GroundTruth, sid_string
from reward_fns import VARIANTS


def example_truth(k: int = 10, target_pos: int = 4) -> GroundTruth:
    """A K-candidate list of made-up SIDs with one target at 1-based input position ``target_pos``."""
    candidates = tuple(sid_string([i, 7 * i % 256, 13 * i % 256, 3]) for i in range(k))
    return GroundTruth(candidates=candidates, targets=(candidates[target_pos - 1],))


def _answer(order: list[str]) -> str:
    return "<think>Compare each candidate with the history.</think>\n" + json.dumps(
        {"reasoning": "The target fits the user's recent taste.", "ranking": order}
    )


def canonical_answers(truth: GroundTruth) -> dict[str, str]:
    """Named model answers for one ground truth: the behaviours a reward must tell apart."""
    cands = list(truth.candidates)
    target = truth.targets[0]
    rest = [c for c in cands if c != target]
    up = list(cands)
    i = up.index(target)
    if i > 0:
        up[i - 1], up[i] = up[i], up[i - 1]
    return {
        "copy input order": _answer(cands),
        "target to 1st": _answer([target, *rest]),
        "target up by 1": _answer(up),
        "target to last": _answer([*rest, target]),
        "drops a candidate": _answer(cands[:-1]),
        "no JSON": "I would rank the second item first.",
    }


def reward_table(truth: GroundTruth | None = None) -> list[dict[str, Any]]:
    """One row per canonical answer, one column per reward variant (default kwargs)."""
    truth = truth or example_truth()
    gt = truth.to_json()
    rows = []
    for name, answer in canonical_answers(truth).items():
        row: dict[str, Any] = {"answer": name}
        for variant, fn in VARIANTS.items():
            row[variant] = round(fn("gr2", answer, gt)["score"], 4)
        rows.append(row)
    return rows


def to_markdown(rows: list[dict[str, Any]]) -> str:
    """A markdown table of ``reward_table`` rows."""
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"
