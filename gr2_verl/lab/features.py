"""Per-candidate features the lab policy sees, in prompt-slot order.

    relevance_i  = signal * 1[candidate i is the target] + N(0, 1)   (fixed per row: a seeded draw)
    popularity_i = z-score of log(1 + training interactions) within the list (0 without popularity)

``relevance`` stands in for what reading the user's history could tell an LLM: ``signal`` = 0 makes it
pure noise, 1 a weak cue, 3 a near give-away. The reward is never a feature, and neither is the
target's input position, so the policy can only reach the target through these cues or the slots.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import torch

from gr2_verl.rl_row import RLRow

FEATURES = ("relevance", "popularity")


def row_features(row: RLRow, signal: float, seed: int = 0) -> list[list[float]]:
    """``[K][len(FEATURES)]`` features of one row, slots in the order the prompt shows them."""
    rng = random.Random(f"{seed}-{row.index}")
    target = row.truth.targets[0]
    rel = [signal * (c == target) + rng.gauss(0.0, 1.0) for c in row.truth.candidates]
    if row.popularity is None:
        pop = [0.0] * row.truth.k
    else:
        logs = [math.log1p(p) for p in row.popularity]
        mean = sum(logs) / len(logs)
        std = math.sqrt(sum((x - mean) ** 2 for x in logs) / len(logs)) or 1.0
        pop = [(x - mean) / std for x in logs]
    return [[rel[i], pop[i]] for i in row.shown_order]


def feature_tensor(rows: Sequence[RLRow], signal: float, seed: int = 0) -> torch.Tensor:
    """``(N, K, F)`` features for rows with the same K."""
    return torch.tensor([row_features(r, signal, seed) for r in rows], dtype=torch.float32)
