"""The pre-ranker: picks the K candidates of every example when the user brings no candidate lists.

``TransitionPreranker`` is a windowed item-transition model (a sequential item-KNN) on scipy sparse
matrices. Fitting counts, over training sequences, how often item j follows item i within
``window`` steps (weight ``decay ** (gap - 1)``), adds ``backward`` times the reverse direction,
and damps each row by ``(row sum + 1) ** damping`` so hub items do not dominate. A user is scored
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

from data_prep.interactions import Example

CHUNK_CELLS = 1 << 23  # dense score cells per chunk (8M float32 = 32 MB) bounds memory on big catalogues
TIE_BREAK = 1e-6  # popularity weight under the transition scores: orders ties and cold users


@dataclass
class PopularityRanker:
    """Most-interacted training items first (the baseline the pre-ranker must beat)."""

    popularity: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    def fit(self, sequences: Sequence[np.ndarray], n_items: int) -> PopularityRanker:
        flat = np.concatenate(sequences) if sequences else np.zeros(0, dtype=np.int64)
        self.popularity = np.bincount(flat, minlength=n_items).astype(np.float32)
        return self

    def scores(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        return np.broadcast_to(self.popularity, (len(histories), len(self.popularity))).copy()


@dataclass
class TransitionPreranker:
    """Windowed item-transition scores from the most recent history items (see the module docstring)."""

    window: int = 5
    decay: float = 0.7
    backward: float = 0.5
    damping: float = 0.8
    recent: int = 10
    recency: float = 0.8
    matrix: sp.csr_matrix | None = None
    popularity: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    def settings(self) -> dict[str, float]:
        """The hyper-parameters, for the summary."""
        return {f: getattr(self, f) for f in ("window", "decay", "backward", "damping", "recent", "recency")}

    def fit(self, sequences: Sequence[np.ndarray], n_items: int) -> TransitionPreranker:
        rows, cols, vals = [], [], []
        for seq in sequences:
            for gap in range(1, min(self.window, len(seq) - 1) + 1):
                rows.append(seq[:-gap])
                cols.append(seq[gap:])
                vals.append(np.full(len(seq) - gap, self.decay ** (gap - 1), dtype=np.float32))
        if rows:
            r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        else:
            r = c = np.zeros(0, dtype=np.int64)
            v = np.zeros(0, dtype=np.float32)
        forward = sp.csr_matrix((v, (r, c)), shape=(n_items, n_items), dtype=np.float32)
        counts = (forward + self.backward * forward.T).tocsr()
        damp = 1.0 / np.power(np.asarray(counts.sum(axis=1)).ravel() + 1.0, self.damping)
        self.matrix = sp.diags(damp.astype(np.float32)) @ counts
        self.popularity = PopularityRanker().fit(sequences, n_items).popularity
        return self

    def scores(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        rows, cols, vals = [], [], []
        for i, hist in enumerate(histories):
            last = hist[-self.recent :][::-1]
            rows.append(np.full(len(last), i))
            cols.append(last)
            vals.append(self.recency ** np.arange(len(last), dtype=np.float32))
        n = self.matrix.shape[0]
        weights = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(histories), n)
        )
        out = (weights @ self.matrix).toarray()
        out += TIE_BREAK * self.popularity / max(float(self.popularity.max(initial=0.0)), 1.0)
        return out


Ranker = TransitionPreranker | PopularityRanker


def top_k(ranker: Ranker, histories: Sequence[np.ndarray], k: int) -> np.ndarray:
    """Top-``k`` item indices per history, best first, never an item of that history; -1 pads short rows."""
    n_items = len(ranker.popularity)
    out = np.full((len(histories), k), -1, dtype=np.int64)
    step = max(1, CHUNK_CELLS // max(n_items, 1))
    for start in range(0, len(histories), step):
        chunk = histories[start : start + step]
        scores = ranker.scores(chunk).astype(np.float32, copy=False)
        seen_rows = np.concatenate([np.full(len(h), i) for i, h in enumerate(chunk)])
        scores[seen_rows, np.concatenate(chunk)] = -np.inf
        kk = min(k, n_items)
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.lexsort((part, -part_scores))  # score descending, then item index: deterministic
        best = np.take_along_axis(part, order, axis=1)
        best[np.take_along_axis(part_scores, order, axis=1) == -np.inf] = -1
        out[start : start + len(chunk), :kk] = best
    return out


def candidate_lists(
    sequences: dict[str, np.ndarray],
    examples: Sequence[Example],
    n_items: int,
    k: int = 10,
    folds: int = 5,
    seed: int = 0,
    ranker: type[TransitionPreranker] | type[PopularityRanker] = TransitionPreranker,
) -> np.ndarray:
    """Candidates (item indices, ``len(examples) x k``, -1 padded) under the no-leak rules above."""
    train = {u: s[:-2] for u, s in sequences.items()}
    users = sorted(sequences)
    fold_of = dict(zip(users, np.random.default_rng(seed).permutation(len(users)) % folds, strict=True))
    out = np.full((len(examples), k), -1, dtype=np.int64)
    groups: dict[int, list[int]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(-1 if ex.split != "train" else int(fold_of[ex.user_id]), []).append(i)
    for group, idx in sorted(groups.items()):
        fit_on = [s for u, s in train.items() if group == -1 or fold_of[u] != group]
        model = ranker().fit(fit_on, n_items)
        histories = [sequences[examples[i].user_id][: examples[i].position] for i in idx]
        out[idx] = top_k(model, histories, k)
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
