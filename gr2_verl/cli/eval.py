"""``gr2 eval``: metrics, reward-hacking diagnostics and baselines for a reranker's answers on a test parquet."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EPILOG = """examples:
  gr2 eval --test data/ml-100k/rl/test.parquet --out runs/eval/baselines
  gr2 eval --test data/ml-100k/rl/test.parquet --generations checkpoints/val_dump/600.jsonl --out runs/eval/step600

--generations takes veRL's validation dump (trainer.validation_data_dir: one JSONL per step, matched to the
test rows by 'gts'), or any JSONL/parquet with an 'index' (= extra_info.index) and an 'output' column.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate answers and baselines: R@k, N@k, MRR, identity rate, position bias, bootstrap CIs",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--test", required=True, help="RL test parquet written by `gr2 prepare`")
    p.add_argument("--generations", help="model answers (JSONL or parquet); omit to evaluate the baselines only")
    p.add_argument("--out", default="runs/eval", help="output folder (default: %(default)s)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random baseline and the bootstrap")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gr2_verl.evaluation import evaluate, load_generations, load_rl_rows, to_markdown
    from gr2_verl.io import atomic_write_text
    from gr2_verl.plots import eval_plots

    try:
        rows = load_rl_rows(args.test)
        gens = load_generations(args.generations, rows) if args.generations else None
    except (ValueError, FileNotFoundError) as e:  # bad input files: the message names file, row and field
        print(f"gr2 eval: {e}", file=sys.stderr)
        return 2
    result = evaluate(rows, gens, n_boot=args.bootstrap, seed=args.seed)
    result["inputs"] = {"test": str(args.test), "generations": args.generations}
    out = Path(args.out)
    md = to_markdown(result)
    paths = [atomic_write_text(out / "eval.json", json.dumps(result, indent=2)), atomic_write_text(out / "eval.md", md)]
    paths += eval_plots(result, out)
    print(md)
    for path in paths:
        print(f"wrote {path}")
    return 0
