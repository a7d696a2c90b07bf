"""The reward lab's training loop: DAPO on the small policy, built from veRL's own ``core_algos`` pieces.

One step, as veRL's trainer does it with ``algorithm.adv_estimator=grpo`` and DAPO settings:

1. draw ``prompts_per_step`` rows, sample ``group_size`` answers each, score every answer text with
   the real reward function (``reward_fns.VARIANTS``);
2. dynamic sampling: drop groups whose rewards have zero std (veRL 0.9.1's rule in
   ``verl.trainer.ppo.v1.replay_buffer``), refill with new rows for up to ``max_gen_rounds`` rounds;
3. ``core_algos.compute_grpo_outcome_advantage`` (group-normalised outcome advantages);
4. ``core_algos.compute_policy_loss_vanilla`` with clip-higher (eps_low 0.2, eps_high 0.28) and
   ``loss_agg_mode="token-mean"``, one update per mini-batch (no KL, no entropy bonus, as DAPO).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from gr2_verl.evaluation.scoring import score_answer
from gr2_verl.lab.config import LabConfig
from gr2_verl.lab.features import FEATURES, feature_tensor
from gr2_verl.lab.policy import BROKEN, COPY, MODES, RANK, RerankPolicy
from gr2_verl.rl_row import RLRow


def answer_text(row: RLRow, mode: int, slots: Sequence[int], slip: bool = False) -> str:
    """The JSON answer an LLM would write for this mode and slot order; a ``slip`` repeats the first item last."""
    shown = row.shown_candidates
    order = [shown[s] for s in slots]
    if slip:
        order[-1] = order[0]
    if mode == BROKEN:
        order = list(shown[:-1])
    elif mode == COPY:
        order = list(shown)
    return json.dumps({"reasoning": "lab policy", "ranking": order})


def _actor_config(cfg: LabConfig, n: int) -> Any:
    from verl.workers.config.actor import ActorConfig

    return ActorConfig(
        strategy="fsdp",
        rollout_n=cfg.group_size,
        ppo_mini_batch_size=n,
        ppo_micro_batch_size_per_gpu=n,
        clip_ratio_low=cfg.clip_ratio_low,
        clip_ratio_high=cfg.clip_ratio_high,
        loss_agg_mode="token-mean",
        use_torch_compile=False,
    )


class _Scorer:
    """Score answers with one reward variant and measure what they did."""

    def __init__(self, name: str, fn: Callable[..., dict[str, Any]], data_source: str = "gr2/lab") -> None:
        self.name, self.fn, self.data_source = name, fn, data_source

    def __call__(
        self, rows: Sequence[RLRow], modes: torch.Tensor, perms: torch.Tensor, slips: torch.Tensor
    ) -> dict[str, np.ndarray]:
        out: dict[str, list[float]] = {"reward": [], "identity": [], "valid": [], "r1": [], "slot1_top": []}
        for row, mode, slots, slip in zip(rows, modes.tolist(), perms.tolist(), slips.tolist(), strict=True):
            text = answer_text(row, mode, slots, slip)
            res = self.fn(self.data_source, text, row.ground_truth, {"index": row.index})
            s = score_answer(text, row)
            out["reward"].append(float(res["score"]))
            out["identity"].append(float(res["is_identity"]))
            out["valid"].append(float(res["valid"]))
            out["r1"].append(s.metrics[0])
            out["slot1_top"].append(float(res["valid"] == 1.0 and slots[0] == 0))
        return {k: np.asarray(v) for k, v in out.items()}


def _summary(stats: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(v.mean()) for k, v in stats.items()}


def train_variant(
    scorer: _Scorer,
    train_rows: Sequence[RLRow],
    eval_rows: Sequence[RLRow],
    cfg: LabConfig,
    progress: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Train a fresh policy under one reward; returns per-step training metrics and held-out evaluations."""
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage, compute_policy_loss_vanilla

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    k = train_rows[0].truth.k
    train_x = feature_tensor(train_rows, cfg.signal, cfg.seed)
    eval_x = feature_tensor(eval_rows, cfg.signal, cfg.seed)
    policy = RerankPolicy(k, len(FEATURES), p_copy=cfg.p_copy, p_broken=cfg.p_broken, slot_slope=cfg.slot_slope,
                          skill=cfg.skill)
    optim = torch.optim.Adam([
        {"params": [policy.mode_logits, policy.slot_bias], "lr": cfg.lr},
        {"params": [policy.w], "lr": cfg.lr * cfg.feature_lr_scale},
    ])
    steps, evals = [], []

    eval_x_rep = eval_x.repeat_interleave(cfg.group_size, dim=0)  # group_size answers per held-out row: less noise
    eval_rows_rep = [r for r in eval_rows for _ in range(cfg.group_size)]

    def evaluate(step: int) -> None:
        modes, perms = policy.sample(eval_x_rep, gen)
        evals.append({"step": step, **_summary(scorer(eval_rows_rep, modes, perms, slips(modes)))})

    def slips(modes: torch.Tensor) -> torch.Tensor:
        return (modes == RANK) & (torch.rand(len(modes), generator=gen) < cfg.rerank_slip)

    evaluate(0)
    for step in range(1, cfg.steps + 1):
        kept_x, kept_modes, kept_perms, kept_rewards, kept_groups = [], [], [], [], 0
        first: dict[str, np.ndarray] | None = None
        for _ in range(cfg.max_gen_rounds):
            idx = rng.sample(range(len(train_rows)), cfg.prompts_per_step)
            x = train_x[idx].repeat_interleave(cfg.group_size, dim=0)
            rows = [train_rows[i] for i in idx for _ in range(cfg.group_size)]
            modes, perms = policy.sample(x, gen)
            stats = scorer(rows, modes, perms, slips(modes))
            first = first or stats
            groups = stats["reward"].reshape(cfg.prompts_per_step, cfg.group_size)
            keep = np.repeat(groups.std(axis=1) > 0, cfg.group_size)  # DAPO: zero-variance groups carry no signal
            room = (cfg.prompts_per_step - kept_groups) * cfg.group_size
            sel = np.flatnonzero(keep)[:room]
            kept_x.append(x[sel])
            kept_modes.append(modes[sel])
            kept_perms.append(perms[sel])
            kept_rewards.append(stats["reward"][sel])
            kept_groups += len(sel) // cfg.group_size
            if kept_groups >= cfg.prompts_per_step:
                break
        record = {"step": step, **_summary(first), "kept_groups": kept_groups / cfg.prompts_per_step}
        if kept_groups:
            record.update(_update(policy, optim, cfg, torch.cat(kept_x), torch.cat(kept_modes),
                                  torch.cat(kept_perms), np.concatenate(kept_rewards),
                                  compute_grpo_outcome_advantage, compute_policy_loss_vanilla, gen))
        record["p_copy"] = float(torch.softmax(policy.mode_logits.detach(), 0)[COPY])
        steps.append(record)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            evaluate(step)
        if progress is not None:
            progress()
    params = {"w": dict(zip(FEATURES, policy.w.tolist(), strict=True)), "slot_bias": policy.slot_bias.tolist(),
              "mode_probs": dict(zip(MODES, torch.softmax(policy.mode_logits.detach(), 0).tolist(), strict=True))}
    return {"steps": steps, "evals": evals, "final_policy": params}


