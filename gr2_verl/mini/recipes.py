"""Run the real recipe scripts (recipes/*.sh) on CPU at the miniature sizes, and read veRL's step metrics back.

Each stage is the unchanged recipe script with the CPU model preset (``PRESET=cpu_tiny``: fp32, SDPA,
no padding-free path, no torch.compile) plus Hydra overrides for the miniature sizes. veRL prints one line per
step, ``step:N - key:value - key:value ...``; ``step_metrics`` parses them from the saved log.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
# What a laptop adds to a recipe to run it on CPU (recipes/README.md, "Smoke-test on a laptop").
CPU_ENV = {"VERL_PLATFORM": "cpu", "VERL_ENGINE_DEVICE": "cuda", "VERL_ENGINE_VENDOR": "nvidia"}
STEP_LINE = re.compile(r"step:(\d+) - (.*)")


class StageError(RuntimeError):
    """A recipe exited non-zero; the message holds the command's log path and tail."""


def run_recipe(
    script: str, env: dict[str, str], overrides: list[str], log_path: Path, *, append: bool = False
) -> float:
    """Run ``recipes/<script>`` with ``overrides``, output to (or appended to) ``log_path``; returns wall seconds.

    torchrun and python come from this interpreter's environment, as in an activated venv.
    """
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    run_env = {**os.environ, **CPU_ENV, "PATH": path, "TOKENIZERS_PARALLELISM": "false", **env}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log_path, "a" if append else "w", encoding="utf-8") as log:
        done = subprocess.run(
            ["bash", str(RECIPES / script), *overrides], env=run_env, stdout=log, stderr=subprocess.STDOUT
        )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise StageError(f"recipes/{script} exited {done.returncode}; log {log_path}:\n{tail}")
    return seconds


def step_metrics(log_path: Path) -> list[dict[str, float]]:
    """veRL's per-step metric lines of a log, one dict per step (``step`` included), in order."""
    steps = []
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = STEP_LINE.search(line)
        if not match:
            continue
        metrics: dict[str, float] = {"step": float(match.group(1))}
        for part in match.group(2).split(" - "):
            key, _, value = part.partition(":")
            try:
                metrics[key.strip()] = float(value)
            except ValueError:
                continue
        steps.append(metrics)
    return steps


def latest_export(out: Path, *, actor: bool) -> Path:
    """The HF export of a recipe's last checkpoint (SFT: ``global_step_N/huggingface``; DAPO: under ``actor/``)."""
    tracker = out / "latest_checkpointed_iteration.txt"
    if not tracker.exists():
        raise StageError(f"{out}: no checkpoint was written ({tracker.name} is missing)")
    step = out / f"global_step_{tracker.read_text().strip()}"
    export = step / "actor" / "huggingface" if actor else step / "huggingface"
    if not (export / "config.json").exists():
        raise StageError(f"{export}: no Hugging Face export in the last checkpoint")
    return export
