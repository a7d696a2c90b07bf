"""Unique SIDs from nearest codes: a distinct last code within each prefix, then overflow into sibling prefixes.

Random last level (GR2 section 2): items that share the first L-1 codes (a "prefix") get distinct
last codes. Within each shared prefix the items are visited in a seeded random order and each takes
the nearest last-level code no earlier item of that prefix (and no reserved item) holds. Items alone
in their prefix keep their nearest code, so most SIDs stay semantic.

Overflow: a prefix has only C last codes. Items past the C-th of a prefix (skewed catalogues put
hundreds of near-identical items under one prefix) move to the nearest sibling prefix, the one that
differs only in level L-2, that still has a free last code, and take its nearest free code. The SID
keeps its length and vocabulary (no extra token per item), and keeps its first L-2 levels. An item
collides only when all C siblings are full too (C^2 items under one L-2 prefix).

``reserved`` codes (the items of an existing SID map) are never changed: new items avoid them.
"""

from __future__ import annotations

import numpy as np

GROUP_BATCH = 65536  # prefixes resolved together: a [65536, 256] taken-mask is 16 MiB
SPILL_CHUNK = 65536  # overflow items whose sibling distances are computed together


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
    """Final ``[n, L]`` codes from nearest ``codes``: distinct last codes per prefix, overflow spilled to siblings.

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
          reserved: np.ndarray) -> None:
    """Move each ``overflow`` row (in order) to the nearest sibling prefix with a free last code, in place.

    A sibling differs only in level L-2; "nearest" ranks its level-(L-2) codes by distance to the
    residual before that level. Rows with no free sibling keep their (colliding) codes.
    """
    c, levels = books.shape[1], codes.shape[1]
    settled = np.ones(len(codes), dtype=bool)
    settled[overflow] = False
    held = np.unique(row_keys(np.concatenate([reserved, codes[settled]]), c))  # sorted full keys
    added: dict[int, list[int]] = {}  # prefix key -> last codes handed out here
    book2, book_last = books[-2], books[-1]
    sq2, sq_last = (book2 * book2).sum(1), (book_last * book_last).sum(1)
    base = row_keys(codes[:, : levels - 2], c) if levels > 2 else np.zeros(len(codes), dtype=np.int64)
    siblings = np.arange(c + 1)
    for i0 in range(0, len(overflow), SPILL_CHUNK):
        rows = overflow[i0 : i0 + SPILL_CHUNK]
        before2 = residual[rows] + book2[codes[rows, -2]]  # residual entering level L-2
        ranking = np.argsort(sq2 - 2 * before2 @ book2.T, axis=1, kind="stable")
        for row, r2, order in zip(rows, before2, ranking, strict=True):
            prefix0 = int(base[row]) * c
            bounds = np.searchsorted(held, (prefix0 + siblings) * c)
            count = np.diff(bounds)
            for code2 in order[count[order] < c]:  # siblings with room before this pass, nearest first
                prefix = prefix0 + int(code2)
                extra = added.get(prefix, [])
                if count[code2] + len(extra) >= c:
                    continue
                used = np.r_[held[bounds[code2] : bounds[code2 + 1]] - prefix * c, extra].astype(np.int64)
                dist = sq_last - 2 * book_last @ (r2 - book2[code2])
                dist[used] = np.inf
                code = int(dist.argmin())
                codes[row, -2], codes[row, -1] = code2, code
                added.setdefault(prefix, []).append(code)
                break
