"""GR2DAPORewardManager against veRL's own DAPO manager, both loaded by veRL from the recipe's keys.

Answers are real Qwen3 token ids (SID tokens added as normal tokens) in a hand-built DataProto, the
reward is our conditional_format; max_resp_len 400 with a 200-token overlong buffer, floor -1.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from gr2_verl.types import GroundTruth, SidMap

SIDS = SidMap(levels=4, codebook_size=16, codes={f"item{i}": (i, (7 * i) % 16, (3 * i) % 16, i % 4) for i in range(10)})
CANDS = [SIDS.sid(f"item{i}") for i in range(10)]
TRUTH = GroundTruth(candidates=tuple(CANDS), targets=(CANDS[3],))  # target at input position 4
PROMOTED = [CANDS[3], *CANDS[:3], *CANDS[4:]]  # R_rank 0.3 + alpha 0.2 = 0.5
DEMOTED = [*CANDS[:3], *CANDS[4:], CANDS[3]]  # R_rank (4 - 10) / 10 = -0.6
MAX_LEN, BUFFER = 400, 200


def compose(manager: list[str]):
    import verl.trainer.config
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    overrides = [
        "reward.custom_reward_function.path=pkg://reward_fns",
        "reward.custom_reward_function.name=conditional_format",
        "+reward.reward_kwargs.overlong_buffer_cfg.enable=true",
        f"+reward.reward_kwargs.overlong_buffer_cfg.len={BUFFER}",
        "+reward.reward_kwargs.overlong_buffer_cfg.penalty_factor=1.0",
        "+reward.reward_kwargs.overlong_buffer_cfg.log=true",
        f"+reward.reward_kwargs.max_resp_len={MAX_LEN}",
        *manager,
    ]
    with initialize_config_dir(config_dir=os.path.dirname(verl.trainer.config.__file__), version_base=None):
        return hydra_compose("ppo_trainer", overrides=overrides)


VERL_DAPO = ["reward.reward_manager.name=dapo"]
GR2_DAPO = [
    "reward.reward_manager.source=importlib",
    "reward.reward_manager.module.path=pkg://gr2_verl.verl_ext.reward_manager",
    "reward.reward_manager.name=GR2DAPORewardManager",
    "+reward.reward_kwargs.overlong_floor=-1.0",
]


@pytest.fixture(scope="module")
def tokenizer(qwen_tokenizer_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(qwen_tokenizer_dir)
    tok.add_tokens(SIDS.vocabulary(), special_tokens=False)
    return tok


def answer(order: list[str], words: int) -> str:
    return " ".join(["the history leans to sci-fi"] * (words // 5)) + "\n" + json.dumps({"ranking": order})


def batch(tokenizer, responses: list[str]):
    """One DataProto row per response, cut at MAX_LEN tokens (veRL's rollout truncates the same way)."""
    from verl import DataProto

    prompt = tokenizer("rank these", add_special_tokens=False)["input_ids"]
    rows, masks = [], []
    for text in responses:
        ids = tokenizer(text + tokenizer.eos_token, add_special_tokens=False)["input_ids"][:MAX_LEN]
        rows.append(ids + [tokenizer.pad_token_id] * (MAX_LEN - len(ids)))
        masks.append([1] * len(prompt) + [1] * len(ids) + [0] * (MAX_LEN - len(ids)))
    n = len(responses)
    return DataProto.from_dict(
        tensors={
            "prompts": torch.tensor([prompt] * n),
            "responses": torch.tensor(rows),
            "attention_mask": torch.tensor(masks),
        },
        non_tensors={
            "data_source": np.array(["gr2/test"] * n, dtype=object),
            "reward_model": np.array([{"style": "rule", "ground_truth": TRUTH.to_json()}] * n, dtype=object),
            "extra_info": np.array([{"index": 100 + i} for i in range(n)], dtype=object),
        },
    )


def scores(tokenizer, manager_keys: list[str], responses: list[str]) -> list[dict]:
    from verl.trainer.ppo.reward import load_reward_manager

    manager = load_reward_manager(compose(manager_keys), tokenizer)
    data = batch(tokenizer, responses)
    return [manager.loop.run_until_complete(manager.run_single(data[i : i + 1])) for i in range(len(data))]


def test_overlong_shaping_never_pushes_below_a_broken_answer(tokenizer):
    responses = [
        answer(PROMOTED, 10),  # short and good
        answer(PROMOTED, 240),  # good but long: inside the buffer
        answer(DEMOTED, 240),  # valid, bad and long: veRL scores it below a broken answer
        answer(PROMOTED, 400),  # truncated at 400 tokens: no closing JSON, invalid
        "I refuse",  # short and broken
    ]
    n_long = len(tokenizer(responses[1] + tokenizer.eos_token, add_special_tokens=False)["input_ids"])
    assert MAX_LEN - BUFFER + 80 < n_long <= MAX_LEN  # penalty beyond -0.4, so -0.6 + penalty < -1
    penalty = -(n_long - (MAX_LEN - BUFFER)) / BUFFER
    verl = [r["reward_score"] for r in scores(tokenizer, VERL_DAPO, responses)]
    ours = scores(tokenizer, GR2_DAPO, responses)
    assert [float(s) for s in verl] == pytest.approx([0.5, 0.5 + penalty, -0.6 + penalty, -2.0, -1.0])
    assert [r["reward_score"] for r in ours] == pytest.approx([0.5, 0.5 + penalty, -1.0, -1.0, -1.0])
    # the log tells the penalty actually applied, and the unshaped score stays for group filtering
    info = [r["reward_extra_info"] for r in ours]
    assert [i["overlong_reward"] for i in info] == pytest.approx([0.0, penalty, -0.4, 0.0, 0.0])
    assert [i["overlong"] for i in info] == [False, True, True, False, False]
    assert [i["score"] for i in info] == pytest.approx([0.5, 0.5, -0.6, -1.0, -1.0])
    assert [i["valid"] for i in info] == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_every_answer_logs_its_row_index(tokenizer):
    results = scores(tokenizer, GR2_DAPO, [answer(PROMOTED, 10), "I refuse"])
    assert [r["reward_extra_info"]["row_index"] for r in results] == [100, 101]
