"""RQ-VAE: an MLP autoencoder whose latent is residually quantised by L codebooks of C codes.

Loss (GR2 section 2, after TIGER): ``||x - dec(z_q)||^2 + beta * sum_l ||sg[r_l] - e_l||^2
+ gamma * sum_l ||r_l - sg[e_l]||^2`` with ``z = enc(x)``, ``r_0 = z``, ``e_l`` the nearest code of
level l to ``r_l``, ``r_{l+1} = r_l - e_l`` and the straight-through estimator
``z_q = z + sg[sum_l e_l - z]``. Each of the paper's techniques is a switch in ``RQVAEConfig``:
k-means initialisation, EMA codebook updates (which replace the ``beta`` term), a diversity loss and
dead-code reset. The random last level acts at assignment time (``gr2_verl.sid.assign``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from gr2_verl.sid.rqkmeans import kmeans, nearest


@dataclass
class RQVAEConfig:
    """Architecture, training schedule and technique switches of one RQ-VAE fit."""

    levels: int = 4
    codebook_size: int = 256
    hidden: tuple[int, ...] = (256, 128)  # encoder widths, mirrored by the decoder (TIGER: 512-256-128 for 768-d)
    latent_dim: int = 32
    steps: int = 1000  # optimiser steps: 10 epochs of a 100k catalogue at batch 1024
    batch_size: int = 1024
    lr: float = 1e-3
    beta: float = 1.0  # codebook loss weight (unused with EMA)
    gamma: float = 0.25  # commitment loss weight
    kmeans_init: bool = True
    warmup_steps: int = 100  # with kmeans_init: autoencoder-only steps before the codebooks are fitted
    ema: bool = True
    ema_decay: float = 0.99  # GR2 used 0.95-0.99
    diversity_weight: float = 0.0  # > 0 adds sum_l (log C - H(mean soft assignment))
    diversity_temperature: float = 1.0
    dead_code_reset: bool = False
    reset_every: int = 100  # steps between dead-code checks
    random_last_level: bool = True  # used by assign_codes: unique last code within each prefix
    kmeans_sample: int = 20000  # latents used for k-means initialisation

    @classmethod
    def from_options(cls, **options) -> RQVAEConfig:
        """Build from keyword options, naming any unknown key (a typo must not silently fall back)."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown RQ-VAE option(s) {unknown}; known: {sorted(known)}")
        if "hidden" in options:
            options["hidden"] = tuple(int(h) for h in options["hidden"])
        return cls(**options)


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class RQVAE(nn.Module):
    """Encoder, decoder and ``[L, C, latent_dim]`` codebooks."""

    def __init__(self, input_dim: int, config: RQVAEConfig):
        super().__init__()
        self.config = config
        sizes = [input_dim, *config.hidden, config.latent_dim]
        self.encoder = _mlp(sizes)
        self.decoder = _mlp(sizes[::-1])
        c = config.codebook_size
        # inputs are standardised (x - mean) / scale with statistics set by train_rqvae: sentence embeddings
        # are unit vectors whose coordinates are ~0.05, too small for default-initialised MLPs to learn fast
        self.register_buffer("input_mean", torch.zeros(input_dim))
        self.register_buffer("input_scale", torch.ones(()))
        self.codebooks = nn.Parameter(torch.empty(config.levels, c, config.latent_dim).uniform_(-1 / c, 1 / c))
        if config.ema:
            self.codebooks.requires_grad_(False)
            self.register_buffer("ema_count", torch.ones(config.levels, c))
            self.register_buffer("ema_sum", self.codebooks.detach().clone())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder((x - self.input_mean) / self.input_scale)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        return self.decoder(z_q) * self.input_scale + self.input_mean

    def quantize(self, z: torch.Tensor, train: bool = False) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Residual quantisation of ``z``: ``(z_q straight-through, codes [n, L], loss terms)``."""
        cfg = self.config
        residual = z
        z_q = torch.zeros_like(z)
        codes = []
        codebook_loss = commit_loss = diversity_loss = z.new_zeros(())
        # EMA rewrites the codebooks in place mid-pass: quantise against a snapshot so autograd's saved tensors stay valid
        books = self.codebooks.detach().clone() if cfg.ema else self.codebooks
        for level in range(cfg.levels):
            book = books[level]
            dist = (residual.detach() ** 2).sum(1, keepdim=True) - 2 * residual.detach() @ book.T + (book**2).sum(1)
            idx = dist.argmin(1)
            e = book[idx]
            if train and cfg.ema:
                self._ema_update(level, residual.detach(), idx)
            elif train:
                codebook_loss = codebook_loss + ((residual.detach() - e) ** 2).sum(1).mean()
            if train and cfg.diversity_weight > 0:
                # soft assignment with gradient to the encoder (and codebook without EMA)
                soft_dist = (residual**2).sum(1, keepdim=True) - 2 * residual @ book.T + (book**2).sum(1)
                p = torch.softmax(-soft_dist / cfg.diversity_temperature, dim=1).mean(0)
                diversity_loss = diversity_loss + math.log(cfg.codebook_size) + (p * torch.log(p + 1e-10)).sum()
            commit_loss = commit_loss + ((residual - e.detach()) ** 2).sum(1).mean()
            z_q = z_q + e
            residual = residual - e.detach()
            codes.append(idx)
        z_q = z + (z_q - z).detach()
        return z_q, torch.stack(codes, 1), {
            "codebook": codebook_loss, "commit": commit_loss, "diversity": diversity_loss,
        }

    @torch.no_grad()
    def _ema_update(self, level: int, residual: torch.Tensor, idx: torch.Tensor) -> None:
        """Move each used code toward the mean of the residuals assigned to it (Laplace-smoothed counts)."""
        decay, c = self.config.ema_decay, self.config.codebook_size
        onehot = nn.functional.one_hot(idx, c).to(residual.dtype)  # a matmul beats index_add_ on CPU
        counts = onehot.sum(0)
        sums = onehot.T @ residual
        self.ema_count[level].mul_(decay).add_(counts, alpha=1 - decay)
        self.ema_sum[level].mul_(decay).add_(sums, alpha=1 - decay)
        n = self.ema_count[level].sum()
        smoothed = (self.ema_count[level] + 1e-5) / (n + c * 1e-5) * n
        self.codebooks[level].copy_(self.ema_sum[level] / smoothed[:, None])

    def forward(self, x: torch.Tensor, train: bool = False) -> tuple[torch.Tensor, torch.Tensor, dict]:
        z_q, codes, losses = self.quantize(self.encode(x), train=train)
        return self.decode(z_q), codes, losses

    @torch.no_grad()
    def init_codebooks_kmeans(self, x: torch.Tensor, generator: torch.Generator) -> None:
        """Set every level's codebook by k-means on the residuals of a latent sample."""
        cfg = self.config
        sample = x[torch.randperm(x.shape[0], generator=generator)[: cfg.kmeans_sample]]
        residual = self.encode(sample)
        for level in range(cfg.levels):
            book = kmeans(residual, cfg.codebook_size, iters=10, generator=generator)
            self.codebooks[level].copy_(book)
            assign = nearest(residual, book)
            if cfg.ema:
                counts = torch.bincount(assign, minlength=cfg.codebook_size).float().clamp(min=1)
                self.ema_count[level].copy_(counts)
                self.ema_sum[level].copy_(book * counts[:, None])
            residual = residual - book[assign]

    @torch.no_grad()
    def reset_dead_codes(self, usage: torch.Tensor, x: torch.Tensor, generator: torch.Generator) -> int:
        """Re-seed codes unused since the last check at random batch residuals; returns how many."""
        residual = self.encode(x)
        total = 0
        for level in range(self.config.levels):
            book = self.codebooks[level]
            idx = nearest(residual, book)
            dead = torch.flatnonzero(usage[level] == 0)
            if dead.numel():
                pick = torch.randint(residual.shape[0], (dead.numel(),), generator=generator)
                book[dead] = residual[pick]
                if self.config.ema:
                    self.ema_count[level, dead] = 1.0
                    self.ema_sum[level, dead] = residual[pick]
                total += dead.numel()
            residual = residual - book[idx]
        return total


