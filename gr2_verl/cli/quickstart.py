"""``gr2 quickstart``: the README's main job. MovieLens-100K (from the recbole wheel) -> SIDs -> veRL parquet
-> baseline evaluation -> reward lab -> one report with the next commands for a GPU machine. CPU only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

RQVAE_STEPS = 300  # 1,682 items: 300 steps of batch 1024 (~180 epochs) converge; the 1000 default targets 100k items

EPILOG = """examples:
  gr2 quickstart --out runs/quickstart
  gr2 quickstart --out runs/qs_fast --sid-method rqkmeans --lab-steps 20 --lab-variants naive_format,conditional_format
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quickstart",
        help="run the CPU pipeline on MovieLens-100K and write a report with the next GPU commands",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="runs/quickstart", help="output folder (default: %(default)s)")
    p.add_argument("--sid-method", default="rqvae", help="rqvae (GR2's) or rqkmeans (faster) (default: %(default)s)")
    p.add_argument("--lab-steps", type=int, default=60, help="reward-lab DAPO steps per reward (default: %(default)s)")
    p.add_argument("--lab-variants", default="all", help="comma-separated reward variants for the lab (default: all)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed for every step (default: %(default)s)")
    p.set_defaults(run=run)


def _step(name: str, timings: dict[str, float]):
    """Print a step banner and record its wall time."""

    class _Timer:
        def __enter__(self):
            print(f"\n== {name}", flush=True)
            self.start = time.perf_counter()

        def __exit__(self, *exc):
            timings[name] = round(time.perf_counter() - self.start, 1)
            print(f"   ({timings[name]} s)", flush=True)

    return _Timer()


def run(args: argparse.Namespace) -> int:
    from gr2_verl.io import atomic_write_text
    from reward_fns import VARIANTS

    out = Path(args.out)
    data_dir = out / "data"
    names = list(VARIANTS) if args.lab_variants == "all" else [v.strip() for v in args.lab_variants.split(",")]
    timings: dict[str, float] = {}
    start = time.perf_counter()

    with _step("1/5 reward table: what each reward pays for canonical answers", timings):
        from gr2_verl.reward_table import reward_table, to_markdown

        table = reward_table()
        atomic_write_text(out / "reward_table.json", json.dumps(table, indent=2))
        table_md = to_markdown(table)
        print(table_md)

    with _step("2/5 MovieLens-100K -> semantic IDs", timings):
        from data_prep import movielens
        from gr2_verl.sid import fit_sid_map

        log, items = movielens.load_interactions(), movielens.load_items()
        texts = {i: it.text() for i, it in items.items()}
        options = {"steps": RQVAE_STEPS} if args.sid_method == "rqvae" else {}
        sid_map, _ = fit_sid_map(texts, method=args.sid_method, seed=args.seed, progress=True, **options)
        data_dir.mkdir(parents=True, exist_ok=True)
        sid_map.save(str(data_dir / "sid_map.json"))
        print(f"{len(texts)} items, SID uniqueness {sid_map.uniqueness():.4f} ({args.sid_method})")

    with _step("3/5 reranking samples -> veRL RL / SFT parquet", timings):
        from data_prep.outputs import write_outputs
        from data_prep.pipeline import build_samples

        prepared = build_samples(log, seed=args.seed)
        summary = write_outputs(prepared.samples, {i: items[i] for i in prepared.item_ids}, sid_map, data_dir,
                                dataset=movielens.DATASET, popularity=prepared.popularity, seed=args.seed,
                                report=prepared.report, progress=True)
        for split, counts in summary["rl"].items():
            print(f"  {split}: {counts['rows']} RL rows")

    with _step("4/5 baselines on the test split (input order, random, popularity, oracle)", timings):
        from gr2_verl.evaluation import evaluate
        from gr2_verl.evaluation import to_markdown as eval_markdown
        from gr2_verl.plots import eval_plots
        from gr2_verl.rl_row import read_rl_rows

        test = data_dir / "rl" / "test.parquet"
        result = evaluate(read_rl_rows(test), None, n_boot=args.bootstrap, seed=args.seed)
        eval_md = eval_markdown(result, "Baselines on the MovieLens-100K test split")
        atomic_write_text(out / "eval" / "eval.json", json.dumps(result, indent=2))
        atomic_write_text(out / "eval" / "eval.md", eval_md)
        eval_plots(result, out / "eval")
        r1 = result["methods"]["input_order"]["in_list"]["R@1"]["mean"]
        print(f"input order R@1 (target in list) {r1:.4f} on {result['rows']} test rows")

    with _step(f"5/5 reward lab on the training rows ({', '.join(names)})", timings):
        from gr2_verl.cli.lab import run_lab_to
        from gr2_verl.lab import lab_markdown

        lab_result, _ = run_lab_to(out / "lab", str(data_dir / "rl" / "train.parquet"), 2000, names,
                                   args.lab_steps, 1.0, args.seed)
        print(lab_markdown(lab_result))

    timings["total"] = round(time.perf_counter() - start, 1)
    report = _report(args, out, sid_map.uniqueness(), summary, eval_md, lab_result, table_md, timings)
    path = atomic_write_text(out / "report.md", report)
    atomic_write_text(out / "timings.json", json.dumps(timings, indent=2))
    print(f"\nwrote {path} (and {out / 'eval'}, {out / 'lab'}, {data_dir}) in {timings['total']} s")
    return 0


