"""GR2's replay buffer for veRL's V1 sync trainer: dynamic sampling with a cap, and hacking metrics every step.

Plugs into ``trainer.v1.sampler.custom_sampler.path=pkg://gr2_verl.verl_ext.sampler`` and
``...custom_sampler.name=GR2ReplayBuffer`` (``PPOTrainer._build_replay_buffer``,
``verl/trainer/ppo/v1/trainer_base.py:139-185`` in veRL 0.9.1). It subclasses veRL's sync
``ReplayBuffer`` (``replay_buffer.py``) and overrides three of its methods: ``sample`` (per-step
bookkeeping and metrics), ``_dapo_filtered_keys`` (the cap) and ``_clear_groups`` (to read the
answers of groups it evicts). If veRL renames or re-signs those, or stops calling
``_dapo_filtered_keys`` once per polling pass, the cap or the metrics break:
``tests/verl_ext/test_sampler.py`` drives the real class to catch that.

Why a custom sampler: veRL passes a custom sampler none of the group-filtering settings, so the
recipe hands them over in ``trainer.v1.sampler.sampler_kwargs`` (interpolated from
``algorithm.filter_groups`` and ``data.train_batch_size``), and this class gives them to veRL's own
implementation, adding:

- **A cap on dynamic sampling.** V1's buffer ignores ``algorithm.filter_groups.max_num_gen_batches``
  and refills until the batch is full; when every group ties (a policy that copies the input order
  earns one reward per prompt) a step never ends. Here, with ``max_num_gen_batches = N > 0``, a step
  drops at most ``(N - 1) * train_batch_size`` tied groups (so it generates at most
  ``(2N - 1) * train_batch_size`` prompts: veRL refills two per drop). Past that, tied groups are
  kept: they carry no task signal (zero GRPO advantage unless length shaping separates their answers),
  the step finishes, a warning says so and
  ``training/filter_groups/cap_hit`` is 1 (``.../kept_tied_groups`` counts them). ``N = 0`` keeps
  veRL's unbounded behaviour.
- **Hacking metrics** (``gr2_verl.verl_ext.step_metrics``) over every answer generated for the step,
  including the groups filtering dropped (they are where copying hides), and the opt-in identity guard.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import transfer_queue as tq
from omegaconf import DictConfig
from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

from gr2_verl.verl_ext.step_metrics import IdentityGuard, hacking_metrics

logger = logging.getLogger(__name__)

TRAIN = "train"


class GR2ReplayBuffer(ReplayBuffer):
    """veRL's sync replay buffer with a per-step cap on dropped groups and per-step hacking metrics.

    ``sampler_kwargs`` keys: ``filter_enable``, ``filter_metric``, ``max_num_gen_batches``,
    ``max_inflight_gen_batches``, ``train_batch_size``, ``sync_refill_failed_groups`` (veRL's
    meanings), and ``identity_guard_threshold`` (None: off), ``identity_guard_steps``,
    ``identity_guard_action`` (``warn`` or ``stop``).
    """

    def __init__(
        self,
        trainer_mode: str,
        trainer_config: DictConfig,
        max_off_policy_threshold: int | None,
        max_off_policy_strategy: str,
        sampler_kwargs: Mapping[str, Any],
        refill_fn: Callable[[int], int] | None = None,
        poll_interval: float = 2.0,
    ):
        if trainer_mode != "sync":
            raise ValueError(
                f"GR2ReplayBuffer supports trainer.v1.trainer_mode=sync only, got {trainer_mode!r}; "
                "unset trainer.v1.sampler.custom_sampler to use veRL's async buffer"
            )
        kw = dict(sampler_kwargs or {})
        enabled = bool(kw.get("filter_enable", False))
        metric = kw.get("filter_metric") if enabled else None
        if enabled and not metric:
            raise ValueError("sampler_kwargs.filter_metric must be set when filter_enable is true")
        train_batch_size = int(kw["train_batch_size"])
        refill_failed = bool(kw.get("sync_refill_failed_groups", False))
        super().__init__(
            trainer_mode=trainer_mode,
            trainer_config=trainer_config,
            max_off_policy_threshold=max_off_policy_threshold,
            max_off_policy_strategy=max_off_policy_strategy,
            sampler_kwargs=sampler_kwargs,
            poll_interval=poll_interval,
            refill_fn=refill_fn,
            filter_groups_metric=None if metric is None else str(metric),
            train_batch_size=train_batch_size,
            # veRL forces single-prompt fetches whenever filtering or failed-group refills are on.
            gen_batch_size=1 if metric is not None or refill_failed else train_batch_size,
            max_inflight_gen_batches=int(kw.get("max_inflight_gen_batches", 1)) if metric is not None else 1,
            sync_refill_failed_groups=refill_failed,
        )
        self.max_num_gen_batches = int(kw.get("max_num_gen_batches", 0))
        self.drop_budget = (self.max_num_gen_batches - 1) * train_batch_size if self.max_num_gen_batches > 0 else None
        if metric is not None and self.drop_budget is None:
            logger.warning("max_num_gen_batches=0: dynamic sampling is unbounded and hangs if every group ties")
        threshold = kw.get("identity_guard_threshold", None)
        self.guard = (
            None
            if threshold is None
            else IdentityGuard(
                float(threshold), int(kw.get("identity_guard_steps", 20)), str(kw.get("identity_guard_action", "warn"))
            )
        )
        self._reset_step()

    def _reset_step(self) -> None:
        self._dropped = 0
        self._spared: set[str] = set()
        self._answers: list[Mapping[str, Any]] = []

    def _read_answers(self, keys: list[str]) -> list[Mapping[str, Any]]:
        """The reward dicts (``extra_fields.reward_extra_info``) of these trajectories, as veRL stores them."""
        if not keys:
            return []
        data = tq.kv_batch_get(keys=keys, partition_id=TRAIN, select_fields=["extra_fields"])
        infos = []
        for value in data["extra_fields"]:
            fields = getattr(value, "data", value)
            info = fields.get("reward_extra_info", None) if isinstance(fields, dict) else None
            if info:
                infos.append(info)
        return infos

    def _clear_groups(self, partition_id: str, uids: set[str]) -> None:
        if partition_id == TRAIN and uids:
            keys = [key for key in self.partitions[partition_id] if key.split("_")[0] in uids]
            self._answers.extend(self._read_answers(keys))
        super()._clear_groups(partition_id, uids)

    def _dapo_filtered_keys(self, partition_id: str) -> tuple[set[str], Counter]:
        uids, _counts = super()._dapo_filtered_keys(partition_id)
        if partition_id != TRAIN or self.drop_budget is None:
            return uids, _counts
        uids = uids - self._spared
        room = max(0, self.drop_budget - self._dropped)
        if len(uids) > room:
            ordered = sorted(uids)
            self._spared.update(ordered[room:])
            uids = set(ordered[:room])
        self._dropped += len(uids)
        cache = self._dapo_classification_cache[partition_id]
        return uids, Counter(cache[uid] for uid in uids)

    def sample(self, global_steps: int, partition_id: str, batch_size: int):
        """veRL's sync sampling, plus ``training/filter_groups/cap_hit``, ``.../kept_tied_groups`` and ``gr2/*``."""
        if partition_id != TRAIN:
            return super().sample(global_steps, partition_id, batch_size)
        self._reset_step()
        batch, metrics = super().sample(global_steps, partition_id, batch_size)
        selected = {key.split("_")[0] for key in batch.keys}
        kept_tied = len(selected & self._spared)
        metrics["training/filter_groups/cap_hit"] = float(bool(self._spared))
        metrics["training/filter_groups/kept_tied_groups"] = float(kept_tied)
        if self._spared:
            logger.warning(
                f"step {global_steps}: dynamic sampling hit its cap (algorithm.filter_groups.max_num_gen_batches="
                f"{self.max_num_gen_batches}: at most {self.drop_budget} groups dropped per step); training on "
                f"{kept_tied} of {len(selected)} groups whose answers tie on {self.filter_groups_metric!r} (no task "
                "signal). "
                "Every group tying is what order-copying collapse looks like: see gr2/identity_rate."
            )
        answers = self._answers + self._read_answers(list(batch.keys))
        step = hacking_metrics(answers)
        metrics.update(step)
        if self.guard is not None:
            metrics.update(self.guard.update(step["gr2/identity_rate"], global_steps))
        self._reset_step()
        return batch, metrics
