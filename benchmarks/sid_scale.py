"""SID assignment at catalogue scale: uniqueness, wall and CPU time, peak RSS for 1M and 10M items.

Fits the default quantiser (RQ-VAE, EMA, k-means init, random last level) on a synthetic clustered
catalogue, then assigns SIDs to N items of the same generator, streamed in chunks so the [N, 384]
embeddings never sit in memory. Uniqueness is reported three ways: "before" is the random last level
alone (items past the C-th of a prefix collide, the behaviour up to issue 13), "siblings" adds the
overflow into sibling prefixes (issue 13's first step), "after" adds the escape further up the tree
when all siblings are full (gr2_verl.sid.unique). Assignment time excludes generating the synthetic
embeddings (timed apart: in production they are read from a file); CPU seconds are user + sys.
Also measures the prompt-token cost of the SID format with the real Qwen3 tokenizer: the overflow and
its escape keep 4 codes per SID (no extra token); an extra level (the TIGER/GRID dedup digit) would add one.

Goals (issue 13): >= 99.9% unique at 1M and 10M items; 10M assigned in <= 5 min on the 2-core machine.
Timings on a shared machine are noisy: the load average is printed with them.

    python benchmarks/sid_scale.py --items 1000000 10000000 --save same_clusters
    python benchmarks/sid_scale.py --items 10000000 --fit-items 5000 --set steps=200 --set warmup_steps=50 \
        --save same_clusters_fit5k   # the fit of the runs before issue 13's speed-up
    python benchmarks/sid_scale.py --items 10000000 --fit-items 5000 --set steps=200 --set warmup_steps=50 \
        --threads 2 --save same_clusters_fit5k_2threads   # both cores, machine otherwise idle: 62 s, 98 CPU s
    python benchmarks/sid_scale.py --items 1000000 --unseen-clusters --fit-items 5000 --set steps=200 \
        --set warmup_steps=50 --save unseen_clusters_fit5k   # the overflow's worst case
    python benchmarks/sid_scale.py --items 20000 --fit-items 5000 --set steps=200 --set warmup_steps=50   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from gr2_verl.sid import fit_codes
from gr2_verl.sid.report import code_report
from gr2_verl.sid.synthetic import clustered_chunks, clustered_embeddings
from gr2_verl.sid.unique import spill, unique_last_level

HISTORY = 20  # items in a benchmark prompt's history, plus K=10 candidates
RESULTS = Path(__file__).parent / "results" / "sid_scale.json"


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


class Clock:
    """Wall and CPU (user + sys, all threads) seconds since ``start``, less what ``excluded`` took."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        self.excluded_wall = self.excluded_cpu = 0.0

    def excluded(self, chunks: Iterator[tuple[int, np.ndarray]]) -> Iterator[tuple[slice, np.ndarray]]:
        """Pass the synthetic chunks through as (rows, x), booking the time spent generating them apart."""
        while True:
            wall, cpu = time.perf_counter(), time.process_time()
            start, x = next(chunks, (None, None))
            self.excluded_wall += time.perf_counter() - wall
            self.excluded_cpu += time.process_time() - cpu
            if x is None:
                return
            yield slice(start, start + len(x)), x

    def read(self) -> tuple[float, float]:
        return (time.perf_counter() - self.wall - self.excluded_wall,
                time.process_time() - self.cpu - self.excluded_cpu)


def assign_at_scale(quantizer, n: int, seed: int, unseen: bool) -> dict:
    """Nearest codes (streamed), unique last level (before), overflow to siblings and up the tree (after).

    Same generator and seed as the fit: the first rows are the fitted catalogue, the rest new items of
    its clusters. ``unseen``: another seed, so every item comes from topics the quantiser never saw and
    piles into few prefixes (a catalogue that drifted since the fit: the overflow's worst case).
    """
    clock = Clock()
    codes, residual = quantizer.nearest_codes(clock.excluded(clustered_chunks(n, seed=seed + unseen)), n)
    nearest_s, nearest_cpu = clock.read()
    books = quantizer.codebooks.numpy()
    last, overflow = unique_last_level(codes, residual, books[-1], seed=seed)
    codes[:, -1] = last
    last_s, last_cpu = clock.read()
    nearest = codes[overflow]
    kept = spill(codes, overflow, residual, books, np.empty((0, codes.shape[1]), dtype=np.int64))
    total_s, total_cpu = clock.read()
    c, levels = quantizer.codebook_size, quantizer.levels
    after = code_report(codes, c)
    escaped = kept < levels - 2  # rows the sibling pass alone would have left on their colliding codes
    siblings_only = codes.copy()
    siblings_only[overflow[escaped]] = nearest[escaped]
    siblings = code_report(siblings_only, c)
    codes[overflow] = nearest
    before = code_report(codes, c)
    return {
        "items": n, "uniqueness_before": before["uniqueness"], "uniqueness_siblings": siblings["uniqueness"],
        "uniqueness_after": after["uniqueness"], "colliding_before": before["collisions"]["colliding_items"],
        "colliding_siblings": siblings["collisions"]["colliding_items"],
        "colliding_after": after["collisions"]["colliding_items"], "overflow_items": int(len(overflow)),
        # how many leading codes each overflow item kept: L-2 = a sibling prefix, fewer = an escape, -1 = none free
        "overflow_kept_codes": {int(k): int(v) for k, v in zip(*np.unique(kept, return_counts=True), strict=True)},
        "prefixes_over_capacity": before["prefixes"]["over_capacity"],
        "max_items_per_prefix": before["prefixes"]["max_items_per_prefix"],
        "nearest_seconds": nearest_s, "last_level_seconds": last_s - nearest_s, "spill_seconds": total_s - last_s,
        "assign_seconds": total_s, "assign_cpu_seconds": total_cpu, "nearest_cpu_seconds": nearest_cpu,
        "last_level_cpu_seconds": last_cpu - nearest_cpu, "spill_cpu_seconds": total_cpu - last_cpu,
        "generate_seconds": clock.excluded_wall, "generate_cpu_seconds": clock.excluded_cpu,
        "peak_rss_gib": peak_rss_gib(), "load_average": os.getloadavg(),
    }


