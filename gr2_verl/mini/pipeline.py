"""The miniature GR2, end to end on CPU: data -> tiny model -> mid-training SFT -> reasoning SFT -> DAPO x2 -> eval.

Every training stage is a real recipe script (``recipes/midtrain_sft.sh``, ``reasoning_sft.sh``,
``dapo.sh``) running veRL's own trainer; DAPO runs twice from the same reasoning-SFT export, once with
GR2's ``conditional_format`` reward and once with ``naive_format`` (the hackable one). Each trained
model answers the held-out test rows greedily (``generate.generate_answers``) and
``gr2_verl.evaluation`` scores them. ``run`` returns everything the report needs.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gr2_verl.mini.data import MiniConfig, write_dataset
from gr2_verl.mini.generate import generate_answers
from gr2_verl.mini.model import TinyQwen3, build_base_model
from gr2_verl.mini.recipes import SFT_CPU_OVERRIDES, latest_export, run_recipe, step_metrics

DAPO_REWARDS = ("conditional_format", "naive_format")


@dataclass
class MiniSettings:
    """Sizes and step counts of one miniature run (defaults: the full run, ~30 min on 2 cores)."""

    data: MiniConfig = field(default_factory=MiniConfig)
    arch: TinyQwen3 = field(default_factory=TinyQwen3)
    rule_share: float = 0.5  # share of teacher traces that follow the rule (the rest copy the input order)
    midtrain_steps: int = 30
    midtrain_batch: int = 64
    midtrain_lr: float = 2e-3
    reasoning_steps: int = 120
    reasoning_batch: int = 16
    reasoning_lr: float = 2e-3
    dapo_steps: int = 20
    dapo_lr: float = 5e-5
    dapo_prompts: int = 8  # prompts per step (x rollout.n = 4 answers)
    max_response_length: int = 96
    max_new_tokens: int = 96  # evaluation's greedy budget, as DAPO's answer budget
    dapo_extra: list[str] = field(default_factory=list)  # more Hydra overrides for both DAPO runs


def sft_overrides(steps: int, batch: int, lr: float) -> list[str]:
    return [
        *SFT_CPU_OVERRIDES,
        f"data.train_batch_size={batch}",
        f"data.micro_batch_size_per_gpu={batch}",
        "data.max_length=512",
        f"optim.lr={lr}",
        f"trainer.total_training_steps={steps}",
    ]


def dapo_overrides(s: MiniSettings, reward: str, out: Path) -> list[str]:
    """The miniature DAPO: the cpu_tiny preset's sizes plus the run's reward, steps and rate."""
    overlong = s.max_response_length // 4
    return [
        f"reward.custom_reward_function.name={reward}",
        f"trainer.experiment_name=mini_{reward}",
        f"trainer.total_training_steps={s.dapo_steps}",
        f"trainer.save_freq={s.dapo_steps}",
        "trainer.test_freq=-1",
        "trainer.val_before_train=False",
        f"data.train_batch_size={s.dapo_prompts}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={s.dapo_prompts}",
        f"data.max_response_length={s.max_response_length}",
        f"reward.reward_kwargs.overlong_buffer_cfg.len={overlong}",
        f"actor_rollout_ref.actor.optim.lr={s.dapo_lr}",
        "actor_rollout_ref.actor.optim.lr_warmup_steps=0",
        f"+ray_kwargs.ray_init._temp_dir={out / 'ray'}",
        *s.dapo_extra,
    ]


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    return path


def run(out_dir: str | Path, s: MiniSettings, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every stage into ``out_dir``; returns stage results, timings and evaluations (also ``results.json``)."""
    from gr2_verl.evaluation import evaluate as eval_rows
    from gr2_verl.evaluation import load_generations, load_rl_rows

    out = Path(out_dir)
    start = time.perf_counter()
    timings: dict[str, float] = {}
    data, logs = out / "data", out / "logs"

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        log(f"[mini] {name} ...")
        value = fn()
        timings[name] = round(time.perf_counter() - t, 1)
        log(f"[mini] {name} done in {timings[name]:.0f} s")
        return value

    summary = timed("data", lambda: write_dataset(_fresh(data), s.data, rule_share=s.rule_share))
    base = timed("base_model", lambda: build_base_model(_fresh(out / "base_model"), data, s.arch))
    mid_out = _fresh(out / "midtrain")
    timed(
        "midtrain_sft",
        lambda: run_recipe(
            "midtrain_sft.sh",
            {"PRESET": "qwen3_1p7b", "MODEL": base["path"], "DATA_DIR": str(data), "OUT": str(mid_out)},
            sft_overrides(s.midtrain_steps, s.midtrain_batch, s.midtrain_lr),
            logs / "midtrain_sft.log",
        ),
    )
    rs_out = _fresh(out / "reasoning_sft")
    timed(
        "reasoning_sft",
        lambda: run_recipe(
            "reasoning_sft.sh",
            {
                "PRESET": "qwen3_1p7b",
                "MODEL": str(latest_export(mid_out, actor=False)),
                "TRACES": str(data / "traces" / "sft.parquet"),
                "OUT": str(rs_out),
            },
            sft_overrides(s.reasoning_steps, s.reasoning_batch, s.reasoning_lr),
            logs / "reasoning_sft.log",
        ),
    )
    models = {"reasoning_sft": latest_export(rs_out, actor=False)}
    for reward in DAPO_REWARDS:
        dapo_out = _fresh(out / f"dapo_{reward}")
        timed(
            f"dapo_{reward}",
            lambda r=reward, o=dapo_out: run_recipe(
                "dapo.sh",
                {"PRESET": "cpu_tiny", "MODEL": str(models["reasoning_sft"]), "DATA_DIR": str(data), "OUT": str(o)},
                dapo_overrides(s, r, o),
                logs / f"dapo_{r}.log",
            ),
        )
        models[f"dapo_{reward}"] = latest_export(dapo_out, actor=True)

    test = data / "rl" / "test.parquet"
    rows = load_rl_rows(test)
    evaluations, generation_files = {}, {}
    for stage, model_dir in models.items():
        gen_path = out / "generations" / f"{stage}.jsonl"
        timed(
            f"eval_{stage}",
            lambda m=model_dir, g=gen_path: generate_answers(m, test, g, max_new_tokens=s.max_new_tokens),
        )
        generation_files[stage] = str(gen_path)
        evaluations[stage] = eval_rows(rows, load_generations(gen_path, rows))
    timings["total"] = round(time.perf_counter() - start, 1)
    results = {
        "settings": {**asdict(s), "data": asdict(s.data), "arch": asdict(s.arch)},
        "dataset": {k: summary[k] for k in ("rl", "sft_midtrain", "traces", "mini")},
        "base_model": base,
        "models": {k: str(v) for k, v in models.items()},
        "generations": generation_files,
        "train_metrics": {
            name: step_metrics(logs / f"{name}.log")
            for name in ("midtrain_sft", "reasoning_sft", *(f"dapo_{r}" for r in DAPO_REWARDS))
        },
        "evaluations": evaluations,
        "timings_s": timings,
    }
    (out / "results_raw.json").write_text(json.dumps(results, indent=2, default=str))
    return results
