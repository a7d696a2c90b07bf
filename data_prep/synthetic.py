"""Synthetic interaction logs and SID maps for tests and benchmarks (no third-party data needed).

The log has learnable order: each item has 3 preferred successors; a user's next item is one of
the current item's successors with probability ``follow``, otherwise a Zipf-popular item. A
sequential pre-ranker should therefore beat popularity clearly on it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from gr2_verl.types import Item, SidMap

CATEGORIES = ("Books", "Music", "Garden", "Toys", "Games", "Tools", "Kitchen", "Sports")


def synthetic_log(
    n_users: int, n_items: int, per_user: int, *, seed: int = 0, follow: float = 0.6
) -> tuple[pd.DataFrame, dict[str, Item]]:
    """``n_users * per_user`` interactions (``user_id, item_id, timestamp``) and item metadata."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.array([math.pow(r, 0.8) for r in range(1, n_items + 1)])  # libm: same bits on any CPU
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


def write_synthetic_files(
    out_dir: str | Path, n_users: int, n_items: int, n_interactions: int, *, seed: int = 0, follow: float = 0.6
) -> dict[str, Path]:
    """A ``gr2 prepare custom`` input at scale, generated with arrays: ``log.csv`` (time-ordered, ~``n_interactions``
    rows), ``items.jsonl`` and a collision-free ``sid_map.json``.

    Shape of real logs: item popularity is Zipf (exponent 1: the head item gets ~1/ln(n_items) of the
    random picks), user activity log-normal (median ~60% of the mean, a long tail of heavy users), and
    the same successor structure as ``synthetic_log`` so the pre-ranker has something to learn.
    """
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cdf = np.cumsum(1.0 / np.arange(1, n_items + 1))
    cdf /= cdf[-1]
    mean = n_interactions / n_users
    lengths = np.clip(np.rint(rng.lognormal(np.log(mean) - 0.5, 1.0, n_users)), 1, 50 * mean).astype(np.int64)
    successors = rng.integers(0, n_items, size=(n_items, 3))
    starts = np.cumsum(lengths) - lengths
    items = np.empty(int(lengths.sum()), dtype=np.int64)
    stamps = np.empty(len(items), dtype=np.int64)
    prev = np.zeros(n_users, dtype=np.int64)
    clock = 1_700_000_000 + rng.integers(0, 30 * 86_400, n_users)
    for t in range(int(lengths.max())):
        active = np.flatnonzero(lengths > t)
        popular = np.minimum(np.searchsorted(cdf, rng.random(len(active))), n_items - 1)
        follows = (rng.random(len(active)) < follow) & (t > 0)
        nxt = np.where(follows, successors[prev[active], rng.integers(0, 3, len(active))], popular)
        prev[active] = nxt
        clock[active] += rng.integers(0, 3_600, len(active))  # 0: two events in one second (ties keep file order)
        items[starts[active] + t], stamps[starts[active] + t] = nxt, clock[active]
    order = np.argsort(stamps, kind="stable")
    users = np.repeat(np.arange(n_users), lengths)[order]
    log = pa.table(
        {
            "user_id": pc.binary_join_element_wise("u", pc.cast(pa.array(users), pa.string()), ""),
            "item_id": pc.binary_join_element_wise("i", pc.cast(pa.array(items[order]), pa.string()), ""),
            "timestamp": pa.array(stamps[order]),
        }
    )
    paths = {"interactions": out / "log.csv", "items": out / "items.jsonl", "sid_map": out / "sid_map.json"}
    pcsv.write_csv(log, paths["interactions"], pcsv.WriteOptions(quoting_style="none"))
    with open(paths["items"], "w", encoding="utf-8") as f:
        for i in range(n_items):
            cats = [CATEGORIES[i % len(CATEGORIES)], f"Shelf {i % 97}"]
            f.write(json.dumps({"item_id": f"i{i}", "title": f"Item {i} of the synthetic shop", "categories": cats}))
            f.write("\n")
    sequential_sid_map([f"i{i}" for i in range(n_items)]).save(str(paths["sid_map"]))
    return paths
