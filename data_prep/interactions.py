"""Interaction logs -> time-ordered user sequences -> leave-one-out (or time-split) examples, on int arrays.

A log is a ``CodedLog``: one int32 user code, item code and int64 timestamp per interaction, in file
order, the codes indexing sorted id lists (so code order is id order). 10M interactions take ~160 MB.
Steps, each a vectorised pass over the arrays:

1. ``k_core``: drop users and items with fewer than k interactions, repeatedly, until none is left.
2. ``user_sequences``: each user's items oldest first. Equal timestamps are common (ML-100K users
   rate batches of films in the same second), so the sort is stable: ties keep the log's line order,
   which makes the split reproducible.
3. ``leave_one_out``: for a sequence of n items, the last is the test target, the second-last the
   validation target, and every earlier item (from the second on) the target of a training example
   whose history is everything before it. The examples are kept as one split code per sequence entry
   (``ExampleSplits``, 1 byte an interaction) and made as arrays (``Examples``) a range at a time.

The training interactions of a user are ``sequence[:-2]``: the pre-ranker and popularity counts see
only those, so no validation or test target leaks into them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa

SPLITS = ("train", "val", "test")  # split codes 0, 1, 2 in ``Examples.splits``
FLAT_VALUES = 1 << 20  # values ``Ragged.flat`` gathers at once
REPEAT_ROWS = 1 << 21  # rows ``drop_repeats`` sorts at once (whole users)


@dataclass(frozen=True)
class Ragged:
    """Rows of different lengths over one flat array: row ``r`` is ``values[starts[r]:starts[r] + lengths[r]]``."""

    values: np.ndarray
    starts: np.ndarray  # int64
    lengths: np.ndarray  # int64

    @classmethod
    def from_rows(cls, rows: list[np.ndarray] | tuple[np.ndarray, ...]) -> Ragged:
        """Pack separate arrays (tests, small callers) into one ragged array."""
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        values = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        return cls(values.astype(np.int64), np.cumsum(lengths) - lengths, lengths)

    @classmethod
    def concat(cls, parts: list[Ragged]) -> Ragged:
        """The rows of ``parts`` one after another (sharing ``values`` when every part does)."""
        if all(p.values is parts[0].values for p in parts):
            return cls(parts[0].values, np.concatenate([p.starts for p in parts]),
                       np.concatenate([p.lengths for p in parts]))  # fmt: skip
        return cls.from_rows([p.row(r) for p in parts for r in range(len(p))])

    def __len__(self) -> int:
        return len(self.lengths)

    def row(self, r: int) -> np.ndarray:
        return self.values[self.starts[r] : self.starts[r] + self.lengths[r]]

    def take(self, rows: np.ndarray | slice) -> Ragged:
        """The chosen rows (sharing ``values``)."""
        return Ragged(self.values, self.starts[rows], self.lengths[rows])

    def prefixes(self, lengths: np.ndarray) -> Ragged:
        """Each row cut to its first ``lengths[r]`` values."""
        return Ragged(self.values, self.starts, np.minimum(self.lengths, lengths).astype(np.int64))

    def suffixes(self, n: int) -> Ragged:
        """Each row cut to its last ``n`` values."""
        kept = np.minimum(self.lengths, n)
        return Ragged(self.values, self.starts + self.lengths - kept, kept)

    def owners(self) -> tuple[np.ndarray, np.ndarray]:
        """For the concatenated rows: each value's row and its offset within the row."""
        rows = np.repeat(np.arange(len(self.lengths)), self.lengths)
        offsets = np.arange(len(rows)) - np.repeat(np.cumsum(self.lengths) - self.lengths, self.lengths)
        return rows, offsets

    def flat(self) -> np.ndarray:
        """The rows concatenated, gathered ``FLAT_VALUES`` at a time: the index arrays (~40 bytes a value) follow
        the block, not the rows (a fit flattens every training interaction)."""
        ends = np.cumsum(self.lengths)
        out = np.empty(int(ends[-1]) if len(ends) else 0, dtype=self.values.dtype)
        cuts = np.unique(np.r_[0, np.searchsorted(ends, np.arange(FLAT_VALUES, len(out), FLAT_VALUES)), len(self)])
        for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
            part = self.take(slice(a, b))
            rows, offsets = part.owners()
            first = int(ends[a - 1]) if a else 0
            out[first : first + len(rows)] = self.values[part.starts[rows] + offsets]
        return out


