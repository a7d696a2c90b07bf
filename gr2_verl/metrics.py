"""Ranking metrics, in one place, shared by rewards, evaluation and the reward lab.

Ranks are 1-based; rank 0 means "not in the list" and scores 0 everywhere. Pure Python on purpose:
K is 10, and rewards call these tens of thousands of times per second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

_LOG2 = [0.0] + [1.0 / math.log2(r + 1) for r in range(1, 1025)]  # discount 1/log2(r+1) for ranks up to 1024


def _discount(rank: int) -> float:
    return _LOG2[rank] if rank < len(_LOG2) else 1.0 / math.log2(rank + 1)


def rank_of(item: str, order: Sequence[str]) -> int:
    """1-based rank of ``item`` in ``order``; 0 when absent."""
    try:
        return order.index(item) + 1
    except ValueError:
        return 0


def recall_at_k(rank: int, k: int) -> float:
    """Recall@k for one relevant item at ``rank``: ``1[1 <= rank <= k]``."""
    return 1.0 if 1 <= rank <= k else 0.0


def ndcg_at_k(rank: int, k: int) -> float:
    """NDCG@k for one relevant item at ``rank``: ``1[rank <= k] / log2(rank + 1)``.

    >>> round(ndcg_at_k(3, 5), 4)
    0.5
    """
    return _discount(rank) if 1 <= rank <= k else 0.0


def mrr(rank: int) -> float:
    """Reciprocal rank: ``1 / rank``, 0 when absent."""
    return 1.0 / rank if rank >= 1 else 0.0


def graded_ndcg_at_k(gains: Sequence[float], k: int) -> float:
    """NDCG@k with graded labels; ``gains`` are the labels of the items in output order.

    Linear gains, as in trec_eval's ``ndcg_cut``: DCG = sum_r gain_r / log2(r + 1). 0 when all gains are 0.
    """
    dcg = sum(g * _discount(r) for r, g in enumerate(gains[:k], start=1))
    ideal = sum(g * _discount(r) for r, g in enumerate(sorted(gains, reverse=True)[:k], start=1))
    return dcg / ideal if ideal > 0 else 0.0


def auc(order: Sequence[str], positives: set[str] | frozenset[str]) -> float:
    """Share of (positive, negative) pairs in ``order`` with the positive ranked above the negative.

    1.0 when there is no pair to get wrong (no positive or no negative in ``order``).
    """
    seen_neg = 0
    wrong = 0
    n_pos = 0
    for item in order:
        if item in positives:
            n_pos += 1
            wrong += seen_neg
        else:
            seen_neg += 1
    pairs = n_pos * seen_neg
    return 1.0 - wrong / pairs if pairs else 1.0


def kendall_tau(order: Sequence[str], reference: Sequence[str]) -> float:
    """Kendall tau-a between two orders of the same items: 1 identical, -1 reversed.

    Items missing from ``reference`` are ignored; fewer than two shared items give 1.0.
    """
    pos = {item: i for i, item in enumerate(reference)}
    ranks = [pos[item] for item in order if item in pos]
    n = len(ranks)
    if n < 2:
        return 1.0
    discordant = 0
    for i in range(n):
        ri = ranks[i]
        for j in range(i + 1, n):
            if ranks[j] < ri:
                discordant += 1
    pairs = n * (n - 1) // 2
    return 1.0 - 2.0 * discordant / pairs


def is_identity(order: Sequence[str], reference: Sequence[str]) -> bool:
    """True when the output copies the input order exactly (the "do nothing" hack)."""
    return tuple(order) == tuple(reference)
