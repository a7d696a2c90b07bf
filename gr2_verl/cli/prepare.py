"""``gr2 prepare``: interaction logs -> reranking samples -> veRL RL and SFT parquet (see data_prep/)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EPILOG = """examples:
  gr2 prepare movielens --out data/ml-100k                      # fits SIDs on the catalogue first
  gr2 prepare movielens --sid-map sid_map.json --out data/ml-100k
  gr2 prepare movielens --sid-map sid_map.json --out data/ml-100k-all --keep-all --shuffle
  gr2 prepare amazon --category Beauty --raw-dir raw/ --download --sid-map beauty_sids.json --out data/beauty
  gr2 prepare custom --interactions log.csv --items items.jsonl --candidates lists.jsonl \\
      --name shop --sid-map shop_sids.json --out data/shop

output folder: items.jsonl, samples.jsonl, sid_map.json, rl/{train,val,test}.parquet,
sft/midtrain.parquet, summary.json, summary.md
"""


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--sid-map",
        help="SidMap JSON ({levels, codebook_size, codes}) covering every item; "
        "default: fit RQ-VAE SIDs on the catalogue (as `gr2 sid fit` does)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for folds, shuffling and row order (default 0)")
    p.add_argument("--k-core", type=int, default=5, help="min interactions per user and item (default 5)")
    p.add_argument("--max-history", type=int, default=20, help="history items shown per sample (default 20)")
    p.add_argument("--k", type=int, default=10, help="candidates per sample (default 10)")
    p.add_argument("--keep-all", action="store_true", help="also write RL rows whose target the pre-ranker missed")
    p.add_argument("--shuffle", action="store_true", help="show candidates in a seeded random order in prompts")
    p.add_argument("--hints", help="domain hints text added to every prompt")
    p.add_argument("--general-text", help="JSONL of {'messages': [...]} mixed into the SFT mid-training file")
    return p


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="build reranking data (RL + SFT parquet) from interaction logs",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sources = p.add_subparsers(dest="source", required=True)
    common = _common()
    sources.add_parser("movielens", parents=[common], help="MovieLens-100K from the installed recbole wheel")
    amazon = sources.add_parser("amazon", parents=[common], help="Amazon Reviews 2014 (5-core reviews + meta)")
    amazon.add_argument("--category", required=True, help="e.g. Beauty, Sports_and_Outdoors")
    amazon.add_argument("--raw-dir", required=True, help="folder with reviews_<Cat>_5.json.gz and meta_<Cat>.json.gz")
    amazon.add_argument("--download", action="store_true", help="fetch missing raw files first (needs internet)")
    custom = sources.add_parser("custom", parents=[common], help="your own CSV / JSONL / parquet files")
    custom.add_argument("--interactions", required=True, help="user_id, item_id, timestamp")
    custom.add_argument("--items", required=True, help="item_id, title, categories")
    custom.add_argument("--candidates", help="sample_id, candidates: your own ranked lists (skips our pre-ranker)")
    custom.add_argument("--name", default="custom", help="dataset name, data_source becomes gr2/<name>")
    p.set_defaults(run=run)


def _load(args: argparse.Namespace):
    """(dataset name, log, items, given candidate lists or None) for the chosen source."""
    if args.source == "movielens":
        from data_prep import movielens

        return movielens.DATASET, movielens.load_interactions(), movielens.load_items(), None
    if args.source == "amazon":
        from data_prep import amazon

        if args.download:
            for path in amazon.download(args.category, args.raw_dir):
                print(f"raw file: {path}")
        reviews, meta = (Path(args.raw_dir) / n for n in amazon.file_names(args.category))
        log, items = amazon.load(reviews, meta)
        return f"amazon-{args.category.lower()}", log, items, None
    from data_prep import custom

    items = custom.load_items(args.items)
    log = custom.load_interactions(args.interactions, items)
    given = custom.load_candidates(args.candidates) if args.candidates else None
    return args.name, log, items, given


def _fit_sids(catalogue: dict, seed: int):
    """RQ-VAE SIDs (gr2_verl.sid defaults) for the items that survived k-core filtering."""
    from gr2_verl.sid import fit_sid_map

    print(f"fitting semantic IDs for {len(catalogue)} items (RQ-VAE; pass --sid-map to reuse a map)")
    sid_map, _ = fit_sid_map({i: item.text() for i, item in catalogue.items()}, seed=seed, progress=True)
    print(f"SID uniqueness {sid_map.uniqueness():.4f}")
    return sid_map


def run(args: argparse.Namespace) -> int:
    from data_prep.outputs import write_outputs
    from data_prep.pipeline import build_samples
    from data_prep.sft_parquet import load_general_text
    from gr2_verl.types import SidMap

    try:
        dataset, log, items, given = _load(args)
        general = load_general_text(args.general_text) if args.general_text else None
        prepared = build_samples(
            log,
            min_interactions=args.k_core,
            max_history=args.max_history,
            k=args.k,
            seed=args.seed,
            given=given,
            progress=True,
        )
        catalogue = {i: items[i] for i in prepared.item_ids}
        sid_map = SidMap.load(args.sid_map) if args.sid_map else _fit_sids(catalogue, args.seed)
        summary = write_outputs(
            prepared.samples,
            catalogue,
            sid_map,
            args.out,
            dataset=dataset,
            popularity=prepared.popularity,
            seed=args.seed,
            shuffle=args.shuffle,
            keep_all=args.keep_all,
            hints=args.hints,
            general=general,
            report=prepared.report,
            progress=True,
        )
    except (ValueError, KeyError, FileNotFoundError) as e:
        print(f"gr2 prepare: error: {e}", file=sys.stderr)
        return 1
    counts = summary["log"]
    print(f"{dataset}: {counts['users']} users, {counts['items']} items, {counts['interactions']} interactions")
    for split, counts in summary["rl"].items():
        print(f"  {split}: {summary['samples'][split]} samples -> {counts['rows']} RL rows ({counts})")
    for model, by_split in summary["preranker"]["metrics"].items():
        if "test" in by_split:
            print(f"  candidates by {model}: test {by_split['test']}")
    for split, stats in summary.get("prompt_tokens", {}).items():
        print(f"  prompt tokens {split}: {stats}")
    for rel in summary["files"].values():
        print(f"wrote {Path(args.out) / rel}")
    return 0
