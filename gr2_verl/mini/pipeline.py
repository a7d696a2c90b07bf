"""The miniature GR2, end to end on CPU: data -> tiny model -> mid-training SFT -> reasoning SFT -> DAPO x2 -> eval.

Every training stage is a real recipe script (``recipes/midtrain_sft.sh``, ``reasoning_sft.sh``,
``dapo.sh``) running veRL's own trainer. Mid-training has two phases, both ``midtrain_sft.sh``: the
whole mixture, then a short one on the whole-prompt copy rows alone (``midtrain_copy``), which turns the
copy skill the first phase finds on short rows into valid answers to real prompts. Reasoning SFT trains on
the traces mixed with as many mid-training rows (``data.REPLAY``), so it does not wipe that skill out. DAPO
runs twice from the same reasoning-SFT export, once with GR2's ``conditional_format`` reward and once with
``naive_format`` (the hackable one), side by side: a run alone leaves a core idle while it generates. Each
trained model answers the held-out test rows greedily (``generate.generate_answers``) and ``gr2_verl.evaluation``
scores them. ``run`` returns everything the report needs.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gr2_verl.mini.data import COPY_PROMPTS, REPLAY, MiniConfig, write_dataset
from gr2_verl.mini.generate import generate_answers
from gr2_verl.mini.model import TinyQwen3, build_base_model
from gr2_verl.mini.recipes import latest_export, run_recipe, step_metrics

DAPO_REWARDS = ("conditional_format", "naive_format")


@dataclass
class MiniSettings:
    """Sizes and step counts of one miniature run (measured figures: recipes/README.md, "A miniature GR2")."""

    data: MiniConfig = field(default_factory=MiniConfig)
    arch: TinyQwen3 = field(default_factory=TinyQwen3)
    # share of teacher traces that follow the rule; the rest follow the teacher's same-category habit (a negative
    # first). At 1.0 (every trace picks the target) SFT alone reached R@1 0.965 and left DAPO nothing to add;
    # at 0.3 SFT learns the habit and DAPO must find the rule (recipes/README.md, session 9)
    rule_share: float = 0.3
    midtrain_steps: int = 350  # mostly copy rows (mini/data.py); the copy skill appears on short rows
    midtrain_batch: int = 32
    midtrain_lr: float = 3e-3
    copy_steps: int = 100  # second phase: whole-prompt copy rows only
    copy_batch: int = 16
    copy_lr: float = 1e-3
    # 1600 steps of 16 traces + 8 replay rows (data.REPLAY_SHARE). With 16 + 16 a step: valid 1.000 at 1600 steps,
    # 0.685 at 1200, and from the 1200-step model DAPO collapses to copying the input order (recipes/README.md,
    # sessions 9 and 10)
    reasoning_steps: int = 1600
    reasoning_batch: int = 24
    reasoning_lr: float = 2e-3
    dapo_steps: int = 25
    # from the habit-following SFT model: 3e-4 lifts R@1 from 0.000 to 0.880 in 25 steps, 3e-5 to 0.030
    # (recipes/README.md, session 9)
    dapo_lr: float = 3e-4
    dapo_prompts: int = 8  # prompts per step (x rollout.n = 4 answers)
    # the rule's traces are 89 tokens: DAPO's overlong penalty starts a quarter below the limit (96 from 128)
    max_response_length: int = 128
    max_new_tokens: int = 128  # evaluation's greedy budget, as DAPO's answer budget
    dapo_extra: list[str] = field(default_factory=list)  # more Hydra overrides for both DAPO runs
    dapo_rewards: tuple[str, ...] = DAPO_REWARDS  # empty: stop after reasoning SFT (no CPU rollout needed)


def sft_overrides(steps: int, batch: int, lr: float) -> list[str]:
    return [
        "trainer.save_freq=-1",
        f"data.train_batch_size={batch}",
        f"data.micro_batch_size_per_gpu={batch}",
        "data.max_length=512",
        f"optim.lr={lr}",
        f"trainer.total_training_steps={steps}",
    ]


def dapo_overrides(s: MiniSettings, reward: str) -> list[str]:
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
        # Reuse the rollout's fp32 log-probs as the old policy's: skips one forward pass per step.
        "algorithm.rollout_correction.bypass_mode=True",
        # A Ray cluster of its own (a short path: Ray's socket paths are capped at 107 characters).
        f"+ray_kwargs.ray_init._temp_dir=/tmp/ray_mini_{reward}",
        *s.dapo_extra,
    ]


def side_by_side(runs: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Run the recipe launchers in ``runs`` at the same time; returns each one's wall seconds.

    Every run finishes (or fails) before this returns; the first failure is raised after the others end.
    """
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        futures = {name: pool.submit(fn) for name, fn in runs.items()}
        wait(futures.values())
    return {name: future.result() for name, future in futures.items()}


def _checkpoint_step(export: Path) -> str:
    """``global_step_N`` of an HF export (``.../global_step_N/[actor/]huggingface``): names its answers file."""
    return next(p.name for p in export.parents if p.name.startswith("global_step_"))


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    return path


