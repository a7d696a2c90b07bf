"""Unique SIDs from nearest codes: a distinct last code within each prefix, then overflow up the code tree.

Random last level (GR2 section 2): items that share the first L-1 codes (a "prefix") get distinct
last codes. Within each shared prefix the items are visited in a seeded random order and each takes
the nearest last-level code no earlier item of that prefix (and no reserved item) holds. Items alone
in their prefix keep their nearest code, so most SIDs stay semantic.

Overflow: a prefix has only C last codes. Items past the C-th of a prefix (skewed catalogues put
hundreds of near-identical items under one prefix) move to the nearest sibling prefix, the one that
differs only in level L-2, that still has a free last code, and take its nearest free code. When all
C siblings are full too (C^2 items under one L-2 prefix: a catalogue that drifted since the fit piles
new items into a few branches), the item escapes one level further up, keeps its first L-3 codes and
descends again, nearest code with a free SID below at each level; and so on up to level 0. The SID
keeps its length and vocabulary (no extra token per item) and as many leading codes as the tree's
room allows; an item collides only when all C^L SIDs are taken.

``reserved`` codes (the items of an existing SID map) are never changed: new items avoid them.
"""

from __future__ import annotations

import numpy as np

GROUP_BATCH = 65536  # prefixes resolved together: a [65536, 256] taken-mask is 16 MiB
SPILL_CHUNK = 65536  # overflow items whose first-level distances are computed together


def row_keys(codes: np.ndarray, codebook_size: int) -> np.ndarray:
    """One int64 per row, equal exactly when the rows are equal (base-C number, or ranks when that overflows)."""
    if not arithmetic_keys(codes.shape[1], codebook_size):
        return np.unique(codes, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)
    key = np.zeros(len(codes), dtype=np.int64)
    for level in range(codes.shape[1]):
        key = key * codebook_size + codes[:, level]
    return key


def arithmetic_keys(levels: int, codebook_size: int) -> bool:
    """Whether a base-C key of ``levels`` codes fits an int64 (4 x 256 does; 8 x 1024 does not)."""
    return codebook_size**levels < 2**63


def prefix_keys(codes: np.ndarray, codebook_size: int) -> np.ndarray:
    """``row_keys`` of the first L-1 codes: items with equal keys share a prefix."""
    return row_keys(codes[:, :-1], codebook_size)


def unique_codes(codes: np.ndarray, residual: np.ndarray, books: np.ndarray, *, seed: int,
                 reserved: np.ndarray | None = None) -> np.ndarray:
    """Final ``[n, L]`` codes from nearest ``codes``: distinct last codes per prefix, overflow spilled up the tree.

    ``residual [n, d]`` is what the last level quantises, ``books [L, C, d]`` the codebooks and
    ``reserved [m, L]`` codes already held by other items, which new items avoid.
    """
    reserved = np.empty((0, codes.shape[1]), dtype=np.int64) if reserved is None else reserved
    out = codes.copy()
    out[:, -1], overflow = unique_last_level(codes, residual, books[-1], seed=seed, reserved=reserved)
    if len(overflow) and codes.shape[1] > 1 and arithmetic_keys(codes.shape[1], books.shape[1]):
        spill(out, overflow, residual, books, reserved)
    return out


