"""The quickstart pipeline (``gr2 quickstart``): MovieLens-100K (from the recbole wheel) -> SIDs -> veRL
parquet -> baseline evaluation -> reward lab -> one report with the next commands for a GPU machine. CPU only.

``run_quickstart`` reports progress through ``echo`` (the CLI passes ``print``) and returns the report path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

RQVAE_STEPS = 300  # 1,682 items: 300 steps of batch 1024 (~180 epochs) converge; the 1000 default targets 100k items


@dataclass(frozen=True)
class QuickstartConfig:
    """What ``gr2 quickstart`` varies: the SID method, the lab's length and rewards, bootstrap size, seed."""

    sid_method: str = "rqvae"
    lab_steps: int = 60
    lab_variants: Sequence[str] = ()  # empty: every reward variant
    bootstrap: int = 1000
    seed: int = 0


def _step(name: str, timings: dict[str, float], echo: Callable[[str], None]):
    """Announce a step and record its wall time."""

    class _Timer:
        def __enter__(self):
            echo(f"\n== {name}")
            self.start = time.perf_counter()

        def __exit__(self, *exc):
            timings[name] = round(time.perf_counter() - self.start, 1)
            echo(f"   ({timings[name]} s)")

    return _Timer()


def run_quickstart(out: str | Path, config: QuickstartConfig, echo: Callable[[str], None]) -> Path:
    """Run the five steps into ``out``; returns the path of ``report.md``."""
    from gr2_verl.io import atomic_write_text
    from reward_fns import VARIANTS

    out = Path(out)
    data_dir = out / "data"
    names = list(config.lab_variants) or list(VARIANTS)
    timings: dict[str, float] = {}
    start = time.perf_counter()

    with _step("1/5 reward table: what each reward pays for canonical answers", timings, echo):
        from gr2_verl.reward_table import reward_table, to_markdown

        table = reward_table()
        atomic_write_text(out / "reward_table.json", json.dumps(table, indent=2))
        table_md = to_markdown(table)
        echo(table_md)

    with _step("2/5 MovieLens-100K -> semantic IDs", timings, echo):
        from data_prep import movielens
        from gr2_verl.sid import fit_sid_map

        log, items = movielens.load_interactions(), movielens.load_items()
        texts = {i: it.text() for i, it in items.items()}
        options = {"steps": RQVAE_STEPS} if config.sid_method == "rqvae" else {}
        sid_map, _ = fit_sid_map(texts, method=config.sid_method, seed=config.seed, progress=True, **options)
        data_dir.mkdir(parents=True, exist_ok=True)
        sid_map.save(str(data_dir / "sid_map.json"))
        echo(f"{len(texts)} items, SID uniqueness {sid_map.uniqueness():.4f} ({config.sid_method})")

    with _step("3/5 reranking samples -> veRL RL / SFT parquet", timings, echo):
        from data_prep.outputs import write_outputs
        from data_prep.pipeline import build_samples

        prepared = build_samples(log, seed=config.seed)
        summary = write_outputs(prepared.table, {i: items[i] for i in prepared.item_ids}, sid_map, data_dir,
                                dataset=movielens.DATASET, popularity=prepared.popularity, seed=config.seed,
                                report=prepared.report, progress=True)
        for split, counts in summary["rl"].items():
            echo(f"  {split}: {counts['rows']} RL rows")

    with _step("4/5 baselines on the test split (input order, random, popularity, oracle)", timings, echo):
        from gr2_verl.evaluation import evaluate
        from gr2_verl.evaluation import to_markdown as eval_markdown
        from gr2_verl.plots import eval_plots
        from gr2_verl.rl_row import read_rl_rows

        test = data_dir / "rl" / "test.parquet"
        result = evaluate(read_rl_rows(test), None, n_boot=config.bootstrap, seed=config.seed)
        eval_md = eval_markdown(result, "Baselines on the MovieLens-100K test split")
        atomic_write_text(out / "eval" / "eval.json", json.dumps(result, indent=2))
        atomic_write_text(out / "eval" / "eval.md", eval_md)
        eval_plots(result, out / "eval")
        r1 = result["methods"]["input_order"]["in_list"]["R@1"]["mean"]
        echo(f"input order R@1 (target in list) {r1:.4f} on {result['rows']} test rows")

    with _step(f"5/5 reward lab on the training rows ({', '.join(names)})", timings, echo):
        from gr2_verl.lab import LabConfig, lab_markdown
        from gr2_verl.lab.runner import run_lab_folder

        lab_config = LabConfig(steps=config.lab_steps, signal=1.0, seed=config.seed)
        lab_result, _ = run_lab_folder(out / "lab", data=str(data_dir / "rl" / "train.parquet"), n_rows=2000,
                                       variants=names, config=lab_config)
        echo(lab_markdown(lab_result))

    timings["total"] = round(time.perf_counter() - start, 1)
    report = _report(config, out, sid_map.uniqueness(), summary, eval_md, lab_result, table_md, timings)
    path = atomic_write_text(out / "report.md", report)
    atomic_write_text(out / "timings.json", json.dumps(timings, indent=2))
    echo(f"\nwrote {path} (and {out / 'eval'}, {out / 'lab'}, {data_dir}) in {timings['total']} s")
    return path


def _report(config: QuickstartConfig, out: Path, uniqueness: float, summary: dict, eval_md: str, lab_result: dict,
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
- Semantic IDs: {config.sid_method}, uniqueness {uniqueness:.4f} (`{data / 'sid_map.json'}`).
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

To watch RL train on this CPU, run `gr2 mini`: all three stages on a tiny model, through the same recipes
(`recipes/README.md`, "A miniature GR2"). This quickstart runs no DAPO step: on CPU, `main_ppo`'s start-up
alone takes minutes, and a step needs a model that already writes valid rankings.
"""
