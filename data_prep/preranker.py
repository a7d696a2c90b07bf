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

Cost: fitting and top-K are array passes with no loop over users, rows or items (``_keep_top`` is one
sort over the hub items' entries; top-K one sparse product per 4096 histories, which also scores their
seen items -inf, then a partition of block maxima). It follows the reachable items per history
(~``recent * neighbours`` at most: ~720 on the synthetic 1M log): the sparse product, not the catalogue
size, sets the time (~60% of top-K on the 1M log). Chunks are scored on ``THREADS`` threads: scipy's sparse
product and numpy's sorts release the GIL, and each chunk's rows are independent, so the result is the same
on any thread count. A fit runs on one core: the next fold's model is fit while the current fold's top-K runs.
A fit counts a block of items at a time and keeps the forward counts (8 bytes per distinct transition, which
grow with the log) on disk between its two passes; the model kept is bounded by ``neighbours`` an item.
Candidates go to files as they are scored (``candidate_store``), so memory does not grow with the examples.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from data_prep.candidate_store import CandidateStore
from data_prep.interactions import FLAT_VALUES, Examples, ExampleSplits, Ragged

CHUNK_ROWS = 4096  # histories scored at once: bounds the sparse product and the padded key matrix
TIE_BREAK = 1e-6  # popularity weight under the transition scores: orders ties and cold users
DENSE_ITEMS = 4096  # up to this catalogue size a dense key matrix per chunk is cheaper than sparse bookkeeping
# top-K chunks scored at once: one per core this process may use (macOS has no sched_getaffinity)
THREADS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
TOP_ENTRIES = 1_000_000  # matrix entries ``_keep_top`` sorts at once: bounds a fit's scratch memory
FIT_PAIRS = 4_000_000  # item pairs (both directions) a fit counts at once (~20 bytes each while counted)
SCORE_ROWS = 1 << 20  # examples made at once (~13 bytes each) to find a group's histories, scored a chunk at a time
_ENTRY = np.dtype([("row", np.int32), ("col", np.int32), ("value", np.float32)])  # a saved forward count
BLOCK = 8  # scores a block maximum stands for when bounding a row's k-th score (a cheap partition of 1/8 the size)


