"""Seconds per DAPO step at the miniature GR2's sizes (goal <= 15 s on 2 CPU cores), from veRL's timing metrics.

    .venv/bin/python benchmarks/mini_dapo_step.py --run runs/mini --steps 6

Runs ``recipes/dapo.sh`` (PRESET=cpu_tiny, conditional_format, dynamic sampling off) from the
reasoning-SFT export of a ``gr2 mini`` run (its ``data/`` and ``reasoning_sft/``) or ``--model``, at the
run's sizes (8 prompts x 4 answers, answers up to ``max_response_length`` tokens), and prints the median of
veRL's ``timing_s/{gen, old_log_prob, update_actor, update_weights, step}`` over the steps after the first,
plus the start-up time (process start to the first step's line).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from gr2_verl.mini.pipeline import MiniSettings, dapo_overrides
from gr2_verl.mini.recipes import StageError, latest_export, run_recipe, step_metrics
from gr2_verl.mini.report import TIMING_KEYS, dapo_timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/mini", help="a finished `gr2 mini --out` folder")
    parser.add_argument("--steps", type=int, default=6, help="DAPO steps (the first is left out of the medians)")
    parser.add_argument("--model", help="HF export to start from (default: the run's reasoning-SFT export)")
    args = parser.parse_args()
    run = Path(args.run)
    try:
        model = Path(args.model) if args.model else latest_export(run / "reasoning_sft", actor=False)
    except StageError as e:
        print(f"{e}; run `gr2 mini --out {run}` first", file=sys.stderr)
        return 1
    s = MiniSettings(dapo_steps=args.steps)
    out = run / "bench_dapo"
    log = run / "logs" / "bench_dapo.log"
    env = {"PRESET": "cpu_tiny", "MODEL": str(model), "DATA_DIR": str(run / "data"), "OUT": str(out)}
    start = time.perf_counter()
    # Dynamic sampling off: a step's cost is the same, and a model whose answers all earn one reward
    # (e.g. an undertrained one) would otherwise refill its batch forever.
    timing_only = ["trainer.save_freq=-1", "algorithm.filter_groups.enable=False"]
    wall = run_recipe("dapo.sh", env, [*dapo_overrides(s, "conditional_format"), *timing_only], log)
    steps = step_metrics(log)
    if not steps:
        print(f"no step metrics in {log}", file=sys.stderr)
        return 1
    medians = dapo_timings(steps)
    total_steps = sum(m.get("timing_s/step", 0.0) for m in steps)
    result = {
        "steps": len(steps),
        "median_s": medians,
        "wall_s": round(wall, 1),
        "startup_s": round(time.perf_counter() - start - total_steps, 1),
        "prompts_x_answers": f"{s.dapo_prompts} x 4",
        "max_response_length": s.max_response_length,
    }
    print(f"DAPO at mini sizes: {len(steps)} steps, median per step (s), step 1 excluded:")
    print("  " + "  ".join(f"{k} {medians.get(k, float('nan')):.1f}" for k in TIMING_KEYS))
    print(f"  start-up + shutdown ~{result['startup_s']:.0f} s; wall {wall:.0f} s; log {log}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
