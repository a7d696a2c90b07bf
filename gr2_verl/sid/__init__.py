"""Semantic IDs: item text -> embedding -> residual quantisation (RQ-VAE or RQ-KMeans) -> ``SidMap``.

``fit_sid_map`` is the entry point other parts of gr2-verl call; ``fit_codes``
works on an embedding matrix and also returns the fitted quantiser, which ``SidQuantizer.assign``
applies to new items.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import torch

from gr2_verl.sid.assign import SidQuantizer
from gr2_verl.sid.report import code_report
from gr2_verl.types import SidMap

METHODS = ("rqvae", "rqkmeans")
RQKMEANS_OPTIONS = {"levels": 4, "codebook_size": 256, "iters": 25, "random_last_level": True, "kmeans_sample": 100_000}


@dataclass
class SidFit:
    """The result of ``fit_codes``: codes per embedding row, the quantiser and a JSON-able report."""

    codes: np.ndarray
    quantizer: SidQuantizer
    report: dict


def fit_codes(embeddings: np.ndarray, *, method: str = "rqvae", seed: int = 0, progress: bool = False,
              **options) -> SidFit:
    """Fit a quantiser on ``embeddings [n, dim]`` and assign every row its SID codes.

    ``method="rqvae"`` takes ``RQVAEConfig`` fields as options (defaults: k-means init, EMA, random
    last level); ``method="rqkmeans"`` takes ``levels, codebook_size, iters, random_last_level,
    kmeans_sample``. Same seed, data and thread count -> same codes.
    """
    if method not in METHODS:
        raise ValueError(f"unknown SID method '{method}'; choose one of {METHODS}")
    x = torch.as_tensor(np.ascontiguousarray(embeddings, dtype=np.float32))
    if x.ndim != 2 or len(x) == 0 or not torch.isfinite(x).all():
        raise ValueError(f"embeddings must be a finite non-empty [items, dim] array, got shape {tuple(x.shape)}")
    start = time.perf_counter()
    if method == "rqvae":
        from gr2_verl.sid.rqvae import RQVAEConfig, train_rqvae

        config = RQVAEConfig.from_options(**options)
        model, training = train_rqvae(x, config, seed=seed, progress=progress)
        quantizer = SidQuantizer.from_rqvae(model)
        config_dict = asdict(config)
    else:
        from gr2_verl.sid.rqkmeans import residual_kmeans

        unknown = sorted(set(options) - set(RQKMEANS_OPTIONS))
        if unknown:
            raise ValueError(f"unknown RQ-KMeans option(s) {unknown}; known: {sorted(RQKMEANS_OPTIONS)}")
        config_dict = {**RQKMEANS_OPTIONS, **options}
        generator = torch.Generator().manual_seed(seed)
        sample = x[torch.randperm(len(x), generator=generator)[: config_dict["kmeans_sample"]]]
        books = residual_kmeans(sample, config_dict["levels"], config_dict["codebook_size"],
                                iters=config_dict["iters"], generator=generator)
        quantizer = SidQuantizer(method="rqkmeans", config=config_dict, codebooks=books,
                                 random_last_level=config_dict["random_last_level"])
        training = {}
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    codes = quantizer.assign(x, seed=seed)
    assign_seconds = time.perf_counter() - start
    report = {
        "method": method,
        "seed": seed,
        "config": config_dict,
        **code_report(codes, quantizer.codebook_size),
        "reconstruction_mse": quantizer.reconstruction_error(x, codes),
        "fit_seconds": fit_seconds,
        "assign_seconds": assign_seconds,
        "training": training,
    }
    return SidFit(codes=codes, quantizer=quantizer, report=report)


def fit_sid_map(item_texts: Mapping[str, str], *, method: str = "rqvae", seed: int = 0,
                embeddings: np.ndarray | None = None, embed_model: str | None = None, cache_dir: str | None = None,
                progress: bool = False, **options) -> tuple[SidMap, dict]:
    """Item id -> text  =>  (``SidMap``, report). Embeds the texts (cached) unless ``embeddings`` is given.

    ``embeddings`` rows follow ``item_texts`` order. The report adds ``embed_seconds`` and the
    embedding model to ``fit_codes``'s figures.
    """
    from gr2_verl.sid.embed import default_embed_model, embed_texts

    ids = [str(i) for i in item_texts]
    if not ids:
        raise ValueError("fit_sid_map needs at least one item")
    start = time.perf_counter()
    if embeddings is None:
        embed_model = embed_model or default_embed_model()
        embeddings = embed_texts([item_texts[i] for i in item_texts], embed_model, cache_dir=cache_dir,
                                 show_progress=progress)
    elif len(embeddings) != len(ids):
        raise ValueError(f"embeddings have {len(embeddings)} rows for {len(ids)} items")
    embed_seconds = time.perf_counter() - start
    fit = fit_codes(embeddings, method=method, seed=seed, progress=progress, **options)
    sid_map = SidMap(levels=fit.quantizer.levels, codebook_size=fit.quantizer.codebook_size,
                     codes={i: tuple(int(c) for c in row) for i, row in zip(ids, fit.codes, strict=True)})
    report = {**fit.report, "embed_model": embed_model, "embed_seconds": embed_seconds}
    return sid_map, report


__all__ = ["METHODS", "SidFit", "SidQuantizer", "fit_codes", "fit_sid_map"]
