"""``gr2 sid``: fit SIDs for a catalogue (``fit``), give new items SIDs (``assign``), describe a map (``report``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EMBEDDINGS_HELP = ("precomputed embeddings: .npy, one row per item in items-file order, or .parquet with columns "
                   "item_id and embedding (list of floats), any order, read a row group at a time")
EPILOG = """examples:
  gr2 sid fit --items data/ml-100k/items.jsonl --out runs/sid/ml-100k
  gr2 sid fit --items items.jsonl --embeddings items.npy --method rqkmeans --out runs/sid/rqk
  gr2 sid fit --items items.jsonl --embeddings embeddings.parquet --out runs/sid/big
  gr2 sid assign --sid-dir runs/sid/big --items items_grown.jsonl --embeddings new.parquet --out runs/sid/big2
  gr2 sid fit --items items.jsonl --out runs/sid/plain --set ema=false --set kmeans_init=false --set steps=2000
  gr2 sid report runs/sid/ml-100k/sid_map.json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sid",
        help="fit semantic IDs (RQ-VAE / RQ-KMeans) and report their quality",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="sid_command", required=True)
    fit = sub.add_parser("fit", help="item texts -> embeddings -> SID map + report", epilog=EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("--items", required=True,
                     help="catalogue (items.jsonl of `gr2 prepare`, or CSV/JSONL/parquet: item_id, title, categories)")
    fit.add_argument("--out", required=True, help="output folder")
    fit.add_argument("--method", default="rqvae", choices=["rqvae", "rqkmeans"],
                     help="rqvae: residual-quantised VAE (default); rqkmeans: residual k-means, no training")
    fit.add_argument("--seed", type=int, default=0, help="seed of initialisation and training (default 0)")
    fit.add_argument("--embeddings", help=EMBEDDINGS_HELP)
    fit.add_argument("--embed-model", help="sentence-transformers folder or name (default: bundled all-MiniLM-L6-v2)")
    fit.add_argument("--cache-dir", help="embedding cache folder (default: ~/.cache/gr2_verl/embeddings)")
    fit.add_argument("--threads", type=int, help="torch CPU threads (1 is fastest on a busy shared machine)")
    fit.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="method option, value parsed as JSON when it can be: steps=2000, ema=false, hidden=[256,128]")
    fit.set_defaults(run=run_fit)
    grow = sub.add_parser("assign", help="give new catalogue items SIDs; existing items keep theirs", epilog=EPILOG,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    grow.add_argument("--sid-dir", required=True, help="folder of `gr2 sid fit` (sid_map.json, sid_quantizer.pt)")
    grow.add_argument("--items", required=True,
                      help="catalogue holding the new items (items already in the map keep their SID)")
    grow.add_argument("--out", required=True, help="output folder for the grown SID folder (may be --sid-dir)")
    grow.add_argument("--embeddings", help=EMBEDDINGS_HELP + "; must cover the new items")
    grow.add_argument("--embed-model", help="sentence-transformers folder or name: the one the map was fitted with "
                      "(default: bundled all-MiniLM-L6-v2)")
    grow.add_argument("--cache-dir", help="embedding cache folder (default: ~/.cache/gr2_verl/embeddings)")
    grow.add_argument("--seed", type=int, default=0, help="seed of the order new items claim free codes (default 0)")
    grow.add_argument("--threads", type=int, help="torch CPU threads (1 is fastest on a busy shared machine)")
    grow.set_defaults(run=run_assign)
    rep = sub.add_parser("report", help="uniqueness, collisions and per-level usage of a SID map")
    rep.add_argument("sid_map", help="sid_map.json")
    rep.add_argument("--out", help="write the JSON report here too")
    rep.set_defaults(run=run_report)


def parse_options(pairs: list[str]) -> dict:
    """``["steps=2000", "ema=false"]`` -> ``{"steps": 2000, "ema": False}``."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set needs KEY=VALUE, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def run_fit(args: argparse.Namespace) -> int:
    from gr2_verl.io import input_file, output_dir
    from gr2_verl.sid.outputs import fit_sid_folder
    from gr2_verl.sid.report import report_markdown

    out = output_dir(args.out)  # before minutes of embedding and fitting
    if args.embeddings:
        input_file(args.embeddings, "embeddings (.npy or .parquet)")
    options = parse_options(args.set)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    report, paths = fit_sid_folder(
        args.items, out, method=args.method, seed=args.seed, embeddings=args.embeddings,
        embed_model=args.embed_model, cache_dir=args.cache_dir, options=options,
    )
    print(f"{args.items}: {report['items']} items")
    print(report_markdown(report))
    for path in paths:
        print(f"wrote {path}")
    return 0


def run_assign(args: argparse.Namespace) -> int:
    from gr2_verl.io import input_file, output_dir
    from gr2_verl.sid.outputs import assign_sid_folder
    from gr2_verl.sid.report import report_markdown

    out = output_dir(args.out)  # every input and --out checked before embedding and assignment
    for path, what in [(Path(args.sid_dir) / "sid_map.json", "SID map JSON (of `gr2 sid fit`)"),
                       (Path(args.sid_dir) / "sid_quantizer.pt", "SID quantiser (of `gr2 sid fit`)"),
                       (args.items, "items"), *([(args.embeddings, "embeddings (.npy or .parquet)")]
                                                if args.embeddings else [])]:
        input_file(path, what)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    report, paths = assign_sid_folder(args.sid_dir, args.items, out, seed=args.seed, embeddings=args.embeddings,
                                      embed_model=args.embed_model, cache_dir=args.cache_dir)
    collisions = report["new_item_collisions"]
    print(f"{args.items}: {report['added']} new items got SIDs, {report['kept']} kept theirs; "
          f"{collisions['items']} new items share a SID")
    for example in collisions["examples"]:
        print(f"  collision: {example['item_id']} {example['sid']} shared with {example['shared_with']}")
    print(report_markdown(report))
    for path in paths:
        print(f"wrote {path}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    import numpy as np

    from gr2_verl.io import atomic_write_text
    from gr2_verl.sid.report import code_report, report_markdown
    from gr2_verl.types import SidMap

    if args.out and Path(args.out).is_dir():
        raise IsADirectoryError(f"{args.out}: --out is a folder, expected a JSON file path")
    sid_map = SidMap.load(args.sid_map)
    codes = np.array(list(sid_map.codes.values()), dtype=np.int64).reshape(-1, sid_map.levels)
    report = {"method": args.sid_map, **code_report(codes, sid_map.codebook_size)}
    print(report_markdown(report))
    if args.out:
        print(f"wrote {atomic_write_text(args.out, json.dumps(report, indent=2))}")
    return 0