def _update(policy, optim, cfg, x, modes, perms, rewards, grpo_advantage, policy_loss, gen) -> dict[str, float]:
    """GRPO advantages, then one clipped token-mean policy-gradient update per mini-batch."""
    k = policy.k
    mask = RerankPolicy.response_mask(modes, k)
    lengths = mask.sum(1).long()
    token_rewards = torch.zeros_like(mask)
    token_rewards[torch.arange(len(modes)), lengths - 1] = torch.as_tensor(rewards, dtype=torch.float32)
    index = np.arange(len(modes)) // cfg.group_size  # rows are laid out group by group
    advantages, _ = grpo_advantage(token_rewards, mask, index)
    with torch.no_grad():
        old_lp = policy.log_probs(x, modes, perms)
    n_groups = len(modes) // cfg.group_size
    shuffled = np.random.default_rng(int(torch.randint(2**31, (1,), generator=gen))).permutation(n_groups)
    chunks = np.array_split(shuffled, min(cfg.mini_batches, n_groups))
    losses, clipfrac = [], []
    for chunk in chunks:
        sel = torch.as_tensor((chunk[:, None] * cfg.group_size + np.arange(cfg.group_size)).ravel())
        lp = policy.log_probs(x[sel], modes[sel], perms[sel])
        loss, metrics = policy_loss(old_lp[sel], lp, advantages[sel], mask[sel], loss_agg_mode="token-mean",
                                    config=_actor_config(cfg, len(sel)))
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(float(loss.detach()))
        clipfrac.append(metrics["actor/pg_clipfrac"])
    return {"pg_loss": float(np.mean(losses)), "pg_clipfrac": float(np.mean(clipfrac))}


def run_lab(
    rows: Sequence[RLRow],
    variants: dict[str, Callable[..., dict[str, Any]]],
    cfg: LabConfig,
    eval_share: float = 0.2,
    progress: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Train one policy per reward variant on the same rows; rows whose target is missed are left out.

    A seeded ``eval_share`` of rows is held out for the evaluations. Returns JSON-able results.
    """
    usable = [r for r in rows if r.target_in_list]
    ks = {r.truth.k for r in usable}
    if len(ks) != 1:
        raise ValueError(f"the lab needs rows with one list size K and the target in the list; got K in {sorted(ks)}")
    order = list(range(len(usable)))
    random.Random(cfg.seed).shuffle(order)
    n_eval = max(1, int(len(usable) * eval_share))
    eval_rows = [usable[i] for i in order[:n_eval]]
    train_rows = [usable[i] for i in order[n_eval:]]
    if len(train_rows) < cfg.prompts_per_step:
        raise ValueError(f"the lab needs at least {cfg.prompts_per_step + n_eval} rows with the target in the list")
    input_r1 = float(np.mean([r.truth.candidates[0] == r.truth.targets[0] for r in eval_rows]))
    results = {name: train_variant(_Scorer(name, fn), train_rows, eval_rows, cfg, progress) for name, fn in
               variants.items()}
    return {"config": asdict(cfg), "rows_train": len(train_rows), "rows_eval": len(eval_rows),
            "input_order_r1": input_r1, "variants": results}
