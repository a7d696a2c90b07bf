"""SID assignment at catalogue scale: uniqueness, wall time and peak RSS for 1M and 10M items.

Fits the default quantiser (RQ-VAE, EMA, k-means init, random last level) on a synthetic clustered
catalogue, then assigns SIDs to N items of the same generator, streamed in chunks so the [N, 384]
embeddings never sit in memory. "before" is the random last level alone (items past the C-th of a
prefix collide, the behaviour up to issue 13); "after" adds the overflow into sibling prefixes.
Also measures the prompt-token cost of the SID format with the real Qwen3 tokenizer: the chosen
overflow keeps 4 codes per SID; an extra level (the TIGER/GRID dedup digit) would add one.

Goals (issue 13): >= 99.9% unique at 1M and 10M items; 10M assigned in <= 5 min on the 2-core machine.
Timings on a shared machine are noisy: the load average is printed with them.

    python benchmarks/sid_scale.py --items 1000000 10000000
    python benchmarks/sid_scale.py --items 100000 --unseen-clusters   # overflow's worst case
    python benchmarks/sid_scale.py --items 20000 --fit-items 5000 --set steps=200 --set warmup_steps=50   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np
import torch

from gr2_verl.sid import fit_codes
from gr2_verl.sid.report import code_report
from gr2_verl.sid.synthetic import clustered_chunks, clustered_embeddings
from gr2_verl.sid.unique import spill, unique_last_level

HISTORY = 20  # items in a benchmark prompt's history, plus K=10 candidates


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


def assign_at_scale(quantizer, n: int, seed: int, unseen: bool) -> dict:
    """Nearest codes (streamed), then unique last level (before), then overflow (after); times each step.

    Same generator and seed as the fit: the first rows are the fitted catalogue, the rest new items of
    its clusters. ``unseen``: another seed, so every item comes from topics the quantiser never saw and
    piles into few prefixes (a catalogue that drifted since the fit: the overflow's worst case).
    """
    start = time.perf_counter()
    chunks = ((slice(s, s + len(x)), x) for s, x in clustered_chunks(n, seed=seed + unseen))
    codes, residual = quantizer.nearest_codes(chunks, n)
    nearest_s = time.perf_counter() - start
    books = quantizer.codebooks.numpy()
    start = time.perf_counter()
    last, overflow = unique_last_level(codes, residual, books[-1], seed=seed)
    codes[:, -1] = last
    last_s = time.perf_counter() - start
    before = code_report(codes, quantizer.codebook_size)
    start = time.perf_counter()
    spill(codes, overflow, residual, books, np.empty((0, codes.shape[1]), dtype=np.int64))
    spill_s = time.perf_counter() - start
    after = code_report(codes, quantizer.codebook_size)
    return {
        "items": n, "uniqueness_before": before["uniqueness"], "uniqueness_after": after["uniqueness"],
        "colliding_before": before["collisions"]["colliding_items"],
        "colliding_after": after["collisions"]["colliding_items"], "overflow_items": int(len(overflow)),
        "prefixes_over_capacity": before["prefixes"]["over_capacity"],
        "max_items_per_prefix": before["prefixes"]["max_items_per_prefix"],
        "nearest_seconds": nearest_s, "last_level_seconds": last_s, "spill_seconds": spill_s,
        "assign_seconds": nearest_s + last_s + spill_s, "peak_rss_gib": peak_rss_gib(),
        "load_average": os.getloadavg(),
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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    options = {k: json.loads(v) for k, _, v in (s.partition("=") for s in args.set)}
    start = time.perf_counter()
    quantizer = fit_codes(clustered_embeddings(args.fit_items, seed=args.seed), seed=args.seed, **options).quantizer
    print(f"fitted on {args.fit_items:,} items in {time.perf_counter() - start:.0f} s ({options or 'defaults'})")
    tokens = token_cost()
    print(f"prompt tokens (Qwen3 + SID tokens): {json.dumps(tokens)}")
    print("| items | uniqueness before | uniqueness after | colliding before -> after | assign s "
          "(nearest + last + overflow) | peak RSS GiB | load avg (1 min) |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for n in args.items:
        row = assign_at_scale(quantizer, n, args.seed, args.unseen_clusters)
        rows.append(row)
        print(f"| {n:,} | {row['uniqueness_before']:.4%} | {row['uniqueness_after']:.4%} | "
              f"{row['colliding_before']:,} -> {row['colliding_after']:,} | {row['assign_seconds']:.0f} "
              f"({row['nearest_seconds']:.0f} + {row['last_level_seconds']:.0f} + {row['spill_seconds']:.0f}) | "
              f"{row['peak_rss_gib']:.2f} | {row['load_average'][0]:.1f} |", flush=True)
    print(json.dumps({"fit_items": args.fit_items, "unseen_clusters": args.unseen_clusters, "options": options,
                      "threads": args.threads,
                      "tokens": tokens, "rows": rows}))
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
