"""The lab's settings, importable without torch (``gr2 --help`` reads the defaults)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LabConfig:
    """Lab settings. Defaults: about 12 s per reward on 2 CPU cores; they sit in the regime GR2 reports,
    where writing a reordered list is riskier than copying (``rerank_slip``) and learning to read the
    user (``feature_lr_scale``) is slower than learning the one-decision habit of copying."""

    steps: int = 60
    prompts_per_step: int = 32
    group_size: int = 8  # GR2 follow-up's rollout n
    mini_batches: int = 2  # PPO updates per step; from the second on the ratio differs from 1 and clipping acts
    lr: float = 0.05  # Adam on a dozen parameters
    feature_lr_scale: float = 0.2  # feature weights learn 5x slower: reading a user is harder than copying
    clip_ratio_low: float = 0.2  # DAPO clip-higher
    clip_ratio_high: float = 0.28
    max_gen_rounds: int = 3  # dynamic sampling refills dropped groups for at most this many rounds
    signal: float = 1.0  # strength of the noisy relevance feature (0: no cue about the target)
    p_copy: float = 0.3  # initial policy, SFT-like: copies the input sometimes ...
    p_broken: float = 0.1  # ... writes an invalid answer sometimes ...
    slot_slope: float = 1.0  # ... otherwise mostly follows the shown order ...
    skill: float = 0.5  # ... with some weight on the relevance cue (R@1 near the input order's)
    rerank_slip: float = 0.12  # share of reordered answers that repeat an item (invalid); copying never slips
    eval_every: int = 10
    seed: int = 0
