"""veRL's DAPO reward manager with GR2's overlong semantics, plus the test-row index in every answer's log.

Plugs into ``reward.reward_manager.source=importlib`` with ``reward.reward_manager.module.path=
pkg://gr2_verl.verl_ext.reward_manager`` and ``reward.reward_manager.name=GR2DAPORewardManager``
(``verl.trainer.ppo.reward.resolve_reward_manager_cls``). It subclasses veRL 0.9.1's
``DAPORewardManager`` and post-processes what its ``run_single`` returns
(``{"reward_score", "reward_extra_info"}``); if veRL renames those keys or stops logging our reward
dict's keys, the ``tests/verl_ext/test_reward_manager.py`` cases fail.

Why: veRL adds the overlong penalty to every answer, so a truncated (hence invalid) answer scores
``invalid_score + penalty`` (-2 with GR2's settings) and a valid but long answer can score below a
short broken one, which teaches the policy to break the format to stop early. Here:

    invalid answer (reward dict ``valid == 0``):  R = score                       (no stacking)
    valid answer:                                  R = max(score + penalty, floor)

with ``penalty = min(0, -(len - (max_resp_len - buffer)) / buffer * penalty_factor)`` (DAPO's), and
``floor = reward.reward_kwargs.overlong_floor`` (the recipe sets it to the reward's ``invalid_score``):
length shaping can push a valid answer down to, never below, what a broken answer earns.
Example (buffer 256 of 1024, factor 1): valid, score 0.4, 900 tokens -> 0.4 - 132/256 = -0.116;
valid, score -0.9, 1024 tokens -> max(-1.9, -1) = -1; invalid, 1024 tokens -> -1.

It also copies the row's ``extra_info.index`` into the logged extras as ``row_index`` (-1 when absent),
so veRL's validation dump (``trainer.validation_data_dir``) says which test row each answer belongs to
and ``gr2 eval`` never has to match answers to rows by their ground-truth string.
"""

from __future__ import annotations

from typing import Any

from verl import DataProto
from verl.experimental.reward_loop.reward_manager.dapo import DAPORewardManager


class GR2DAPORewardManager(DAPORewardManager):
    """DAPO's manager; overlong shaping applies to valid answers only and stops at ``overlong_floor``."""

    def __init__(self, config, tokenizer, compute_score, reward_router_address=None, reward_model_tokenizer=None):
        super().__init__(config, tokenizer, compute_score, reward_router_address, reward_model_tokenizer)
        floor = config.reward.get("reward_kwargs", {}).get("overlong_floor", None)
        self.overlong_floor = None if floor is None else float(floor)

    async def run_single(self, data: DataProto) -> dict[str, Any]:
        out = await super().run_single(data)
        info = out["reward_extra_info"]
        extra_info = data[-1:][0].non_tensor_batch.get("extra_info", None) or {}
        index = extra_info.get("index", None) if hasattr(extra_info, "get") else None
        info["row_index"] = -1 if index is None else int(index)
        shaped = float(out["reward_score"])
        score = float(info["score"]) if "score" in info else shaped - float(info.get("overlong_reward", 0.0))
        if float(info.get("valid", 1.0)) == 0.0:
            reward = score
        else:
            reward = shaped if self.overlong_floor is None else max(shaped, min(score, self.overlong_floor))
        if "overlong_reward" in info:
            info["overlong_reward"] = reward - score
            info["overlong"] = reward < score
        return {"reward_score": reward, "reward_extra_info": info}
