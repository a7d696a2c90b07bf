"""Time and peak memory of ``gr2 prepare`` end to end: ML-100K and a synthetic 1M-interaction log.

Goal: ML-100K <= 30 s (SID fitting/embedding excluded: a hand-made SID map is used). Each case runs
in its own child process so its peak resident memory is its own. Columns: load (reading the raw
files), samples (k-core, split, pre-ranker, samples), write (every output file plus prompt-length
statistics, Qwen3 tokenizer load included), CPU s (user + system of the whole child: a figure less
sensitive to a busy machine than wall time). Prints a markdown table and writes JSON.

    .venv/bin/python benchmarks/prepare_speed.py                 # both cases
    .venv/bin/python benchmarks/prepare_speed.py --case ml-100k
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = ("ml-100k", "synthetic-1m")


def _load(case: str, workdir: Path):
    """(log, items, seconds to load): ML-100K from recbole; the synthetic log through the CSV/JSONL loader."""
    if case == "ml-100k":
        from data_prep import movielens

        start = time.perf_counter()
        log, items = movielens.load_interactions(), movielens.load_items()
        return log, items, time.perf_counter() - start
    from data_prep import custom
    from data_prep.synthetic import synthetic_log

    log, items = synthetic_log(50_000, 20_000, 20, seed=0)  # 1M draws, repeats removed
    log.to_csv(workdir / "log.csv", index=False)
    with open(workdir / "items.jsonl", "w", encoding="utf-8") as f:
        for it in items.values():
            f.write(json.dumps({"item_id": it.item_id, "title": it.title, "categories": list(it.categories)}) + "\n")
    start = time.perf_counter()
    items = custom.load_items(workdir / "items.jsonl")
    log = custom.load_interactions(workdir / "log.csv", items)
    return log, items, time.perf_counter() - start


def run_case(case: str) -> dict:
    """Run one case in this process and return its figures."""
    from data_prep.outputs import write_outputs
    from data_prep.pipeline import build_samples
    from data_prep.synthetic import sequential_sid_map

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        log, items, t_load = _load(case, workdir)
        start = time.perf_counter()
        prepared = build_samples(log)
        t_samples = time.perf_counter() - start
        sid_map = sequential_sid_map(prepared.item_ids)
        start = time.perf_counter()
        summary = write_outputs(
            prepared.samples,
            {i: items[i] for i in prepared.item_ids},
            sid_map,
            workdir / "out",
            dataset=case,
            popularity=prepared.popularity,
            report=prepared.report,
        )
        t_write = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_SELF)  # whole child process, imports and synthesis included
        sizes = {p.relative_to(workdir / "out").as_posix(): p.stat().st_size for p in (workdir / "out").rglob("*.*")}
    return {
        "case": case,
        "interactions": summary["log"]["interactions"],
        "samples": len(prepared.samples),
        "rl_rows": {s: c["rows"] for s, c in summary["rl"].items()},
        "seconds": {
            "load": round(t_load, 2),
            "samples_and_preranker": round(t_samples, 2),
            "write_outputs_and_token_stats": round(t_write, 2),
            "total": round(t_load + t_samples + t_write, 2),
        },
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "preranker_test": summary["preranker"]["metrics"],
        "prompt_tokens_test": summary["prompt_tokens"]["test"],
        "bytes": sizes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=[*CASES, "all"], default="all")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", default="benchmarks/results/prepare_speed.json", help="where to write the figures")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.case)))
        return 0
    results = []
    for case in CASES if args.case == "all" else (args.case,):
        child = subprocess.run(
            [sys.executable, __file__, "--case", case, "--child"], check=True, capture_output=True, text=True
        )
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    print("| case | interactions | samples | load s | samples s | write s | total s | CPU s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        s = r["seconds"]
        print(
            f"| {r['case']} | {r['interactions']} | {r['samples']} | {s['load']} | {s['samples_and_preranker']} | "
            f"{s['write_outputs_and_token_stats']} | {s['total']} | {r['cpu_seconds']} | {r['peak_rss_mb']} |"
        )
    for r in results:
        print(f"{r['case']}: RL rows {r['rl_rows']}, pre-ranker {json.dumps(r['preranker_test'])}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