@dataclass
class PopularityRanker:
    """Most-interacted training items first (the baseline the pre-ranker must beat)."""

    popularity: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    def fit(self, sequences: Ragged | Sequence[np.ndarray], n_items: int) -> PopularityRanker:
        self.popularity = np.bincount(_ragged(sequences).flat(), minlength=n_items).astype(np.float32)
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

    def fit(
        self, sequences: Ragged | Sequence[np.ndarray], n_items: int, folder: str | Path | None = None
    ) -> TransitionPreranker:
        """Count, damp and cut the transitions a block of items (rows) at a time, with the forward counts on disk
        between two passes (in a temporary folder in ``folder``, default the system's): memory follows the
        block and 1 byte a sequence value (``_in_place``), not the distinct transitions, which grow with the log.

        Pass 1 counts each block's forward rows, saves them, and files their entries by column block (the rows
        of the transpose: the backward direction). Pass 2 reads a block's forward rows and its transposed rows
        back, adds, damps and cuts them. Every row sees its pairs, and its entries, in the order one pass over
        all items would, so the model is the same bit for bit as one built in a single block."""
        values, ahead = _in_place(_ragged(sequences), self.window)
        counts = _counts(values, ahead, n_items)
        # a row's forward pairs, and its backward ones, are at most ``window`` times its count each
        blocks = _blocks(counts * (2 * self.window), FIT_PAIRS) or [slice(0, 0)]
        starts = np.array([rows.start for rows in blocks])
        with tempfile.TemporaryDirectory(prefix=".gr2-fit-", dir=folder) as scratch:
            for n, rows in enumerate(blocks):
                _save_forward(self._forward(values, ahead, rows, n_items), Path(scratch), n, rows.start, starts)
            del values, ahead
            parts = [self._damped_top(*_saved_rows(Path(scratch), n, rows)) for n, rows in enumerate(blocks)]
        self.matrix = _stacked(parts, n_items)
        self.popularity = counts.astype(np.float32)
        return self

    def _forward(self, values: np.ndarray, ahead: np.ndarray, rows: slice, n_items: int) -> sp.csr_matrix:
        """Rows ``rows`` of the forward counts: how often item j follows item i within ``window`` steps, weighted
        ``decay ** (gap - 1)`` (pairs listed gap by gap, each in sequence order; ``_in_place``)."""
        lo, hi = rows.start, rows.stop
        r, c, v = [], [], []
        for gap in range(1, self.window + 1):
            first = values[:-gap]
            keep = ahead[:-gap] >= gap  # (i, i + gap) in one sequence
            keep &= first >= lo
            keep &= first < hi
            r.append(first[keep] - lo)
            c.append(values[gap:][keep])
            v.append(np.full(len(r[-1]), self.decay ** (gap - 1), dtype=np.float32))
        coo = (np.concatenate(v), (np.concatenate(r), np.concatenate(c)))
        return sp.csr_matrix(coo, shape=(hi - lo, n_items), dtype=np.float32)

    def _damped_top(self, forward: sp.csr_matrix, forward_t: sp.csr_matrix) -> sp.csr_matrix:
        """Rows of ``forward + backward * forward.T``, each damped by ``(row sum + 1) ** damping`` and cut to its
        ``neighbours`` strongest entries."""
        counts = (forward + self.backward * forward_t).tocsr()
        # float32 powers one scalar at a time (libm's powf), not numpy's array loop: its AVX-512 version rounds
        # some powers differently, which would change candidates from one CPU to another
        sums = np.asarray(counts.sum(axis=1)).ravel() + np.float32(1.0)
        damping = np.float32(self.damping)
        damp = 1.0 / np.array([x**damping for x in sums], dtype=np.float32)
        return _keep_top(sp.diags(damp) @ counts, self.neighbours)

    def recent_weights(self, histories: Ragged) -> sp.csr_matrix:
        """Each history's ``recent`` last items as a row (the l-th most recent weighted ``recency ** (l - 1)``)."""
        last = histories.suffixes(self.recent)
        rows, steps = last.owners()
        steps = last.lengths[rows] - 1 - steps  # 0 = the most recent item
        order = np.lexsort((steps, rows))  # per row most recent first, as the scores were always summed
        rows, steps = rows[order], steps[order]
        items = last.values[last.starts[rows] + last.lengths[rows] - 1 - steps]
        # float32 scalar powers (libm), not numpy's array loop: same bits on every CPU (see ``fit``)
        powers = np.array([np.float32(self.recency) ** np.float32(s) for s in range(self.recent)], dtype=np.float32)
        weights = powers[steps]
        return sp.csr_matrix((weights, (rows, items)), shape=(len(histories), len(self.popularity)))

    def transitions(self, histories: Ragged) -> sp.csr_matrix:
        """Transition scores (rows: histories, columns: items); only items reachable from the history are stored."""
        return (self.recent_weights(histories) @ self.matrix).tocsr()


Ranker = TransitionPreranker | PopularityRanker


