"""A synthetic clustered catalogue: embeddings shaped like sentence embeddings of a real catalogue.

Items sit in a topic -> subtopic hierarchy, and a share of them are near-duplicates of another item
(sequels, sizes, colours), the case that makes nearest-code SIDs collide. Rows are unit vectors.
"""

from __future__ import annotations

import numpy as np


def clustered_embeddings(n: int, dim: int = 384, *, topics: int = 50, subtopics: int = 20,
                         near_duplicates: float = 0.05, seed: int = 0) -> np.ndarray:
    """``[n, dim]`` float32 unit rows: topic (unit) + subtopic offset (norm 0.6) + item noise (norm 0.5).

    ``near_duplicates`` of the rows copy an earlier row plus noise of norm 0.02.
    """
    rng = np.random.default_rng(seed)

    def unit(*shape: int) -> np.ndarray:
        v = rng.standard_normal((*shape, dim))
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    centres = unit(topics)[:, None, :] + 0.6 * unit(topics, subtopics)
    leaf = rng.integers(0, topics * subtopics, size=n)
    x = centres.reshape(-1, dim)[leaf] + 0.5 * unit(n)
    dup = np.flatnonzero(rng.random(n) < near_duplicates)
    dup = dup[dup > 0]
    x[dup] = x[rng.integers(0, dup)] + 0.02 * unit(len(dup))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
