"""Synthetic interaction logs and SID maps for tests and benchmarks (no third-party data needed).

The log has learnable order: each item has 3 preferred successors; a user's next item is one of
the current item's successors with probability ``follow``, otherwise a Zipf-popular item. A
sequential pre-ranker should therefore beat popularity clearly on it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gr2_verl.types import Item, SidMap

CATEGORIES = ("Books", "Music", "Garden", "Toys", "Games", "Tools", "Kitchen", "Sports")


def synthetic_log(
    n_users: int, n_items: int, per_user: int, *, seed: int = 0, follow: float = 0.6
) -> tuple[pd.DataFrame, dict[str, Item]]:
    """``n_users * per_user`` interactions (``user_id, item_id, timestamp``) and item metadata."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    successors = rng.integers(0, n_items, size=(n_items, 3))
    random_items = rng.choice(n_items, size=(n_users, per_user), p=popularity)
    follows = rng.random((n_users, per_user)) < follow
    picks = rng.integers(0, 3, size=(n_users, per_user))
    seqs = np.empty((n_users, per_user), dtype=np.int64)
    seqs[:, 0] = random_items[:, 0]
    for t in range(1, per_user):
        nxt = successors[seqs[:, t - 1], picks[:, t]]
        seqs[:, t] = np.where(follows[:, t], nxt, random_items[:, t])
    stamps = 1_000_000 + np.arange(per_user)[None, :] * 60 + rng.integers(0, 30, size=(n_users, 1))
    log = pd.DataFrame(
        {
            "user_id": np.repeat([f"u{u}" for u in range(n_users)], per_user),
            "item_id": [f"i{i}" for i in seqs.ravel()],
            "timestamp": stamps.ravel(),
        }
    )
    log = log.drop_duplicates(["user_id", "item_id"], keep="first").reset_index(drop=True)
    items = {
        f"i{i}": Item(f"i{i}", f"Item {i} of the synthetic shop", (CATEGORIES[i % len(CATEGORIES)], f"Shelf {i % 97}"))
        for i in range(n_items)
    }
    return log, items


def sequential_sid_map(item_ids: list[str], levels: int = 4, codebook_size: int = 256) -> SidMap:
    """A collision-free SID map: item n gets the base-``codebook_size`` digits of n (needs size**levels > items)."""
    if codebook_size**levels < len(item_ids):
        raise ValueError(f"{len(item_ids)} items do not fit {levels} levels of {codebook_size} codes")
    codes = {}
    for n, item_id in enumerate(sorted(item_ids)):
        digits = []
        for _ in range(levels):
            n, d = divmod(n, codebook_size)
            digits.append(d)
        codes[item_id] = tuple(reversed(digits))
    return SidMap(levels=levels, codebook_size=codebook_size, codes=codes)
