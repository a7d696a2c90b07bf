"""run_all.sh chains the stages: each starts from the previous stage's latest HF export.

veRL's launchers are replaced on PATH by a recorder that logs its argv and, like veRL, leaves a
latest_checkpointed_iteration.txt in trainer.default_local_dir; what each stage is told is real.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECORDER = """#!/usr/bin/env bash
printf '%s\\n' "$(basename "$0") $*" >> "{log}"
for arg in "$@"; do
  case "$arg" in
    trainer.default_local_dir=*) dir="${{arg#*=}}"; mkdir -p "$dir"; echo 7 > "$dir/latest_checkpointed_iteration.txt";;
  esac
done
"""


def test_run_all_chains_the_latest_exports(tmp_path):
    shim, log = tmp_path / "bin", tmp_path / "calls.log"
    shim.mkdir()
    for name in ("torchrun", "python", "gr2"):
        (shim / name).write_text(RECORDER.format(log=log))
        (shim / name).chmod(0o755)
    runs = tmp_path / "runs"
    env = {
        **os.environ,
        "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}",
        "MODEL": "base/sid-model",
        "DATA_DIR": "d",
        "RUNS": str(runs),
        "PRESET": "qwen3_1p7b",
    }
    subprocess.run(
        ["bash", str(ROOT / "recipes" / "run_all.sh"), "trainer.logger=[console]"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )

    calls = log.read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["torchrun", "torchrun", "python", "python", "gr2"]
    midtrain, reasoning, dapo, generate, score = calls
    assert "--config-name sft_midtrain" in midtrain and "model.path=base/sid-model" in midtrain
    assert "data.train_files=d/sft/midtrain.parquet" in midtrain
    assert "--config-name sft_reasoning" in reasoning
    assert f"model.path={runs}/gr2_midtrain/global_step_7/huggingface" in reasoning
    assert "data.train_files=d/traces/sft.parquet" in reasoning
    assert f"actor_rollout_ref.model.path={runs}/gr2_reasoning_sft/global_step_7/huggingface" in dapo
    assert f"actor_rollout_ref.model.path={runs}/gr2_dapo/global_step_7/actor/huggingface" in generate
    assert "trainer.val_only=true" in generate and "data.val_files=d/rl/test.parquet" in generate
    # the same folders as each script's own default (runs/gr2/<experiment_name>)
    assert f"trainer.default_local_dir={runs}/gr2_dapo" in dapo
    assert score.startswith(f"gr2 eval --generations {runs}/eval/generations/0.jsonl --test d/rl/test.parquet")
    # Extra arguments reach every veRL stage.
    assert all(c.endswith("trainer.logger=[console]") for c in calls[:4])
