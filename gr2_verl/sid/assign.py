"""Embeddings -> SID codes with a fitted quantiser, including the random (unique) last level.

Random last level (GR2 section 2): items that share the first L-1 codes (a "prefix") get distinct
last codes. Within each shared prefix the items are visited in a seeded random order and each takes
the nearest last-level code no earlier item of that prefix holds. SIDs are therefore unique whenever
a prefix holds at most C items; items past the C-th of a prefix keep their nearest code (a collision
the report counts). Items alone in their prefix keep their nearest code, so most SIDs stay semantic.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
import torch

from gr2_verl.sid.rqkmeans import residual_codes
from gr2_verl.sid.rqvae import RQVAE, RQVAEConfig

ENCODE_BATCH = 65536  # rows per encoder pass at assignment time


@dataclass
class SidQuantizer:
    """A fitted tokenizer: optional RQ-VAE (``None`` for RQ-KMeans) and ``[L, C, d]`` codebooks."""

    method: str  # "rqvae" | "rqkmeans"
    config: dict
    codebooks: torch.Tensor
    random_last_level: bool
    model: RQVAE | None = None

    @property
    def levels(self) -> int:
        return int(self.codebooks.shape[0])

    @property
    def codebook_size(self) -> int:
        return int(self.codebooks.shape[1])

    @torch.inference_mode()
    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """The vector that gets quantised: the encoder output, or ``x`` itself for RQ-KMeans."""
        if self.model is None:
            return x.float()
        return torch.cat([self.model.encode(x[i : i + ENCODE_BATCH].float()) for i in range(0, len(x), ENCODE_BATCH)])

    @torch.inference_mode()
    def assign(self, embeddings: np.ndarray | torch.Tensor, *, seed: int = 0) -> np.ndarray:
        """``[n, L]`` int64 codes for ``embeddings [n, dim]``."""
        z = self.latent(torch.as_tensor(embeddings))
        codes, residual = residual_codes(z, self.codebooks)
        codes = codes.numpy()
        if self.random_last_level and self.levels > 1:
            before_last = residual + self.codebooks[-1][codes[:, -1]]
            codes[:, -1] = unique_last_level(codes, before_last.numpy(), self.codebooks[-1].numpy(), seed=seed)
        return codes

    @torch.inference_mode()
    def reconstruction_error(self, embeddings: np.ndarray | torch.Tensor, codes: np.ndarray) -> float:
        """Mean squared L2 distance between each embedding and its reconstruction from ``codes``."""
        x = torch.as_tensor(embeddings).float()
        total = 0.0
        for i in range(0, len(x), ENCODE_BATCH):
            c = torch.as_tensor(codes[i : i + ENCODE_BATCH])
            z_q = sum(self.codebooks[level][c[:, level]] for level in range(self.levels))
            recon = z_q if self.model is None else self.model.decode(z_q)
            total += float(((recon - x[i : i + ENCODE_BATCH]) ** 2).sum())
        return total / max(len(x), 1)

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically with ``torch.save``; ``SidQuantizer.load`` rebuilds it."""
        from gr2_verl.io import atomic_write

        state = {
            "method": self.method,
            "config": self.config,
            "codebooks": self.codebooks,
            "random_last_level": self.random_last_level,
            "input_dim": None if self.model is None else self.model.encoder[0].in_features,
            "model": None if self.model is None else self.model.state_dict(),
        }
        atomic_write(path, lambda tmp: torch.save(state, tmp))

    @classmethod
    def load(cls, path: str | os.PathLike) -> SidQuantizer:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = None
        if state["model"] is not None:
            model = RQVAE(state["input_dim"], RQVAEConfig.from_options(**state["config"]))
            model.load_state_dict(state["model"])
            model.eval()
        return cls(method=state["method"], config=state["config"], codebooks=state["codebooks"],
                   random_last_level=state["random_last_level"], model=model)

    @classmethod
    def from_rqvae(cls, model: RQVAE) -> SidQuantizer:
        return cls(method="rqvae", config=asdict(model.config), codebooks=model.codebooks.detach().clone(),
                   random_last_level=model.config.random_last_level, model=model)


def prefix_keys(codes: np.ndarray, codebook_size: int) -> np.ndarray:
    """One int64 per row naming its first L-1 codes (C^(L-1) < 2^63 for C=256 up to L=8)."""
    key = np.zeros(len(codes), dtype=np.int64)
    for level in range(codes.shape[1] - 1):
        key = key * codebook_size + codes[:, level]
    return key


def unique_last_level(codes: np.ndarray, residual: np.ndarray, book: np.ndarray, *, seed: int) -> np.ndarray:
    """Last-level codes, distinct within every prefix that holds at most C items.

    ``residual [n, d]`` is what the last level quantises; ``book [C, d]`` its codebook.
    """
    last = codes[:, -1].copy()
    keys = prefix_keys(codes, book.shape[0])
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    shared = (ends - starts) > 1
    rng = np.random.default_rng(seed)
    book_sq = (book * book).sum(1)
    for start, end in zip(starts[shared], ends[shared]):
        members = order[start:end]
        if len(np.unique(last[members])) == len(members):
            continue  # nearest codes already distinct
        members = rng.permutation(members)
        dist = book_sq - 2 * residual[members] @ book.T
        taken = np.zeros(book.shape[0], dtype=bool)
        for row, item in enumerate(members):
            if taken.all():  # more than C items share this prefix: the rest keep their nearest code
                break
            d = np.where(taken, np.inf, dist[row])
            code = int(d.argmin())
            last[item] = code
            taken[code] = True
    return last
