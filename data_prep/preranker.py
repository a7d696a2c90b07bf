"""The pre-ranker: picks the K candidates of every example when the user brings no candidate lists.

``TransitionPreranker`` is a windowed item-transition model (a sequential item-KNN) on scipy sparse
matrices. Fitting counts, over training sequences, how often item j follows item i within
``window`` steps (weight ``decay ** (gap - 1)``), adds ``backward`` times the reverse direction,
and damps each row by ``(row sum + 1) ** damping`` so hub items do not dominate; each item keeps its
``neighbours`` strongest successors, which bounds scoring cost on big catalogues. A user is scored
from their ``recent`` last items, the l-th most recent weighted ``recency ** (l - 1)``; a tiny
popularity term breaks ties and fills users with no known transitions. Items already in the user's
history are never candidates. Defaults were picked on ML-100K validation targets (test untouched).

No leakage: validation and test examples are scored by a model fit on every user's training
interactions (``sequence[:-2]``). Training examples are scored by ``folds`` models, each fit on the
training interactions of the other users only, so a training target never sits in the counts that
rank it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from data_prep.interactions import Example

CHUNK_ROWS = 4096  # histories scored at once: bounds the sparse product and the key matrix
DENSE_ITEMS = 4096  # up to this catalogue size a dense key matrix is cheaper than sparse bookkeeping
TIE_BREAK = 1e-6  # popularity weight under the transition scores: orders ties and cold users


@dataclass
class PopularityRanker:
    """Most-interacted training items first (the baseline the pre-ranker must beat)."""

    popularity: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    def fit(self, sequences: Sequence[np.ndarray], n_items: int) -> PopularityRanker:
        flat = np.concatenate(sequences) if sequences else np.zeros(0, dtype=np.int64)
        self.popularity = np.bincount(flat, minlength=n_items).astype(np.float32)
        return self


@dataclass
class TransitionPreranker:
    """Windowed item-transition scores from the most recent history items (see the module docstring)."""

    window: int = 5
    decay: float = 0.7
    backward: float = 0.5
    damping: float = 0.8
    recent: int = 10
    recency: float = 0.8
    neighbours: int = 200
    matrix: sp.csr_matrix | None = None
    popularity: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    def settings(self) -> dict[str, float]:
        """The hyper-parameters, for the summary."""
        names = ("window", "decay", "backward", "damping", "recent", "recency", "neighbours")
        return {f: getattr(self, f) for f in names}

    def fit(self, sequences: Sequence[np.ndarray], n_items: int) -> TransitionPreranker:
        flat = np.concatenate(sequences) if sequences else np.zeros(0, dtype=np.int64)
        owner = _rows_and_offsets([len(s) for s in sequences])[0]
        rows, cols, vals = [], [], []
        for gap in range(1, self.window + 1):
            same = owner[:-gap] == owner[gap:]  # pairs (i, i + gap) inside one user's sequence
            rows.append(flat[:-gap][same])
            cols.append(flat[gap:][same])
            vals.append(np.full(int(same.sum()), self.decay ** (gap - 1), dtype=np.float32))
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        forward = sp.csr_matrix((v, (r, c)), shape=(n_items, n_items), dtype=np.float32)
        counts = (forward + self.backward * forward.T).tocsr()
        damp = 1.0 / np.power(np.asarray(counts.sum(axis=1)).ravel() + 1.0, self.damping)
        self.matrix = _keep_top(sp.diags(damp.astype(np.float32)) @ counts, self.neighbours)
        self.popularity = PopularityRanker().fit(sequences, n_items).popularity
        return self

    def transitions(self, histories: Sequence[np.ndarray]) -> sp.csr_matrix:
        """Transition scores (rows: histories, columns: items); only items reachable from the history are stored."""
        last = [hist[-self.recent :][::-1] for hist in histories]  # most recent first
        rows, steps = _rows_and_offsets([len(x) for x in last])
        weights = np.power(np.float32(self.recency), steps.astype(np.float32))
        shape = (len(histories), self.matrix.shape[0])
        return (sp.csr_matrix((weights, (rows, np.concatenate(last))), shape=shape) @ self.matrix).tocsr()


Ranker = TransitionPreranker | PopularityRanker


def _rows_and_offsets(lengths: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """For ragged rows of these lengths, flattened: each entry's row number and its offset within the row."""
    lengths = np.asarray(lengths, dtype=np.int64)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    return rows, np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def _keep_top(matrix: sp.spmatrix, n: int) -> sp.csr_matrix:
    """Keep the ``n`` largest entries of each row (ties: lower column first): bounds the cost of scoring."""
    matrix = sp.csr_matrix(matrix)
    matrix.sort_indices()
    keep = np.ones(matrix.nnz, dtype=bool)
    for r in np.flatnonzero(np.diff(matrix.indptr) > n):
        lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
        order = np.lexsort((matrix.indices[lo:hi], -matrix.data[lo:hi]))
        keep[lo + order[n:]] = False
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    return sp.csr_matrix((matrix.data[keep], (rows[keep], matrix.indices[keep])), shape=matrix.shape)


def top_k(ranker: Ranker, histories: Sequence[np.ndarray], k: int) -> np.ndarray:
    """Top-``k`` item indices per history, best first, never an item of that history; -1 pads short rows.

    Order: items with a transition score by ``score + TIE_BREAK * popularity / max popularity``, then
    the most popular remaining items (exact ties at the k-th place are broken deterministically). Large
    catalogues are scored on the sparse reachable items only, so cost follows the number of reachable
    items, not the catalogue size.
    """
    popularity = ranker.popularity
    by_popularity = np.lexsort((np.arange(len(popularity)), -popularity))  # most popular first, then index
    bonus = TIE_BREAK * popularity / max(float(popularity.max(initial=0.0)), 1.0)
    out = np.full((len(histories), k), -1, dtype=np.int64)
    for start in range(0, len(histories), CHUNK_ROWS):
        chunk = histories[start : start + CHUNK_ROWS]
        out[start : start + len(chunk)] = _chunk_top_k(ranker, chunk, k, bonus, by_popularity)
    return out


