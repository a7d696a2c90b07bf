"""Embeddings -> SID codes with a fitted quantiser: nearest codes level by level, then unique SIDs.

Nearest-code residual quantisation runs chunk by chunk (memory: the codes plus the last level's
residual, ``[n, L]`` ints and ``[n, latent]`` floats, never the ``[n, dim]`` embeddings at once), then
``gr2_verl.sid.unique`` makes the SIDs unique (random last level, overflow into sibling prefixes, then up the tree).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from gr2_verl.sid.rqkmeans import residual_codes
from gr2_verl.sid.rqvae import RQVAE, RQVAEConfig
from gr2_verl.sid.unique import unique_codes

ENCODE_BATCH = 65536  # rows per encoder pass at assignment time
# rows encoded and quantised together at assignment: a [8192, 256] block stays in cache, and rows' codes do
# not depend on the block size (tests/sid/test_sid_assign.py), 1.3-1.9x faster than 65536-row passes
ASSIGN_BLOCK = 8192


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

    @property
    def input_dim(self) -> int:
        """Width of the embeddings it was fitted on."""
        return int(self.codebooks.shape[2]) if self.model is None else self.model.encoder[0].in_features

    @torch.inference_mode()
    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """The vector that gets quantised: the encoder output, or ``x`` itself for RQ-KMeans."""
        if self.model is None:
            return x.float()
        return torch.cat([self.model.encode(x[i : i + ENCODE_BATCH].float()) for i in range(0, len(x), ENCODE_BATCH)])

    @torch.inference_mode()
    def assign(self, embeddings: np.ndarray | torch.Tensor, *, seed: int = 0,
               reserved: np.ndarray | None = None) -> np.ndarray:
        """``[n, L]`` int64 codes for ``embeddings [n, dim]``, avoiding the ``reserved [m, L]`` codes of other items."""
        chunks = ((slice(i, i + ENCODE_BATCH), embeddings[i : i + ENCODE_BATCH])
                  for i in range(0, len(embeddings), ENCODE_BATCH))
        return self.assign_chunks(chunks, len(embeddings), seed=seed, reserved=reserved)

    def assign_chunks(self, chunks: Iterable[tuple[slice | np.ndarray, np.ndarray | torch.Tensor]], n: int, *,
                      seed: int = 0, reserved: np.ndarray | None = None) -> np.ndarray:
        """Like ``assign`` for embeddings that arrive in pieces: ``(rows, [m, dim])`` fills rows ``rows`` of ``n``.

        Every row must arrive once; only the codes and the last level's residual stay in memory.
        """
        codes, residual = self.nearest_codes(chunks, n)
        if self.random_last_level and self.levels > 1:
            codes = unique_codes(codes, residual, self.codebooks.numpy(), seed=seed, reserved=reserved)
        return codes

    @torch.inference_mode()
    def nearest_codes(self, chunks: Iterable[tuple[slice | np.ndarray, np.ndarray | torch.Tensor]],
                      n: int) -> tuple[np.ndarray, np.ndarray]:
        """(nearest codes ``[n, L]``, the residual each row brings to the last level ``[n, latent]``)."""
        codes = np.empty((n, self.levels), dtype=np.int64)
        residual = np.empty((n, self.codebooks.shape[2]), dtype=np.float32)
        for rows, x in chunks:
            x = torch.as_tensor(np.asarray(x, dtype=np.float32))
            for i in range(0, len(x), ASSIGN_BLOCK):
                c, r = residual_codes(self.latent(x[i : i + ASSIGN_BLOCK]), self.codebooks)
                block = _sub_rows(rows, i, len(c))
                codes[block] = c.numpy()
                residual[block] = (r + self.codebooks[-1][c[:, -1]]).numpy()
        return codes, residual

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
            "input_dim": None if self.model is None else self.input_dim,
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


def _sub_rows(rows: slice | np.ndarray, start: int, size: int) -> slice | np.ndarray:
    """Rows ``start .. start + size`` of a chunk's target ``rows`` (a step-1 slice or an index array)."""
    if isinstance(rows, slice):
        first = (rows.start or 0) + start
        return slice(first, first + size)
    return rows[start : start + size]