def unique_last_level(codes: np.ndarray, residual: np.ndarray, book: np.ndarray, *, seed: int,
                      reserved: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(last-level codes, rows that found their prefix full): distinct codes within every prefix.

    ``residual [n, d]`` is what the last level quantises; ``book [C, d]`` its codebook. Rows past the
    free capacity of their prefix keep their nearest code and are returned as overflow.
    """
    c = book.shape[0]
    last = codes[:, -1].copy()
    reserved = np.empty((0, codes.shape[1]), dtype=np.int64) if reserved is None else reserved
    both = np.concatenate([reserved, codes])  # keyed together so rank keys (huge codebooks) agree
    all_prefix, all_full = prefix_keys(both, c), row_keys(both, c)
    # only prefixes where a row shares its nearest full code (with a row or a reserved item) need work
    _, inverse, counts = np.unique(all_full, return_inverse=True, return_counts=True)
    shared = (counts[inverse.reshape(-1)] > 1)[len(reserved):]
    keys, reserved_keys = all_prefix[len(reserved):], all_prefix[: len(reserved)]
    clashing = np.unique(keys[shared])
    if len(clashing) == 0:
        return last, np.empty(0, dtype=np.int64)
    involved = np.flatnonzero(np.isin(keys, clashing))
    order = involved[np.argsort(keys[involved], kind="stable")]
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], len(order)]
    rng = np.random.default_rng(seed)
    members = np.concatenate([rng.permutation(order[s:e]) for s, e in zip(starts, ends, strict=True)])
    group = np.repeat(np.arange(len(starts)), ends - starts)
    rank = np.arange(len(members)) - starts[group]
    held = np.isin(reserved_keys, clashing)
    held_group, held_last = np.searchsorted(clashing, reserved_keys[held]), reserved[held, -1]
    capacity = c - np.bincount(held_group, minlength=len(starts))
    fits = rank < capacity[group]
    book_sq = (book * book).sum(1)
    for g0 in range(0, len(starts), GROUP_BATCH):
        g1 = min(g0 + GROUP_BATCH, len(starts))
        span = slice(starts[g0], ends[g1 - 1])
        rows, grp, rk = members[span][fits[span]], group[span][fits[span]] - g0, rank[span][fits[span]]
        if len(rows) == 0:  # every prefix of the batch already full with reserved items: all overflow
            continue
        taken = np.zeros((g1 - g0, c), dtype=bool)
        mine = (held_group >= g0) & (held_group < g1)
        taken[held_group[mine] - g0, held_last[mine]] = True
        # round r: the r-th member of every prefix in the batch takes its nearest free code
        by_rank = np.argsort(rk, kind="stable")
        bounds = np.searchsorted(rk[by_rank], np.arange(int(rk.max()) + 2))
        for r in range(len(bounds) - 1):
            pick = by_rank[bounds[r] : bounds[r + 1]]
            items, g = rows[pick], grp[pick]
            dist = book_sq - 2 * residual[items] @ book.T
            dist[taken[g]] = np.inf
            code = dist.argmin(1)
            last[items] = code
            taken[g, code] = True
    return last, members[~fits]


def spill(codes: np.ndarray, overflow: np.ndarray, residual: np.ndarray, books: np.ndarray,
          reserved: np.ndarray) -> np.ndarray:
    """Give each ``overflow`` row (in order) a free SID near its own, in place; returns the codes each one kept.

    First pass: the nearest sibling prefix (differs only in level L-2) with a free last code, "nearest"
    ranking the level-(L-2) codes by distance to the residual entering that level. Rows that find all
    C siblings full escape one level up in a later pass: keep the first L-3 codes and descend, at each
    level taking the nearest code whose subtree still holds a free SID, and so on up to level 0. The
    result per row is how many leading codes it kept (L-2 for a sibling, fewer for an escape), -1 for a
    row that found no free SID at all (more than C^L items) and keeps its colliding codes.
    """
    c, levels = books.shape[1], codes.shape[1]
    squares = (books * books).sum(2)
    kept = np.full(len(overflow), -1)
    for top in range(levels - 2, -1, -1):
        waiting = np.flatnonzero(kept < 0)
        if len(waiting) == 0:
            break
        held = np.ones(len(codes), dtype=bool)
        held[overflow[waiting]] = False  # every other row, placed by an earlier pass included, holds its SID
        occupancy = Occupancy(np.unique(row_keys(np.concatenate([reserved, codes[held]]), c)), levels, c)
        for i0 in range(0, len(waiting), SPILL_CHUNK):
            pending = waiting[i0 : i0 + SPILL_CHUNK]
            rows = overflow[pending]
            entering = residual[rows] + books[np.arange(top, levels - 1), codes[rows, top:-1]].sum(1)
            first = squares[top] - 2 * entering @ books[top].T  # batched: the ranking of the first free level
            parents = row_keys(codes[rows, :top], c).tolist() if top else [0] * len(rows)
            for j, row, parent, r, dist in zip(pending.tolist(), rows.tolist(), parents, entering, first, strict=True):
                path = occupancy.descend(parent, top, r, dist, books, squares)
                if path is not None:
                    codes[row, top:] = path
                    kept[j] = top
    return kept


class Occupancy:
    """Distinct SIDs held under prefixes of one pass: the sorted keys held before it plus those it hands out.

    For the C children of a prefix of ``depth`` codes it keeps the held SIDs under each and a penalty
    (0, or inf once the child's subtree is full) that is added to distances, built on first use from
    the sorted keys and kept current by ``descend``, which updates only the prefixes below its ``top``:
    a pass that escapes further up starts a new ``Occupancy``.
    """

    def __init__(self, held: np.ndarray, levels: int, codebook_size: int):
        self.held, self.levels, self.c = held, levels, codebook_size
        self.spans = [codebook_size ** (levels - depth - 1) for depth in range(levels)]  # SIDs under a child
        self.fill: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def children(self, depth: int, parent: int) -> tuple[np.ndarray, np.ndarray]:
        """(held SIDs ``[C]``, penalty ``[C]``) of each child ``parent * C + k`` of the prefix ``parent``."""
        fill = self.fill.get((depth, parent))
        if fill is None:
            span = self.spans[depth]
            counts = np.diff(np.searchsorted(self.held, (parent * self.c + np.arange(self.c + 1)) * span))
            fill = self.fill[(depth, parent)] = counts, np.where(counts >= span, np.inf, 0).astype(np.float32)
        return fill

    def descend(self, parent: int, top: int, residual: np.ndarray, first: np.ndarray, books: np.ndarray,
                squares: np.ndarray) -> list[int] | None:
        """Codes for levels ``top..L-1`` under ``parent``, nearest first among subtrees with a free SID; held.

        ``residual`` enters level ``top``, ``first`` is its distance to each level-``top`` code. ``None``
        when every child of ``parent`` is full.
        """
        path, fills = [], []
        for depth in range(top, self.levels):
            dist = (first if depth == top else squares[depth] - 2 * books[depth] @ residual)
            fill = self.children(depth, parent)
            dist = dist + fill[1]
            code = int(dist.argmin())
            if dist[code] == np.inf:  # every child full (only possible at ``top``: a parent chosen below has room)
                return None
            path.append(code)
            fills.append(fill)
            parent = parent * self.c + code
            residual = residual - books[depth][code]
        for (counts, penalty), code, span in zip(fills, path, self.spans[top:], strict=True):
            counts[code] += 1
            if counts[code] >= span:
                penalty[code] = np.inf
        return path