@dataclass(frozen=True)
class CodedLog:
    """Interactions as codes in file order: ``user_ids[users[r]]`` interacted with ``item_ids[items[r]]``."""

    user_ids: np.ndarray  # sorted distinct ids (str objects)
    item_ids: np.ndarray  # sorted distinct ids (str objects)
    users: np.ndarray  # int32
    items: np.ndarray  # int32
    timestamps: np.ndarray  # int64
    request_ids: pa.Array | None = None  # strings (null: none) per row, when the log has them

    @classmethod
    def from_frame(cls, log: pd.DataFrame) -> CodedLog:
        """From a ``user_id, item_id, timestamp [, request_id]`` DataFrame (the loaders' output)."""
        user_ids, users = np.unique(log["user_id"].astype(str).to_numpy(dtype=object), return_inverse=True)
        item_ids, items = np.unique(log["item_id"].astype(str).to_numpy(dtype=object), return_inverse=True)
        requests = pa.array(log["request_id"].tolist(), pa.string()) if "request_id" in log else None
        stamps = log["timestamp"].to_numpy(dtype=np.int64)
        return cls(user_ids, item_ids, users.astype(np.int32), items.astype(np.int32), stamps, requests)

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, keep: np.ndarray) -> CodedLog:
        """The rows where ``keep`` holds, in file order, with ids no row uses any more dropped."""
        users, user_ids = _recode(self.users[keep], self.user_ids)
        items, item_ids = _recode(self.items[keep], self.item_ids)
        requests = None if self.request_ids is None else self.request_ids.filter(pa.array(keep))
        return replace(self, user_ids=user_ids, item_ids=item_ids, users=users, items=items,
                       timestamps=self.timestamps[keep], request_ids=requests)  # fmt: skip


def _recode(codes: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes renumbered over the ids still used (order kept, so still sorted)."""
    used = np.bincount(codes, minlength=len(ids)) > 0
    new = (np.cumsum(used, dtype=np.int64) - 1).astype(np.int32)  # int32 codes looked up: 4 bytes a row, not 8
    return new[codes], ids[used]


def k_core(log: CodedLog, k: int = 5) -> CodedLog:
    """Keep only users and items with at least ``k`` interactions each (iterated to a fixed point)."""
    keep = np.ones(len(log), dtype=bool)
    while True:
        users, items = log.users[keep], log.items[keep]
        ok = (np.bincount(users, minlength=len(log.user_ids))[users] >= k) & (
            np.bincount(items, minlength=len(log.item_ids))[items] >= k
        )
        if ok.all():
            return log if keep.all() else log.subset(keep)
        keep[np.flatnonzero(keep)[~ok]] = False


def drop_repeats(log: CodedLog) -> CodedLog:
    """Keep each user's first interaction with an item (oldest; ties by row order), in the log's row order.

    A repeated event (a logging duplicate, a re-purchase) would otherwise become a sample whose target is
    already in its own history, which no pre-ranker that hides seen items can ever rank. Repeats are found
    ``REPEAT_ROWS`` rows of whole users at a time: the sort's scratch arrays follow the block, not the log.
    """
    order = np.lexsort((log.timestamps, log.users))  # stable: ties keep row order
    keep = np.zeros(len(log), dtype=bool)
    bounds = _runs(_firsts(log.users[order]), REPEAT_ROWS)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        rows = order[a:b]
        pair = log.users[rows].astype(np.int64) * len(log.item_ids) + log.items[rows]
        keep[rows[np.unique(pair, return_index=True)[1]]] = True  # first occurrence in (user, time, row) order
    del order
    return log if keep.all() else log.subset(keep)


@dataclass(frozen=True)
class Sequences:
    """Each user's items oldest first (row ``u`` = user code ``u``); ``rows`` = the log row of each entry."""

    items: Ragged
    rows: np.ndarray  # int64, laid out like ``items.values``


def user_sequences(log: CodedLog) -> Sequences:
    """Each user's item codes, oldest first; equal timestamps keep the log's row order (stable sort)."""
    order = np.lexsort((log.timestamps, log.users))
    lengths = np.bincount(log.users, minlength=len(log.user_ids)).astype(np.int64)
    return Sequences(Ragged(log.items[order], np.cumsum(lengths) - lengths, lengths), order)


@dataclass(frozen=True)
class Examples:
    """One example per target: ``users[e]``'s sequence at ``positions[e]``, history everything before it."""

    users: np.ndarray  # int32 user codes
    positions: np.ndarray  # int64, 0-based index of the target in the user's sequence
    splits: np.ndarray  # int8 index into SPLITS

    def __len__(self) -> int:
        return len(self.users)

    def split_names(self) -> np.ndarray:
        return np.array(SPLITS, dtype=object)[self.splits]

    def rows(self, start: int, stop: int) -> Examples:
        """Examples ``start:stop``."""
        return Examples(self.users[start:stop], self.positions[start:stop], self.splits[start:stop])

    def runs(self, size: int) -> list[int]:
        """Bounds of runs of about ``size`` examples that never split a user (users sorted)."""
        return _runs(_firsts(self.users), size)


@dataclass(frozen=True)
class ExampleSplits:
    """Every example of every user, stored as one split code per sequence entry (-1: not a target): 1 byte an
    interaction instead of 13 bytes an example. ``rows`` makes a range of examples when asked for (a shard of
    users, a block the pre-ranker scores), so the examples never exist all at once.

    Example order is ``Examples``' order: users in code order, positions ascending. The sequences are laid out
    user after user (``user_sequences``), so entry ``e`` of user ``u`` is position ``e - starts[u]``.
    """

    entries: np.ndarray  # int8 per sequence entry: index into SPLITS, -1 where no example targets it
    starts: np.ndarray  # int64, each user's first entry (the sequences' ``starts``)
    firsts: np.ndarray  # int64, each user's first example; one more at the end: the number of examples

    def __len__(self) -> int:
        return int(self.firsts[-1])

    def rows(self, start: int, stop: int) -> Examples:
        """Examples ``start:stop``, made from the entries of the users they belong to."""
        start, stop = max(start, 0), min(stop, len(self))
        if stop <= start:
            return Examples(np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int8))
        first = int(np.searchsorted(self.firsts, start, side="right")) - 1  # the user of example ``start``
        last = int(np.searchsorted(self.firsts, stop, side="left"))  # one past the user of example ``stop - 1``
        lo = int(self.starts[first])
        hi = int(self.starts[last]) if last < len(self.starts) else len(self.entries)
        entries = lo + np.flatnonzero(self.entries[lo:hi] >= 0)
        entries = entries[start - self.firsts[first] : stop - self.firsts[first]]
        users = np.searchsorted(self.starts, entries, side="right") - 1  # the last user starting at or before it
        return Examples(users.astype(np.int32), entries - self.starts[users], self.entries[entries])

    def runs(self, size: int) -> list[int]:
        """Bounds of runs of about ``size`` examples that never split a user: shards and Ray blocks."""
        return _runs(self.firsts, size)

    def split_counts(self) -> dict[str, int]:
        """Examples per split."""
        counts = np.bincount(self.entries[self.entries >= 0], minlength=len(SPLITS))
        return {s: int(counts[n]) for n, s in enumerate(SPLITS)}


