"""recipes/dapo.sh trains two real DAPO steps on CPU with PRESET=cpu_tiny, and shows the recipe's hardening.

veRL's own main_ppo runs end to end: the CPU rollout (gr2_verl/verl_ext/cpu_rollout.py) generates, a
DAPO reward manager scores with GR2's conditional format reward, GR2ReplayBuffer samples, the FSDP actor
updates, the weights sync back into the rollout, and a checkpoint with an HF export is written.

A random model's answers are all invalid, so the conditional format reward gives each exactly -1: every
group ties on the task score. That is the constant-reward collapse dynamic sampling cannot escape (veRL's
own buffer refills forever), so this one run also checks that the recipe's group filter reads the
unshaped ``score`` (every group is classified tied), that the cap trips after (2 - 1) x 8 dropped
groups and the step finishes, and that the ``gr2/*`` hacking metrics are in each logged step.

What makes the gradient real rather than zero: the test model ends its turn early at random (its
end-of-turn logit is raised, ``END_OF_TURN_LOGIT``), the overlong buffer spans the whole answer budget,
and the run uses veRL's own DAPO manager, which shapes invalid answers too (``-1 - len / max_len``; the
recipe's GR2DAPORewardManager gives every invalid answer exactly -1): the trained rewards differ within
groups while their task scores tie.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
MAX_RESPONSE = 48  # answer budget in tokens; the overlong buffer covers all of it
END_OF_TURN_LOGIT = 0.3  # weight on a constant hidden direction: answers end after ~20 tokens on average
LR = 1e-3  # large enough that one step visibly moves a random model (GR2's 5e-7 would not)
SYNC_TOLERANCE = 1e-5  # max |p_rollout - p_actor| per token when in sync (fp32 both: measured ~1e-8)
OVERRIDES = [
    "trainer.total_training_steps=2",
    "trainer.save_freq=2",
    "trainer.val_before_train=false",
    "trainer.test_freq=-1",
    f"data.max_response_length={MAX_RESPONSE}",
    f"reward.reward_kwargs.overlong_buffer_cfg.len={MAX_RESPONSE}",
    f"actor_rollout_ref.actor.optim.lr={LR}",
    "actor_rollout_ref.actor.optim.lr_warmup_steps=0",
    # veRL's DAPO manager: length-shaped rewards for invalid answers, the only spread a random model has.
    "reward.reward_manager.source=register",
    "reward.reward_manager.name=dapo",
    # Cap: at most (2 - 1) x 8 tied groups dropped per step (the recipe's 4 would triple generation here).
    "algorithm.filter_groups.max_num_gen_batches=2",
]


@pytest.fixture(scope="module")
def rl_rows() -> list[dict]:
    from gr2_verl.lab.synthetic import synthetic_rl_records

    return synthetic_rl_records(40, seed=0, split="train")


@pytest.fixture(scope="module")
def small_vocab_model(tmp_path_factory, rl_rows, qwen_tokenizer_dir) -> Path:
    """A random Qwen3 (2 layers, hidden 64) with a ~1.6k-token vocabulary: BPE trained on the prompts plus the
    SID tokens (4 x 256 codes and the markers, added as normal tokens, as ``gr2 vocab extend`` does).

    Qwen3's chat template and special tokens, so veRL tokenises prompts as for the real model; the small
    vocabulary keeps the logits, which dominate CPU step time at 151k tokens, negligible, and whole SID
    tokens keep prompts at ~170 tokens.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    from gr2_verl.mini.model import TinyQwen3, tiny_qwen3
    from gr2_verl.types import SID_BEGIN, SID_END, sid_code_token
    from gr2_verl.vocab import add_sid_tokens

    out = tmp_path_factory.mktemp("small_vocab_qwen3")
    texts = [message["content"] for row in rl_rows for message in row["prompt"]]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
    trainer = trainers.BpeTrainer(
        vocab_size=2048, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = AutoTokenizer.from_pretrained(qwen_tokenizer_dir).chat_template
    codes = [sid_code_token(level, code) for level in range(4) for code in range(256)]
    add_sid_tokens(tokenizer, [SID_BEGIN, SID_END, *codes])
    tokenizer.save_pretrained(out)

    end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
    arch = TinyQwen3(
        hidden_size=64,
        intermediate_size=128,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        tie_word_embeddings=False,
    )
    model = tiny_qwen3(tokenizer, arch)
    with torch.no_grad():
        # Hidden unit 0 is ~constant (every embedding carries 1.0 there) and only <|im_end|> reads it.
        model.model.embed_tokens.weight[:, 0] = 1.0
        model.lm_head.weight[:, 0] = 0.0
        model.lm_head.weight[end_of_turn, 0] = END_OF_TURN_LOGIT
    model.save_pretrained(out)
    return out


def _step_metrics(stdout: str) -> dict[int, dict[str, float]]:
    """veRL's console logger lines ``step:N - key:value - ...`` as {N: {key: value}}."""
    steps = {}
    for line in stdout.splitlines():
        match = re.search(r"step:(\d+) - (.*)$", line)
        if match:
            pairs = (item.split(":", 1) for item in match.group(2).split(" - ") if ":" in item)
            steps[int(match.group(1))] = {key: float(value) for key, value in pairs if _is_number(value)}
    return steps


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.fixture()
def ray_tmp():
    """A Ray temp dir of this run's own (other jobs may run Ray), short: Ray's socket paths must fit 107 bytes."""
    with tempfile.TemporaryDirectory(prefix="gr2ray", dir="/tmp") as path:
        yield path


def _run_cpu(script: str, overrides: list[str], *, model: Path, data: Path, out: Path, ray_tmp: str):
    """``recipes/<script>`` with the CPU preset; fails the test with the output's tail on a non-zero exit."""
    env = {
        **os.environ,
        # `python` in the script is this interpreter, as in an activated venv.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PRESET": "cpu_tiny",
        "MODEL": str(model),
        "DATA_DIR": str(data),
        "OUT": str(out),
        "RAY_TMPDIR": ray_tmp,
    }
    command = ["bash", str(ROOT / "recipes" / script), *overrides]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return done


@pytest.mark.slow
def test_dapo_sh_trains_two_real_steps_on_cpu(tmp_path, rl_rows, small_vocab_model, ray_tmp):
    from transformers import AutoModelForCausalLM

    from gr2_verl.rl_row import write_rl_parquet

    data = tmp_path / "data"
    write_rl_parquet(rl_rows[:32], data / "rl" / "train.parquet")
    write_rl_parquet(rl_rows[32:], data / "rl" / "val.parquet")
    out = tmp_path / "out"
    done = _run_cpu("dapo.sh", OVERRIDES, model=small_vocab_model, data=data, out=out, ray_tmp=ray_tmp)
    steps = _step_metrics(done.stdout)
    assert sorted(steps) == [1, 2], done.stdout[-3000:]

    for step in (1, 2):
        metrics = steps[step]
        # The reward is in the step metrics: invalid answers (-1) shaped by length, never equal within all groups.
        assert -2.0 <= metrics["critic/score/min"] < metrics["critic/score/max"] <= -1.0
        # A real gradient flowed.
        assert metrics["actor/grad_norm"] > 0
        # The filter reads the unshaped score: every group ties at -1 although rm_scores differ by length, so
        # 8 groups are dropped, then the cap trips instead of refilling forever and 8 tied groups are trained on.
        assert metrics["training/filter_groups/evicted_samples"] == 8
        assert metrics["training/filter_groups/cap_hit"] == 1
        assert metrics["training/filter_groups/kept_tied_groups"] == 8
        # The order-copying metrics are in the logged step, over every answer generated, dropped groups included.
        assert 16 * 4 <= metrics["gr2/answers"] <= 24 * 4
        assert metrics["gr2/valid_rate"] == 0 and metrics["gr2/identity_rate"] == 0
    assert "dynamic sampling hit its cap" in done.stdout + done.stderr
    # Step 2's answers come from the synced weights: the rollout's token probabilities match the actor's.
    assert steps[2]["training/rollout_probs_diff_valid"] == 1
    assert steps[2]["training/rollout_probs_diff_max"] < SYNC_TOLERANCE

    # The weights changed, and by far more than the sync tolerance: a stale rollout would have shown.
    export = out / "global_step_2" / "actor" / "huggingface"
    trained = AutoModelForCausalLM.from_pretrained(export, torch_dtype=torch.float32).eval()
    start = AutoModelForCausalLM.from_pretrained(small_vocab_model, torch_dtype=torch.float32).eval()
    assert any(not torch.equal(p, start.state_dict()[name]) for name, p in trained.state_dict().items())
    probe = torch.arange(1, 65).unsqueeze(0)
    with torch.no_grad():
        moved = (trained(probe).logits.softmax(-1) - start(probe).logits.softmax(-1)).abs().max().item()
    assert moved > 10 * SYNC_TOLERANCE


@pytest.mark.slow
def test_eval_sh_pairs_answers_with_test_rows_by_row_index_on_cpu(tmp_path, rl_rows, small_vocab_model, ray_tmp):
    """recipes/eval.sh end to end: greedy generation with the recipe's reward manager (GR2DAPORewardManager, in
    veRL's reward workers), the dump, then `gr2 eval`. Test rows 0 and 1 share candidates and target, which
    matching by ground-truth string would collapse; row_index keeps them apart. The prompt budget comes
    from summary.json."""
    import json

    from gr2_verl.rl_row import write_rl_parquet

    rows = [dict(r) for r in rl_rows[32:]]
    rows[1]["reward_model"] = rows[0]["reward_model"]  # twin rows: same ground-truth string
    same = ("shown_order", "target_in_pos", "target_in_candidates")  # extra_info must agree with the ground truth
    rows[1]["extra_info"] = {**rows[1]["extra_info"], **{k: rows[0]["extra_info"][k] for k in same}}
    data = tmp_path / "data"
    write_rl_parquet(rows, data / "rl" / "test.parquet")
    (data / "summary.json").write_text(json.dumps({"prompt_tokens": {"test": {"with_sid_tokens": {"max": 400}}}}))
    out = tmp_path / "eval"
    overrides = [f"data.max_response_length={MAX_RESPONSE}"]
    done = _run_cpu("eval.sh", overrides, model=small_vocab_model, data=data, out=out, ray_tmp=ray_tmp)
    assert "data.max_prompt_length=512" in done.stdout  # 400 x 1.1, rounded up to 128
    dump = [json.loads(line) for line in (out / "generations" / "0.jsonl").read_text().splitlines()]
    assert sorted(d["row_index"] for d in dump) == [r["extra_info"]["index"] for r in rows]
    assert {d["score"] for d in dump} == {-1.0}  # a random model's answers are invalid: -1, never stacked below
    result = json.loads((out / "eval.json").read_text())
    assert result["generations"] == len(rows)
