"""A synthetic reranking set in the RL parquet schema (``gr2_verl.rl_row``), so the lab and tests run standalone.

The pre-ranker is simulated by where it puts the target: ``TARGET_POS_PROBS`` gives input-order
R@1 = 0.29 and R@5 = 0.72, the input order's figures on Amazon Beauty in GR2. Popularity counts are
log-normal, the target's a little higher (a popularity sort is a weak but real baseline). The
prompt is a minimal stand-in listing SIDs; real prompts come from ``gr2_verl.prompts`` (data_prep).
"""

from __future__ import annotations

import random
from typing import Any

from gr2_verl.rl_row import rl_record
from gr2_verl.types import GroundTruth, sid_string

TARGET_POS_PROBS = (0.29, 0.13, 0.115, 0.10, 0.085, 0.075, 0.065, 0.055, 0.045, 0.04)  # R@1 .29, R@5 .72 (Beauty)
HISTORY_LEN = 5  # enough SIDs to look like a history; the lab's policy never reads the prompt
TARGET_POP_BOOST = 0.5  # log-normal mean shift of the target's popularity: popularity is a weak cue, as in real logs


def _random_sids(rng: random.Random, n: int) -> list[str]:
    seen: set[str] = set()
    out = []
    while len(out) < n:
        sid = sid_string([rng.randrange(256) for _ in range(4)])
        if sid not in seen:
            seen.add(sid)
            out.append(sid)
    return out


def synthetic_rl_records(
    n: int, *, seed: int = 0, split: str = "test", hit_rate: float = 1.0, shuffle: bool = False
) -> list[dict[str, Any]]:
    """``n`` RL rows with K = 10 candidates; a share ``1 - hit_rate`` are pre-ranker misses.

    With ``shuffle`` the prompt shows the candidates in a random order (``extra_info.shown_order``),
    while the ground truth keeps the pre-rank order, as ``gr2_verl.rl_row`` specifies.
    """
    rng = random.Random(seed)
    k = len(TARGET_POS_PROBS)
    records = []
    for i in range(n):
        sids = _random_sids(rng, k + 1 + HISTORY_LEN)
        cands, spare, history = sids[:k], sids[k], sids[k + 1 :]
        hit = rng.random() < hit_rate
        pos = rng.choices(range(k), weights=TARGET_POS_PROBS)[0] if hit else -1
        target = cands[pos] if hit else spare
        popularity = [int(rng.lognormvariate(3.0 + (TARGET_POP_BOOST if j == pos else 0.0), 1.0)) for j in range(k)]
        shown = list(range(k))
        if shuffle:
            rng.shuffle(shown)
        user = (
            "History: " + " ".join(history) + "\nCandidates: " + " ".join(cands[j] for j in shown)
            + '\nAnswer with JSON {"reasoning": "...", "ranking": [all candidate SIDs, best first]}.'
        )
        messages = [
            {"role": "system", "content": "You rerank recommendation candidates for a user."},
            {"role": "user", "content": user},
        ]
        extra_info = {
            "split": split,
            "index": i,
            "sample_id": f"synthetic-{seed}-{i}",
            "user_id": f"u{i}",
            "target_in_candidates": hit,
            "target_in_pos": pos + 1,
            "shown_order": shown,
            "candidate_item_ids": [f"item{i}-{j}" for j in range(k)],
            "candidate_popularity": popularity,
        }
        records.append(rl_record("gr2/synthetic", messages, GroundTruth(tuple(cands), (target,)), extra_info))
    return records
