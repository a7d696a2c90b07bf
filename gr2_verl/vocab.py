"""Add SID tokens to a Hugging Face model's vocabulary: tokenizer + resized, initialised embeddings.

The tokens (``<|sid_begin|>``, ``<|sid_end|>`` and one ``<s_{level}_{code}>`` per level and code)
are added as **normal** added tokens: veRL decodes ``solution_str`` with ``skip_special_tokens=True``,
which would strip special ones from the answer the reward parses. Added tokens are matched before
BPE, so each SID token is exactly one id and a SID in any text is exactly L+2 ids.

New embedding rows (input, and output when untied) start as the mean of the existing rows plus
Gaussian noise of ``noise_std`` times the per-dimension std (``init="mean"``; neutral logits at
first, distinct rows so the tokens can separate), or as the mean embedding of the pieces the
original tokenizer splits the token text into (``init="pieces"``; ``<s_a_97>`` starts near
``<``, ``s``, ``_a``, ``_``, ``97``, ``>``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from gr2_verl.types import SidMap

INIT_METHODS = ("mean", "pieces")
PAD_MULTIPLE = 64  # embedding rows rounded up to a multiple of 64, as Qwen's own vocab is, for GPU kernels


def add_sid_tokens(tokenizer, tokens: Sequence[str]) -> list[int]:
    """Add ``tokens`` as normal (non-special) added tokens; returns the id of every token, in order.

    Tokens the tokenizer already has as single ids are kept; a token that exists as a *special* token
    is an error (decoding with ``skip_special_tokens=True`` would drop it).
    """
    from tokenizers import AddedToken

    special = set(tokenizer.all_special_tokens)
    clash = [t for t in tokens if t in special]
    if clash:
        raise ValueError(f"tokens {clash[:5]} are special tokens in this tokenizer; SID tokens must be normal ones")
    vocab = tokenizer.get_vocab()
    new = [AddedToken(t, special=False, normalized=False) for t in tokens if t not in vocab]
    tokenizer.add_tokens(new)
    ids = tokenizer.convert_tokens_to_ids(list(tokens))
    for token, token_id in zip(tokens, ids):
        if token_id is None or tokenizer.encode(token, add_special_tokens=False) != [token_id]:
            raise ValueError(f"token {token!r} does not encode to a single id after adding it")
    return ids


@torch.no_grad()
def init_new_rows(matrix: torch.Tensor, new_ids: Sequence[int], old_rows: int, *, init: str, generator: torch.Generator,
                  piece_ids: Sequence[Sequence[int]] | None = None, noise_std: float = 0.02) -> None:
    """Fill ``matrix[new_ids]`` in place from the statistics of its first ``old_rows`` rows."""
    old = matrix[:old_rows].float()
    if init == "mean":
        mean, std = old.mean(0), old.std(0)
        noise = torch.randn(len(new_ids), matrix.shape[1], generator=generator) * std * noise_std
        matrix[list(new_ids)] = (mean + noise).to(matrix.dtype)
    elif init == "pieces":
        if piece_ids is None or len(piece_ids) != len(new_ids):
            raise ValueError("init='pieces' needs the original tokenizer's piece ids of every new token")
        rows = torch.stack([old[list(p)].mean(0) for p in piece_ids])
        matrix[list(new_ids)] = rows.to(matrix.dtype)
    else:
        raise ValueError(f"unknown init '{init}'; choose one of {INIT_METHODS}")


def extend_vocabulary(model_dir: str | os.PathLike, sid_map: SidMap, out_dir: str | os.PathLike, *, init: str = "mean",
                      seed: int = 0, noise_std: float = 0.02) -> dict:
    """Load model + tokenizer from ``model_dir``, add ``sid_map.vocabulary()``, save both to ``out_dir``.

    Also writes ``out_dir/sid_map.json`` (the map the tokens came from) and ``out_dir/sid_vocab.json``
    (what was added). Returns that summary. The model keeps its dtype; veRL's ``model.path`` can point
    at ``out_dir``.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if init not in INIT_METHODS:
        raise ValueError(f"unknown init '{init}'; choose one of {INIT_METHODS}")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto")
    tokens = sid_map.vocabulary()
    old_len = len(tokenizer)
    piece_ids = [tokenizer.encode(t, add_special_tokens=False) for t in tokens]
    ids = add_sid_tokens(tokenizer, tokens)
    new = [(i, p) for i, p in zip(ids, piece_ids) if i >= old_len]
    emb = model.get_input_embeddings()
    old_rows = emb.weight.shape[0]
    if len(tokenizer) > old_rows:
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=PAD_MULTIPLE, mean_resizing=False)
    generator = torch.Generator().manual_seed(seed)
    new_ids = [i for i, _ in new]
    # statistics from the rows of real tokens only: rows past the old tokenizer are untrained padding
    stats_rows = min(old_len, old_rows)
    matrices = [model.get_input_embeddings().weight]
    out_emb = model.get_output_embeddings()
    if out_emb is not None and out_emb.weight.data_ptr() != matrices[0].data_ptr():
        matrices.append(out_emb.weight)
    if new_ids:
        for matrix in matrices:
            init_new_rows(matrix.data, new_ids, stats_rows, init=init, generator=generator,
                          piece_ids=[p for _, p in new], noise_std=noise_std)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    sid_map.save(str(out / "sid_map.json"))
    summary = {
        "model_dir": str(model_dir),
        "out_dir": str(out),
        "tokens_requested": len(tokens),
        "tokens_added": len(new_ids),
        "first_new_id": min(new_ids) if new_ids else None,
        "last_new_id": max(new_ids) if new_ids else None,
        "tokenizer_size": len(tokenizer),
        "embedding_rows": int(model.get_input_embeddings().weight.shape[0]),
        "tied_embeddings": len(matrices) == 1,
        "init": init,
        "noise_std": noise_std if init == "mean" else None,
        "seed": seed,
        "levels": sid_map.levels,
        "codebook_size": sid_map.codebook_size,
    }
    from gr2_verl.io import atomic_write_text

    atomic_write_text(out / "sid_vocab.json", json.dumps(summary, indent=2))
    return summary
