"""Every example's K candidates in files on disk, read back a range of examples (a shard of users) at a time.

The pre-ranker scores the examples one model group at a time (``preranker.fold_plan``: a fold's training
examples, or every held-out example), in example order within the group, so each group's candidates are
appended to the group's own file as they are scored. A range of examples takes, from each group's file,
the run of rows that falls in the range. Memory keeps one group code per example (2 bytes) instead of the
candidates (40 bytes an example at K = 10): a 100M-example log's candidates are 4 GB of disk.

The files live in a temporary folder (``folder``: where the caller writes its outputs; default the system's
temp folder), removed when the store is garbage collected or the process exits.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

ITEM = np.dtype(np.int32)  # candidate item codes; -1 = no candidate (a dropped given list)


class CandidateStore:
    """Candidates of ``len(groups)`` examples; example ``e``'s row is in group ``groups[e]``'s file."""

    def __init__(self, groups: np.ndarray, k: int, folder: str | Path | None = None) -> None:
        self.groups = np.asarray(groups, dtype=np.int16)
        self.k = k
        self._dir = tempfile.TemporaryDirectory(prefix=".gr2-candidates-", dir=folder)
        self._written = dict.fromkeys(np.unique(self.groups).tolist(), 0)

    @classmethod
    def of(cls, cands: np.ndarray, folder: str | Path | None = None) -> CandidateStore:
        """Candidates already in memory (the user's own lists), as one group."""
        store = cls(np.zeros(len(cands), dtype=np.int16), cands.shape[1], folder)
        store.append(0, cands)
        return store

    def __len__(self) -> int:
        return len(self.groups)

    def _file(self, group: int) -> Path:
        return Path(self._dir.name) / f"group{group}.int32"

    def append(self, group: int, cands: np.ndarray) -> None:
        """The next rows of ``group`` (its examples in example order), ``len(cands) x k``."""
        if cands.shape[1:] != (self.k,):
            raise ValueError(f"candidates of shape {cands.shape}; the store holds {self.k} per example")
        with open(self._file(group), "ab") as f:
            np.ascontiguousarray(cands, dtype=ITEM).tofile(f)
        self._written[group] += len(cands)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Candidates of examples ``start:stop`` (int32, one row per example)."""
        part = self.groups[start:stop]
        out = np.empty((len(part), self.k), dtype=ITEM)
        for g in np.unique(part).tolist():
            mine = np.flatnonzero(part == g)
            before = int(np.count_nonzero(self.groups[:start] == g))
            if before + len(mine) > self._written[g]:
                raise RuntimeError(f"candidates of model group {g}: {self._written[g]} rows written, "
                                   f"{before + len(mine)} needed (the pre-ranker did not finish)")  # fmt: skip
            offset = before * self.k * ITEM.itemsize
            out[mine] = np.fromfile(self._file(g), ITEM, len(mine) * self.k, offset=offset).reshape(-1, self.k)
        return out

    def whole(self) -> np.ndarray:
        """Every example's candidates (small data: tests)."""
        return self.rows(0, len(self))
