"""Time and peak memory of ``gr2 prepare`` end to end: ML-100K, synthetic logs of 1M to 20M interactions.

Goals (issue 13): ML-100K <= 30 s; ``gr2 prepare custom`` on 1M interactions <= 30 s and on 10M (1M users,
200k items, Zipf popularity) <= 5 min and <= 4 GB peak RSS. SID fitting is excluded (a hand-made SID map).
Each case runs in its own child process so its peak resident memory is its own.

- ``ml-100k``, ``synthetic-1m``: the library calls (``synthetic-1m`` = 50k users x 20 draws over 20k items,
  through the CSV loader). Columns: load (reading the raw files), samples (k-core, split, pre-ranker,
  samples), write (every output file plus prompt-length statistics, Qwen3 tokenizer load included).
- ``custom-1m``, ``custom-10m``: the ``gr2 prepare custom`` command itself on files from
  ``data_prep.synthetic.write_synthetic_files`` (generated first, not timed): the whole command is timed.
- ``custom-20m``: twice the 10M log (2M users, 400k items): how time and memory grow with the log.
- ``custom-20m-same-items``, ``custom-40m-same-items``, ``custom-100m-same-items``: two, four and ten times the
  10M log's users and rows over the same 200k items: growth with the log alone (the models' size follows the
  catalogue: at most ``neighbours`` entries an item). The 100M case needs ~45 GB of free disk (its output).
- ``custom-1m-ray``, ``custom-10m-ray``: the same commands with ``--ray`` (a local Ray cluster started by the
  command, its start-up included); peak RSS is one process's (``ru_maxrss``), not the cluster's sum.

CPU s is user + system of the whole child (a figure less sensitive to a busy machine than wall time); the
load average (1 min) before and after each case is recorded. "before" columns come from
``benchmarks/results/prepare_speed_before.json`` (the list-based code, commit 7f43314) when it has the case.

    .venv/bin/python benchmarks/prepare_speed.py                          # ml-100k, synthetic-1m, custom-1m
    .venv/bin/python benchmarks/prepare_speed.py --case custom-10m
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = ("ml-100k", "synthetic-1m", "custom-1m", "custom-10m", "custom-20m", "custom-20m-same-items",
         "custom-40m-same-items", "custom-100m-same-items", "custom-1m-ray", "custom-10m-ray")  # fmt: skip
DEFAULT = ("ml-100k", "synthetic-1m", "custom-1m")
# users, items, log rows
CUSTOM = {
    "custom-1m": (100_000, 20_000, 1_000_000),
    "custom-10m": (1_000_000, 200_000, 10_000_000),
    "custom-20m": (2_000_000, 400_000, 20_000_000),
    "custom-20m-same-items": (2_000_000, 200_000, 20_000_000),
    "custom-40m-same-items": (4_000_000, 200_000, 40_000_000),
    "custom-100m-same-items": (10_000_000, 200_000, 100_000_000),
}
BEFORE = Path(__file__).parent / "results" / "prepare_speed_before.json"


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
    log = custom.load_coded_interactions(workdir / "log.csv", items)
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
            prepared.shards,
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
        "samples": len(prepared.shards),
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


def run_command(case: str) -> dict:
    """Generate the case's files, then time ``gr2 prepare custom`` on them in a child process."""
    from data_prep.synthetic import write_synthetic_files

    ray = case.endswith("-ray")
    users, items, rows = CUSTOM[case.removesuffix("-ray")]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        files = write_synthetic_files(Path(tmp) / "in", users, items, rows, seed=0)
        generated = time.perf_counter() - start
        gr2 = Path(sys.executable).with_name("gr2")
        argv = [str(gr2), "prepare", "custom", "--name", case, "--out", f"{tmp}/out"]
        argv += [f"--{flag.replace('_', '-')}={path}" for flag, path in files.items()] + ["--ray"] * ray
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        if status != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{output[-3000:]}")
        summary = json.loads((Path(tmp) / "out" / "summary.json").read_text())
        out = Path(tmp) / "out"
        sizes = {p.relative_to(out).as_posix(): p.stat().st_size for p in out.rglob("*.*")}
    return {
        "case": case,
        "command": "gr2 prepare custom --interactions log.csv --items items.jsonl --sid-map sid_map.json --out out"
        + " --ray" * ray,
        "generated": {"users": users, "items": items, "log_rows": summary["log"]["interactions_raw"],
                      "seconds": round(generated, 1)},  # fmt: skip
        "interactions": summary["log"]["interactions"],
        "samples": sum(summary["samples"].values()),
        "rl_rows": {s: c["rows"] for s, c in summary["rl"].items()},
        "seconds": {"total": round(wall, 2)},
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "preranker_test": summary["preranker"]["metrics"],
        "prompt_tokens_test": summary["prompt_tokens"]["test"],
        "bytes": sizes,
    }


def _before(case: str) -> dict | None:
    if not BEFORE.exists():
        return None
    return next((r for r in json.loads(BEFORE.read_text()) if r["case"] == case), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=[*CASES, "all"], nargs="+", default=["all"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", default="benchmarks/results/prepare_speed.json", help="where to write the figures")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.case[0])))
        return 0
    results = []
    for case in DEFAULT if "all" in args.case else args.case:
        if case.removesuffix("-ray") in CUSTOM:
            results.append(run_command(case))
            continue
        load_before = os.getloadavg()[0]
        child = subprocess.run(
            [sys.executable, __file__, "--case", case, "--child"], check=True, capture_output=True, text=True
        )
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
        results[-1]["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        results[-1]["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS", "unset")
    print("| case | interactions | samples | wall s (before) | wall s | CPU s (before) | CPU s | peak RSS MB (before) "
          "| peak RSS MB | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        b = _before(r["case"]) or {"seconds": {"total": "n/a"}, "cpu_seconds": "n/a", "peak_rss_mb": "n/a"}
        print(
            f"| {r['case']} | {r['interactions']} | {r['samples']} | {b['seconds']['total']} "
            f"| {r['seconds']['total']} "
            f"| {b['cpu_seconds']} | {r['cpu_seconds']} | {b['peak_rss_mb']} | {r['peak_rss_mb']} "
            f"| {r['load_average'][0]} -> {r['load_average'][1]} |"
        )
    for r in results:
        print(f"{r['case']}: RL rows {r['rl_rows']}, pre-ranker {json.dumps(r['preranker_test'])}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    # cases not run this time keep their stored figures
    stored = json.loads(Path(args.json).read_text()) if Path(args.json).exists() else []
    ran = {r["case"] for r in results}
    merged = [r for r in stored if r["case"] not in ran] + results
    merged.sort(key=lambda r: CASES.index(r["case"]) if r["case"] in CASES else len(CASES))
    Path(args.json).write_text(json.dumps(merged, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
