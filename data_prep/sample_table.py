"""Reranking samples as arrays: what ``build_samples`` returns and ``write_outputs`` writes, at any scale.

A list of ``RerankSample`` costs ~1 KB a sample (9M samples: 9 GB); a ``SampleTable`` holds item codes
(index into ``item_ids``) and per-sample offsets, ~100 bytes a sample. ``to_samples`` / ``from_samples``
convert both ways for small callers and tests; both forms describe the same samples. ``SampleShards`` is
the samples as tables of consecutive users, built one at a time when asked for: what a large log needs,
so memory follows the shard, not the log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from data_prep.interactions import SPLITS, Ragged
from gr2_verl.types import RerankSample


@dataclass(frozen=True)
class SampleTable:
    """Sample ``i``: ``history`` = ``histories.row(i)``, ``candidates[i]`` (pre-rank order), ``targets.row(i)``
    (the first is the target whose pre-rank position counts), optional ``grades[i]`` (labelled lists)."""

    item_ids: np.ndarray  # str objects; codes index it
    sample_ids: pa.StringArray
    user_ids: pa.StringArray
    splits: np.ndarray  # int8 index into SPLITS
    histories: Ragged  # item codes, oldest first
    candidates: np.ndarray  # int32, samples x K
    targets: Ragged  # item codes
    grades: Mapping[int, list[float]] | None = None

    def __len__(self) -> int:
        return len(self.splits)

    def target_positions(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """1-based pre-rank position of each sample's (or each of ``rows``') first target, 0 when missed."""
        first = self.targets.values[self.targets.starts[rows]]
        hits = self.candidates[rows] == first[:, None]
        return np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)

    def split_counts(self, mask: np.ndarray | None = None) -> dict[str, int]:
        """Samples per split (only where ``mask`` holds)."""
        splits = self.splits if mask is None else self.splits[mask]
        counts = np.bincount(splits, minlength=len(SPLITS))
        return {s: int(counts[n]) for n, s in enumerate(SPLITS)}

    def to_samples(self) -> list[RerankSample]:
        """Every sample as a ``RerankSample`` (small data only: ~1 KB each)."""
        ids, sample_ids, user_ids = self.item_ids, self.sample_ids.to_pylist(), self.user_ids.to_pylist()
        grades = self.grades or {}
        return [
            RerankSample(
                sample_id=sample_ids[i],
                user_id=user_ids[i],
                split=SPLITS[self.splits[i]],
                history=ids[self.histories.row(i)].tolist(),
                candidates=ids[self.candidates[i]].tolist(),
                targets=ids[self.targets.row(i)].tolist(),
                grades=None if i not in grades else list(grades[i]),
            )
            for i in range(len(self))
        ]

    @classmethod
    def from_samples(cls, samples: Sequence[RerankSample], item_ids: Sequence[str]) -> SampleTable:
        """Samples built elsewhere (``gr2 mini``, tests); every item they name must be in ``item_ids``.

        ValueError names the sample and split of a bad row; KeyError the first item outside ``item_ids``.
        """
        index = {x: i for i, x in enumerate(item_ids)}
        k = len(samples[0].candidates) if samples else 0
        for s in samples:
            if s.split not in SPLITS:
                raise ValueError(f"sample '{s.sample_id}': field 'split' must be one of {SPLITS}, got {s.split!r}")
            if len(s.candidates) != k:
                raise ValueError(f"sample '{s.sample_id}': {len(s.candidates)} candidates, the first sample has {k}")

        def codes(lists: list[list[str]]) -> Ragged:
            return Ragged.from_rows([np.array([index[x] for x in row], dtype=np.int64) for row in lists])

        grades = {i: list(s.grades) for i, s in enumerate(samples) if s.grades is not None}
        return cls(
            item_ids=np.array(list(item_ids), dtype=object),
            sample_ids=pa.array([s.sample_id for s in samples], pa.string()),
            user_ids=pa.array([s.user_id for s in samples], pa.string()),
            splits=np.array([SPLITS.index(s.split) for s in samples], dtype=np.int8),
            histories=codes([s.history for s in samples]),
            candidates=np.array([[index[c] for c in s.candidates] for s in samples], dtype=np.int32).reshape(-1, k),
            targets=codes([s.targets for s in samples]),
            grades=grades or None,
        )


@dataclass(frozen=True)
class SampleShards:
    """The samples in order as ``len(sizes)`` tables of consecutive users; ``build(s)`` makes shard ``s``
    (``sizes[s]`` samples) each time it is asked for, so only the shards in use are in memory."""

    item_ids: np.ndarray  # str objects, shared by every shard's codes
    sizes: tuple[int, ...]
    build: Callable[[int], SampleTable]

    @classmethod
    def of(cls, table: SampleTable) -> SampleShards:
        """One table as a single shard."""
        return cls(table.item_ids, (len(table),), lambda _: table)

    def __len__(self) -> int:
        return sum(self.sizes)

    def __iter__(self) -> Iterator[SampleTable]:
        return (self.build(s) for s in range(len(self.sizes)))

    def split_counts(self) -> dict[str, int]:
        """Samples per split over every shard."""
        totals = dict.fromkeys(SPLITS, 0)
        for table in self:
            for split, n in table.split_counts().items():
                totals[split] += n
        return totals

    def whole(self) -> SampleTable:
        """Every shard in one table (small data: tests, ``gr2 mini``)."""
        tables = list(self)
        if len(tables) == 1:
            return tables[0]
        offsets = np.cumsum([0] + [len(t) for t in tables])
        grades = {int(o) + r: g for t, o in zip(tables, offsets[:-1], strict=True) for r, g in (t.grades or {}).items()}
        return SampleTable(
            item_ids=self.item_ids,
            sample_ids=pa.concat_arrays([t.sample_ids for t in tables]),
            user_ids=pa.concat_arrays([t.user_ids for t in tables]),
            splits=np.concatenate([t.splits for t in tables]),
            histories=Ragged.concat([t.histories for t in tables]),
            candidates=np.concatenate([t.candidates for t in tables]),
            targets=Ragged.concat([t.targets for t in tables]),
            grades=grades or None,
        )
