"""A small stochastic reranking policy that behaves like an LLM reranker at the level rewards can see.

Each answer is a short "token" sequence: first a mode token, then, in ``rank`` mode, the K-1 free
choices of a Plackett-Luce ranking over the candidate slots (the last slot is forced)::

    mode ~ softmax(mode_logits)        rank | copy | broken
    rank:   slot scores s_i = w . f_i + slot_bias[i]; pick slots one by one, p(i) ∝ exp(s_i) over the rest
    copy:   the shown order, verbatim (the "do nothing" answer; one token)
    broken: the shown order with the last candidate dropped (an invalid answer; one token)

``slot_bias`` is the learnable pull toward early prompt slots (position bias; steep biases also
reproduce the input order inside ``rank`` mode); ``mode_logits[copy]`` is the learnable pull toward
keeping the input order. ``f_i`` are per-candidate features (see ``gr2_verl.lab.features``).
"""

from __future__ import annotations

import math

import torch

MODES = ("rank", "copy", "broken")
RANK, COPY, BROKEN = range(3)


class RerankPolicy(torch.nn.Module):
    """Mode choice + Plackett-Luce over slots; ``log_probs`` returns per-token log-probabilities."""

    def __init__(
        self, k: int, n_features: int, *, p_copy: float, p_broken: float, slot_slope: float, skill: float = 0.0
    ) -> None:
        super().__init__()
        self.k = k
        self.w = torch.nn.Parameter(torch.zeros(n_features))
        with torch.no_grad():
            self.w[0] = skill
        self.slot_bias = torch.nn.Parameter(-slot_slope * torch.arange(k, dtype=torch.float32))
        probs = [1.0 - p_copy - p_broken, p_copy, p_broken]
        self.mode_logits = torch.nn.Parameter(torch.tensor([math.log(p) for p in probs]))

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        """Slot scores ``(B, K)`` from features ``(B, K, F)``."""
        return features @ self.w + self.slot_bias

    @torch.no_grad()
    def sample(self, features: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Modes ``(B,)`` and slot orders ``(B, K)`` (Gumbel-top-K = Plackett-Luce; identity unless rank mode)."""
        b = features.shape[0]
        modes = torch.multinomial(torch.softmax(self.mode_logits, 0), b, replacement=True, generator=gen)
        u = torch.rand(b, self.k, generator=gen).clamp_min(1e-12)
        gumbel = -torch.log(-torch.log(u))
        perms = torch.argsort(self.scores(features) + gumbel, dim=1, descending=True)
        identity = torch.arange(self.k).expand(b, -1)
        return modes, torch.where((modes == RANK)[:, None], perms, identity)

    def log_probs(self, features: torch.Tensor, modes: torch.Tensor, perms: torch.Tensor) -> torch.Tensor:
        """Per-token log-probabilities ``(B, K)``: [mode, choice_1 .. choice_{K-1}] (choices matter in rank mode)."""
        mode_lp = torch.log_softmax(self.mode_logits, 0)[modes]
        picked = self.scores(features).gather(1, perms)
        rest = torch.logcumsumexp(picked.flip(1), dim=1).flip(1)  # log-sum-exp over the not-yet-chosen slots
        return torch.cat([mode_lp[:, None], (picked - rest)[:, :-1]], dim=1)

    @staticmethod
    def response_mask(modes: torch.Tensor, k: int) -> torch.Tensor:
        """Which tokens exist: the mode token always, the K-1 choices only in rank mode."""
        mask = torch.zeros(len(modes), k)
        mask[:, 0] = 1.0
        mask[:, 1:] = (modes == RANK).float()[:, None]
        return mask
