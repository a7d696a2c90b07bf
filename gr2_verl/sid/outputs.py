"""``gr2 sid fit`` and ``gr2 sid assign`` as library calls: item file -> embeddings -> codes -> the SID folder.

The folder: ``sid_map.json`` (what every other stage reads), ``sids.jsonl`` (one line per item),
``sid_quantizer.pt`` (assigns SIDs to new items), ``sid_report.json`` and ``sid_report.md``.
``assign`` grows a folder's map with new items and never changes an existing item's code: a model
trained on the map keeps its vocabulary.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gr2_verl.io import atomic_write_text, input_file
from gr2_verl.sid.assign import SidQuantizer
from gr2_verl.sid.report import code_report, report_markdown
from gr2_verl.sid.unique import row_keys
from gr2_verl.types import SidMap

COLLISION_EXAMPLES = 10  # colliding new items listed by name in the assign report


def fit_sid_folder(
    items: str | Path,
    out: str | Path,
    *,
    method: str = "rqvae",
    seed: int = 0,
    embeddings: str | None = None,
    embed_model: str | None = None,
    cache_dir: str | None = None,
    options: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> tuple[dict[str, Any], list[Path]]:
    """Fit SIDs for the items in ``items`` and write the SID folder; returns (report, paths written)."""
    from gr2_verl.sid import fit_codes
    from gr2_verl.sid.embed import default_embed_model, embed_texts, load_embeddings
    from gr2_verl.sid.items import read_item_texts

    texts = read_item_texts(items)
    if embeddings:
        emb, model_name = load_embeddings(embeddings, list(texts)), embeddings
    else:
        model_name = embed_model or default_embed_model()
        emb = embed_texts(list(texts.values()), model_name, cache_dir=cache_dir, show_progress=progress)
    fit = fit_codes(emb, method=method, seed=seed, progress=progress, **dict(options or {}))
    sid_map = SidMap(levels=fit.quantizer.levels, codebook_size=fit.quantizer.codebook_size,
                     codes={i: tuple(int(c) for c in row) for i, row in zip(texts, fit.codes, strict=True)})
    report = {**fit.report, "items_file": str(items), "embeddings": model_name}
    return report, write_sid_folder(out, sid_map, fit.quantizer, report)


def assign_sid_folder(
    sid_dir: str | Path,
    items: str | Path,
    out: str | Path,
    *,
    seed: int = 0,
    embeddings: str | None = None,
    embed_model: str | None = None,
    cache_dir: str | None = None,
    progress: bool = True,
) -> tuple[dict[str, Any], list[Path]]:
    """Give the items of ``items`` that ``sid_dir``'s map lacks a SID; write the grown folder to ``out``.

    Existing items keep their codes (new items avoid them); new items get nearest codes made unique
    as in fitting (random last level, overflow into sibling prefixes, then up the code tree).
    ``embeddings`` (.npy in items-file order or parquet keyed by item_id) must cover the new items;
    without it they are embedded with ``embed_model``. Returns (report, paths written).
    """
    from gr2_verl.sid.embed import default_embed_model, embed_texts, embedding_chunks
    from gr2_verl.sid.items import read_item_texts

    sid_dir = Path(sid_dir)
    sid_map = SidMap.load(str(sid_dir / "sid_map.json"))
    quantizer = load_quantizer(sid_dir / "sid_quantizer.pt")
    if (quantizer.levels, quantizer.codebook_size) != (sid_map.levels, sid_map.codebook_size):
        raise ValueError(f"{sid_dir}: sid_quantizer.pt has {quantizer.levels} x {quantizer.codebook_size} codes, "
                         f"sid_map.json {sid_map.levels} x {sid_map.codebook_size}: not from the same fit")
    texts = read_item_texts(items)
    new_ids = [i for i in texts if i not in sid_map.codes]
    if not new_ids:
        raise ValueError(f"{items}: all {len(texts)} items already have a SID in {sid_dir / 'sid_map.json'}")
    positions = {i: n for n, i in enumerate(new_ids)}
    if embeddings:
        chunks = embedding_chunks(embeddings, list(texts), positions)
        model_name = embeddings
    else:
        model_name = embed_model or default_embed_model()
        emb = embed_texts([texts[i] for i in new_ids], model_name, cache_dir=cache_dir, show_progress=progress)
        chunks = iter([(np.arange(len(new_ids)), emb)])
    reserved = np.array(list(sid_map.codes.values()), dtype=np.int64).reshape(-1, sid_map.levels)
    codes = quantizer.assign_chunks(_checked_width(chunks, quantizer, model_name), len(new_ids), seed=seed,
                                    reserved=reserved)
    grown = SidMap(levels=sid_map.levels, codebook_size=sid_map.codebook_size, codes=dict(sid_map.codes))
    grown.codes.update({i: tuple(int(c) for c in row) for i, row in zip(new_ids, codes, strict=True)})
    all_codes = np.concatenate([reserved, codes])
    report = {
        "method": f"assign ({quantizer.method})",
        "seed": seed,
        "source": str(sid_dir),
        "items_file": str(items),
        "embeddings": model_name,
        "kept": len(sid_map.codes),
        "added": len(new_ids),
        **code_report(all_codes, sid_map.codebook_size),
        "new_item_collisions": new_collisions(grown, all_codes, new_ids),
    }
    return report, write_sid_folder(out, grown, quantizer, report)


def load_quantizer(path: Path) -> SidQuantizer:
    """``SidQuantizer.load`` with errors that name the file."""
    import pickle

    try:
        return SidQuantizer.load(input_file(path, "SID quantiser (sid_quantizer.pt of `gr2 sid fit`)"))
    except (RuntimeError, pickle.UnpicklingError, EOFError, KeyError) as e:
        raise ValueError(f"{path}: not a SID quantiser saved by `gr2 sid fit` ({e})") from None


def _checked_width(chunks, quantizer: SidQuantizer, source: str):
    """Pass chunks through, failing on the first with a width the quantiser was not fitted on."""
    for rows, x in chunks:
        if x.shape[1] != quantizer.input_dim:
            raise ValueError(f"{source}: embeddings have {x.shape[1]} dimensions, the quantiser was fitted on "
                             f"{quantizer.input_dim}")
        yield rows, x


def new_collisions(sid_map: SidMap, all_codes: np.ndarray, new_ids: list[str]) -> dict[str, Any]:
    """How many new items share their SID with another item, and the first few by name.

    ``all_codes`` rows follow ``sid_map.codes`` (existing items, then ``new_ids``).
    """
    keys = row_keys(all_codes, sid_map.codebook_size)
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    kept = len(all_codes) - len(new_ids)
    rows = kept + np.flatnonzero(counts[inverse.reshape(-1)][kept:] > 1)
    ids = list(sid_map.codes)
    examples = [{"item_id": ids[r], "sid": sid_map.sid(ids[r]),
                 "shared_with": [ids[o] for o in np.flatnonzero(keys == keys[r]) if o != r]}
                for r in rows[:COLLISION_EXAMPLES]]
    return {"items": len(rows), "examples": examples}


def write_sid_folder(out: str | Path, sid_map: SidMap, quantizer: SidQuantizer, report: dict) -> list[Path]:
    """sid_map.json, sids.jsonl, sid_quantizer.pt, sid_report.json and .md, each written atomically."""
    out = Path(out)
    sid_map.save(str(out / "sid_map.json"))
    lines = (json.dumps({"item_id": i, "codes": list(c), "sid": sid_map.sid(i)}) for i, c in sid_map.codes.items())
    paths = [out / "sid_map.json", atomic_write_text(out / "sids.jsonl", "\n".join(lines) + "\n")]
    quantizer.save(out / "sid_quantizer.pt")
    return paths + [
        out / "sid_quantizer.pt",
        atomic_write_text(out / "sid_report.json", json.dumps(report, indent=2)),
        atomic_write_text(out / "sid_report.md", report_markdown(report)),
    ]
