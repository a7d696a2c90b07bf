"""``gr2 sid fit`` as a library call: item file -> embeddings -> codes -> the SID folder.

The folder: ``sid_map.json`` (what every other stage reads), ``sids.jsonl`` (one line per item),
``sid_quantizer.pt`` (assigns SIDs to new items), ``sid_report.json`` and ``sid_report.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gr2_verl.io import atomic_write_text
from gr2_verl.sid.report import report_markdown
from gr2_verl.types import SidMap


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
        emb, model_name = load_embeddings(embeddings, len(texts)), embeddings
    else:
        model_name = embed_model or default_embed_model()
        emb = embed_texts(list(texts.values()), model_name, cache_dir=cache_dir, show_progress=progress)
    fit = fit_codes(emb, method=method, seed=seed, progress=progress, **dict(options or {}))
    sid_map = SidMap(levels=fit.quantizer.levels, codebook_size=fit.quantizer.codebook_size,
                     codes={i: tuple(int(c) for c in row) for i, row in zip(texts, fit.codes, strict=True)})
    out = Path(out)
    report = {**fit.report, "items_file": str(items), "embeddings": model_name}
    sid_map.save(str(out / "sid_map.json"))
    lines = (json.dumps({"item_id": i, "codes": list(c), "sid": sid_map.sid(i)}) for i, c in sid_map.codes.items())
    paths = [out / "sid_map.json", atomic_write_text(out / "sids.jsonl", "\n".join(lines) + "\n")]
    fit.quantizer.save(out / "sid_quantizer.pt")
    paths += [
        out / "sid_quantizer.pt",
        atomic_write_text(out / "sid_report.json", json.dumps(report, indent=2)),
        atomic_write_text(out / "sid_report.md", report_markdown(report)),
    ]
    return report, paths
