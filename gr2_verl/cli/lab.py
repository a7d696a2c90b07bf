"""``gr2 lab``: can this reward be hacked? Train a small reranking policy on CPU under each reward and compare."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

EPILOG = """examples:
  gr2 lab --out runs/lab                                      # synthetic rows, every reward variant
  gr2 lab --data data/ml-100k/rl/train.parquet --out runs/lab_ml100k
  gr2 lab --variants naive_format,conditional_format --signal 1.5 --steps 100
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from gr2_verl.lab.config import LabConfig

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
    from gr2_verl.lab import LabConfig
    from gr2_verl.lab.runner import lab_variants, run_lab_folder

    names = lab_variants(args.variants)  # checked before any work
    output_dir(args.out)
    if args.data:
        input_file(args.data, "RL parquet")
    start = time.perf_counter()
    config = LabConfig(steps=args.steps, signal=args.signal, seed=args.seed)
    result, paths = run_lab_folder(args.out, data=args.data, n_rows=args.rows, variants=names, config=config)
    print(Path(paths[1]).read_text(encoding="utf-8"))
    for path in paths:
        print(f"wrote {path}")
    print(f"lab wall time {time.perf_counter() - start:.1f} s")
    return 0 if result else 1