def train_rqvae(x: torch.Tensor, config: RQVAEConfig, *, seed: int, progress: bool = False) -> tuple[RQVAE, dict]:
    """Fit an RQ-VAE on ``x [n, dim]``; returns the model (eval mode) and a training summary.

    Deterministic for a given seed, data and thread count: all randomness comes from one generator
    and the model's initial weights are drawn under ``torch.manual_seed(seed)`` in a forked RNG state.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RQVAE(x.shape[1], config)
    model.input_mean.copy_(x.mean(0))
    model.input_scale.fill_(float((x - model.input_mean).pow(2).mean().sqrt()))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    usage = torch.zeros(config.levels, config.codebook_size)
    resets = 0
    last: dict[str, float] = {}
    bar = tqdm(range(config.steps), desc="RQ-VAE", disable=not progress, mininterval=1.0)
    model.train()
    warmup = config.warmup_steps if config.kmeans_init else 0
    for step in bar:
        batch = x[torch.randint(x.shape[0], (min(config.batch_size, x.shape[0]),), generator=generator)]
        if step < warmup:  # plain autoencoder: the latent space settles before k-means places the codes
            rec = (((model.decode(model.encode(batch)) - batch) / model.input_scale) ** 2).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            rec.backward()
            opt.step()
            continue
        if step == warmup and config.kmeans_init:
            model.init_codebooks_kmeans(x, generator)
        recon, codes, losses = model(batch, train=True)
        rec = (((recon - batch) / model.input_scale) ** 2).sum(1).mean()  # in standardised units
        loss = (rec + config.beta * losses["codebook"] + config.gamma * losses["commit"]
                + config.diversity_weight * losses["diversity"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for level in range(config.levels):
            usage[level] += torch.bincount(codes[:, level], minlength=config.codebook_size)
        if config.dead_code_reset and (step + 1) % config.reset_every == 0 and step + 1 < config.steps:
            resets += model.reset_dead_codes(usage, batch, generator)
        if config.dead_code_reset and (step + 1) % config.reset_every == 0:
            usage.zero_()
        if step % 50 == 0 or step == config.steps - 1:
            last = {"loss": loss.item(), "recon": rec.item(), "commit": losses["commit"].item()}
            bar.set_postfix(last, refresh=False)
    model.eval()
    return model, {"steps": config.steps, "final_losses": last, "dead_codes_reset": resets}
