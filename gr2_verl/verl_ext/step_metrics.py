"""Order-copying ("hacking") metrics for one training step, and an opt-in guard on the identity rate.

veRL 0.9.1 logs reward extras at validation only, but GR2's failure mode (the policy drifting into
copying the input order) happens during training. ``GR2ReplayBuffer`` (``gr2_verl.verl_ext.sampler``)
reads every answer's reward extras from TransferQueue as it samples a step and adds these figures to
the metrics its ``sample`` returns; veRL merges those into the step's metrics
(``PPOTrainer._step_once`` -> ``MetricsAggregator`` -> ``Tracking.log``), so they reach whatever
``trainer.logger`` names. If veRL stops merging the sampler's metrics, the keys vanish from the log:
``tests/recipes/`` runs main_ppo and checks for them.

Inputs are the per-answer dicts every ``reward_fns`` variant returns (``gr2_verl.outcome``):
``valid``, ``is_identity``, ``kendall_tau``, ``r_rank``, ``acc``, ``target_in_pos``,
``target_out_pos``, ``top1_in_pos``; nothing is recomputed here.

    identity_rate        share of all answers that copy the input order
    valid_rate           share of all answers that are a permutation of the candidates
    kendall_tau          mean Kendall tau to the input order, over valid answers (1: a copy)
    target_promoted      share of valid answers with the target in the list that move it up
    target_kept          ... that leave it where it was
    target_demoted       ... that move it down
    top1_input_pos       mean input position of the answer's first item, over valid answers
    top1_from_first      share of valid answers whose first item was first in the input
    r_rank, acc          mean rank promotion (r_D - r_o) / K and top-1 hit rate over all answers

A figure with no answers to average over (no valid answer at all) is NaN, not 0.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

logger = logging.getLogger(__name__)

PREFIX = "gr2/"
GUARD_ACTIONS = ("warn", "stop")


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def hacking_metrics(infos: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The figures above, keyed ``gr2/<name>``, from one step's per-answer reward dicts.

    >>> copy = {"valid": 1.0, "is_identity": 1.0, "kendall_tau": 1.0, "r_rank": 0.0, "acc": 0.0,
    ...         "target_in_pos": 3, "target_out_pos": 3, "top1_in_pos": 1}
    >>> bad = {"valid": 0.0, "is_identity": 0.0, "kendall_tau": 0.0, "r_rank": 0.0, "acc": 0.0,
    ...        "target_in_pos": 3, "target_out_pos": 0, "top1_in_pos": 0}
    >>> m = hacking_metrics([copy, bad])
    >>> m["gr2/identity_rate"], m["gr2/valid_rate"], m["gr2/target_kept"], m["gr2/top1_from_first"]
    (0.5, 0.5, 1.0, 1.0)
    """
    valid = [i for i in infos if float(i["valid"]) == 1.0]
    placed = [i for i in valid if int(i["target_in_pos"]) > 0]
    moves = [int(i["target_in_pos"]) - int(i["target_out_pos"]) for i in placed]
    metrics = {
        "answers": float(len(infos)),
        "identity_rate": _mean([float(i["is_identity"]) for i in infos]),
        "valid_rate": _mean([float(i["valid"]) for i in infos]),
        "kendall_tau": _mean([float(i["kendall_tau"]) for i in valid]),
        "target_promoted": _mean([float(m > 0) for m in moves]),
        "target_kept": _mean([float(m == 0) for m in moves]),
        "target_demoted": _mean([float(m < 0) for m in moves]),
        "top1_input_pos": _mean([float(i["top1_in_pos"]) for i in valid]),
        "top1_from_first": _mean([float(int(i["top1_in_pos"]) == 1) for i in valid]),
        "r_rank": _mean([float(i["r_rank"]) for i in infos]),
        "acc": _mean([float(i["acc"]) for i in infos]),
    }
    return {PREFIX + k: v for k, v in metrics.items()}


class IdentityGuardError(RuntimeError):
    """Raised by the guard in ``stop`` mode: the policy kept copying the input order."""


class IdentityGuard:
    """Counts consecutive steps whose identity rate exceeds ``threshold``; acts after ``steps`` of them.

    ``action="warn"`` logs a warning on every such step from the ``steps``-th on; ``"stop"`` raises
    ``IdentityGuardError``, which ends the run. A NaN rate (no answers) resets nothing and counts nothing.
    """

    def __init__(self, threshold: float, steps: int, action: str = "warn"):
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"identity guard threshold must be in [0, 1), got {threshold}")
        if steps < 1:
            raise ValueError(f"identity guard steps must be >= 1, got {steps}")
        if action not in GUARD_ACTIONS:
            raise ValueError(f"identity guard action must be one of {GUARD_ACTIONS}, got {action!r}")
        self.threshold, self.steps, self.action = threshold, steps, action
        self.streak = 0

    def update(self, identity_rate: float, global_step: int) -> dict[str, float]:
        """Record one step; return ``gr2/guard/*`` metrics; warn or raise once the streak is long enough."""
        if not math.isnan(identity_rate):
            self.streak = self.streak + 1 if identity_rate > self.threshold else 0
        tripped = self.streak >= self.steps
        if tripped:
            message = (
                f"identity guard: the identity rate stayed above {self.threshold} for {self.streak} steps "
                f"(step {global_step}: {identity_rate:.3f}): the policy copies the input order instead of "
                "reranking (GR2's order-copying hack). Check the reward (conditional_format resists it) or "
                "raise trainer.v1.sampler.sampler_kwargs.identity_guard_threshold."
            )
            if self.action == "stop":
                raise IdentityGuardError(message)
            logger.warning(message)
        return {PREFIX + "guard/streak": float(self.streak), PREFIX + "guard/tripped": float(tripped)}