def token_cost() -> dict:
    """Prompt tokens of one SID and of a 20-item history + 10 candidates, 4 levels vs a 5th (dedup) level."""
    from gr2_verl.qwen_tokenizer import load_qwen3_tokenizer
    from gr2_verl.types import SidMap, sid_string
    from gr2_verl.vocab import add_sid_tokens

    out = {}
    for levels in (4, 5):
        tokenizer = load_qwen3_tokenizer()
        add_sid_tokens(tokenizer, SidMap(levels=levels, codebook_size=256).vocabulary())  # as `gr2 vocab extend`
        sids = [sid_string([(7 * i + 31 * level) % 256 for level in range(levels)]) for i in range(HISTORY + 10)]
        per_sid = len(tokenizer.encode(sids[0], add_special_tokens=False))
        listing = "\n".join(f"{n}. {s} Some title (1995) | Drama" for n, s in enumerate(sids, 1))
        out[f"{levels}_levels"] = {"tokens_per_sid": per_sid,
                                   "tokens_30_item_listing": len(tokenizer.encode(listing, add_special_tokens=False))}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, nargs="+", default=[1_000_000, 10_000_000], help="catalogue sizes")
    parser.add_argument("--fit-items", type=int, default=100_000, help="synthetic items the quantiser is fitted on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core machine)")
    parser.add_argument("--unseen-clusters", action="store_true",
                        help="assign items of topics the fit never saw (prefixes overflow; see assign_at_scale)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="RQ-VAE option of the fit")
    parser.add_argument("--save", metavar="NAME", help=f"store the run under NAME in {RESULTS}")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    options = {k: json.loads(v) for k, _, v in (s.partition("=") for s in args.set)}
    start = time.perf_counter()
    quantizer = fit_codes(clustered_embeddings(args.fit_items, seed=args.seed), seed=args.seed, **options).quantizer
    print(f"fitted on {args.fit_items:,} items in {time.perf_counter() - start:.0f} s ({options or 'defaults'})")
    tokens = token_cost()
    print(f"prompt tokens (Qwen3 + SID tokens): {json.dumps(tokens)}")
    print("| items | uniqueness before -> siblings -> after | colliding after | assign wall s "
          "(nearest + last + overflow) | assign CPU s | peak RSS GiB | load avg (1 min) |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for n in args.items:
        row = assign_at_scale(quantizer, n, args.seed, args.unseen_clusters)
        rows.append(row)
        print(f"| {n:,} | {row['uniqueness_before']:.4%} -> {row['uniqueness_siblings']:.4%} -> "
              f"{row['uniqueness_after']:.4%} | {row['colliding_after']:,} | {row['assign_seconds']:.0f} "
              f"({row['nearest_seconds']:.0f} + {row['last_level_seconds']:.0f} + {row['spill_seconds']:.0f}) | "
              f"{row['assign_cpu_seconds']:.0f} | {row['peak_rss_gib']:.2f} | {row['load_average'][0]:.1f} |",
              flush=True)
    run = {"fit_items": args.fit_items, "unseen_clusters": args.unseen_clusters, "options": options,
           "threads": args.threads, "tokens": tokens, "rows": rows}
    print(json.dumps(run))
    if args.save:
        saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        RESULTS.write_text(json.dumps({**saved, args.save: run}, indent=2) + "\n")
        print(f"saved as '{args.save}' in {RESULTS}")
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