def run(
    out_dir: str | Path, s: MiniSettings, *, resume: bool = False, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run every stage into ``out_dir``; returns stage results, timings and evaluations (also ``results_raw.json``).

    ``resume`` keeps a stage whose output is complete (data, base model, checkpoint export, answers) and its
    recorded wall time, so a run broken off (or extended by a new stage) continues where it stopped.
    """
    from gr2_verl.evaluation import evaluate as eval_rows
    from gr2_verl.evaluation import load_generations
    from gr2_verl.rl_row import read_rl_rows

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data, logs = out / "data", out / "logs"
    timing_file = out / "timings.json"
    timings: dict[str, float] = json.loads(timing_file.read_text()) if resume and timing_file.exists() else {}

    def stage(name: str, done: Path | list[Path], fn: Callable[[], Any], *, steps: int = 0) -> None:
        """Run ``fn`` unless resuming and ``done`` exists (every path of a list; for a training stage: holds a
        step >= ``steps``)."""
        if isinstance(done, list):
            finished = all(p.exists() for p in done)
        else:
            finished = done.exists() and (not steps or int(done.read_text().strip()) >= steps)
        if resume and finished and name in timings:
            log(f"[mini] {name}: kept from the previous run ({timings[name]:.0f} s)")
            return
        t = time.perf_counter()
        log(f"[mini] {name} ...")
        fn()
        # a continued training stage adds its time to the earlier part's
        earlier = timings.get(name, 0.0) if resume and steps and done.exists() else 0.0
        timings[name] = round(earlier + time.perf_counter() - t, 1)
        timing_file.write_text(json.dumps(timings, indent=2))
        log(f"[mini] {name} done in {timings[name]:.0f} s")

    # the replay rows are written last (before the summary): a folder without them is incomplete
    stage("data", data / REPLAY, lambda: write_dataset(_fresh(data), s.data, rule_share=s.rule_share))
    base_info = out / "base_model.json"
    stage(
        "base_model",
        base_info,
        lambda: base_info.write_text(json.dumps(build_base_model(_fresh(out / "base_model"), data, s.arch))),
    )
    # name: (script, model to start from, environment, extra overrides, (steps, batch, lr))
    sft = {
        "midtrain_sft": (
            "midtrain_sft.sh",
            lambda: json.loads(base_info.read_text())["path"],
            {"DATA_DIR": str(data)},
            [],
            (s.midtrain_steps, s.midtrain_batch, s.midtrain_lr),
        ),
        "midtrain_copy": (
            "midtrain_sft.sh",
            lambda: str(latest_export(out / "midtrain_sft", actor=False)),
            {"DATA_DIR": str(data)},
            [f"data.train_files={data / COPY_PROMPTS}"],
            (s.copy_steps, s.copy_batch, s.copy_lr),
        ),
        "reasoning_sft": (
            "reasoning_sft.sh",
            lambda: str(latest_export(out / "midtrain_copy", actor=False)),
            {"TRACES": str(data / "traces" / "sft.parquet")},
            [f"data.train_files=[{data / 'traces' / 'sft.parquet'},{data / REPLAY}]"],
            (s.reasoning_steps, s.reasoning_batch, s.reasoning_lr),
        ),
    }
    for name, (script, model, env, extra, sizes) in sft.items():
        tracker = out / name / "latest_checkpointed_iteration.txt"
        # Resuming with more steps than the checkpoint holds: veRL's own resume (resume_mode auto)
        # continues from it, optimiser, scheduler and data order included.
        cont = resume and tracker.exists() and name in timings
        stage(
            name,
            tracker,
            lambda n=name, sc=script, m=model, e=env, x=extra, z=sizes, c=cont: run_recipe(
                sc,
                {"PRESET": "cpu_tiny", "MODEL": m(), **e, "OUT": str(out / n if c else _fresh(out / n))},
                sft_overrides(*z) + x,
                logs / f"{n}.log",
                append=c,
            ),
            steps=sizes[0],
        )
    # every stage's model answers the test rows: mid-training shows the copy skill, the later ones the ranking
    models = {name: latest_export(out / name, actor=False) for name in sft}
    dapo_runs = {f"dapo_{r}": r for r in s.dapo_rewards}
    trackers = [out / name / "latest_checkpointed_iteration.txt" for name in dapo_runs]
    if dapo_runs:
        env = {"PRESET": "cpu_tiny", "MODEL": str(models["reasoning_sft"]), "DATA_DIR": str(data)}
        stage(
            "dapo",
            trackers,
            lambda: side_by_side(
                {
                    name: lambda n=name, r=reward: run_recipe(
                        "dapo.sh", {**env, "OUT": str(_fresh(out / n))}, dapo_overrides(s, r), logs / f"{n}.log"
                    )
                    for name, reward in dapo_runs.items()
                }
            ),
        )
    models.update({name: latest_export(out / name, actor=True) for name in dapo_runs})

    test = data / "rl" / "test.parquet"
    rows = read_rl_rows(test)
    evaluations, generation_files = {}, {}
    for name, model_dir in models.items():
        # named by checkpoint step, so a continued stage's model is evaluated afresh on --resume
        gen_path = out / "generations" / f"{name}_{_checkpoint_step(model_dir)}.jsonl"
        stage(
            f"eval_{name}",
            gen_path,
            lambda m=model_dir, g=gen_path: generate_answers(m, test, g, max_new_tokens=s.max_new_tokens),
        )
        generation_files[name] = str(gen_path)
        evaluations[name] = eval_rows(rows, load_generations(gen_path, rows))
    timings["total"] = round(sum(v for k, v in timings.items() if k != "total"), 1)
    summary = json.loads((data / "summary.json").read_text())
    results = {
        "settings": {**asdict(s), "data": asdict(s.data), "arch": asdict(s.arch)},
        "dataset": {k: summary[k] for k in ("rl", "sft_midtrain", "traces", "mini")},
        "base_model": json.loads(base_info.read_text()),
        "models": {k: str(v) for k, v in models.items()},
        "test": str(test),
        "generations": generation_files,
        "train_metrics": {
            name: step_metrics(logs / f"{name}.log")
            for name in (*sft, *(f"dapo_{r}" for r in s.dapo_rewards))
        },
        "evaluations": evaluations,
        "timings_s": timings,
    }
    (out / "results_raw.json").write_text(json.dumps(results, indent=2, default=str))
    return results
