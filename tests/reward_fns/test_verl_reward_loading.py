"""Our rewards inside veRL itself: its loader, its config, its naive and DAPO reward managers.

Responses are tokenized by the real Qwen3 tokenizer extended with SID tokens added as normal tokens,
so the test sees exactly what veRL decodes (``skip_special_tokens=True``) and hands the reward.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import reward_fns
from gr2_verl.types import GroundTruth, SidMap

CANDS_CODES = [(i, (7 * i) % 16, (3 * i) % 16, i % 4) for i in range(10)]
SIDS = SidMap(levels=4, codebook_size=16, codes={f"item{i}": c for i, c in enumerate(CANDS_CODES)})
CANDS = [SIDS.sid(f"item{i}") for i in range(10)]
TRUTH = GroundTruth(candidates=tuple(CANDS), targets=(CANDS[3],))  # target at input position 4
REWARD_FILE = str(Path(reward_fns.__file__).parent / "conditional_format.py")


def compose(overrides: list[str]):
    import verl.trainer.config
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=os.path.dirname(verl.trainer.config.__file__), version_base=None):
        return hydra_compose("ppo_trainer", overrides=overrides)


@pytest.fixture(scope="module")
def sid_tokenizer(qwen_tokenizer_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(qwen_tokenizer_dir)
    tok.add_tokens(SIDS.vocabulary(), special_tokens=False)  # normal tokens: survive skip_special_tokens
    return tok


def answer(order: list[str], reasoning_words: int = 20) -> str:
    reasoning = " ".join(["the history leans to sci-fi"] * (reasoning_words // 5))
    return f"<think>{reasoning}</think>\n" + json.dumps({"reasoning": "short", "ranking": order})


def data_proto(tokenizer, responses: list[str], pad_to: int):
    from verl import DataProto

    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": "rank"}], add_generation_prompt=True, tokenize=False
    )
    prompt = tokenizer(chat, add_special_tokens=False)["input_ids"]
    rows, masks = [], []
    for text in responses:
        ids = tokenizer(text + tokenizer.eos_token, add_special_tokens=False)["input_ids"][:pad_to]
        masks.append([1] * len(prompt) + [1] * len(ids) + [0] * (pad_to - len(ids)))
        rows.append(ids + [tokenizer.pad_token_id] * (pad_to - len(ids)))
    n = len(responses)
    tensors = {
        "prompts": torch.tensor([prompt] * n),
        "responses": torch.tensor(rows),
        "attention_mask": torch.tensor(masks),
    }
    non_tensors = {
        "data_source": np.array(["gr2/test"] * n, dtype=object),
        "reward_model": np.array([{"style": "rule", "ground_truth": TRUTH.to_json()}] * n, dtype=object),
        "extra_info": np.array([{"index": i} for i in range(n)], dtype=object),
    }
    return DataProto.from_dict(tensors=tensors, non_tensors=non_tensors)


def run_manager(manager, data) -> list[dict]:
    # the reward-loop managers bind their event loop at construction: drive that loop
    return [manager.loop.run_until_complete(manager.run_single(data[i : i + 1])) for i in range(len(data))]


@pytest.mark.parametrize("path", ["pkg://reward_fns", REWARD_FILE, "file://" + REWARD_FILE])
def test_verl_loader_finds_our_function(path):
    from verl.trainer.ppo.reward import get_custom_reward_fn

    name = "conditional_format" if path.startswith("pkg://") else "compute_score"
    cfg = compose([f"reward.custom_reward_function.path={path}", f"reward.custom_reward_function.name={name}"])
    fn = get_custom_reward_fn(cfg)
    out = fn(data_source="gr2/test", solution_str=answer(CANDS), ground_truth=TRUTH.to_json(), extra_info={})
    assert out["score"] == 0.0 and out["is_identity"] == 1.0


def test_one_key_swaps_the_variant_and_reward_kwargs_reach_it():
    from verl.trainer.ppo.reward import get_custom_reward_fn

    cfg = compose(
        [
            "reward.custom_reward_function.path=pkg://reward_fns",
            "reward.custom_reward_function.name=naive_format",
            "+reward.custom_reward_function.reward_kwargs.alpha=0.5",
        ]
    )
    fn = get_custom_reward_fn(cfg)
    out = fn(data_source="gr2/test", solution_str=answer(CANDS), ground_truth=TRUTH.to_json(), extra_info={})
    assert out["score"] == pytest.approx(0.5)  # naive_format pays the copy, with our alpha


def test_naive_manager_scores_decoded_sid_answers(sid_tokenizer):
    from verl.trainer.ppo.reward import load_reward_manager

    cfg = compose(
        [
            "reward.custom_reward_function.path=pkg://reward_fns",
            "reward.custom_reward_function.name=conditional_format",
            "reward.reward_manager.name=naive",
        ]
    )
    manager = load_reward_manager(cfg, sid_tokenizer)
    promoted = [CANDS[3]] + CANDS[:3] + CANDS[4:]
    responses = [answer(promoted), answer(CANDS), answer(CANDS[:9]), "I refuse"]
    results = run_manager(manager, data_proto(sid_tokenizer, responses, pad_to=400))
    scores = [r["reward_score"] for r in results]
    assert scores == pytest.approx([0.3 + 0.2, 0.0, -1.0, -1.0])
    info = results[0]["reward_extra_info"]
    assert json.loads(info["pred"]) == promoted  # SIDs survived skip_special_tokens decoding
    assert {r["reward_extra_info"]["status"] for r in results} == {"ok", "missing", "no_json"}
    # each SID is one token per code plus the two markers
    assert len(sid_tokenizer(CANDS[0], add_special_tokens=False)["input_ids"]) == 6


def test_sids_added_as_special_tokens_would_vanish(qwen_tokenizer):
    qwen_tokenizer.add_tokens(SIDS.vocabulary(), special_tokens=True)
    ids = qwen_tokenizer(answer(CANDS), add_special_tokens=False)["input_ids"]
    decoded = qwen_tokenizer.decode(ids, skip_special_tokens=True)
    assert reward_fns.compute_score("gr2/test", decoded, TRUTH.to_json())["status"] != "ok"


def test_dapo_manager_applies_the_overlong_penalty(sid_tokenizer):
    from verl.trainer.ppo.reward import load_reward_manager

    max_resp_len, buffer = 400, 200
    cfg = compose(
        [
            "reward.custom_reward_function.path=pkg://reward_fns",
            "reward.custom_reward_function.name=conditional_format",
            "reward.reward_manager.name=dapo",
            "+reward.reward_kwargs.overlong_buffer_cfg.enable=true",
            f"+reward.reward_kwargs.overlong_buffer_cfg.len={buffer}",
            "+reward.reward_kwargs.overlong_buffer_cfg.penalty_factor=1.0",
            "+reward.reward_kwargs.overlong_buffer_cfg.log=true",
            f"+reward.reward_kwargs.max_resp_len={max_resp_len}",
        ]
    )
    manager = load_reward_manager(cfg, sid_tokenizer)
    promoted = [CANDS[3]] + CANDS[:3] + CANDS[4:]
    short, long = answer(promoted, reasoning_words=10), answer(promoted, reasoning_words=200)
    n_long = len(sid_tokenizer(long + sid_tokenizer.eos_token, add_special_tokens=False)["input_ids"])
    assert max_resp_len - buffer < n_long <= max_resp_len  # the long answer reaches into the buffer
    short_res, long_res = run_manager(manager, data_proto(sid_tokenizer, [short, long], pad_to=max_resp_len))
    assert short_res["reward_score"] == pytest.approx(0.5)
    assert short_res["reward_extra_info"]["overlong"] is False
    expected_penalty = -(n_long - (max_resp_len - buffer)) / buffer
    assert long_res["reward_extra_info"]["overlong_reward"] == pytest.approx(expected_penalty)
    assert long_res["reward_score"] == pytest.approx(0.5 + expected_penalty)
    assert long_res["reward_extra_info"]["score"] == pytest.approx(0.5)  # our score, before shaping


def test_the_readme_own_reward_example_runs_through_verl(tmp_path):
    """README's "Write your own reward": the example, loaded by veRL's own loader with its kwargs, scores."""
    from verl.trainer.ppo.reward import get_custom_reward_fn

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = readme.split("### Write your own reward", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "my_reward.py"
    path.write_text(code)
    cfg = compose([f"reward.custom_reward_function.path={path}", "reward.custom_reward_function.name=compute_score",
                   "+reward.custom_reward_function.reward_kwargs.bonus=0.3"])
    fn = get_custom_reward_fn(cfg)
    promoted = [CANDS[3], *CANDS[:3], *CANDS[4:]]  # the target, 4th in the input, ranked first
    out = fn(data_source="gr2/test", solution_str=answer(promoted), ground_truth=TRUTH.to_json(), extra_info={})
    assert out["score"] == pytest.approx(0.3 + 0.3) and out["valid"] == 1.0
    bad = fn(data_source="gr2/test", solution_str="no answer", ground_truth=TRUTH.to_json(), extra_info={})
    assert bad["score"] == -1.0 and set(bad) == set(out)
