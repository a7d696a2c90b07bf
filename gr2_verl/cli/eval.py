"""``gr2 eval``: metrics, reward-hacking diagnostics and baselines for a reranker's answers on a test parquet."""

from __future__ import annotations

import argparse
import json

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
    from gr2_verl.evaluation import evaluate, load_generations, to_markdown
    from gr2_verl.io import atomic_write_text, input_file, output_dir
    from gr2_verl.plots import eval_plots
    from gr2_verl.rl_row import read_rl_rows

    out = output_dir(args.out)
    rows = read_rl_rows(args.test)
    if not rows:
        raise ValueError(f"{args.test}: 0 rows; nothing to evaluate")
    gens = load_generations(input_file(args.generations, "generations"), rows) if args.generations else None
    result = evaluate(rows, gens, n_boot=args.bootstrap, seed=args.seed)
    result["inputs"] = {"test": str(args.test), "generations": args.generations}
    md = to_markdown(result)
    paths = [atomic_write_text(out / "eval.json", json.dumps(result, indent=2)), atomic_write_text(out / "eval.md", md)]
    paths += eval_plots(result, out)
    print(md)
    for path in paths:
        print(f"wrote {path}")
    return 0
