"""``gr2 lab``: can this reward be hacked? Train a small reranking policy on CPU under each reward and compare."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

EPILOG = """examples:
  gr2 lab --out runs/lab                                      # synthetic rows, every reward variant
  gr2 lab --data data/ml-100k/rl/train.parquet --out runs/lab_ml100k
  gr2 lab --variants naive_format,conditional_format --signal 1.5 --steps 100
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from gr2_verl.lab.train import LabConfig

    d = LabConfig()
    p = subparsers.add_parser(
        "lab",
        help="CPU reward lab: DAPO with veRL's core_algos on a small policy, one run per reward variant",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", help="RL parquet to train on (default: a synthetic set in the same schema)")
    p.add_argument("--rows", type=int, default=2000, help="rows to use (default: %(default)s)")
    p.add_argument("--variants", default="all", help="comma-separated reward_fns variants (default: all)")
    p.add_argument("--steps", type=int, default=d.steps, help="DAPO steps per variant (default: %(default)s)")
    p.add_argument("--signal", type=float, default=d.signal, help="relevance cue strength (default: %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed (default: %(default)s)")
    p.add_argument("--out", default="runs/lab", help="output folder (default: %(default)s)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gr2_verl.io import input_file, output_dir
    from reward_fns import VARIANTS

    names = list(VARIANTS) if args.variants == "all" else [v.strip() for v in args.variants.split(",")]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"--variants: unknown reward variants {unknown}; choose from {list(VARIANTS)}")
    output_dir(args.out)
    if args.data:
        input_file(args.data, "RL parquet")
    start = time.perf_counter()
    result, paths = run_lab_to(Path(args.out), args.data, args.rows, names, args.steps, args.signal, args.seed)
    print(Path(paths[1]).read_text(encoding="utf-8"))
    for path in paths:
        print(f"wrote {path}")
    print(f"lab wall time {time.perf_counter() - start:.1f} s")
    return 0 if result else 1


def run_lab_to(
    out: Path, data: str | None, n_rows: int, names: list[str], steps: int, signal: float, seed: int
) -> tuple[dict, list[Path]]:
    """Run the lab and write lab.json, lab.md and lab.png under ``out``; returns (result, paths)."""
    import random

    from tqdm import tqdm

    from gr2_verl.evaluation.data import load_rl_rows, rl_row_from_record
    from gr2_verl.io import atomic_write_text
    from gr2_verl.lab import LabConfig, lab_markdown, run_lab, synthetic_rl_records
    from gr2_verl.plots import lab_plot
    from reward_fns import VARIANTS

    if data:
        rows = load_rl_rows(data)
        if not rows:
            raise ValueError(f"{data}: 0 rows; nothing to train on")
        rows = random.Random(seed).sample(rows, min(n_rows, len(rows)))  # a seeded sample, not the file's head
    else:
        rows = [rl_row_from_record(r, "synthetic", i) for i, r in enumerate(synthetic_rl_records(n_rows, seed=seed))]
    cfg = LabConfig(steps=steps, signal=signal, seed=seed)
    with tqdm(total=steps * len(names), desc="reward lab", unit="step") as bar:
        result = run_lab(rows, {n: VARIANTS[n] for n in names}, cfg, progress=bar.update)
    result["data"] = data or "synthetic"
    plot = lab_plot(result, out / "lab.png")
    paths = [
        atomic_write_text(out / "lab.json", json.dumps(result, indent=2)),
        atomic_write_text(out / "lab.md", lab_markdown(result, plot.name)),
        plot,
    ]
    return result, paths
