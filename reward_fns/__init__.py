"""Reranking rewards for veRL. Each variant is a module with one ``compute_score``.

Select one with a single key (``reward.custom_reward_function.path=pkg://reward_fns``)::

    reward.custom_reward_function.name=conditional_format   # GR2's reward, also ``compute_score``
    reward.custom_reward_function.name=naive_format         # reproduces the "copy the input" hack
    reward.custom_reward_function.name=rank_promotion
    reward.custom_reward_function.name=identity_gated       # multi-positive slates, AUC / NDCG
    reward.custom_reward_function.name=listwise_ndcg        # ReasonRank-style composite

Parameters (``alpha``, ``invalid_score``, ...) go in ``reward.custom_reward_function.reward_kwargs``.
"""

from reward_fns.conditional_format import compute_score as conditional_format
from reward_fns.identity_gated import compute_score as identity_gated
from reward_fns.listwise_ndcg import compute_score as listwise_ndcg
from reward_fns.naive_format import compute_score as naive_format
from reward_fns.rank_promotion import compute_score as rank_promotion

compute_score = conditional_format

VARIANTS = {
    "conditional_format": conditional_format,
    "naive_format": naive_format,
    "rank_promotion": rank_promotion,
    "identity_gated": identity_gated,
    "listwise_ndcg": listwise_ndcg,
}

__all__ = ["compute_score", "VARIANTS", *VARIANTS]