def _chunk_top_k(
    ranker: Ranker, chunk: Sequence[np.ndarray], k: int, bonus: np.ndarray, by_popularity: np.ndarray
) -> np.ndarray:
    n_rows = len(chunk)
    best = np.full((n_rows, k), -1, dtype=np.int64)
    if isinstance(ranker, TransitionPreranker):
        scores = ranker.transitions(chunk)
        seen_rows = _rows_and_offsets([len(h) for h in chunk])[0]
        seen_cols = np.concatenate(chunk)
        if scores.shape[1] <= DENSE_ITEMS:  # small catalogue: dense keys, unreachable items left to the fill
            dense = scores.toarray()
            keys = np.where(dense > 0, dense + bonus, -np.inf)
            keys[seen_rows, seen_cols] = -np.inf
            items = np.broadcast_to(np.arange(scores.shape[1]), keys.shape)
        else:  # large catalogue: reachable items only, padded; the popularity fill below completes short rows
            seen = sp.csr_matrix((np.ones(len(seen_rows), dtype=np.float32), (seen_rows, seen_cols)), scores.shape)
            seen.data[:] = 1.0  # an item seen twice was summed to 2; a mask must stay 0/1
            scores = (scores - scores.multiply(seen)).tocsr()
            scores.eliminate_zeros()
            lengths = np.diff(scores.indptr)
            row_of, slot = _rows_and_offsets(lengths)
            keys = np.full((n_rows, max(int(lengths.max(initial=0)), k)), -np.inf)
            items = np.full(keys.shape, -1, dtype=np.int64)
            keys[row_of, slot] = scores.data + bonus[scores.indices]
            items[row_of, slot] = scores.indices
        part = np.argpartition(-keys, k - 1, axis=1)[:, :k]
        part_keys = np.take_along_axis(keys, part, axis=1)
        order = np.lexsort((np.take_along_axis(items, part, axis=1), -part_keys))  # key desc, then item index
        best = np.take_along_axis(items, np.take_along_axis(part, order, axis=1), axis=1).copy()
        best[np.take_along_axis(part_keys, order, axis=1) == -np.inf] = -1
        kth = part_keys.min(axis=1, keepdims=True)
        for r in np.flatnonzero(((keys >= kth) & (keys > -np.inf)).sum(axis=1) > k):  # ties at the k-th place
            tied = np.flatnonzero(keys[r] >= kth[r])
            best[r] = items[r][tied[np.lexsort((items[r][tied], -keys[r][tied]))][:k]]
    for r in np.flatnonzero((best < 0).any(axis=1)):  # too few reachable items: fill by popularity
        taken = set(chunk[r].tolist()) | set(best[r][best[r] >= 0].tolist())
        filled = [i for i in best[r] if i >= 0]
        for item in by_popularity:
            if len(filled) == k:
                break
            if int(item) not in taken:
                filled.append(int(item))
        best[r, : len(filled)] = filled
    return best


def candidate_lists(
    sequences: dict[str, np.ndarray],
    examples: Sequence[Example],
    n_items: int,
    k: int = 10,
    folds: int = 5,
    seed: int = 0,
    ranker: type[TransitionPreranker] | type[PopularityRanker] = TransitionPreranker,
    progress: bool = False,
    train_lengths: dict[str, int] | None = None,
) -> np.ndarray:
    """Candidates (item indices, ``len(examples) x k``, -1 padded) under the no-leak rules above.

    ``train_lengths`` (a time split's training prefix per user) replaces leave-one-out's ``sequence[:-2]``.
    """
    train = {u: s[:-2] if train_lengths is None else s[: train_lengths[u]] for u, s in sequences.items()}
    users = sorted(sequences)
    fold_of = dict(zip(users, np.random.default_rng(seed).permutation(len(users)) % folds, strict=True))
    out = np.full((len(examples), k), -1, dtype=np.int64)
    groups: dict[int, list[int]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(-1 if ex.split != "train" else int(fold_of[ex.user_id]), []).append(i)
    bar = tqdm(total=len(examples), desc=f"candidates ({ranker.__name__})", unit="example", disable=not progress)
    for group, idx in sorted(groups.items()):
        fit_on = [s for u, s in train.items() if group == -1 or fold_of[u] != group]
        model = ranker().fit(fit_on, n_items)
        histories = [sequences[examples[i].user_id][: examples[i].position] for i in idx]
        out[idx] = top_k(model, histories, k)
        bar.update(len(idx))
    bar.close()
    return out


def recall_ndcg(candidates: np.ndarray, targets: np.ndarray, k: int = 10) -> dict[str, float]:
    """Recall@k and NDCG@k of one target per row (rank r: recall 1[r <= k], NDCG 1/log2(r + 1))."""
    if len(targets) == 0:
        return {f"recall@{k}": 0.0, f"ndcg@{k}": 0.0, "n": 0}
    hits = candidates[:, :k] == targets[:, None]
    ranks = np.argmax(hits, axis=1) + 1
    found = hits.any(axis=1)
    ndcg = np.where(found, 1.0 / np.log2(ranks + 1), 0.0)
    return {f"recall@{k}": float(found.mean()), f"ndcg@{k}": float(ndcg.mean()), "n": int(len(targets))}