def _in_place(seqs: Ragged, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The fit's view of the sequences: (values, ahead), ``ahead[i]`` the values after ``i`` in its row, at most
    ``window``, -1 outside every row. Rows in order over a shared array (the training prefixes) are read in
    place, 1 byte a value of the array instead of a copy and an owner per training value (8 bytes); others are
    copied first. Either way the pairs come in the order of one concatenated copy."""
    used = seqs.lengths > 0
    starts, lengths = seqs.starts[used], seqs.lengths[used]
    if not (starts[1:] >= starts[:-1] + lengths[:-1]).all():  # overlapping or out of order: a compact copy
        values = seqs.flat()
        starts, lengths = np.cumsum(lengths) - lengths, lengths
    else:
        values = seqs.values
    ahead = np.full(len(values), -1, dtype=np.int8 if window < 128 else np.int64)
    for block in _blocks(lengths, FLAT_VALUES):  # rows of ~``FLAT_VALUES`` values at a time
        rows, offsets = Ragged(values, starts[block], lengths[block]).owners()
        ahead[starts[block][rows] + offsets] = np.minimum(lengths[block][rows] - 1 - offsets, window)
    return values, ahead


def _counts(values: np.ndarray, ahead: np.ndarray, n_items: int) -> np.ndarray:
    """Occurrences of each item in the rows (``_in_place``), ``FLAT_VALUES`` at a time."""
    counts = np.zeros(n_items, dtype=np.int64)
    for a in range(0, len(values), FLAT_VALUES):
        counts += np.bincount(values[a : a + FLAT_VALUES][ahead[a : a + FLAT_VALUES] >= 0], minlength=n_items)
    return counts


def _save_forward(forward: sp.csr_matrix, folder: Path, n: int, first_row: int, starts: np.ndarray) -> None:
    """Block ``n`` of the forward counts (its first row ``first_row``) saved as is, and its entries appended to the
    file of their column's block (blocks start at ``starts``): that file becomes the block's transposed rows."""
    sp.save_npz(folder / f"forward{n}.npz", forward, compressed=False)
    rows = np.repeat(np.arange(first_row, first_row + forward.shape[0], dtype=np.int32), np.diff(forward.indptr))
    entries = np.rec.fromarrays([rows, forward.indices, forward.data], dtype=_ENTRY)
    by_block = np.searchsorted(starts, forward.indices, side="right") - 1  # the column's block
    order = np.argsort(by_block, kind="stable")
    ends = np.searchsorted(by_block[order], np.arange(len(starts) + 1))
    for m in np.flatnonzero(np.diff(ends)).tolist():
        with open(folder / f"transposed{m}.bin", "ab") as f:
            entries[order[ends[m] : ends[m + 1]]].tofile(f)


def _saved_rows(folder: Path, n: int, rows: slice) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Block ``n``'s forward rows and the same rows of the transpose, read back."""
    forward = sp.load_npz(folder / f"forward{n}.npz")
    path = folder / f"transposed{n}.bin"
    entries = np.fromfile(path, dtype=_ENTRY) if path.exists() else np.zeros(0, dtype=_ENTRY)
    # one entry per (row, column): the summed forward counts, moved, not summed again
    transposed = sp.csr_matrix((entries["value"], (entries["col"] - rows.start, entries["row"])),
                               shape=forward.shape, dtype=np.float32)  # fmt: skip
    return forward, transposed


def _stacked(parts: list[sp.csr_matrix], n_cols: int) -> sp.csr_matrix:
    """``sp.vstack(parts)``, emptying ``parts`` as it goes: each block is dropped once copied, and the result's
    pages are only committed as they are written, so the model is in memory about once, not twice."""
    nnz = sum(p.nnz for p in parts)
    index = np.int32 if max(nnz, n_cols) < 2**31 else np.int64
    data, indices = np.empty(nnz, dtype=np.float32), np.empty(nnz, dtype=index)
    indptr = np.zeros(sum(p.shape[0] for p in parts) + 1, dtype=index)
    row = at = 0
    while parts:
        part = parts.pop(0)
        data[at : at + part.nnz], indices[at : at + part.nnz] = part.data, part.indices
        indptr[row + 1 : row + 1 + part.shape[0]] = part.indptr[1:] + at
        row, at = row + part.shape[0], at + part.nnz
    return sp.csr_matrix((data, indices, indptr), shape=(row, n_cols))


def _blocks(lengths: np.ndarray, size: int) -> list[slice]:
    """Consecutive rows in blocks of about ``size`` values (a row is never split)."""
    ends = np.searchsorted(np.cumsum(lengths), np.arange(size, int(lengths.sum()), size), side="right")
    bounds = [0, *np.unique(ends).tolist(), len(lengths)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def _ragged(sequences: Ragged | Sequence[np.ndarray]) -> Ragged:
    return sequences if isinstance(sequences, Ragged) else Ragged.from_rows(list(sequences))


def _keep_top(matrix: sp.spmatrix, n: int) -> sp.csr_matrix:
    """Keep the ``n`` largest entries of each row (ties: lower column first): bounds the cost of scoring.

    Rows are cut a block of about ``TOP_ENTRIES`` entries at a time (``_top_entries``), so the sort's scratch
    arrays follow the block, not the matrix.
    """
    matrix = sp.csr_matrix(matrix)
    matrix.sort_indices()
    lengths = np.diff(matrix.indptr)
    if not (lengths > n).any():
        return matrix
    keep = np.ones(matrix.nnz, dtype=bool)
    for rows in _blocks(lengths, TOP_ENTRIES):
        a, b = matrix.indptr[rows.start], matrix.indptr[rows.stop]
        keep[a:b] = _top_entries(matrix.data[a:b], lengths[rows], n)
    indptr = np.concatenate([[0], np.cumsum(np.minimum(lengths, n))])
    return sp.csr_matrix((matrix.data[keep], matrix.indices[keep], indptr), shape=matrix.shape)


def _top_entries(data: np.ndarray, lengths: np.ndarray, n: int) -> np.ndarray:
    """Which entries of consecutive rows (``lengths``, columns sorted) are among their row's ``n`` largest.

    One stable sort of the hub items' entries (rows longer than ``n``) by one int64 key, row then score
    descending: a positive float32's bits order like its value, and stability keeps a row's sorted columns in
    order among equal scores. No loop over rows.
    """
    keep = np.ones(len(data), dtype=bool)
    long_rows = np.repeat(lengths > n, lengths)
    if not long_rows.any():
        return keep
    rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    idx = np.flatnonzero(long_rows)
    bits = data[idx].view(np.int32).astype(np.int64)  # scores are > 0: bits ascend with the value
    order = idx[np.argsort((rows[idx] << 32) - bits, kind="stable")]
    row_sorted = rows[order]
    first = np.searchsorted(row_sorted, row_sorted, side="left")  # row_sorted ascends: its run's start
    keep[order[np.arange(len(order)) - first >= n]] = False
    return keep


def top_k(ranker: Ranker, histories: Ragged | Sequence[np.ndarray], k: int) -> np.ndarray:
    """Top-``k`` item indices per history, best first, never an item of that history; -1 pads short rows.

    Order: items with a transition score by ``score + TIE_BREAK * popularity / max popularity`` (float32;
    ties: lower index first), then the most popular remaining items. Only the reachable items of each history
    are scored (a sparse product), so cost follows the number of reachable items, not the catalogue size.
    """
    hist = _ragged(histories)
    out = np.full((len(hist), k), -1, dtype=np.int64)
    for start, found in _top_k_chunks(_scorer(ranker, k), hist):
        out[start : start + len(found)] = found
    return out


def _scorer(ranker: Ranker, k: int) -> Callable[[Ragged], np.ndarray]:
    """``top_k`` of one chunk of histories by ``ranker`` (what is shared between chunks is computed once)."""
    popularity = ranker.popularity
    by_popularity = np.lexsort((np.arange(len(popularity)), -popularity))  # most popular first, then index
    bonus = TIE_BREAK * popularity / max(float(popularity.max(initial=0.0)), 1.0)
    penalised = None
    if isinstance(ranker, TransitionPreranker) and ranker.matrix.shape[0] > DENSE_ITEMS:
        penalised = _with_seen_penalty(ranker.matrix)
        ranker = replace(ranker, matrix=None)  # scores come from ``penalised``: the caller's model may go

    def best(chunk: Ragged) -> np.ndarray:
        found = np.full((len(chunk), k), -1, dtype=np.int64)
        if penalised is not None:
            found = _best_sparse(ranker, penalised, chunk, k, bonus)
        elif isinstance(ranker, TransitionPreranker):
            found = _best_dense(ranker, chunk, k, bonus)
        return _fill_by_popularity(found, chunk, by_popularity)

    return best


def _top_k_chunks(best: Callable[[Ragged], np.ndarray], hist: Ragged) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, top-K rows) per ``CHUNK_ROWS`` histories, in order, scored on ``THREADS`` threads."""
    starts = range(0, len(hist), CHUNK_ROWS)
    with ThreadPoolExecutor(THREADS) as pool:
        yield from zip(starts, pool.map(lambda s: best(hist.take(slice(s, s + CHUNK_ROWS))), starts), strict=True)


def _best_dense(ranker: TransitionPreranker, chunk: Ragged, k: int, bonus: np.ndarray) -> np.ndarray:
    """Up to ``k`` reachable, unseen items per history by (key desc, index asc) from a dense key matrix."""
    scores = ranker.transitions(chunk)
    seen_rows, _ = chunk.owners()
    dense = scores.toarray()
    keys = np.where(dense > 0, dense + bonus, -np.inf).astype(np.float32)  # 0: unreachable
    keys.ravel()[seen_rows * scores.shape[1] + chunk.flat()] = -np.inf
    kth = -np.partition(-keys, k - 1, axis=1)[:, k - 1]  # the k-th largest key (-inf: fewer reachable)
    rows, items = np.nonzero((keys >= kth[:, None]) & (keys > -np.inf))
    return _ranked(rows, items, keys[rows, items], len(chunk), k)


def _with_seen_penalty(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """``matrix`` over ``-inf`` times the identity: rows ``n + i`` give item ``i`` the score ``-inf`` (seen)."""
    n = matrix.shape[0]
    return sp.vstack([matrix, sp.diags(np.full(n, -np.inf, dtype=np.float32))], format="csr")


def _best_sparse(
    ranker: TransitionPreranker, penalised: sp.csr_matrix, chunk: Ragged, k: int, bonus: np.ndarray
) -> np.ndarray:
    """Up to ``k`` reachable, unseen items per history by (key desc, index asc); -1 where fewer are reachable.

    Seen items: one product ``[recent weights | history indicator] @ [matrix ; -inf * identity]`` scores every
    history item ``-inf``, with no membership test over the reachable entries; the other items' sums are the
    transition scores, summed in the same order (the indicator columns follow the weight columns and add
    nothing to them). Top ``k``: the rows' entries are cut into blocks of ``BLOCK`` and ``s_k``, a row's k-th
    largest block maximum, is at most its k-th largest score; a key ``fl32(s + bonus)`` can reach the k-th
    largest key only if ``fl32(s + max bonus) >= s_k`` (float32 addition is monotone), so only those entries
    (~k a row: the top scores mostly sit in different blocks) are keyed and sorted.
    """
    n_rows, n_items = len(chunk), penalised.shape[1]
    seen_rows, _ = chunk.owners()
    seen = sp.csr_matrix((np.ones(len(seen_rows), dtype=np.float32), (seen_rows, chunk.flat())), (n_rows, n_items))
    scores = sp.hstack([ranker.recent_weights(chunk), seen], format="csr") @ penalised
    lengths = np.diff(scores.indptr)
    n_blocks = -(-lengths // BLOCK)
    block_row = np.repeat(np.arange(n_rows), n_blocks)
    block = np.arange(len(block_row)) - (np.cumsum(n_blocks) - n_blocks)[block_row]  # its place in the row
    maxima = np.full((n_rows, max(int(n_blocks.max(initial=0)), k)), -np.inf, dtype=np.float32)  # -inf: padding
    if len(block_row):
        maxima[block_row, block] = np.maximum.reduceat(scores.data, scores.indptr[block_row] + BLOCK * block)
    kth = -np.partition(-maxima, k - 1, axis=1)[:, k - 1]
    top = bonus.max(initial=0.0)
    floor = np.where(kth > -np.inf, kth, top)  # fewer than k blocks: every reachable item (score > 0)
    at = np.flatnonzero(scores.data + top >= np.repeat(floor, lengths))  # seen items (-inf) never pass
    rows = np.searchsorted(scores.indptr, at, side="right") - 1
    items = scores.indices[at].astype(np.int64)
    return _ranked(rows, items, scores.data[at] + bonus[items], n_rows, k)


def _ranked(rows: np.ndarray, items: np.ndarray, key: np.ndarray, n_rows: int, k: int) -> np.ndarray:
    """The first ``k`` (row, item) entries per row by key desc, then item index (ties at the k-th place too)."""
    order = np.lexsort((items, -key, rows))
    rows, items = rows[order], items[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows, side="left")
    best = np.full((n_rows, k), -1, dtype=np.int64)
    best[rows[rank < k], rank[rank < k]] = items[rank < k]
    return best


def _fill_by_popularity(best: np.ndarray, chunk: Ragged, by_popularity: np.ndarray) -> np.ndarray:
    """Complete rows with -1 slots by the most popular items neither in the history nor already chosen."""
    need_rows = np.flatnonzero((best < 0).any(axis=1))
    if len(need_rows) == 0 or len(by_popularity) == 0:
        return best
    k = best.shape[1]
    hist = chunk.take(need_rows)
    width = min(len(by_popularity), int(hist.lengths.max(initial=0)) + 2 * k)  # enough unseen items for any row
    rank = np.empty(len(by_popularity), dtype=np.int64)
    rank[by_popularity] = np.arange(len(by_popularity))
    excluded = np.zeros((len(need_rows), width), dtype=bool)
    h_rows, _ = hist.owners()
    h_rank = rank[hist.flat()]
    excluded[h_rows[h_rank < width], h_rank[h_rank < width]] = True
    taken = best[need_rows]
    t_rows, t_cols = np.nonzero(taken >= 0)
    t_rank = rank[taken[t_rows, t_cols]]
    excluded[t_rows[t_rank < width], t_rank[t_rank < width]] = True
    filled = (taken >= 0).sum(axis=1)
    free = ~excluded
    slot = np.cumsum(free, axis=1) - 1 + filled[:, None]  # where each free item would go in its row
    r, c = np.nonzero(free & (slot < k))
    out = best.copy()
    out[need_rows[r], slot[r, c]] = by_popularity[c]
    return out


def fold_plan(
    sequences: Ragged, examples: Examples | ExampleSplits, folds: int, seed: int, train_lengths: np.ndarray | None
) -> tuple[Ragged, np.ndarray, np.ndarray]:
    """The no-leak rules' plan: (training prefixes per user, fold per user, model group per example).

    Group -1 (validation and test examples) is scored by the model fit on every user's training
    prefix; group ``g`` (training examples of fold ``g``'s users) by the model fit on the other folds.
    """
    train = sequences.prefixes(np.maximum(sequences.lengths - 2, 0) if train_lengths is None else train_lengths)
    fold_of = np.random.default_rng(seed).permutation(len(sequences)) % folds
    group = np.empty(len(examples), dtype=np.int16)
    for start in range(0, len(examples), SCORE_ROWS):  # the examples a block at a time: 2 bytes each kept
        part = examples.rows(start, start + SCORE_ROWS)
        group[start : start + len(part)] = np.where(part.splits != 0, -1, fold_of[part.users])
    return train, fold_of, group


def candidate_lists(
    sequences: Ragged,
    examples: Examples | ExampleSplits,
    n_items: int,
    k: int = 10,
    folds: int = 5,
    seed: int = 0,
    ranker: type[TransitionPreranker] | type[PopularityRanker] = TransitionPreranker,
    progress: bool = False,
    train_lengths: np.ndarray | None = None,
    folder: str | Path | None = None,
) -> CandidateStore:
    """Candidates (item indices, K per example, -1 padded) under the no-leak rules above, in files under
    ``folder`` (``CandidateStore``): each group's rows are written as they are scored, never all in memory.
    The fits keep their forward counts in ``folder`` too while they run; the examples are made ``SCORE_ROWS``
    at a time.

    ``sequences`` row ``u`` is user code ``u``'s sequence (codes in user-id order, which fixes the folds);
    ``train_lengths`` (a time split's training prefix per user) replaces leave-one-out's ``sequence[:-2]``.
    """
    train, fold_of, group = fold_plan(sequences, examples, folds, seed, train_lengths)
    store = CandidateStore(group, k, folder)
    bar = tqdm(total=len(examples), desc=f"candidates ({ranker.__name__})", unit="example", disable=not progress)

    def fit(g: int) -> Ranker:
        users = train if g == -1 else train.take(np.flatnonzero(fold_of != g))
        if ranker is TransitionPreranker:
            return TransitionPreranker().fit(users, n_items, folder)  # its forward counts on the candidates' disk
        return ranker().fit(users, n_items)

    # A fit runs on one core: the next group's model is fit while this group's top-K runs (the same models)
    groups = np.unique(group).tolist()
    with ThreadPoolExecutor(1) as fitter:
        upcoming = fitter.submit(fit, groups[0]) if groups else None
        for n, g in enumerate(groups):
            best = _scorer(upcoming.result(), k)
            upcoming = fitter.submit(fit, groups[n + 1]) if n + 1 < len(groups) else None
            for start in range(0, len(examples), SCORE_ROWS):
                mine = np.flatnonzero(group[start : start + SCORE_ROWS] == g)
                if len(mine) == 0:
                    continue
                part = examples.rows(start, start + SCORE_ROWS)
                hist = Ragged(sequences.values, sequences.starts[part.users[mine]], part.positions[mine])
                for _, found in _top_k_chunks(best, hist):
                    store.append(g, found)
                    bar.update(len(found))
            del best
    bar.close()
    return store


def target_ranks(candidates: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of each row's target among its candidates, 0 when it is not there."""
    hits = candidates == targets[:, None]
    return np.where(hits.any(axis=1), np.argmax(hits, axis=1) + 1, 0)


def recall_ndcg(candidates: np.ndarray, targets: np.ndarray, k: int = 10) -> dict[str, float]:
    """Recall@k and NDCG@k of one target per row (rank r: recall 1[r <= k], NDCG 1/log2(r + 1))."""
    return metrics_of_ranks(target_ranks(candidates[:, :k], targets), k)


def metrics_of_ranks(ranks: np.ndarray, k: int = 10) -> dict[str, float]:
    """``recall_ndcg`` from ``target_ranks`` (ranks of every row at once: shards of rows give the same figures)."""
    if len(ranks) == 0:
        return {f"recall@{k}": 0.0, f"ndcg@{k}": 0.0, "n": 0}
    ranks = ranks.astype(np.int64)
    found = ranks > 0
    ndcg = np.where(found, 1.0 / np.log2(np.maximum(ranks, 1) + 1), 0.0)
    return {f"recall@{k}": float(found.mean()), f"ndcg@{k}": float(ndcg.mean()), "n": int(len(ranks))}