def _report(args, out: Path, uniqueness: float, summary: dict, eval_md: str, lab_result: dict,
            table_md: str, timings: dict) -> str:
    from gr2_verl.lab import lab_markdown

    data = out / "data"
    rows = ", ".join(f"{s} {c['rows']}" for s, c in summary["rl"].items())
    eval_body = eval_md.split("\n", 2)[2].replace("\n## ", "\n### ")  # nest the sections under this report's
    lab_body = lab_markdown(lab_result, "lab/lab.png").split("\n", 2)[2]
    steps = "\n".join(f"| {name} | {seconds} |" for name, seconds in timings.items())
    return f"""# gr2-verl quickstart report (MovieLens-100K, CPU)

| step | wall time (s) |
|---|---|
{steps}

## 1. Data
- Semantic IDs: {args.sid_method}, uniqueness {uniqueness:.4f} (`{data / 'sid_map.json'}`).
- veRL RL rows: {rows} (`{data / 'rl'}`); SFT mid-training rows in `{data / 'sft' / 'midtrain.parquet'}`;
  dataset summary in `{data / 'summary.md'}`.

## 2. Baselines (test split)
{eval_body}
![metrics](eval/metrics.png)

## 3. Reward lab (training split; the relevance cue is simulated, see `gr2_verl/lab/features.py`)
{lab_body}
## 4. What each reward pays (K=10, target at input position 4, alpha=0.2)

{table_md}
## 5. Next, on a GPU machine

```bash
make setup TORCH="torch==2.11.0" EXTRAS="test,gpu" && source .venv/bin/activate
gr2 prepare movielens --out {data} --sid-map {data / 'sid_map.json'}   # already done here; rerun there
gr2 vocab extend --model Qwen/Qwen3-8B --sids {data / 'sid_map.json'} --out models/qwen3-8b-sid
gr2 traces --rl {data / 'rl' / 'train.parquet'} --out {data / 'traces'} --backend vllm --model Qwen/Qwen3-32B
MODEL=models/qwen3-8b-sid DATA_DIR={data} bash recipes/run_all.sh   # midtrain SFT -> reasoning SFT -> DAPO -> eval
```
`run_all.sh` ends with `recipes/eval.sh`, which generates on the test split with veRL and writes the
`gr2 eval` report to `runs/gr2/eval/`. One GPU: add `PRESET=qwen3_1p7b` and a 1.7B `MODEL`.
`gr2 traces --help` lists the teacher backends; `recipes/README.md` has the whole pipeline.
"""
