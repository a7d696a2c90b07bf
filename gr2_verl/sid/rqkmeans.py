"""K-means and residual quantisation primitives, and RQ-KMeans (residual k-means, no training).

RQ-KMeans fits level l's codebook by k-means on the residuals left by levels 0..l-1:
``r_0 = x``, ``c_l = argmin_k ||r_l - C_l[k]||``, ``r_{l+1} = r_l - C_l[c_l]``. It is the cheap
baseline of the SID ablation and the k-means initialiser of the RQ-VAE codebooks.
"""

from __future__ import annotations

import torch

CHUNK = 65536  # rows per distance block: 65536 x 256 float32 distances = 64 MiB


def nearest(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codebook row (squared L2) for every row of ``x``, in chunks to bound memory."""
    sq = (codebook * codebook).sum(1)
    out = torch.empty(x.shape[0], dtype=torch.long)
    for i in range(0, x.shape[0], CHUNK):
        xb = x[i : i + CHUNK]
        out[i : i + CHUNK] = (sq - 2 * xb @ codebook.T).argmin(1)  # ||x||^2 is constant per row
    return out


def kmeans(x: torch.Tensor, k: int, *, iters: int = 25, generator: torch.Generator) -> torch.Tensor:
    """Lloyd k-means with k-means++ seeding; empty clusters are re-seeded at the worst-fit points.

    Returns ``[k, dim]`` centroids. With fewer distinct points than ``k`` some centroids coincide.
    """
    x = x.float()
    n = x.shape[0]
    centroids = _kmeanspp(x, k, generator)
    for _ in range(iters):
        assign = nearest(x, centroids)
        counts = torch.bincount(assign, minlength=k)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        empty = counts == 0
        centroids = torch.where(empty[:, None], centroids, sums / counts.clamp(min=1)[:, None])
        if empty.any():
            err = ((x - centroids[assign]) ** 2).sum(1)
            worst = err.topk(min(int(empty.sum()), n)).indices
            centroids[torch.flatnonzero(empty)[: worst.numel()]] = x[worst]
    return centroids


def _kmeanspp(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding on a subsample (at most 64 points per centroid keeps it O(k^2 * 64))."""
    n = x.shape[0]
    pool = x[torch.randperm(n, generator=generator)[: min(n, 64 * k)]]
    first = int(torch.randint(pool.shape[0], (1,), generator=generator))
    centroids = [pool[first]]
    d2 = ((pool - pool[first]) ** 2).sum(1)
    for _ in range(1, k):
        total = d2.sum()
        if total <= 0:  # fewer distinct points than k: repeat some
            idx = int(torch.randint(pool.shape[0], (1,), generator=generator))
        else:
            idx = int(torch.multinomial(d2 / total, 1, generator=generator))
        centroids.append(pool[idx])
        d2 = torch.minimum(d2, ((pool - pool[idx]) ** 2).sum(1))
    return torch.stack(centroids)


def residual_kmeans(x: torch.Tensor, levels: int, codebook_size: int, *, iters: int = 25,
                    generator: torch.Generator) -> torch.Tensor:
    """Fit ``[levels, codebook_size, dim]`` codebooks by k-means on successive residuals."""
    residual = x.float().clone()
    books = []
    for _ in range(levels):
        book = kmeans(residual, codebook_size, iters=iters, generator=generator)
        residual -= book[nearest(residual, book)]
        books.append(book)
    return torch.stack(books)


def residual_codes(z: torch.Tensor, codebooks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest-code residual quantisation: ``(codes [n, L], final residual [n, dim])``."""
    residual = z.float().clone()
    codes = torch.empty(z.shape[0], codebooks.shape[0], dtype=torch.long)
    for level, book in enumerate(codebooks):
        codes[:, level] = nearest(residual, book)
        residual -= book[codes[:, level]]
    return codes, residual
