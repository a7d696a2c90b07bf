"""veRL's real SFT trainer runs both SFT recipes on CPU, chained as in run_all.sh.

`torchrun -m verl.trainer.sft_trainer` through recipes/midtrain_sft.sh, then recipes/reasoning_sft.sh
from the mid-training HF export: one step each on a tiny random Qwen3 (head_dim 32), on CPU through
gr2_verl.verl_ext.cpu_platform with the CPU preset (``PRESET=cpu_tiny``: fp32, SDPA).
Each stage must leave a checkpoint with a loadable Hugging Face export.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from gr2_verl.mini.recipes import CPU_ENV  # what a laptop adds to a recipe to run it on CPU

ROOT = Path(__file__).resolve().parents[2]
SMALL = [
    "data.train_batch_size=4",
    "data.micro_batch_size_per_gpu=2",
    "trainer.total_training_steps=1",
]


def _run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # torchrun and python come from this interpreter's environment, as in an activated venv.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    run_env = {**os.environ, **CPU_ENV, "PRESET": "cpu_tiny", "PATH": path, **env}
    done = subprocess.run(
        ["bash", str(ROOT / "recipes" / script), *SMALL],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done


def _hf_export(out: Path) -> Path:
    step = (out / "latest_checkpointed_iteration.txt").read_text().strip()
    return out / f"global_step_{step}" / "huggingface"


@pytest.mark.slow
def test_sft_recipes_train_one_step_on_cpu_and_chain(tmp_path, tiny_qwen_dir, midtrain_rows, trace_rows):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = tmp_path / "data"
    (data / "sft").mkdir(parents=True)
    (data / "traces").mkdir()
    pd.DataFrame(midtrain_rows).to_parquet(data / "sft" / "midtrain.parquet")
    pd.DataFrame(trace_rows).to_parquet(data / "traces" / "sft.parquet")

    mid = _run("midtrain_sft.sh", {"MODEL": tiny_qwen_dir, "DATA_DIR": str(data), "OUT": str(tmp_path / "mid")})
    assert "step:1 - " in mid.stdout and "train/loss" in mid.stdout
    mid_hf = _hf_export(tmp_path / "mid")

    reasoning = _run(
        "reasoning_sft.sh",
        {"MODEL": str(mid_hf), "TRACES": str(data / "traces" / "sft.parquet"), "OUT": str(tmp_path / "reasoning")},
    )
    assert "step:1 - " in reasoning.stdout
    final = _hf_export(tmp_path / "reasoning")

    model = AutoModelForCausalLM.from_pretrained(final)
    assert model.config.head_dim == 32
    # Two optimiser steps really moved the weights (the export is fp32, like the tiny model).
    start = AutoModelForCausalLM.from_pretrained(tiny_qwen_dir).state_dict()
    assert any(not torch.equal(p, start[name]) for name, p in model.state_dict().items())
    tokenizer = AutoTokenizer.from_pretrained(final)
    # The export carries the recipe's verbatim template: RL prompts end where SFT answers began.
    prompt = tokenizer.apply_chat_template(trace_rows[0]["messages"][:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")
    full = tokenizer.apply_chat_template(trace_rows[0]["messages"], tokenize=False)
    assert full.startswith(prompt) and "<think>\nThe user buys skin care" in full
