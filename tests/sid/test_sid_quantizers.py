"""k-means, residual quantisation and the unique (random) last level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gr2_verl.sid.rqkmeans import kmeans, nearest, residual_codes, residual_kmeans
from gr2_verl.sid.unique import prefix_keys, row_keys, spill, unique_codes, unique_last_level


def test_nearest_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    x, book = torch.randn(500, 8, generator=g), torch.randn(16, 8, generator=g)
    assert torch.equal(nearest(x, book), torch.cdist(x, book).argmin(1))


def test_kmeans_recovers_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(5, 16, generator=g) * 10
    x = centres.repeat_interleave(40, 0) + 0.1 * torch.randn(200, 16, generator=g)
    found = kmeans(x, 5, generator=torch.Generator().manual_seed(1))
    # every true centre has a centroid within the noise scale
    assert torch.cdist(centres, found).min(1).values.max() < 1.0


def test_kmeans_with_fewer_points_than_clusters_does_not_fail():
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    assert kmeans(x, 8, generator=torch.Generator().manual_seed(0)).shape == (8, 2)


def test_residual_codes_reduce_error_level_by_level():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 16, generator=g)
    books = residual_kmeans(x, 3, 32, iters=10, generator=g)
    errors = [float(residual_codes(x, books[:levels])[1].pow(2).sum(1).mean()) for levels in (1, 2, 3)]
    assert errors[0] > errors[1] > errors[2]
    codes, _ = residual_codes(x, books)
    assert codes.shape == (1000, 3) and codes.min() >= 0 and codes.max() < 32


def test_prefix_keys_name_the_first_levels_only():
    codes = np.array([[1, 2, 3], [1, 2, 9], [2, 1, 3]])
    keys = prefix_keys(codes, 256)
    assert keys[0] == keys[1] != keys[2]


def _last_level_case(prefix_sizes: list[int], c: int = 8, d: int = 4, seed: int = 0):
    """Items grouped in prefixes of the given sizes, all nearest to last code 0."""
    rng = np.random.default_rng(seed)
    book = rng.standard_normal((c, d)).astype(np.float32)
    codes = np.array([[g, 0, 0] for g, size in enumerate(prefix_sizes) for _ in range(size)])
    residual = (book[0] + 0.01 * rng.standard_normal((len(codes), d))).astype(np.float32)
    return codes, residual, book


@pytest.mark.parametrize(
    "sizes, expect_unique_prefixes",
    [
        ([1, 1, 1], [0, 1, 2]),  # singletons keep their nearest code
        ([5, 1], [0, 1]),  # 5 items share a prefix: all get distinct codes
        ([8], [0]),  # exactly C items: a full permutation of the codebook
        ([11, 2], [1]),  # 11 > C: only C distinct, 3 keep their nearest (a collision)
    ],
)
def test_unique_last_level_cases(sizes, expect_unique_prefixes):
    codes, residual, book = _last_level_case(sizes)
    last, overflow = unique_last_level(codes, residual, book, seed=0)
    assert len(overflow) == sum(max(0, size - book.shape[0]) for size in sizes)  # handed on to the sibling spill
    start = 0
    for group, size in enumerate(sizes):
        got = last[start : start + size]
        if group in expect_unique_prefixes:
            assert len(set(got.tolist())) == size
        else:
            assert len(set(got.tolist())) == book.shape[0]  # every code used once, overflow repeats
        start += size
    singles = [i for i, s in enumerate(np.repeat(sizes, sizes)) if s == 1]
    assert all(last[i] == 0 for i in singles)


def test_unique_last_level_prefers_nearest_free_code():
    book = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 10.0]], dtype=np.float32)
    codes = np.array([[0, 0], [0, 0]])
    residual = np.array([[0.0, 0.1], [0.1, 0.0]], dtype=np.float32)  # both nearest to code 0
    last, _ = unique_last_level(codes, residual, book, seed=0)
    assert sorted(last.tolist()) == [0, 1]  # the loser takes the next nearest, never the far code 2


def test_unique_last_level_is_seeded():
    codes, residual, book = _last_level_case([6, 6, 3])
    a, _ = unique_last_level(codes, residual, book, seed=3)
    assert np.array_equal(a, unique_last_level(codes, residual, book, seed=3)[0])


def test_row_keys_survive_overflowing_codebooks():
    codes = np.array([[1023] * 8, [1023] * 7 + [0], [1023] * 8])  # 1024^8 = 2^80 does not fit an int64
    keys = row_keys(codes, 1024)
    assert keys[0] == keys[2] != keys[1]
    assert prefix_keys(codes, 1024)[0] == prefix_keys(codes, 1024)[1]


def _overflow_case(levels: int, c: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(nearest codes, last-level residual, books): n items piled on a few level-0 and level-1 codes."""
    rng = np.random.default_rng(0)
    scale = np.array([1.0, 0.5, 0.25, 0.12][:levels], dtype=np.float32)
    books = (rng.standard_normal((levels, c, 8)) * scale[:, None, None]).astype(np.float32)
    z = books[0][rng.integers(0, c // 2, n)] + books[1][rng.integers(0, 3, n)] + 0.1 * rng.standard_normal((n, 8))
    codes, residual = residual_codes(torch.as_tensor(z.astype(np.float32)), torch.as_tensor(books))
    return codes.numpy(), (residual + torch.as_tensor(books)[-1][codes[:, -1]]).numpy(), books


@pytest.mark.parametrize("levels, c, n", [(3, 16, 900), (4, 8, 400)])  # 506 and 56 items move to a sibling
def test_unique_codes_match_the_codes_before_issue_13(levels, c, n):
    """Where every overflow item found a free sibling, the faster spill hands out the very same SIDs.

    The expectation was written by the sibling-only spill of issue 13's start (commit 7f43314).
    """
    expected = np.load(Path(__file__).parent / "data" / "unique_codes_before_issue13.npz")
    codes, residual, books = _overflow_case(levels, c, n)
    reserved = unique_codes(codes[: n // 3], residual[: n // 3], books, seed=1)
    assert np.array_equal(unique_codes(codes, residual, books, seed=0), expected[f"{levels}x{c}_alone"])
    assert np.array_equal(reserved, expected[f"{levels}x{c}_reserved"])
    new = unique_codes(codes[n // 3 :], residual[n // 3 :], books, seed=2, reserved=reserved)
    assert np.array_equal(new, expected[f"{levels}x{c}_new"])


@pytest.mark.parametrize(
    "levels, c, n, kept_counts",
    [
        ((4, 8, 1500, {2: 250, 1: 719})),  # 719 find every sibling full and keep only their first code
        ((3, 16, 3000, {1: 1672, 0: 922})),  # 922 keep no code: their level-0 branches hold 256 SIDs each
        ((2, 16, 400, {0: 123, -1: 144})),  # 400 items, 256 SIDs: 144 stay colliding, reported as -1
    ],
)
def test_overflow_escapes_up_the_tree_when_all_siblings_are_full(levels, c, n, kept_counts):
    codes, residual, books = _overflow_case(levels, c, n)
    last, overflow = unique_last_level(codes, residual, books[-1], seed=0)
    out = codes.copy()
    out[:, -1] = last
    kept = spill(out, overflow, residual, books, np.empty((0, levels), dtype=np.int64))
    assert dict(zip(*np.unique(kept, return_counts=True), strict=True)) == kept_counts
    assert len(np.unique(out, axis=0)) == min(n, c**levels)  # unique while SIDs remain
    for top in range(levels - 1):  # an escaped row keeps its first `top` codes
        rows = overflow[kept == top]
        assert np.array_equal(out[rows, :top], codes[rows, :top])
    untouched = np.setdiff1d(np.arange(n), overflow)
    assert np.array_equal(out[untouched], np.c_[codes[untouched, :-1], last[untouched]])


def test_escape_takes_the_nearest_free_branch():
    """All C^2 SIDs under level-0 code 0 are reserved: the item escapes to code 1, nearer than code 2."""
    c = 3
    books = np.zeros((3, c, 1), dtype=np.float32)
    books[0, :, 0] = [0.0, 1.0, -2.0]
    reserved = np.array([[0, a, b] for a in range(c) for b in range(c)])
    codes = np.zeros((1, 3), dtype=np.int64)
    residual = np.full((1, 1), 0.4, dtype=np.float32)
    assert unique_codes(codes, residual, books, seed=0, reserved=reserved)[0].tolist() == [1, 0, 0]