def _firsts(users: np.ndarray) -> np.ndarray:
    """Where each user's run starts in ``users`` (sorted user codes), and one more: the length."""
    return np.r_[np.flatnonzero(np.r_[True, users[1:] != users[:-1]]), len(users)]


def _runs(firsts: np.ndarray, size: int) -> list[int]:
    """Bounds ``[0, ..., n]`` of runs of about ``size`` examples from each user's first example (ascending,
    ending with the number of examples ``n``): a run ends at the first user start at or past each multiple."""
    n = int(firsts[-1])
    at = np.searchsorted(firsts, np.arange(size, n, size))
    return np.unique(np.r_[0, firsts[at[at < len(firsts)]], n]).astype(np.int64).tolist()


def _example_splits(sequences: Sequences, entries: np.ndarray, counts: np.ndarray) -> ExampleSplits:
    return ExampleSplits(entries, sequences.items.starts, np.r_[0, np.cumsum(counts)].astype(np.int64))


def leave_one_out(sequences: Sequences) -> ExampleSplits:
    """Train examples for positions 1..n-3, validation at n-2, test at n-1; users with < 3 items are skipped."""
    seq = sequences.items
    entries = np.zeros(len(seq.values), dtype=np.int8)
    entries[np.repeat(seq.lengths < 3, seq.lengths)] = -1
    kept = seq.lengths >= 3
    ends = seq.starts[kept] + seq.lengths[kept]
    entries[seq.starts[kept]] = -1
    entries[ends - 2] = 1
    entries[ends - 1] = 2
    return _example_splits(sequences, entries, np.where(kept, seq.lengths - 1, 0))


def time_split(
    sequences: Sequences, stamps: np.ndarray, val_start: int, test_start: int
) -> tuple[ExampleSplits, np.ndarray]:
    """A global temporal split, the alternative to leave-one-out: a target before ``val_start`` is a training
    example, before ``test_start`` a validation one, later a test one (every position from the second on).

    ``stamps`` are the log's timestamps. Also returns each user's training length (items before
    ``val_start``): the prefix models may be fit on, so no validation or test interaction leaks into the
    pre-ranker or popularity.
    """
    if not val_start <= test_start:
        raise ValueError(f"--split-at: the validation start {val_start} is after the test start {test_start}")
    seq = sequences.items
    times = stamps[sequences.rows]  # laid out like the sequences: ascending within each user
    owner = np.repeat(np.arange(len(seq)), seq.lengths)
    train_lengths = np.bincount(owner[times < val_start], minlength=len(seq)).astype(np.int64)
    del owner
    entries = np.where(times < val_start, 0, np.where(times < test_start, 1, 2)).astype(np.int8)
    entries[seq.starts[seq.lengths > 0]] = -1  # the first item is no target
    return _example_splits(sequences, entries, np.maximum(seq.lengths - 1, 0)), train_lengths


def training_lengths(sequences: Sequences, train_lengths: np.ndarray | None = None) -> np.ndarray:
    """How much of each sequence models may be fit on: everything but the validation and test targets
    (all but the last two items under leave-one-out; ``train_lengths`` under a time split)."""
    if train_lengths is None:
        return np.maximum(sequences.items.lengths - 2, 0)
    return train_lengths


def item_popularity(training: Ragged, n_items: int) -> np.ndarray:
    """Interaction count per item code over the given rows (pass the training prefixes to avoid leaks)."""
    return np.bincount(training.flat(), minlength=n_items).astype(np.int64)
