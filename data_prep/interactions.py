"""Interaction logs -> time-ordered user sequences -> leave-one-out examples.

The log is a DataFrame with columns ``user_id`` (str), ``item_id`` (str), ``timestamp`` (int). Steps:

1. ``k_core``: drop users and items with fewer than k interactions, repeatedly, until none is left.
2. ``user_sequences``: each user's items oldest first. Equal timestamps are common (ML-100K users
   rate batches of films in the same second), so the sort is stable: ties keep the log's line order,
   which makes the split reproducible.
3. ``leave_one_out``: for a sequence of n items, the last is the test target, the second-last the
   validation target, and every earlier item (from the second on) the target of a training example
   whose history is everything before it.

The training interactions of a user are ``sequence[:-2]``: the pre-ranker and popularity counts see
only those, so no validation or test target leaks into them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

LOG_COLUMNS = ("user_id", "item_id", "timestamp")


@dataclass(frozen=True)
class Example:
    """One leave-one-out example: the target is ``sequence[position]``, the history everything before it."""

    user_id: str
    split: str  # "train" | "val" | "test"
    position: int

    @property
    def sample_id(self) -> str:
        """Stable id ``<user_id>:<position>`` (position: 0-based index of the target in the user's sequence)."""
        return f"{self.user_id}:{self.position}"


def k_core(log: pd.DataFrame, k: int = 5) -> pd.DataFrame:
    """Keep only users and items with at least ``k`` interactions each (iterated to a fixed point)."""
    while True:
        user_counts = log["user_id"].map(log["user_id"].value_counts())
        item_counts = log["item_id"].map(log["item_id"].value_counts())
        keep = (user_counts >= k) & (item_counts >= k)
        if keep.all():
            return log
        log = log[keep]


def user_sequences(log: pd.DataFrame) -> dict[str, list[str]]:
    """Each user's item ids, oldest first; equal timestamps keep the log's row order (stable sort)."""
    return {u: [str(x) for x in items] for u, items in user_columns(log, "item_id").items()}


def user_columns(log: pd.DataFrame, column: str) -> dict[str, list]:
    """Each user's values of ``column`` in ``user_sequences`` order (so position n matches item n)."""
    ordered = log.sort_values(["user_id", "timestamp"], kind="stable")
    users = ordered["user_id"].to_numpy()
    values = ordered[column].tolist()
    starts = [0, *(np.flatnonzero(users[1:] != users[:-1]) + 1).tolist(), len(users)]
    return {str(users[a]): values[a:b] for a, b in zip(starts[:-1], starts[1:], strict=True) if b > a}


def drop_repeats(log: pd.DataFrame) -> pd.DataFrame:
    """Keep each user's first interaction with an item (oldest; ties by row order), in the log's row order.

    A repeated event (a logging duplicate, a re-purchase) would otherwise become a sample whose target is
    already in its own history, which no pre-ranker that hides seen items can ever rank.
    """
    repeat = log.sort_values(["user_id", "timestamp"], kind="stable").duplicated(["user_id", "item_id"])
    return log[~repeat.reindex(log.index).to_numpy()]


def leave_one_out(sequences: dict[str, list[str]]) -> list[Example]:
    """Train examples for positions 1..n-3, validation at n-2, test at n-1; users with < 3 items are skipped."""
    examples: list[Example] = []
    for user, seq in sequences.items():
        n = len(seq)
        if n < 3:
            continue
        examples.extend(Example(user, "train", p) for p in range(1, n - 2))
        examples.append(Example(user, "val", n - 2))
        examples.append(Example(user, "test", n - 1))
    return examples


def time_split(
    sequences: dict[str, list[str]], stamps: dict[str, list[int]], val_start: int, test_start: int
) -> tuple[list[Example], dict[str, int]]:
    """A global temporal split, the alternative to leave-one-out: a target before ``val_start`` is a training
    example, before ``test_start`` a validation one, later a test one (every position from the second on).

    Also returns each user's training length (items before ``val_start``): the prefix models may be fit on,
    so no validation or test interaction leaks into the pre-ranker or popularity.
    """
    if not val_start <= test_start:
        raise ValueError(f"--split-at: the validation start {val_start} is after the test start {test_start}")
    examples: list[Example] = []
    train_lengths: dict[str, int] = {}
    for user, seq in sequences.items():
        times = stamps[user]
        train_lengths[user] = sum(1 for t in times if t < val_start)  # times ascend: a prefix
        for p in range(1, len(seq)):
            split = "train" if times[p] < val_start else "val" if times[p] < test_start else "test"
            examples.append(Example(user, split, p))
    return examples, train_lengths


def training_sequences(
    sequences: dict[str, list[str]], train_lengths: dict[str, int] | None = None
) -> dict[str, list[str]]:
    """The part of each sequence models may be fit on: everything but the validation and test targets
    (the last two items under leave-one-out; the first ``train_lengths[user]`` items under a time split)."""
    if train_lengths is None:
        return {user: seq[:-2] for user, seq in sequences.items()}
    return {user: seq[: train_lengths[user]] for user, seq in sequences.items()}


def item_popularity(sequences: dict[str, list[str]]) -> dict[str, int]:
    """Interaction count per item over the given sequences (pass ``training_sequences`` to avoid leaks)."""
    counts: dict[str, int] = {}
    for seq in sequences.values():
        for item in seq:
            counts[item] = counts.get(item, 0) + 1
    return counts
