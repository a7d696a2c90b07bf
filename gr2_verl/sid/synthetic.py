"""A synthetic clustered catalogue: embeddings shaped like sentence embeddings of a real catalogue.

Items sit in a topic -> subtopic hierarchy, and a share of them are near-duplicates of another item
(sequels, sizes, colours), the case that makes nearest-code SIDs collide. Rows are unit vectors.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CHUNK = 100_000  # rows generated at a time: memory is the output (or nothing, streamed) plus one chunk


def clustered_embeddings(n: int, dim: int = 384, *, topics: int = 50, subtopics: int = 20,
                         near_duplicates: float = 0.05, seed: int = 0) -> np.ndarray:
    """``[n, dim]`` float32 unit rows: topic (unit) + subtopic offset (norm 0.6) + item noise (norm 0.5).

    ``near_duplicates`` of the rows copy an earlier row of their chunk plus noise of norm 0.02.
    """
    out = np.empty((n, dim), dtype=np.float32)
    for start, chunk in clustered_chunks(n, dim, topics=topics, subtopics=subtopics,
                                         near_duplicates=near_duplicates, seed=seed):
        out[start : start + len(chunk)] = chunk
    return out


def clustered_chunks(n: int, dim: int = 384, *, topics: int = 50, subtopics: int = 20,
                     near_duplicates: float = 0.05, seed: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """``clustered_embeddings`` as ``(first row, [<= CHUNK, dim])`` pieces: 10M rows without 15 GB in memory."""
    rng = np.random.default_rng(seed)

    def unit(*shape: int) -> np.ndarray:
        v = rng.standard_normal((*shape, dim), dtype=np.float32)
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    centres = (unit(topics)[:, None, :] + 0.6 * unit(topics, subtopics)).reshape(-1, dim)
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        x = centres[rng.integers(0, len(centres), size=m)] + 0.5 * unit(m)
        dup = np.flatnonzero(rng.random(m) < near_duplicates)
        dup = dup[dup > 0]
        x[dup] = x[rng.integers(0, dup)] + 0.02 * unit(len(dup))
        yield start, x / np.linalg.norm(x, axis=1, keepdims=True)
